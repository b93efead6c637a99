"""The analyses of ``genzoo analyze RUN WHAT...``: each declares the capability it needs of the
run's method (:data:`genzoo.models.base.CAPABILITIES`), and the analyses are looked up by name
in :data:`genzoo.registry.analyses`; nothing here knows a family by its name.

A :class:`Suite` is a group of analyses that share their setup (the loaded run, a judge) and
one runner, ``run(run_dir, names, **options)``, which writes figures into ``RUN/figures/`` and
numbers into ``RUN/eval.json`` through :func:`run_analyses`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genzoo.errors import UserError
from genzoo.io import merge_json
from genzoo.models.base import CAPABILITIES
from genzoo.registry import analyses, methods
from genzoo.runs import read_run_config


@dataclass(frozen=True)
class Suite:
    """Analyses sharing a runner.

    Attributes:
        names: the analyses it runs.
        needs: the capability every one of them needs of the method.
        run: ``run(run_dir, names, **options) -> numbers``.
        options: the keyword options ``run`` takes (of ``n, steps, eps, split, ood,
            checkpoint, seed, judge``).
    """

    names: tuple[str, ...]
    needs: str
    run: Callable[..., dict[str, float]]
    options: tuple[str, ...]

    def register(self) -> Suite:
        for name in self.names:
            analyses.register(name, self)
        return self


def analyze(run: Path | str, what: Sequence[str], **options: Any) -> dict[str, float]:
    """Run the analyses ``what`` (or ``all``: every analysis the run's method supports) on a
    run, each by its suite; returns the numbers (also merged into ``RUN/eval.json``)."""
    run_dir = Path(run)
    capabilities = methods.get(read_run_config(run_dir).method).capabilities
    if "all" in what:
        what = [n for n, s in analyses.items() if s.needs in capabilities]
        if not what:
            raise UserError(f"no analysis applies to {run_dir}")
    by_suite: dict[Suite, list[str]] = {}
    for name in what:
        suite = analyses.get(name)
        if suite.needs not in capabilities:
            raise UserError(f"analysis {name!r} needs a method with {suite.needs!r} "
                            f"({CAPABILITIES[suite.needs]}); {run_dir} has none")
        by_suite.setdefault(suite, []).append(name)
    numbers: dict[str, float] = {}
    for suite, names in by_suite.items():
        numbers.update(suite.run(run_dir, names, **{k: options[k] for k in suite.options
                                                    if k in options}))
    return numbers


def run_analyses(jobs: dict, what: Sequence[str], run_dir: Path) -> dict[str, float]:
    """Run the named analyses ``jobs[name]() -> (figure captions, numbers)`` in the order of
    ``what``; captions are merged into ``RUN/figures/captions.json`` and the numbers, keyed
    ``name/...``, into ``RUN/eval.json``. Returns the numbers."""
    numbers: dict[str, float] = {}
    for name in what:
        figures, values = jobs[name]()
        merge_json(run_dir / "figures" / "captions.json", figures)
        numbers.update({f"{name}/{k}": v for k, v in values.items()})
    merge_json(run_dir / "eval.json", numbers)
    return numbers
