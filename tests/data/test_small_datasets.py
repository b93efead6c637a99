"""digits, the image-folder loader and the user-arrays loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import load_dataset
from genzoo.errors import ConfigError, DataError


def test_digits():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.x.shape == (1438, 1, 8, 8) and test.x.shape == (359, 1, 8, 8)
    assert train.x.dtype == torch.uint8 and int(train.x.max()) == 16
    assert train.info.value_range == (0, 16) and train.info.num_classes == 10
    assert torch.equal(train.x, load_dataset("digits", "train").x)  # fixed split
    both = torch.cat([train.x, test.x]).flatten(1)
    assert len(torch.unique(both, dim=0)) > 1700  # the two splits do not share items


# ----- folder -----------------------------------------------------------------------------


def _png(path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_classes_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    cat = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    _png(tmp_path / "cat" / "a.png", cat)
    _png(tmp_path / "cat" / "b.png", cat[::-1].copy())
    _png(tmp_path / "ant" / "z.png", cat[:, ::-1].copy())
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    ds = load_dataset("folder", path=str(tmp_path))
    assert ds.info.class_names == ("ant", "cat") and ds.y.tolist() == [0, 1, 1]
    assert ds.x.shape == (3, 3, 6, 5) and ds.x.dtype == torch.uint8
    assert np.array_equal(ds.x[1].permute(1, 2, 0).numpy(), cat)
    grey = load_dataset("folder", "all", path=tmp_path, channels=1, size=4)
    assert grey.x.shape == (3, 1, 4, 4) and grey.info.shape == (1, 4, 4)


def test_folder_channels_from_first_image(tmp_path):
    _png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "a" / "2.png", np.full((4, 4, 3), 9, np.uint8))
    ds = load_dataset("folder", path=tmp_path)
    assert ds.x.shape == (2, 1, 4, 4)


def test_folder_errors(tmp_path):
    _png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "b" / "2.png", np.zeros((5, 4), np.uint8))
    message = r"image .*2\.png is 4x5 but .*1\.png is 4x4; give option size"
    with pytest.raises(DataError, match=message):
        load_dataset("folder", path=tmp_path)
    (tmp_path / "b" / "3.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*3\.png"):
        load_dataset("folder", path=tmp_path, size=4)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", path=tmp_path / "nope")
    with pytest.raises(ConfigError, match="needs option 'path'"):
        load_dataset("folder")
    with pytest.raises(ConfigError, match="option 'channels' must be one of 1, 3"):
        load_dataset("folder", path=tmp_path, channels=2)
    (tmp_path / "empty" / "c").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        load_dataset("folder", path=tmp_path / "empty")


# ----- arrays -----------------------------------------------------------------------------


def test_arrays_npz_vectors_and_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 3))
    y = np.arange(10) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    ds = load_dataset("arrays", path=tmp_path / "a.npz")
    assert ds.x.dtype == torch.float32 and ds.x.shape == (10, 3)
    assert ds.info.kind == "vector" and ds.info.value_range is None
    assert ds.y.tolist() == y.tolist() and ds.info.num_classes == 4
    assert torch.allclose(ds.x, torch.tensor(x, dtype=torch.float32))


def test_arrays_npy_images(tmp_path):
    u8 = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)  # NHWC
    np.save(tmp_path / "u8.npy", u8)
    ds = load_dataset("arrays", "all", path=tmp_path / "u8.npy")
    assert ds.x.shape == (4, 3, 8, 8) and ds.x.dtype == torch.uint8
    assert ds.info.value_range == (0, 255) and ds.y is None
    assert ds.x[2, 1, 3, 5] == u8[2, 3, 5, 1]
    np.save(tmp_path / "grey.npy", u8[..., 0] / 255.0)
    ds = load_dataset("arrays", path=tmp_path / "grey.npy")
    assert ds.x.shape == (4, 1, 8, 8) and ds.x.dtype == torch.float32
    assert ds.info.value_range == (0, 1)
    np.save(tmp_path / "signed.npy", u8[..., 0] / 127.5 - 1)
    with pytest.raises(DataError, match="outside .* give option value_range"):
        load_dataset("arrays", path=tmp_path / "signed.npy")
    ds = load_dataset("arrays", path=tmp_path / "signed.npy", value_range=[-1, 1])
    assert ds.info.value_range == (-1.0, 1.0)


def test_arrays_csv(tmp_path):
    (tmp_path / "p.csv").write_text("a,b\n1,2\n3,4.5\n")
    ds = load_dataset("arrays", path=tmp_path / "p.csv")
    assert ds.x.tolist() == [[1.0, 2.0], [3.0, 4.5]] and ds.info.kind == "vector"
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match="numeric comma-separated rows"):
        load_dataset("arrays", path=tmp_path / "bad.csv")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros(5)}, r"x has shape \(5,\); accepted: \(N, D\) vectors"),
        ({"x": np.zeros((2, 3, 4, 5, 6))}, r"x has shape \(2, 3, 4, 5, 6\); accepted"),
        ({"x": np.zeros((2, 5, 4, 4))}, r"x has shape \(2, 5, 4, 4\); accepted"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(3, int)}, r"y has shape \(3,\) but x has 4 items"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, "y must hold integer class labels"),
        ({"x": np.zeros((4, 2)), "y": -np.ones(4, int)}, "y must hold integer class labels"),
        ({"z": np.zeros((4, 2))}, r"has no array 'x' \(found: z\)"),
        ({"x": np.full((4, 2), np.nan)}, "x must hold finite numbers"),
        ({"x": np.full((2, 4, 4), 300)}, r"integer images must lie in 0\.\.255"),
    ],
)
def test_arrays_wrong_shapes(tmp_path, arrays, message):
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as e:
        load_dataset("arrays", path=path)
    assert str(path) in str(e.value)


def test_arrays_bad_file_and_options(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read .*a\.npy as a \.npy array file"):
        load_dataset("arrays", path=tmp_path / "a.npy")
    with pytest.raises(DataError, match="unknown array file type '.txt'"):
        (tmp_path / "a.txt").write_text("1")
        load_dataset("arrays", path=tmp_path / "a.txt")
    with pytest.raises(ConfigError, match="option 'value_range' must"):
        load_dataset("arrays", path=tmp_path / "a.npy", value_range=[1, 0])
