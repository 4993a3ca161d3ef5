"""class_names: Fashion-MNIST known by its test labels, a class_names.txt, MNIST nameless."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from qmnist_qiskit.data.names import CLASS_NAMES_FILE, FASHION_MNIST_CLASSES, class_names
from qmnist_qiskit.exceptions import QMNISTError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _labels_file(folder: Path, labels: bytes, *, gzipped: bool) -> None:
    data = (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels
    name = "t10k-labels-idx1-ubyte"
    if gzipped:
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    else:
        (folder / name).write_bytes(data)


def test_the_bundled_subset_and_other_labels_name_themselves(tmp_path):
    assert class_names() is None
    assert class_names(tmp_path) is None  # no labels file at all
    _labels_file(tmp_path, bytes([3, 7, 1]), gzipped=True)
    assert class_names(tmp_path) is None


@pytest.mark.skipif(
    not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
@pytest.mark.parametrize("gzipped", [True, False])
def test_fashion_mnist_is_known_by_its_test_labels(tmp_path, gzipped):
    source = FASHION_DIR / "t10k-labels-idx1-ubyte.gz"
    if gzipped:
        shutil.copy(source, tmp_path)
    else:
        with gzip.open(source) as stream:
            (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(stream.read())
    names = class_names(tmp_path)
    assert names == list(FASHION_MNIST_CLASSES)
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot"


def test_a_class_names_file_wins(tmp_path):
    _labels_file(tmp_path, bytes([3, 7]), gzipped=False)
    (tmp_path / CLASS_NAMES_FILE).write_text("\n".join(f"class {i}" for i in range(10)) + "\n")
    assert class_names(tmp_path) == [f"class {i}" for i in range(10)]


def test_a_class_names_file_without_ten_names_is_refused(tmp_path):
    (tmp_path / CLASS_NAMES_FILE).write_text("a\nb\n")
    with pytest.raises(QMNISTError, match="expected 10 class names, one per line, got 2"):
        class_names(tmp_path)
