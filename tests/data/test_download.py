"""fetch_mnist against a real HTTP server on 127.0.0.1 serving IDX files the tests write."""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from qmnist_qiskit.data import (
    CACHE_DIR_ENV,
    MIRRORS_ENV,
    MNIST_MIRRORS,
    MNIST_SHA256,
    fetch_mnist,
    load_mnist,
)
from qmnist_qiskit.exceptions import QMNISTError

GZ_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _LoopbackServer:
    """Serves a directory over HTTP on 127.0.0.1 and records every GET path.

    Paths under ``/truncated/`` announce the full size of the file of the same name in
    ``mnist/`` but send only half of it, like a connection dropped mid-download.
    """

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                requests.append(self.path)
                if self.path.startswith("/truncated/"):
                    body = (root / "mnist" / Path(self.path).name).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    return
                super().do_GET()

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, folder: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{folder}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the loopback server did not stop"


@dataclass
class Served:
    server: _LoopbackServer
    registry: dict[str, str]
    written: dict[str, tuple[np.ndarray, np.ndarray]]
    root: Path


def _dead_mirror() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.delenv(MIRRORS_ENV, raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def served(tmp_path, write_dataset):
    root = tmp_path / "www"
    written = write_dataset(root / "mnist", n_train=30, n_test=10, gz=True)
    registry = {name: _sha256(root / "mnist" / name) for name in GZ_NAMES}
    server = _LoopbackServer(root)
    yield Served(server, registry, written, root)
    server.close()


def _assert_loads_served_data(folder: Path, served: Served) -> None:
    for subset in ("train", "test"):
        X, y = load_mnist(folder, subset=subset)
        images, labels = served.written[subset]
        np.testing.assert_array_equal(X * 255, images.reshape(len(images), 784))
        np.testing.assert_array_equal(y, labels)


def _assert_cache_holds_only_verified_files(folder: Path, registry: dict[str, str]) -> None:
    for path in folder.iterdir():
        assert path.name in registry, f"unexpected file left in the cache: {path.name}"
        assert _sha256(path) == registry[path.name]


def test_download_then_load(tmp_path, served):
    cache = tmp_path / "cache"

    folder = fetch_mnist(cache, mirrors=[served.server.url("mnist")], registry=served.registry)

    assert folder == cache.resolve()
    assert sorted(p.name for p in folder.iterdir()) == sorted(GZ_NAMES)
    assert sorted(served.server.requests) == sorted(f"/mnist/{name}" for name in GZ_NAMES)
    _assert_loads_served_data(folder, served)


def test_second_call_uses_the_cache(tmp_path, served):
    mirrors = [served.server.url("mnist")]
    first = fetch_mnist(tmp_path / "cache", mirrors=mirrors, registry=served.registry)
    served.server.requests.clear()

    second = fetch_mnist(tmp_path / "cache", mirrors=mirrors, registry=served.registry)

    assert second == first
    assert served.server.requests == []


def test_cached_file_with_wrong_hash_is_downloaded_again(tmp_path, served):
    mirrors = [served.server.url("mnist")]
    cache = fetch_mnist(tmp_path / "cache", mirrors=mirrors, registry=served.registry)
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"stale")
    served.server.requests.clear()

    fetch_mnist(cache, mirrors=mirrors, registry=served.registry)

    assert served.server.requests == ["/mnist/train-labels-idx1-ubyte.gz"]
    _assert_cache_holds_only_verified_files(cache, served.registry)


def test_falls_back_from_a_dead_mirror(tmp_path, served):
    folder = fetch_mnist(
        tmp_path / "cache",
        mirrors=[_dead_mirror(), served.server.url("mnist")],
        registry=served.registry,
    )
    _assert_loads_served_data(folder, served)


def test_falls_back_from_a_mirror_answering_404(tmp_path, served):
    folder = fetch_mnist(
        tmp_path / "cache",
        mirrors=[served.server.url("nowhere"), served.server.url("mnist")],
        registry=served.registry,
    )

    for name in GZ_NAMES:
        assert served.server.requests.count(f"/nowhere/{name}") == 1
        assert served.server.requests.count(f"/mnist/{name}") == 1
    _assert_loads_served_data(folder, served)


def test_checksum_mismatch_on_every_mirror_leaves_nothing_wrong(tmp_path, served):
    for folder in ("a", "b"):
        (served.root / folder).mkdir()
        for name in GZ_NAMES:
            data = (served.root / "mnist" / name).read_bytes()
            if name == "train-labels-idx1-ubyte.gz":
                # mtime=0: both mirrors serve the same bytes even across a clock second.
                data = gzip.compress(gzip.decompress(data)[:-1] + b"\x09", mtime=0)
            (served.root / folder / name).write_bytes(data)
    tampered = _sha256(served.root / "a" / "train-labels-idx1-ubyte.gz")
    expected = served.registry["train-labels-idx1-ubyte.gz"]
    cache = tmp_path / "cache"
    mirrors = [served.server.url("a"), served.server.url("b")]

    with pytest.raises(QMNISTError) as info:
        fetch_mnist(cache, mirrors=mirrors, registry=served.registry)

    message = str(info.value)
    assert str(cache.resolve() / "train-labels-idx1-ubyte.gz") in message
    for mirror in mirrors:
        assert (
            f"{mirror}train-labels-idx1-ubyte.gz: SHA-256 mismatch: expected {expected}, "
            f"got {tampered}"
        ) in message
    assert "train-labels-idx1-ubyte.gz" not in {p.name for p in cache.iterdir()}
    _assert_cache_holds_only_verified_files(cache, served.registry)


def test_default_registry_rejects_files_that_are_not_official_mnist(tmp_path, served):
    cache = tmp_path / "cache"
    with pytest.raises(QMNISTError) as info:
        fetch_mnist(cache, mirrors=[served.server.url("mnist")])

    first = GZ_NAMES[0]
    assert f"expected {MNIST_SHA256[first]}, got {served.registry[first]}" in str(info.value)
    assert list(cache.iterdir()) == []


def test_interrupted_download_leaves_nothing(tmp_path, served):
    cache = tmp_path / "cache"
    with pytest.raises(QMNISTError, match="truncated/train-images-idx3-ubyte.gz: .*IncompleteRead"):
        fetch_mnist(cache, mirrors=[served.server.url("truncated")], registry=served.registry)

    assert served.server.requests == ["/truncated/train-images-idx3-ubyte.gz"]
    assert list(cache.iterdir()) == []


def test_every_mirror_dead(tmp_path, served):
    cache = tmp_path / "cache"
    dead = [_dead_mirror(), served.server.url("nowhere")]

    with pytest.raises(QMNISTError, match="from any of 2 mirrors") as info:
        fetch_mnist(cache, mirrors=dead, registry=served.registry)

    assert f"{dead[0]}train-images-idx3-ubyte.gz: ConnectionError" in str(info.value)
    assert f"{dead[1]}train-images-idx3-ubyte.gz: HTTPError: 404" in str(info.value)
    assert list(cache.iterdir()) == []


def test_environment_variables_choose_cache_and_mirrors(tmp_path, served, monkeypatch):
    env_cache = tmp_path / "env-cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(env_cache))
    monkeypatch.setenv(MIRRORS_ENV, f"{_dead_mirror()}, {served.server.url('mnist')} ,")

    folder = fetch_mnist(registry=served.registry)

    assert folder == env_cache.resolve()
    _assert_loads_served_data(folder, served)


def test_arguments_override_environment_variables(tmp_path, served, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env-cache"))
    monkeypatch.setenv(MIRRORS_ENV, _dead_mirror())

    folder = fetch_mnist(
        tmp_path / "arg-cache", mirrors=[served.server.url("mnist")], registry=served.registry
    )

    assert folder == (tmp_path / "arg-cache").resolve()
    assert not (tmp_path / "env-cache").exists()


def test_default_cache_is_pooch_os_cache(tmp_path, served, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    folder = fetch_mnist(mirrors=[served.server.url("mnist")], registry=served.registry)

    assert folder == (tmp_path / "xdg" / "qmnist_qiskit" / "mnist").resolve()


def test_mirror_without_trailing_slash_and_progress_bar(tmp_path, served, capsys):
    folder = fetch_mnist(
        tmp_path / "cache",
        mirrors=[served.server.url("mnist").rstrip("/")],
        registry=served.registry,
        progress=True,
    )
    _assert_loads_served_data(folder, served)
    assert "100%" in capsys.readouterr().err


def test_verify_rejects_files_that_do_not_load(tmp_path, served):
    for name in GZ_NAMES:
        (served.root / "mnist" / name).write_bytes(gzip.compress(b"not an IDX file"))
    registry = {name: _sha256(served.root / "mnist" / name) for name in GZ_NAMES}
    mirrors = [served.server.url("mnist")]

    with pytest.raises(QMNISTError, match="wrong magic number"):
        fetch_mnist(tmp_path / "checked", mirrors=mirrors, registry=registry)
    folder = fetch_mnist(tmp_path / "unchecked", mirrors=mirrors, registry=registry, verify=False)
    assert len(list(folder.iterdir())) == 4


def test_cache_directory_that_cannot_be_created(tmp_path, served):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(QMNISTError, match="cannot create the cache directory"):
        fetch_mnist(
            blocker / "cache", mirrors=[served.server.url("mnist")], registry=served.registry
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mirrors": []}, ValueError, "no mirror URL given"),
        ({"mirrors": [" ", ""]}, ValueError, "no mirror URL given"),
        ({"mirrors": ["ftp://example.org/mnist/"]}, ValueError, "not an http:// or https://"),
        ({"mirrors": ["example.org/mnist/"]}, ValueError, "not an http:// or https://"),
        ({"mirrors": "https://example.org/mnist/"}, TypeError, "not one string"),
        ({"registry": {"train-images-idx3-ubyte.gz": "0" * 64}}, ValueError, "exactly the files"),
        ({"registry": dict.fromkeys(GZ_NAMES, "md5:abc")}, ValueError, "not a SHA-256"),
        ({"timeout": 0}, ValueError, "timeout must be a positive"),
        ({"timeout": float("nan")}, ValueError, "timeout must be a positive"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, kwargs, error, match):
    cache = tmp_path / "cache"
    with pytest.raises(error, match=match):
        fetch_mnist(cache, **kwargs)
    assert not cache.exists()


def test_bad_mirrors_in_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, "file:///tmp/mnist/")
    with pytest.raises(ValueError, match=re.escape(f"${MIRRORS_ENV}: 'file:///tmp/mnist/'")):
        fetch_mnist(tmp_path / "cache")


def test_registry_accepts_prefixed_and_uppercase_digests(tmp_path, served):
    registry = {name: f"sha256:{digest.upper()}" for name, digest in served.registry.items()}
    folder = fetch_mnist(
        tmp_path / "cache", mirrors=[served.server.url("mnist")], registry=registry
    )
    _assert_loads_served_data(folder, served)


def test_default_mirrors_and_registry_are_well_formed():
    assert all(mirror.startswith("https://") and mirror.endswith("/") for mirror in MNIST_MIRRORS)
    assert sorted(MNIST_SHA256) == sorted(GZ_NAMES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in MNIST_SHA256.values())
