"""A folder of images, one sub-folder per class (``path/<class>/<image>``).

Items are uint8 ``(N, C, H, W)`` in ``[0, 255]``; labels index the sorted sub-folder names. A
folder with no sub-folders but images directly inside is read as one unlabelled set. Hidden files
and files whose suffix is not an image suffix are skipped. Split: ``all``.

Options:
    path: the folder (required).
    size: resize every image to ``size x size`` (bilinear, antialiased; the aspect ratio is not
        kept); ``None`` to keep sizes, which must then all agree.
    channels: 1 (grey) or 3 (RGB); ``None`` to take it from the first image.

Example::

    ds = load_dataset("folder", "all", path="~/pets", size=64)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.checks import as_choice, as_int, as_path
from genzoo.errors import DataError
from genzoo.registry import datasets

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUFFIXES
    )


def list_images(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """Image files under ``root``, their class indices and the class names (sorted folders)."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        files = _images_in(root)
        if not files:
            raise DataError(f"no images ({', '.join(sorted(SUFFIXES))}) found in {root}")
        return files, None, None
    files, labels = [], []
    for k, name in enumerate(classes):
        found = _images_in(root / name)
        files += found
        labels += [k] * len(found)
    if not files:
        raise DataError(
            f"no images found in the class folders of {root} "
            f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})"
        )
    return files, labels, tuple(classes)


def read_image(path: Path, channels: int, size: int | None) -> np.ndarray:
    """uint8 ``(H, W, channels)`` pixels of one image file, resized when ``size`` is given."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im).reshape(im.size[1], im.size[0], channels)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot read image {path} ({e})") from e


def load_folder(
    split: str,
    root: Path,
    verify: bool,
    download: bool,
    *,
    path: str,
    size: int | None = None,
    channels: int | None = None,
) -> Dataset:
    """Images of a class-per-sub-folder tree: uint8 ``(N, C, H, W)``."""
    folder = as_path("path", path)
    if size is not None:
        size = as_int("size", size, minimum=1)
    if channels is not None:
        channels = as_choice("channels", channels, (1, 3))
    files, labels, class_names = list_images(folder)
    if channels is None:
        try:
            with Image.open(files[0]) as im:
                channels = 1 if im.mode in GREY_MODES else 3
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read image {files[0]} ({e})") from e
    pixels = [read_image(files[0], channels, size)]
    for f in files[1:]:
        a = read_image(f, channels, size)
        if a.shape != pixels[0].shape:
            raise DataError(
                f"image {f} is {a.shape[1]}x{a.shape[0]} but {files[0]} is "
                f"{pixels[0].shape[1]}x{pixels[0].shape[0]}; give option size to resize them all"
            )
        pixels.append(a)
    x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()
    info = DatasetInfo(
        name="folder",
        shape=tuple(x.shape[1:]),
        num_classes=None if class_names is None else len(class_names),
        value_range=(0, 255),
        kind="image",
        class_names=class_names,
        source=str(folder),
    )
    return Dataset(x, None if labels is None else labels_tensor(labels), info)


datasets.register(
    "folder",
    DatasetSpec(
        "folder",
        load_folder,
        ("all",),
        "your images, one sub-folder per class (option path; size, channels)",
    ),
)
