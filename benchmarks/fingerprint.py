"""Behaviour fingerprint: tiny seeded runs of every family, hashed, to compare two versions.

For each preset below a few optimizer steps are trained (seeded as every run is), and three
hashes are kept: the final weights, the logged losses, and 8 samples drawn after
``torch.manual_seed(1)``. A refactoring that must not change behaviour is checked by running
this script on the old and the new code on the same machine and comparing::

    python benchmarks/fingerprint.py --out /tmp/old.json          # on the old commit
    python benchmarks/fingerprint.py --compare /tmp/old.json      # on the new one

The hashes are bitwise: they hold on one kind of CPU (an AVX2 and an AVX-512 machine round
convolutions differently), so never compare fingerprints from two machines. ``--compare``
writes ``results/fingerprint.json`` with one check, the number of families that differ
(target 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

import genzoo.runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import check, write_result  # noqa: E402

IMAGES = ["train.steps=4", "data.limit=256", "data.val_limit=128", "train.eval_every=4"]
RUNS = {
    "ebm-toy": ["train.steps=30", "train.eval_every=15", "data.val_limit=200"],
    "gan-toy": ["train.steps=30"], "vae-toy": ["train.steps=30"],
    "realnvp-toy": ["train.steps=20"], "cnf-toy": ["train.steps=5"],
    "ddpm-toy": ["train.steps=30"], "dsm-toy": ["train.steps=30"], "sm-toy": ["train.steps=30"],
    "clf-digits": ["train.steps=20"],
    "jem-mnist": [*IMAGES, "model.sampler.steps=3"],
    "jempp-mnist": [*IMAGES, "model.sampler.steps=2"],
    "ebm-mnist": [*IMAGES, "model.sampler.steps=3"],
    "cebm-mnist": [*IMAGES, "model.sampler.steps=3"],
    "vqvae-mnist": IMAGES, "simsiam-mnist": ["train.steps=3", *IMAGES[1:3],
                                             "train.eval_every=3"],
    "cvae-mnist": IMAGES, "cgan-mnist": IMAGES[:3],
}


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _tensor_hash(t: torch.Tensor) -> str:
    return _hash(t.detach().float().cpu().contiguous().numpy().tobytes())


def _samples(method) -> bool:
    """Whether the method generates (versions before declared capabilities had can_sample)."""
    capabilities = getattr(method, "capabilities", None)
    return "sample" in capabilities if capabilities is not None else method.can_sample


def fingerprint(preset: str, overrides: list[str]) -> dict:
    """Hashes of one tiny run: weights, logged losses, 8 seeded samples (None: no sampling)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = genzoo.runs.train(preset, [*overrides, "train.samples_every=null"], runs_dir=tmp,
                                quiet=True)
        method = genzoo.runs.load(run)
        weights = _hash("".join(_tensor_hash(v) for _, v in
                                sorted(method.state_dict().items())).encode())
        losses = [json.loads(line).get("loss")
                  for line in (run / "metrics.jsonl").read_text().splitlines()]
        sample = None
        if _samples(method):
            torch.manual_seed(1)
            sample = _tensor_hash(method.sample(8))
    return {"weights": weights, "losses": _hash(json.dumps(losses).encode()), "sample": sample}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the fingerprint here")
    parser.add_argument("--compare", type=Path, help="compare with this earlier fingerprint")
    parser.add_argument("--only", help="comma-separated presets (default: all)")
    args = parser.parse_args()
    presets = args.only.split(",") if args.only else list(RUNS)
    prints = {}
    for preset in presets:
        prints[preset] = fingerprint(preset, RUNS[preset])
        print(preset, prints[preset], flush=True)
    if args.out:
        args.out.write_text(json.dumps(prints, indent=1) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        differ = sorted(p for p in prints if p in before and before[p] != prints[p])
        path = write_result("fingerprint", [check("families_that_differ", len(differ), "<=", 0)],
                            {"compared_with": str(args.compare), "differ": differ,
                             "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                             "families": sorted(p for p in prints if p in before)})
        print(f"{len(differ)} of {len(prints)} families differ: {differ}; wrote {path}")


if __name__ == "__main__":
    main()
