"""The command line: list, train, sample, eval, report; bad input gives one line and exit 2."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genzoo.cli import main

ALL_DATASETS = ["spiral", "pinwheel", "checkerboard", "gmm-ring", "gmm-grid", "two-moons",
                "swiss-roll", "rings", "digits", "mnist", "fashion-mnist", "binarized-mnist",
                "hoda", "cifar10", "svhn", "folder", "arrays"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    """A finished tiny run that no failing command may touch."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--quiet", "train", "clf-digits", "train.steps=3", "--runs-dir", str(runs),
                 "--name", "keep"]) == 0
    return runs / "keep"


def test_list_shows_everything(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ALL_DATASETS + ["classifier", "clf-digits", "mlp", "cnn"]:
        assert f"  {name} " in out or out.rstrip().endswith(f"  {name}") or f"  {name}\n" in out, \
            name
    code, out, _ = run_cli(capsys, "list", "datasets")
    assert "models:" not in out and all(n in out for n in ALL_DATASETS)


def test_quiet_works_before_and_after_the_verb(capsys, tmp_path):
    base = ["clf-digits", "train.steps=3", "--runs-dir", str(tmp_path)]
    code, _, loud = run_cli(capsys, "train", *base, "--name", "loud")
    assert code == 0 and "3/3" in loud  # the progress bar
    for argv in (["--quiet", "train", *base, "--name", "q1"],
                 ["train", *base, "--name", "q2", "--quiet"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0 and "3/3" not in err


def _write_idx(path: Path, magic: int, dims: list[int], payload: bytes, *, gz: bool = True):
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def bad_mnist_root(tmp_path) -> Path:
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    for split, n in (("train", 4), ("t10k", 2)):
        _write_idx(root / "mnist" / f"{split}-images-idx3-ubyte.gz", 2051, [n, 28, 28],
                   bytes(n * 784))
        _write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte.gz", 2049, [n], bytes(n))
    return root


def _bad_cases(root: Path, tmp: Path, other_ckpt: Path) -> dict[str, tuple[list[str], str]]:
    images = root / "mnist" / "train-images-idx3-ubyte.gz"
    npz = tmp / "bad.npz"
    np.savez(npz, x=np.zeros((5,), np.float32))
    mnist = ["clf-mnist", f"data.root={root}", "data.download=false", "train.steps=1"]
    return {
        "corrupt gzip": ([*mnist, "data.verify=false"], "not a valid gzip file"),
        "wrong checksum": (mnist, "checksum"),
        "truncated idx": ([*mnist, "data.verify=false"], "truncated"),
        "wrong-shaped npz": (["clf-digits", "data.name=arrays", f"data.options.path={npz}",
                              "data.train_split=all", "data.val_split=null"], "shape"),
        "unknown preset": (["no-such-preset"], "unknown preset 'no-such-preset'"),
        "unknown key": (["clf-digits", "train.epoch=3"], "unknown key 'train.epoch'"),
        "negative lr": (["clf-digits", "train.lr=-1e-3"], "train.lr: expected a number > 0"),
        "checkpoint of another method": (["clf-digits", f"train.init_from={other_ckpt}"],
                                         "is a 'test-buffered' checkpoint"),
        "resume of another method": (["clf-digits", "method=test-nan", "--resume"],
                                     "was trained with method 'classifier', not 'test-nan'"),
    }, images


@pytest.fixture(scope="module")
def other_method_ckpt(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("other")
    preset = runs / "buffered.yaml"
    preset.write_text("method: test-buffered\ndata: {name: digits}\ntrain: {steps: 2}\n")
    assert main(["--quiet", "train", str(preset), "--runs-dir", str(runs), "--name", "buf"]) == 0
    return runs / "buf" / "checkpoints" / "last.pt"


CASES = ["corrupt gzip", "wrong checksum", "truncated idx", "wrong-shaped npz", "unknown preset",
         "unknown key", "negative lr", "checkpoint of another method", "resume of another method"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_exit_2_run_untouched(case, capsys, tmp_path, bad_mnist_root,
                                                  existing_run, other_method_ckpt):
    cases, images = _bad_cases(bad_mnist_root, tmp_path, other_method_ckpt)
    if case == "corrupt gzip":
        images.write_bytes(images.read_bytes()[:40])  # cut inside the deflate stream
    elif case == "truncated idx":
        _write_idx(images, 2051, [4, 28, 28], bytes(100))
    args, words = cases[case]
    before = snapshot(existing_run.parent)
    code, out, err = run_cli(capsys, "--quiet", "train", *args, "--runs-dir",
                             str(existing_run.parent), "--name", existing_run.name)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genzoo: error: "), err
    assert words in lines[0], lines[0]
    assert snapshot(existing_run.parent) == before


def test_sample_eval_report_from_run_dir(capsys, tmp_path, other_method_ckpt, existing_run):
    run = other_method_ckpt.parent.parent
    code, out, err = run_cli(capsys, "sample", str(run), "--n", "9", "--out",
                             str(tmp_path / "s.png"))
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0, err
    code, out, err = run_cli(capsys, "eval", str(existing_run))
    assert code == 0, err
    numbers = json.loads((existing_run / "eval.json").read_text())
    assert 0 <= numbers["test/acc"] <= 1 and numbers["test/loss"] > 0
    code, out, err = run_cli(capsys, "report", str(existing_run))
    assert code == 0 and Path(out.strip()).is_file(), err
    code, out, err = run_cli(capsys, "sample", str(existing_run))
    assert code == 2 and "does not generate samples" in err
    code, out, err = run_cli(capsys, "sample", str(tmp_path))
    assert code == 2 and "not a genzoo run directory" in err


@pytest.fixture(scope="module")
def ebm_run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("ebm")
    assert main(["--quiet", "train", "ebm-toy", "train.steps=2", "model.sampler.steps=1",
                 "data.val_split=null", "train.samples_every=null", "--runs-dir", str(runs),
                 "--name", "ebm"]) == 0
    return runs / "ebm"


@pytest.mark.parametrize("options, words", [
    (["sampler.foo=1"], "unknown key 'sampler.foo'; valid keys in 'sampler': sample_init, "
                        "sample_steps, buffer_steps"),
    (["sampler.sample_steps=-3"], "sampler.sample_steps: expected a number >= 0"),
    (["sampler.sample_init=fresh"], "sampler.sample_init: expected one of"),
    (["--n", "0"], "--n: expected a positive number of samples"),
    (["--y", "3"], "method 'ebm' is unconditional: it takes no labels"),
])
def test_a_bad_sample_option_is_one_line_and_exit_2(options, words, capsys, ebm_run):
    """``genzoo sample RUN sampler.foo=1`` on an EBM run: one line, exit 2, no file written."""
    run = ebm_run
    before = snapshot(run)
    code, out, err = run_cli(capsys, "sample", str(run), *options)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and words in lines[0], err
    assert snapshot(run) == before


def test_the_public_api_stays_callable_after_the_library_is_imported(tmp_path):
    """``genzoo.train`` is a function even once every subpackage has been imported (a
    subpackage of that name would shadow it)."""
    import genzoo
    import genzoo.analyze.catalog  # noqa: F401
    import genzoo.training  # noqa: F401

    run = genzoo.train("clf-digits", ["train.steps=1"], runs_dir=tmp_path, quiet=True)
    assert all(callable(f) for f in (genzoo.train, genzoo.load, genzoo.sample,
                                      genzoo.evaluate))
    assert genzoo.load(run).name == "classifier"


def test_bad_usage_is_one_line(capsys):
    code, out, err = run_cli(capsys, "frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_python_dash_m_entry_point(env):
    proc = subprocess.run([sys.executable, "-m", "genzoo", "list", "presets"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "clf-digits" in proc.stdout
