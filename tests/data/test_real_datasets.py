"""The real datasets load from the shared folder with the published counts and checksums."""

from __future__ import annotations

import pytest
import torch

from genzoo.data import load_dataset

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
HODA_REMAINING_COUNTS = [2070, 2330, 1923, 2334, 2333, 2110, 2254, 2363, 2264, 2371]

CASES = [
    ("mnist", "train", 60000, MNIST_TRAIN_COUNTS),
    ("mnist", "test", 10000, None),
    ("fashion-mnist", "train", 60000, [6000] * 10),
    ("fashion-mnist", "test", 10000, [1000] * 10),
    ("binarized-mnist", "train", 50000, None),
    ("binarized-mnist", "valid", 10000, None),
    ("binarized-mnist", "test", 10000, None),
    ("hoda", "train", 60000, [6000] * 10),
    ("hoda", "test", 20000, [2000] * 10),
    ("hoda", "remaining", 22352, HODA_REMAINING_COUNTS),
]


@pytest.mark.parametrize(("name", "split", "n", "class_counts"), CASES)
def test_real_dataset_counts(real_data_root, name, split, n, class_counts):
    ds = load_dataset(name, split, root=real_data_root, download=False)
    assert ds.x.shape == (n, 1, 28, 28)
    assert ds.x.dtype == torch.uint8
    assert ds.info.shape == (1, 28, 28) and ds.info.kind == "image"
    assert str(real_data_root) in ds.info.source
    if name == "binarized-mnist":
        assert ds.y is None and ds.info.num_classes is None
        assert ds.info.value_range == (0, 1)
        assert int(ds.x.max()) == 1
        assert 0.12 < ds.x.float().mean().item() < 0.14  # README: ones-fraction 0.13
    else:
        assert ds.y.dtype == torch.int64 and ds.y.shape == (n,)
        assert ds.info.num_classes == 10 and ds.info.value_range == (0, 255)
        assert int(ds.x.max()) == 255
        if class_counts is not None:
            assert torch.bincount(ds.y, minlength=10).tolist() == class_counts


def test_fashion_class_names(real_data_root):
    ds = load_dataset("fashion-mnist", "test", root=real_data_root, download=False)
    assert ds.info.class_names[0] == "T-shirt/top" and ds.info.class_names[9] == "Ankle boot"


def test_hoda_digit_is_bright_and_centred(real_data_root):
    ds = load_dataset("hoda", "test", root=real_data_root, download=False)
    x = ds.x[:2000].float()
    border = torch.cat([x[..., :2, :], x[..., -2:, :], x[..., :2].mT, x[..., -2:].mT], -2)
    assert border.max() == 0  # the 24-pixel box leaves a 2-pixel margin
    assert x[..., 10:18, 10:18].mean() > x.mean()  # ink concentrates near the centre
