"""genzoo: train, sample, evaluate and compare deep generative models.

The three-line API::

    import genzoo
    m = genzoo.load("runs/clf-digits")
    loss = m.loss(m.prepare(x, y)).loss
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "load", "sample", "train"]

if TYPE_CHECKING:
    from genzoo.analyze.evaluate import evaluate_run as evaluate
    from genzoo.analyze.evaluate import sample_run as sample
    from genzoo.runs import load, train


def __getattr__(name: str) -> Any:  # lazy, so `import genzoo` stays cheap
    if name in ("train", "load"):
        from genzoo import runs

        return getattr(runs, name)
    if name in ("sample", "evaluate"):
        from genzoo.analyze import evaluate as ev

        return {"sample": ev.sample_run, "evaluate": ev.evaluate_run}[name]
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")
