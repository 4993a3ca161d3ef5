"""Property-based tests of the IDX reader: random headers and bodies either load, consistent
with what was written, or raise QMNISTError naming the file; never MemoryError, a numpy error,
a large allocation or a hang."""

from __future__ import annotations

import gzip
import re
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qmnist_qiskit.data import load_mnist
from qmnist_qiskit.exceptions import QMNISTError

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"
MAX_U32 = 2**32 - 1

u32 = st.one_of(
    st.sampled_from([0, 1, 2, 3, 27, 28, 29, 784, 2**31, MAX_U32]),
    st.integers(0, MAX_U32),
)
magics = st.one_of(
    st.sampled_from([2051, 2049, 0x0D03, 0x0803, 0x0801, 0x0903, 0x1F8B0808, 0]),
    st.integers(0, MAX_U32),
)


def _header(magic: int, dims: list[int]) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in dims)


@st.composite
def idx_files(draw, magic: int, item_shape: tuple[int, ...], max_value: int):
    """The bytes of one IDX file: valid for a few items, then perhaps broken one way."""
    n = draw(st.integers(0, 4))
    body = draw(st.binary(min_size=n * int(np.prod(item_shape)), max_size=n * 784 + 1))
    body = bytes(min(byte, max_value) for byte in body[: n * int(np.prod(item_shape))])
    dims = [n, *item_shape]
    header = _header(magic, dims)
    # Half the files stay valid, so that whole datasets load often enough to be checked.
    mutation = draw(
        st.one_of(
            st.just("none"),
            st.sampled_from(["magic", "dims", "body", "truncate", "extend", "random", "huge"]),
        )
    )
    if mutation == "magic":
        header = _header(draw(magics), dims)
    elif mutation == "dims":
        dims = [draw(u32) for _ in dims]
        header = _header(magic, dims)
    elif mutation == "body":
        body = draw(st.binary(max_size=4 * 784))
    elif mutation == "truncate":
        data = header + body
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif mutation == "extend":
        body += draw(st.binary(min_size=1, max_size=64))
    elif mutation == "random":
        return draw(st.binary(max_size=64))
    elif mutation == "huge":
        # Sizes claiming up to 3.4e12 bytes with a tiny body: refused before reading.
        header = _header(magic, [MAX_U32, *dims[1:]] if item_shape else [MAX_U32])
    return header + body


@st.composite
def stored(draw, data_strategy):
    """``(name suffix, bytes on disk)``: raw, gzipped, or gzipped then damaged."""
    data = draw(data_strategy)
    form = draw(
        st.one_of(
            st.sampled_from(["raw", "gz"]), st.sampled_from(["gz-cut", "gz-flipped", "gz-raw"])
        )
    )
    if form == "raw":
        return "", data
    if form == "gz-raw":
        return ".gz", data
    compressed = bytearray(gzip.compress(data, mtime=0))
    if form == "gz-cut":
        compressed = compressed[: draw(st.integers(0, len(compressed) - 1))]
    elif form == "gz-flipped":
        index = draw(st.integers(0, len(compressed) - 1))
        compressed[index] ^= draw(st.integers(1, 255))
    return ".gz", bytes(compressed)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    images=stored(idx_files(2051, (28, 28), 255)),
    labels=stored(idx_files(2049, (), 9)),
)
def test_random_idx_files_load_or_raise_a_named_error(images, labels):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths = []
        for name, (suffix, data) in ((IMAGES, images), (LABELS, labels)):
            path = folder / f"{name}{suffix}"
            path.write_bytes(data)
            paths.append(path)
        try:
            X, y = load_mnist(folder, subset="train")
        except QMNISTError as error:
            # One line, naming one of the files it read.
            message = str(error)
            assert "\n" not in message
            assert any(str(path) in message for path in paths), message
            event(re.sub(r"\d+", "N", message.replace(str(folder), ""))[:50])
            return
        event("loaded")
        assert X.shape == (len(y), 784) and X.dtype == np.float32
        assert y.dtype == np.int64 and set(y.tolist()) <= set(range(10))
        assert np.all((X >= 0) & (X <= 1))


def _huge_claims(folder: Path, gz: bool) -> Path:
    """An image file whose header claims 2**32 - 1 images (3.4e12 bytes), holding two."""
    data = _header(2051, [MAX_U32, 28, 28]) + bytes(2 * 784)
    path = folder / (IMAGES + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    (folder / LABELS).write_bytes(_header(2049, [2]) + bytes([1, 2]))
    return path


@pytest.mark.parametrize(
    "gz, message",
    [
        (False, r"truncated data: the header's sizes \(4294967295, 28, 28\) need 3367254359280"),
        (True, r"claim 3367254359280 bytes of data, more than the \d+ bytes of memory"),
    ],
    ids=["raw", "gz"],
)
def test_a_header_claiming_terabytes_is_refused_before_allocating(tmp_path, gz, message):
    path = _huge_claims(tmp_path, gz)
    tracemalloc.start()
    try:
        with pytest.raises(QMNISTError, match=re.escape(str(path)) + ".*" + message):
            load_mnist(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_gzipped_labels_claiming_billions_read_only_what_is_there(tmp_path):
    # 4.29e9 labels may fit in memory, so the claim passes; reading stops at the real 3 bytes.
    (tmp_path / IMAGES).write_bytes(_header(2051, [3, 28, 28]) + bytes(3 * 784))
    labels = tmp_path / f"{LABELS}.gz"
    labels.write_bytes(gzip.compress(_header(2049, [MAX_U32]) + bytes([1, 2, 3])))
    tracemalloc.start()
    try:
        with pytest.raises(QMNISTError, match=f"{re.escape(str(labels))}: (truncated|the header)"):
            load_mnist(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**26


def test_gzipped_trailing_data_is_named_without_reading_it_all(tmp_path):
    (tmp_path / IMAGES).write_bytes(_header(2051, [1, 28, 28]) + bytes(784))
    labels = tmp_path / f"{LABELS}.gz"
    labels.write_bytes(gzip.compress(_header(2049, [1]) + bytes(10_000_000)))
    with pytest.raises(
        QMNISTError,
        match=f"{re.escape(str(labels))}: trailing data: .* need 1 bytes of data, found more",
    ):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    "magic, described",
    [
        (0x0D03, r"type code 0x0d \(float32\) with 3 dimensions"),
        (0x0801, r"type code 0x08 \(uint8\) with 1 dimensions"),
        (0x1F8B0808, "not an IDX file"),
    ],
)
def test_wrong_magic_says_what_the_file_is(tmp_path, magic, described):
    path = tmp_path / IMAGES
    path.write_bytes(_header(magic, [1, 28, 28]) + bytes(784))
    (tmp_path / LABELS).write_bytes(_header(2049, [1]) + bytes([0]))
    with pytest.raises(QMNISTError, match=f"wrong magic number {magic}, .*{described}"):
        load_mnist(tmp_path)
