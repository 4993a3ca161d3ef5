"""load_mnist(path=DIR): IDX files, raw and gzipped, and every way they can be broken."""

from __future__ import annotations

import doctest
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from qmnist_qiskit.data import idx, load, load_mnist
from qmnist_qiskit.exceptions import QMNISTError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def _path_pattern(path: Path) -> str:
    return re.escape(str(path))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("subset", ["train", "test"])
def test_loads_written_files_exactly(tmp_path, write_dataset, gz, subset):
    written = write_dataset(tmp_path, n_train=23, n_test=7, gz=gz)
    images, labels = written[subset]

    X, y = load_mnist(tmp_path, subset=subset)

    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.shape == (len(images), 784) and y.shape == (len(images),)
    expected = images.reshape(len(images), 784).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, labels.astype(np.int64))
    assert X.min() == 0.0 and X.max() == 1.0
    assert X.flags.writeable and y.flags.writeable


def test_accepts_str_path_and_mixed_raw_and_gz(tmp_path, write_dataset, idx_bytes):
    written = write_dataset(tmp_path, gz=True)
    images, labels = written["train"]
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(2051, images))

    X, y = load_mnist(str(tmp_path), subset="train")

    np.testing.assert_array_equal(X * 255, images.reshape(-1, 784))
    np.testing.assert_array_equal(y, labels)


def test_prefers_raw_file_when_both_exist(tmp_path, write_dataset):
    raw = write_dataset(tmp_path, gz=False, seed=1)
    write_dataset(tmp_path, gz=True, seed=2)

    X, y = load_mnist(tmp_path, subset="test")

    np.testing.assert_array_equal(y, raw["test"][1])
    np.testing.assert_array_equal(X * 255, raw["test"][0].reshape(-1, 784))


def test_read_idx_subset_returns_uint8_images_and_labels(tmp_path, write_dataset):
    written = write_dataset(tmp_path)

    images, labels = idx.read_idx_subset(tmp_path, "train")

    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    np.testing.assert_array_equal(images, written["train"][0])
    np.testing.assert_array_equal(labels, written["train"][1])


def test_bad_subset_is_value_error_before_touching_files(tmp_path):
    with pytest.raises(ValueError, match="subset must be 'train' or 'test', got 'valid'"):
        load_mnist(tmp_path / "does-not-exist", subset="valid")
    with pytest.raises(ValueError, match="subset must be"):
        idx.read_idx_subset(tmp_path, "training")


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(QMNISTError, match=f"{_path_pattern(missing)}: no such directory"):
        load_mnist(missing)


def test_path_that_is_a_file(tmp_path):
    file = tmp_path / "train-images-idx3-ubyte"
    file.write_bytes(b"")
    with pytest.raises(QMNISTError, match=f"{_path_pattern(file)}: not a directory"):
        load_mnist(file)


def test_missing_file_lists_names_looked_for(tmp_path, write_dataset):
    write_dataset(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(QMNISTError) as info:
        load_mnist(tmp_path, subset="test")
    message = str(info.value)
    assert str(tmp_path) in message
    assert "missing IDX file" in message
    assert "'t10k-labels-idx1-ubyte' or 't10k-labels-idx1-ubyte.gz'" in message
    X, _ = load_mnist(tmp_path, subset="train")
    assert X.shape == (20, 784)


def test_empty_directory_names_the_images_file(tmp_path):
    with pytest.raises(QMNISTError, match="'train-images-idx3-ubyte' or 'train-images-idx3"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    ("name", "wrong_magic", "expected_magic"),
    [
        ("train-images-idx3-ubyte", 2049, 2051),
        ("train-labels-idx1-ubyte", 2051, 2049),
    ],
)
def test_wrong_magic_number(tmp_path, write_dataset, name, wrong_magic, expected_magic):
    write_dataset(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes(wrong_magic.to_bytes(4, "big") + data[4:])

    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(path)}: wrong magic number {wrong_magic}, expected {expected_magic}",
    ):
        load_mnist(tmp_path)


def test_gzip_data_under_a_raw_name_is_a_wrong_magic_number(tmp_path, write_dataset):
    write_dataset(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(
        QMNISTError, match=f"{_path_pattern(path)}: wrong magic number 529205248, expected 2051"
    ):
        load_mnist(tmp_path, subset="test")


@pytest.mark.parametrize(
    ("name", "item_bytes", "n"),
    [("train-images-idx3-ubyte", 784, 20), ("train-labels-idx1-ubyte", 1, 20)],
    ids=["images", "labels"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_truncated_data_reports_byte_counts(tmp_path, write_dataset, name, item_bytes, n, gz):
    write_dataset(tmp_path, n_train=n)
    raw_path = tmp_path / name
    data = raw_path.read_bytes()[:-3]
    path = raw_path.with_name(f"{name}.gz") if gz else raw_path
    raw_path.unlink()
    path.write_bytes(gzip.compress(data) if gz else data)

    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(path)}: truncated data: .* need {n * item_bytes} bytes of data, "
        f"found {n * item_bytes - 3}",
    ):
        load_mnist(tmp_path)


@pytest.mark.parametrize("size", [0, 3, 10])
def test_truncated_header(tmp_path, write_dataset, size):
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(QMNISTError, match=f"{_path_pattern(path)}: truncated"):
        load_mnist(tmp_path)


def test_trailing_bytes(tmp_path, write_dataset):
    write_dataset(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(path)}: trailing data: .* need 10 bytes of data, found 11",
    ):
        load_mnist(tmp_path, subset="test")


def test_image_label_count_mismatch(tmp_path, write_dataset, idx_bytes):
    written = write_dataset(tmp_path)
    labels_path = tmp_path / "train-labels-idx1-ubyte"
    labels_path.write_bytes(idx_bytes(2049, written["train"][1][:19]))

    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(tmp_path / 'train-images-idx3-ubyte')} holds 20 images but "
        f"{_path_pattern(labels_path)} holds 19 labels",
    ):
        load_mnist(tmp_path)


def test_a_count_mismatch_is_found_before_the_images_are_read(tmp_path, idx_bytes):
    import tracemalloc

    images = np.zeros((20_000, 28, 28), dtype=np.uint8)  # 15.7 MB of pixels on disk
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(2051, images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(2049, np.zeros(3, np.uint8)))
    tracemalloc.start()
    try:
        with pytest.raises(QMNISTError, match="holds 20000 images but .* holds 3 labels"):
            load_mnist(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize("shape", [(20, 27, 28), (20, 28, 32), (20, 14, 56)])
def test_wrong_image_size(tmp_path, write_dataset, idx_bytes, shape):
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(2051, np.zeros(shape, dtype=np.uint8)))

    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(path)}: wrong image size {shape[1]}x{shape[2]}, expected 28x28",
    ):
        load_mnist(tmp_path)


def test_labels_out_of_range(tmp_path, write_dataset, idx_bytes):
    written = write_dataset(tmp_path)
    labels = written["test"][1].copy()
    labels[[3, 8]] = (10, 255)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(2049, labels))

    with pytest.raises(
        QMNISTError,
        match=f"{_path_pattern(path)}: 2 labels out of range 0..9, the first is 10 at index 3",
    ):
        load_mnist(tmp_path, subset="test")


def _not_gzip(data: bytes) -> bytes:
    return b"this is not gzip data" + data


def _cut_gzip_stream(data: bytes) -> bytes:
    return gzip.compress(data)[:-20]


def _flip_crc(data: bytes) -> bytes:
    compressed = bytearray(gzip.compress(data))
    compressed[-8] ^= 0xFF
    return bytes(compressed)


@pytest.mark.parametrize("corrupt", [_not_gzip, _cut_gzip_stream, _flip_crc])
def test_corrupt_gzip(tmp_path, write_dataset, corrupt):
    write_dataset(tmp_path)
    raw_path = tmp_path / "train-images-idx3-ubyte"
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(corrupt(raw_path.read_bytes()))
    raw_path.unlink()

    with pytest.raises(QMNISTError, match=f"{_path_pattern(path)}: corrupt gzip data"):
        load_mnist(tmp_path)


def test_fashion_mnist_full_size():
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST not found in {FASHION_MNIST_DIR} (Debian package dataset-fashion-mnist)"
        )
    X_train, y_train = load_mnist(FASHION_MNIST_DIR, subset="train")
    X_test, y_test = load_mnist(FASHION_MNIST_DIR, subset="test")

    assert X_train.shape == (60_000, 784) and y_train.shape == (60_000,)
    assert X_test.shape == (10_000, 784) and y_test.shape == (10_000,)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 1000))


@pytest.mark.parametrize("module", [idx, load], ids=lambda module: module.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
