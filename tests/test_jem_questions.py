"""The JEM project's per-question views: energy grid, buffer draws at p_new, top-16 of
generated samples, per-epoch losses."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.analyze.jem_questions import QUESTIONS, epoch_means
from genzoo.cli import main
from genzoo.data.transforms import to_float
from genzoo.io import read_metrics
from genzoo.runs import load, load_data, read_run_config

TINY = ["data.name=digits", "data.val_limit=32", "model.net.width=4", "model.buffer_size=64",
        "model.sampler.steps=2", "model.sampler.sample_steps=2", "train.epochs=2",
        "train.batch_size=64", "train.num_samples=10", "train.warmup_steps=0",
        "train.log_every=epoch", "data.limit=256"]


@pytest.fixture(scope="module")
def spec_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--quiet", "train", "jem-mnist-spec", *TINY, "--runs-dir", str(runs)]) == 0
    return runs / "jem-mnist-spec"


def _analyze(run, *what, extra=()):
    assert main(["--quiet", "analyze", str(run), *what, "--n", "20", "--steps", "3",
                 *extra]) == 0
    return json.loads((run / "eval.json").read_text())


def test_per_epoch_logging_writes_one_line_per_epoch_with_the_epochs_mean(spec_run):
    train = [r for r in read_metrics(spec_run) if r.get("split") == "train"]
    assert [r["epoch"] for r in train] == [1.0, 2.0]  # 256 items / 64: 4 steps per epoch
    assert [r["step"] for r in train] == [4, 8]
    numbers = _analyze(spec_run, "epoch-losses")
    assert numbers["epoch-losses/first_epoch_loss"] == pytest.approx(train[0]["loss"])
    assert numbers["epoch-losses/last_epoch_loss"] == pytest.approx(train[1]["loss"])
    assert numbers["epoch-losses/epochs"] == 2.0
    assert (spec_run / "figures" / "epoch-losses.png").is_file()


def test_step_logging_gives_each_epochs_step_weighted_mean_and_drops_rolled_back_lines():
    """10 steps per epoch, lines every 4 steps: epoch 1 = steps 1-8 (lines at 4, 8), epoch 2 =
    the line at 12 (which ends in it) plus 16 and 20; the guard restarted at step 16 from step
    12, so the first line at 16 is dropped; the last, partial epoch has its fraction as
    epoch."""
    log = [(4, 1.0), (8, 3.0), (12, 5.0), (16, 100.0), (16, 7.0), (20, 9.0), (22, 11.0)]
    records = [{"split": "train", "step": st, "epoch": st / 10, "loss": v, "acc": v / 100}
               for st, v in log]
    del records[3]["acc"]  # keys missing from a rolled-back line do not matter
    records.insert(4, {"step": 16, "event": "restart", "resumed_from": 12, "restarts": 1})
    epochs = epoch_means(records, ["loss", "acc"])
    assert [r["epoch"] for r in epochs] == [1.0, 2.0, 2.2]
    assert [r["step"] for r in epochs] == [8, 20, 22]
    assert epochs[0]["loss"] == pytest.approx((4 * 1 + 4 * 3) / 8)
    assert epochs[1]["loss"] == pytest.approx((4 * 5 + 4 * 7 + 4 * 9) / 12)
    assert epochs[2]["loss"] == pytest.approx(11.0)
    assert epochs[1]["acc"] == pytest.approx(epochs[1]["loss"] / 100)


def test_energy_grid_prints_the_energies_of_a_real_a_noise_and_a_grey_image(spec_run):
    numbers = _analyze(spec_run, "energy-grid")
    model = load(spec_run)
    test = load_data(read_run_config(spec_run), "test", 1)
    real = to_float(test.x[:1], test.info.value_range, model.data_range)
    grey = torch.full_like(real, 0.5)  # the middle of [0, 1]
    for name, x in (("real", real), ("grey", grey)):
        with torch.no_grad():
            logits = model(x)[0]
        for k in range(10):
            assert numbers[f"energy-grid/{name}/E_x_y{k}"] == pytest.approx(-float(logits[k]),
                                                                             abs=1e-5)
        assert numbers[f"energy-grid/{name}/E_x"] == pytest.approx(
            -float(torch.logsumexp(logits, 0)), abs=1e-5)
    assert {"energy-grid/noise/E_x", "energy-grid/noise/E_x_y9"} <= numbers.keys()
    captions = json.loads((spec_run / "figures" / "captions.json").read_text())
    assert "energy-grid.png" in captions


@pytest.mark.parametrize("p_new", [0.0, 1.0])
def test_buffer_draws_follow_p_new(spec_run, p_new):
    numbers = _analyze(spec_run, "buffer-draws", extra=["--p-new", str(p_new)])
    assert numbers["buffer-draws/fresh_fraction"] == p_new
    assert numbers["buffer-draws/buffer_size"] == 64


def test_buffer_draws_at_one_half_are_about_half_fresh(spec_run):
    assert main(["--quiet", "analyze", str(spec_run), "buffer-draws", "--n", "2000",
                 "--p-new", "0.5"]) == 0
    fraction = json.loads((spec_run / "eval.json").read_text())["buffer-draws/fresh_fraction"]
    assert abs(fraction - 0.5) < 6 * (0.25 / 2000) ** 0.5  # Binomial(2000, 1/2), 6 std


def test_top_generated_ranks_chains_by_energy(spec_run):
    numbers = _analyze(spec_run, "top-generated")
    assert 0 <= numbers["top-generated/top16_self_accuracy"] <= 1
    assert (spec_run / "figures" / "top-generated.png").is_file()


def test_all_includes_the_questions_and_a_bad_p_new_is_one_line(spec_run, capsys):
    assert main(["--quiet", "analyze", str(spec_run), "buffer-draws", "--p-new", "2"]) == 2
    assert "--p-new" in capsys.readouterr().err
    from genzoo.registry import analyses

    assert set(QUESTIONS) <= set(analyses.names())
