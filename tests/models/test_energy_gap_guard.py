"""The energy-gap guard (``model.max_gap``) of the buffered Langevin families (EBM, JEM): a
running mean of E(x) - E(x') beyond the limit is a divergence for the training loop's guard."""

from __future__ import annotations

import dataclasses
import json

import pytest

from genzoo.config import resolve_config
from genzoo.errors import TrainingDiverged
from genzoo.runs import preset_method, train
from genzoo.samplers.chain import GAP_MOMENTUM, ReplayConfig

DIGITS = ["data.name=digits", "data.val_limit=32", "model.net.width=4", "model.buffer_size=64",
          "model.sampler.steps=2", "model.sampler.sample_steps=2"]


def test_running_mean_of_the_gap_crosses_the_limit_and_restarts_after_a_rollback():
    method, _ = preset_method("jem-mnist", [*DIGITS, "model.max_gap=1.0"], limit=64)
    assert method.divergence({"cd": 0.5}) is None  # the first value starts the mean
    expected = GAP_MOMENTUM * 0.5 + (1 - GAP_MOMENTUM) * -100.0  # 0.49 - 2 = -1.51
    reason = method.divergence({"cd": -100.0})
    assert reason is not None and f"{expected:.3g}" in reason and "model.max_gap 1" in reason
    assert method.divergence({"ce": 0.1}) is None  # steps without a contrastive term
    method.load_extra_state(method.state_for_checkpoint())  # what a rollback does
    assert method.divergence({"cd": 0.9}) is None  # the mean starts afresh at 0.9


def test_guard_is_off_by_default_whatever_the_gap():
    method, _ = preset_method("cebm-mnist", [*DIGITS], limit=64)
    assert method.cfg.max_gap is None
    assert all(method.divergence({"cd": -1e9}) is None for _ in range(3))


def test_ebm_and_jem_share_the_replay_keys():
    shared = {f.name for f in dataclasses.fields(ReplayConfig)}
    assert shared == {"buffer_size", "p_new", "p_new_decay", "buffer_uint8", "max_gap"}
    for preset in ("jem-mnist", "ebm-mnist", "cebm-mnist"):
        model = resolve_config(preset, ["model.max_gap=2.5"]).model
        assert isinstance(model, ReplayConfig) and model.max_gap == 2.5


@pytest.mark.parametrize("preset", ["jem-mnist", "cebm-mnist"])
def test_a_collapsed_gap_rolls_back_then_gives_up(tmp_path, preset):
    # a limit no real gap stays under: every step diverges, so the guard rolls back once
    # (max_restarts 1) and gives up on the next step
    with pytest.raises(TrainingDiverged, match="energy gap"):
        train(preset, [*DIGITS, "data.limit=64", "train.steps=4", "train.batch_size=8",
                       "model.max_gap=1e-12", "train.guard.max_restarts=1"],
              runs_dir=tmp_path, quiet=True)
    records = [json.loads(line) for line in (tmp_path / preset / "metrics.jsonl").open()]
    restarts = [r for r in records if r.get("event") == "restart"]
    assert len(restarts) == 1 and "model.max_gap" in restarts[0]["reason"]
    assert restarts[0]["resumed_from"] == 0
