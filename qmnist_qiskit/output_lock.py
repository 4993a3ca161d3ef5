"""One run per output directory: a lock that a second ``qmnist train --output DIR`` meets at
once, instead of the two runs leaving a mix of their files (one's metrics beside the other's
model).

The lock is ``DIR/.qmnist.lock``, held with ``flock`` for the whole run and holding the pid of
the run that holds it. The kernel drops a ``flock`` when its process ends, however it ends, so
the file of a run that was killed (``kill -9``, a lost node) is no lock: the next run takes it
over. The file is removed when the run ends, and so are the directories it created for it
if they are still empty (a run that fails before writing leaves no trace).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qmnist_qiskit.exceptions import QMNISTError

LOCK_FILE = ".qmnist.lock"


def _holder(path: Path) -> str:
    """Who holds the lock, from the pid its holder wrote (it may not have written it yet)."""
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


def _missing_ancestors(directory: Path) -> list[Path]:
    """The directories that creating ``directory`` would create, deepest first."""
    missing = []
    for folder in (directory, *directory.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _take(path: Path) -> int:
    """The descriptor of ``path`` locked by this process, or :class:`QMNISTError` naming the
    holder."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(handle)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise QMNISTError(
                f"{path.parent} is in use by another run ({_holder(path)} holds {path}); "
                "wait for it to end, or choose another --output"
            ) from None
        # The holder before us may have removed the file after we opened it: then our lock is
        # on a file nobody else will open; take the one at the path instead.
        try:
            same = os.path.samestat(os.fstat(handle), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return handle
        os.close(handle)


@contextmanager
def output_lock(directory: str | os.PathLike, *, hold: bool = True) -> Iterator[Path | None]:
    """Hold ``directory``'s run lock for the block (creating the directory if needed).

    A second process asking for it while the block runs gets a :class:`QMNISTError` at once,
    naming the pid of the run that holds it. ``hold=False`` does nothing (the other ranks of a
    data-parallel run, whose rank 0 holds it). Yields the lock file's path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with output_lock(folder) as lock:
    ...     lock.name, lock.read_text() == str(os.getpid())
    ('.qmnist.lock', True)
    >>> folder.exists()
    False
    """
    if not hold:
        yield None
        return
    directory = Path(directory)
    created = _missing_ancestors(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LOCK_FILE
        handle = _take(path)
    except OSError as exc:
        raise QMNISTError(f"cannot lock {directory}: {exc.strerror or exc}") from exc
    try:
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        yield path
    finally:
        # Removed while still locked: whoever opens the path next makes a new file.
        path.unlink(missing_ok=True)
        os.close(handle)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
