"""Reading and validating the IDX files of MNIST and datasets in the same format.

An IDX file starts with a big-endian 32-bit magic number (2051 for an image file, 2049 for a
label file), then one big-endian 32-bit size per dimension, then the unsigned bytes themselves.
Every way such a file can be wrong raises :class:`~qmnist_qiskit.exceptions.QMNISTError` with
the file's path and the problem in the message. The header is checked before any data is read:
sizes that disagree with a raw file's length, or claim more memory than this process may use
(a gzipped file's length says nothing of its content), are refused without allocating them,
and data are read in chunks, so memory grows only with the bytes a file really holds.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.resources import available_budget

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


_CHUNK = 1 << 24
# IDX type codes (the third byte of the magic number); MNIST files hold unsigned bytes.
_TYPE_NAMES = {
    0x08: "uint8",
    0x09: "int8",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """At most ``size`` bytes, in chunks: memory grows with the bytes the file really holds,
    never with what its header claims."""
    chunks = []
    left = size
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _describe_magic(found: int) -> str:
    if found >> 16:
        return "not an IDX file"
    type_code, n_dims = (found >> 8) & 0xFF, found & 0xFF
    type_name = _TYPE_NAMES.get(type_code, "unknown")
    return f"an IDX file of type code 0x{type_code:02x} ({type_name}) with {n_dims} dimensions"


def _check_magic(path: Path, header: bytes, magic: int) -> None:
    kind = "image" if magic == IMAGES_MAGIC else "label"
    if len(header) < 4:
        raise QMNISTError(
            f"{path}: truncated: {len(header)} bytes cannot hold the 4-byte magic number"
        )
    found = int.from_bytes(header, "big")
    if found != magic:
        raise QMNISTError(
            f"{path}: wrong magic number {found}, expected {magic} for an IDX {kind} file "
            f"({_describe_magic(found)})"
        )


def _check_item_shape(path: Path, dims: tuple[int, ...], item_shape: tuple[int, ...]) -> None:
    if dims[1:] != item_shape:
        rows, cols = dims[1:]
        raise QMNISTError(
            f"{path}: wrong image size {rows}x{cols}, expected {item_shape[0]}x{item_shape[1]}"
        )


def _check_memory(path: Path, dims: tuple[int, ...], expected: int) -> None:
    budget = available_budget()
    if expected > budget:
        raise QMNISTError(
            f"{path}: the header's sizes {dims} claim {expected} bytes of data, more than the "
            f"{budget} bytes of memory this process may use (half of what is available)"
        )


def _read_idx(
    path: Path,
    magic: int,
    item_shape: tuple[int, ...],
    count_check: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The array of an IDX file whose items have ``item_shape``: the header is checked before
    any data is read (``count_check`` gets the number of items it claims), and the data are
    read only when the header's sizes match the file's (raw files) and fit in memory."""
    gz = path.suffix == ".gz"
    header_size = 4 * (2 + len(item_shape))
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as stream:
            _check_magic(path, _read_up_to(stream, 4), magic)
            sizes = _read_up_to(stream, header_size - 4)
            if len(sizes) < header_size - 4:
                raise QMNISTError(
                    f"{path}: truncated header: expected {header_size} bytes, "
                    f"found {4 + len(sizes)}"
                )
            dims = tuple(int.from_bytes(sizes[i : i + 4], "big") for i in range(0, len(sizes), 4))
            _check_item_shape(path, dims, item_shape)
            expected = math.prod(dims)
            if not gz:
                actual = os.fstat(stream.fileno()).st_size - header_size
                _check_size(path, dims, expected, actual, exact=True)
            _check_memory(path, dims, expected)
            if count_check is not None:
                count_check(dims[0])
            data = _read_up_to(stream, expected)
            more = bool(stream.read(1)) if gz else False
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise QMNISTError(f"{path}: corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise QMNISTError(f"{path}: cannot read the file ({exc})") from exc
    _check_size(path, dims, expected, len(data) + more, exact=not more)
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_size(
    path: Path, dims: tuple[int, ...], expected: int, actual: int, *, exact: bool
) -> None:
    if actual != expected:
        problem = "truncated data" if actual < expected else "trailing data"
        found = f"found {actual}" if exact else f"found more than {expected}"
        raise QMNISTError(
            f"{path}: {problem}: the header's sizes {dims} need {expected} bytes of data, {found}"
        )


def _read_images(path: Path, count_check: Callable[[int], None] | None = None) -> np.ndarray:
    return _read_idx(path, IMAGES_MAGIC, IMAGE_SHAPE, count_check)


def _read_labels(path: Path) -> np.ndarray:
    labels = _read_idx(path, LABELS_MAGIC, ())
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
        its header claims more data than this process has memory for, a label lies outside
        0..9, or the image and label counts differ.

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
    # The labels first (a byte each), so the images' header is held to their count before
    # any image is read.
    labels = _read_labels(labels_path)

    def same_count(n_images: int) -> None:
        if n_images != len(labels):
            raise QMNISTError(
                f"{images_path} holds {n_images} images but {labels_path} holds "
                f"{len(labels)} labels"
            )

    return _read_images(images_path, same_count), labels
