"""Writing output files whole or not at all.

Every file the package writes (model, metrics, history, plots, reports) goes through
:func:`atomic_path`: the content is written to a temporary file next to the target and
renamed onto it only once complete, so an interrupted or failed write leaves either the
old file or nothing, never half a file. Errors name the user's path, not the temporary one.
"""

from __future__ import annotations

import os
import tempfile
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


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: setting the process-wide umask to read it races with other threads.
_UMASK = _read_umask()


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
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=target.parent
        )
        partial = Path(name)
        os.close(handle)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(partial, 0o666 & ~_UMASK)
        yield partial
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
