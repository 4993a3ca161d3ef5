"""How the ``qmnist`` command speaks: every error and warning as one line on stderr, and the
exit status of a run stopped by Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""
TERMINATED = 143
"""Exit status after SIGTERM (128 + SIGTERM), which is handled like Ctrl-C."""


def one_line(text) -> str:
    """``text`` with every run of whitespace, newlines included, as one space."""
    return " ".join(str(text).split())


def report_interrupt() -> int:
    """Say ``qmnist: interrupted`` (or ``terminated``, after SIGTERM) on stderr; returns the
    exit status, 130 or 143."""
    from qmnist_qiskit.interrupts import exit_status

    status = exit_status()
    word = "terminated" if status == TERMINATED else "interrupted"
    print(f"qmnist: {word}", file=sys.stderr, flush=True)
    return status


def report_error(message: str, status: int) -> int:
    """Say ``qmnist: error: MESSAGE`` on one line of stderr; returns ``status``."""
    print(f"qmnist: error: {one_line(message)}", file=sys.stderr, flush=True)
    return status


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"qmnist: warning: {one_line(message)}", file=sys.stderr, flush=True)


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """Warnings as ``qmnist: warning: ...`` lines for the block. Training's own "interrupted"
    warning is left out: the command says so on stdout."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.filterwarnings("ignore", message="training interrupted", category=UserWarning)
        yield


def debugging(args: object) -> bool:
    """Whether errors should raise with their traceback: ``--debug`` in the parsed ``args``,
    or ``QMNIST_DEBUG`` set to anything but ``0``."""
    return bool(getattr(args, "debug", False)) or os.environ.get("QMNIST_DEBUG", "") not in (
        "",
        "0",
    )
