"""Reading and validating the IDX files of MNIST and datasets in the same format.

An IDX file starts with a big-endian 32-bit magic number (2051 for an image file, 2049 for a
label file), then one big-endian 32-bit size per dimension, then the unsigned bytes themselves.
Every way such a file can be wrong raises :class:`~qmnist_qiskit.exceptions.QMNISTError` with
the file's path and the problem in the message.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from qmnist_qiskit.exceptions import QMNISTError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

IDX_FILE_NAMES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_file(directory: Path, name: str) -> Path:
    # The raw file comes first: it needs no decompression, and a directory holding both is
    # usually one where the archive was unpacked in place.
    candidates = (directory / name, directory / f"{name}.gz")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked_for = " or ".join(repr(candidate.name) for candidate in candidates)
    raise QMNISTError(f"{directory}: missing IDX file: looked for {looked_for}")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise QMNISTError(f"{path}: corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise QMNISTError(f"{path}: cannot read the file ({exc})") from exc


def _parse_idx(path: Path, data: bytes, magic: int, n_dims: int) -> np.ndarray:
    kind = "image" if magic == IMAGES_MAGIC else "label"
    if len(data) < 4:
        raise QMNISTError(
            f"{path}: truncated: {len(data)} bytes cannot hold the 4-byte magic number"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise QMNISTError(
            f"{path}: wrong magic number {found}, expected {magic} for an IDX {kind} file"
        )
    header_size = 4 * (1 + n_dims)
    if len(data) < header_size:
        raise QMNISTError(
            f"{path}: truncated header: expected {header_size} bytes, found {len(data)}"
        )
    dims = tuple(int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in range(1, n_dims + 1))
    expected = math.prod(dims)
    actual = len(data) - header_size
    if actual != expected:
        problem = "truncated data" if actual < expected else "trailing data"
        raise QMNISTError(
            f"{path}: {problem}: the header's sizes {dims} need {expected} bytes of data, "
            f"found {actual}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def _read_images(path: Path) -> np.ndarray:
    images = _parse_idx(path, _read_bytes(path), IMAGES_MAGIC, 3)
    if images.shape[1:] != IMAGE_SHAPE:
        rows, cols = images.shape[1:]
        raise QMNISTError(
            f"{path}: wrong image size {rows}x{cols}, expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
        )
    return images


def _read_labels(path: Path) -> np.ndarray:
    labels = _parse_idx(path, _read_bytes(path), LABELS_MAGIC, 1)
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise QMNISTError(
            f"{path}: {bad.size} labels out of range 0..{N_CLASSES - 1}, the first is "
            f"{labels[bad[0]]} at index {bad[0]}"
        )
    return labels


def read_idx_subset(
    directory: str | os.PathLike[str], subset: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate the images and labels of one subset from a directory of IDX files.

    Parameters
    ----------
    directory : str or os.PathLike
        A directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``
        (subset ``"train"``) or ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
        (subset ``"test"``), each raw or gzipped with a ``.gz`` suffix; where both exist the
        raw file is read.
    subset : {"train", "test"}
        Which pair of files to read.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, 28, 28)
        Read-only view of the pixels, 0..255.
    labels : numpy.ndarray of uint8, shape (n,)
        Read-only view of the labels, 0..9.

    Raises
    ------
    ValueError
        If ``subset`` is neither ``"train"`` nor ``"test"``.
    QMNISTError
        If the directory does not exist, a file is missing, unreadable, not valid gzip, has
        the wrong magic number, is truncated or has trailing bytes, images are not 28x28,
        a label lies outside 0..9, or the image and label counts differ.

    Examples
    --------
    >>> import gzip, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> header = (2051).to_bytes(4, "big") + b"".join(
    ...     n.to_bytes(4, "big") for n in (2, 28, 28))
    >>> _ = (folder / "t10k-images-idx3-ubyte").write_bytes(header + bytes(2 * 784))
    >>> labels = (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([3, 7])
    >>> _ = (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    >>> images, labels = read_idx_subset(folder, "test")
    >>> images.shape, labels.tolist()
    ((2, 28, 28), [3, 7])
    """
    if subset not in IDX_FILE_NAMES:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    folder = Path(directory)
    if not folder.exists():
        raise QMNISTError(f"{folder}: no such directory")
    if not folder.is_dir():
        raise QMNISTError(f"{folder}: not a directory (expected a directory of IDX files)")
    images_name, labels_name = IDX_FILE_NAMES[subset]
    images_path = _find_file(folder, images_name)
    labels_path = _find_file(folder, labels_name)
    images = _read_images(images_path)
    labels = _read_labels(labels_path)
    if len(images) != len(labels):
        raise QMNISTError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels
