"""Read what a run directory holds, tolerating anything missing or half-written.

Everything :func:`genzoo.viz.write_report` shows comes from :func:`load_run`. A problem with
one file (unparsable YAML, a corrupt PNG, a bad metrics line) becomes a note on the run rather
than an exception, because a report is most wanted exactly when a run went wrong.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genzoo.errors import UserError
from genzoo.io import read_metrics
from genzoo.viz.curves import NON_METRIC_KEYS
from genzoo.viz.report_sections import ReportImage, image_from_file

#: Substrings of metric names for which larger is better (everything else: smaller is better).
HIGHER_IS_BETTER = ("acc", "auc", "elbo", "log_prob", "logp", "psnr", "ssim")


@dataclass
class RunData:
    """The contents of one ``runs/<name>/`` directory, as far as they exist."""

    path: Path
    name: str
    config: dict[str, Any] | None = None
    config_text: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    eval: dict[str, float] = field(default_factory=dict)
    samples: list[ReportImage] = field(default_factory=list)
    figures: list[ReportImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str | None:
        """``config["command"]`` when present."""
        cmd = (self.config or {}).get("command")
        return None if cmd is None else str(cmd)

    @property
    def method(self) -> str | None:
        """``config["method"]`` when present."""
        m = (self.config or {}).get("method")
        return None if m is None else str(m)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Event lines of the metrics log (``{"event": "restart", ...}``), in order."""
        return [r for r in self.records if "event" in r]


def _natural_key(path: Path) -> tuple[bool, int, str]:
    """Order ``step-000200.png`` by its number; names without one (``final.png``) go last."""
    m = re.search(r"\d+", path.stem)
    return (m is None, int(m.group()) if m else 0, path.name)


def _pngs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith(".")]
    return sorted(found, key=_natural_key)


def flatten_mapping(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_mapping(v, key + "."))
        else:
            out[key] = v
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _read_json(path: Path, notes: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        notes.append(f"{path.name}: not valid JSON ({e})")
        return None


def _load_config(run: RunData) -> None:
    path = run.path / "config.yaml"
    if not path.is_file():
        run.notes.append("no config.yaml")
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        run.notes.append(f"config.yaml: not valid YAML ({e}); shown as written")
        run.config_text = text
        return
    if not isinstance(cfg, dict):
        run.notes.append("config.yaml: expected a mapping; shown as written")
        run.config_text = text
        return
    run.config = cfg
    run.config_text = yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False,
                                     allow_unicode=True)


def _load_images(folder: Path, captions: dict[str, str], notes: list[str]) -> list[ReportImage]:
    images = []
    for p in _pngs(folder):
        try:
            images.append(image_from_file(p, captions.get(p.name, p.name)))
        except (OSError, ValueError):
            notes.append(f"{folder.name}/{p.name}: not a readable PNG (still being written?)")
    return images


def load_run(run_dir: str | os.PathLike[str], name: str | None = None) -> RunData:
    """Load a run directory.

    Args:
        run_dir: ``runs/<name>``.
        name: display name; default the directory's name.

    Raises:
        UserError: ``run_dir`` is not a directory.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    run = RunData(path=path, name=name or path.resolve().name)
    _load_config(run)
    try:
        run.records = read_metrics(path)
    except UserError as e:
        run.notes.append(str(e))
    if not (path / "metrics.jsonl").is_file():
        run.notes.append("no metrics.jsonl")

    ev = _read_json(path / "eval.json", run.notes)
    if ev is not None and not isinstance(ev, dict):
        run.notes.append("eval.json: expected a JSON object")
    elif isinstance(ev, dict):
        run.eval = {k: v for k, v in flatten_mapping(ev).items() if _is_number(v)}

    run.samples = _load_images(path / "samples", {}, run.notes)
    caps = _read_json(path / "figures" / "captions.json", run.notes)
    if caps is not None and not isinstance(caps, dict):
        run.notes.append("figures/captions.json: expected {file: caption}")
        caps = None
    captions = {Path(k).name: str(v) for k, v in (caps or {}).items()}
    run.figures = _load_images(path / "figures", captions, run.notes)
    return run


def _best(key: str, values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if any(h in key.lower() for h in HIGHER_IS_BETTER) else min(finite)


def summary_metrics(run: RunData) -> dict[str, float]:
    """The numbers of the metrics table, in display order.

    ``step``/``epoch``/``time`` of the last log line, ``restarts``, then the last value of every
    train metric (``train/<key>``), the last and the best value of every val metric (``val/<key>``,
    ``best val/<key>``; best = max for names containing one of :data:`HIGHER_IS_BETTER`, else
    min; never for ``lr``) and every number in ``eval.json`` (``eval/<key>``, nested keys
    joined with dots).
    """
    out: dict[str, float] = {}
    logs = [r for r in run.records if "event" not in r]
    for coord in ("step", "epoch", "time"):
        vals = [r[coord] for r in run.records if _is_number(r.get(coord))]
        if vals:
            out[coord] = vals[-1]
    restarts = [r for r in run.events if r.get("event") == "restart"]
    if run.records:
        out["restarts"] = len(restarts)
    series: dict[tuple[str, str], list[float]] = {}
    for r in logs:
        split = str(r.get("split", "train"))
        for k, v in r.items():
            if k not in NON_METRIC_KEYS and _is_number(v):
                series.setdefault((split, k), []).append(float(v))
    for (split, key), vals in series.items():
        out[f"{split}/{key}"] = vals[-1]
        if split != "train" and key != "lr":
            best = _best(key, vals)
            if best is not None:
                out[f"best {split}/{key}"] = best
    for k, v in run.eval.items():
        out[f"eval/{k}"] = v
    return out
