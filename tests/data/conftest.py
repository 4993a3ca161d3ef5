"""Writers of small IDX datasets for the data tests, independent of the package's reader."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

FILE_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx_bytes(magic: int, array: np.ndarray) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write_dataset(
    folder: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = False, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for subset, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, :2] = (0, 255)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images_name, labels_name = FILE_NAMES[subset]
        for name, magic, array in (
            (images_name, 2051, images),
            (labels_name, 2049, labels),
        ):
            data = _idx_bytes(magic, array)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        written[subset] = (images, labels)
    return written


@pytest.fixture
def idx_bytes() -> Callable[[int, np.ndarray], bytes]:
    """``idx_bytes(magic, array)``: the bytes of an IDX file holding a uint8 array."""
    return _idx_bytes


@pytest.fixture
def write_dataset() -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``write_dataset(folder, *, n_train, n_test, gz, seed)`` writes the four IDX files.

    Returns ``{"train": (images, labels), "test": (images, labels)}`` as written, uint8,
    images of shape (n, 28, 28) containing both 0 and 255.
    """
    return _write_dataset
