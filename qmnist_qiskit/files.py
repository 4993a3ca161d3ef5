"""Writing output files whole or not at all.

Every file the package writes (model, metrics, history, plots, reports) goes through
:func:`atomic_path`: the content is written to a temporary file next to the target and
renamed onto it only once complete, so an interrupted or failed write leaves either the
old file or nothing, never half a file. Errors name the user's path, not the temporary one
(a full disk or a file-size limit included: one line, the temporary file removed), and
every file gets the mode a plain ``open()`` would give it (0666 less the umask).
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qmnist_qiskit.exceptions import QMNISTError


def check_writable(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file can be written there, else
    :class:`QMNISTError` saying why (empty name, a directory, no such directory, no
    permission). Checks only; writes nothing.

    Examples
    --------
    >>> check_writable("")
    Traceback (most recent call last):
    ...
    qmnist_qiskit.exceptions.QMNISTError: cannot write '': the file name is empty
    """
    if str(path) == "":
        raise QMNISTError("cannot write '': the file name is empty")
    target = Path(path)
    if target.is_dir():
        raise QMNISTError(f"cannot write {target}: it is a directory")
    parent = target.parent
    if not parent.is_dir():
        reason = "is not a directory" if parent.exists() else "does not exist"
        raise QMNISTError(f"cannot write {target}: the directory {parent} {reason}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise QMNISTError(f"cannot write {target}: no permission to write in {parent}")
    return target


def _remove(partial: Path | None) -> None:
    if partial is not None:
        partial.unlink(missing_ok=True)


def _create_partial(target: Path) -> tuple[Path, int]:
    """A new, empty temporary file beside ``target`` and its mode. Created as a plain
    ``open()`` creates files (0666 less the umask at this moment, which the kernel applies:
    no need to read the process-wide umask, which only setting it can do); ``mkstemp``'s
    0600 would leave outputs unreadable to a colleague who can read the rest."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        partial = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
        try:
            handle = os.open(partial, flags, 0o666)
        except FileExistsError:
            continue
        try:
            return partial, stat.S_IMODE(os.fstat(handle).st_mode)
        finally:
            os.close(handle)
    raise FileExistsError(f"no free temporary name beside {target}")


def ignore_file_size_signal() -> None:
    """Ignore SIGXFSZ (main thread only), so that a write past the file-size limit
    (``ulimit -f``, RLIMIT_FSIZE) fails with ``EFBIG``, which :func:`atomic_path` reports as
    one error naming the file, instead of killing the process. CPython ignores it at start-up
    already; this keeps it so when something (an embedding program, a library) restored the
    default."""
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed onto ``path`` when the block
    ends normally, deleted when it raises (``KeyboardInterrupt`` included).

    An ``OSError`` while writing or renaming (disk full, permissions) becomes a
    :class:`QMNISTError` naming ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as partial:
    ...     _ = partial.write_text("done")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['a.txt'])
    """
    target = check_writable(path)
    partial: Path | None = None
    try:
        partial, mode = _create_partial(target)
        yield partial
        # A writer that replaced the file (safetensors' save_file makes it 0600) gets the
        # mode back: every output follows the umask, as open() would.
        if stat.S_IMODE(os.stat(partial).st_mode) != mode:
            os.chmod(partial, mode)
        # On disk before it takes the target's name: whole or not at all after a crash too.
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    except OSError as exc:
        _remove(partial)
        raise QMNISTError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(partial)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path) as partial:
        partial.write_text(text)
    return Path(path)
