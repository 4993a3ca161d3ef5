"""``fetch_mnist``: download full MNIST into a cache directory, verified by SHA-256.

pooch does the downloading: each file is streamed to a temporary file beside its final name,
its SHA-256 is checked, and only then is it moved into place, so the cache never holds a
partial or unverified file. A file already in the cache with the right hash is not
downloaded again; one with the wrong hash is downloaded again and replaced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import pooch
import requests

from qmnist_qiskit.data.idx import read_idx_subset
from qmnist_qiskit.exceptions import QMNISTError

CACHE_DIR_ENV = "QMNIST_DATA_DIR"
MIRRORS_ENV = "QMNIST_MNIST_MIRRORS"

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

MNIST_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    }
)

_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


class _HashRecordingDownloader:
    """pooch's HTTP downloader that remembers the SHA-256 of the file it fetched.

    pooch deletes a download whose hash does not match before raising, so the actual hash
    has to be taken here for the error message.
    """

    def __init__(self, progress: bool, timeout: float) -> None:
        self._download = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
        self.sha256: str | None = None

    def __call__(self, url: str, output_file: str, pooch_instance: pooch.Pooch | None) -> None:
        self.sha256 = None
        self._download(url, output_file, pooch_instance)
        self.sha256 = pooch.file_hash(output_file, alg="sha256")


def _resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is None:
        from_env = os.environ.get(CACHE_DIR_ENV, "").strip()
        folder = Path(from_env) if from_env else pooch.os_cache("qmnist_qiskit") / "mnist"
    else:
        folder = Path(cache_dir)
    return folder.expanduser().resolve()


def _resolve_mirrors(mirrors: Sequence[str] | None) -> tuple[str, ...]:
    if mirrors is None:
        from_env = os.environ.get(MIRRORS_ENV, "").strip()
        mirrors = from_env.split(",") if from_env else MNIST_MIRRORS
        source = f"${MIRRORS_ENV}" if from_env else "the default mirrors"
    else:
        source = "mirrors"
    if isinstance(mirrors, str):
        raise TypeError(f"{source} must be a sequence of base URLs, not one string")
    urls = []
    for mirror in mirrors:
        url = mirror.strip()
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{source}: {url!r} is not an http:// or https:// base URL")
        urls.append(url if url.endswith("/") else f"{url}/")
    if not urls:
        raise ValueError(f"{source}: no mirror URL given")
    return tuple(urls)


def _check_registry(registry: Mapping[str, str]) -> dict[str, str]:
    if set(registry) != set(MNIST_SHA256):
        raise ValueError(
            f"registry must name exactly the files {sorted(MNIST_SHA256)}, got {sorted(registry)}"
        )
    hashes = {}
    for name in MNIST_SHA256:
        digest = str(registry[name]).lower().removeprefix("sha256:")
        if not _SHA256_PATTERN.fullmatch(digest):
            raise ValueError(f"registry[{name!r}] is not a SHA-256 hex digest: {registry[name]!r}")
        hashes[name] = digest
    return hashes


def _fetch_file(
    folder: Path, name: str, sha256: str, mirrors: tuple[str, ...], progress: bool, timeout: float
) -> None:
    failures = []
    last_error: Exception | None = None
    for mirror in mirrors:
        url = f"{mirror}{name}"
        downloader = _HashRecordingDownloader(progress, timeout)
        try:
            pooch.retrieve(
                url, known_hash=f"sha256:{sha256}", fname=name, path=folder, downloader=downloader
            )
        except requests.exceptions.RequestException as exc:
            last_error = exc
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        except ValueError as exc:
            if downloader.sha256 is None or downloader.sha256 == sha256:
                raise
            last_error = exc
            failures.append(f"{url}: SHA-256 mismatch: expected {sha256}, got {downloader.sha256}")
        else:
            return
    tried = "\n".join(f"  - {failure}" for failure in failures)
    raise QMNISTError(
        f"{folder / name}: could not download a verified copy from any of "
        f"{len(mirrors)} mirrors:\n{tried}"
    ) from last_error


def fetch_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    registry: Mapping[str, str] | None = None,
    progress: bool = False,
    timeout: float = 30.0,
    verify: bool = True,
) -> Path:
    """Download the four gzipped IDX files of full MNIST into a cache directory.

    Each file is tried on every mirror in turn until one serves it with the expected
    SHA-256; files already cached with the right hash are not downloaded again. Downloads go
    to a temporary file that is moved into place only once verified, so an interrupted or
    corrupt download never leaves anything behind under the final name.

    Parameters
    ----------
    cache_dir : str or os.PathLike or None, default=None
        Directory that will hold the four files. ``None`` uses the environment variable
        ``QMNIST_DATA_DIR`` if set, else ``pooch.os_cache("qmnist_qiskit") / "mnist"``
        (``~/.cache/qmnist_qiskit/mnist`` on Linux).
    mirrors : sequence of str or None, default=None
        Base URLs (``http://`` or ``https://``) tried in order; a file's URL is the base URL
        followed by its name. ``None`` uses the comma-separated list in the environment
        variable ``QMNIST_MNIST_MIRRORS`` if set, else :data:`MNIST_MIRRORS`.
    registry : mapping of str to str or None, default=None
        SHA-256 hex digest of each of the four files ``train-images-idx3-ubyte.gz``,
        ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
        ``t10k-labels-idx1-ubyte.gz``. ``None`` uses :data:`MNIST_SHA256`, the hashes of the
        official MNIST files.
    progress : bool, default=False
        Show a tqdm progress bar for each download.
    timeout : float, default=30.0
        Seconds to wait for a server before trying the next mirror.
    verify : bool, default=True
        After downloading, read both subsets once to check that they load.

    Returns
    -------
    pathlib.Path
        The absolute cache directory, ready for
        :func:`load_mnist(path=...) <qmnist_qiskit.data.load_mnist>`.

    Raises
    ------
    ValueError
        If ``mirrors`` or ``QMNIST_MNIST_MIRRORS`` holds no http(s) URL or a malformed one,
        ``registry`` does not name exactly the four files or holds something other than a
        SHA-256 digest, or ``timeout`` is not positive.
    QMNISTError
        If the cache directory cannot be created, a file cannot be downloaded with the right
        hash from any mirror (the message lists each mirror's failure, with the expected and
        actual hash for checksum mismatches), or a downloaded file does not load.

    Examples
    --------
    >>> from qmnist_qiskit.data import fetch_mnist, load_mnist
    >>> folder = fetch_mnist()  # doctest: +SKIP
    >>> X, y = load_mnist(folder, subset="test")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 784)
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    hashes = _check_registry(MNIST_SHA256 if registry is None else registry)
    urls = _resolve_mirrors(mirrors)
    folder = _resolve_cache_dir(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QMNISTError(f"{folder}: cannot create the cache directory ({exc})") from exc
    for name, sha256 in hashes.items():
        _fetch_file(folder, name, sha256, urls, progress, timeout)
    if verify:
        for subset in ("train", "test"):
            read_idx_subset(folder, subset)
    return folder
