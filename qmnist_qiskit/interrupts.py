"""Ctrl-C and SIGTERM: how a run is stopped from outside, and where it may not be.

SIGTERM is what schedulers (SLURM, Kubernetes) send before they kill a job. Inside
:func:`stop_on_signals` it raises :class:`Terminated`, a :class:`KeyboardInterrupt`, so
everything that stops cleanly on Ctrl-C (training keeps its model and writes its checkpoint,
outputs are written whole or not at all) stops the same way on SIGTERM. Inside
:func:`held` the two signals wait for the block's end: a training step's update (optimiser,
schedule, position) is never cut in two, so a checkpoint written after an interrupt
resumes exactly.

Examples
--------
>>> import signal
>>> with stop_on_signals():
...     try:
...         with held():
...             signal.raise_signal(signal.SIGTERM)
...             print("the update finishes first")
...     except Terminated:
...         print("then the run stops:", exit_status(Terminated()))
the update finishes first
then the run stops: 143
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises :class:`KeyboardInterrupt`."""


_held = 0
_pending: list[int] = []
_received: list[int] = []


def _raise_for(signum: int) -> None:
    _received.append(signum)
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


def _handler(signum, frame) -> None:
    if _held:
        _pending.append(signum)
        return
    _raise_for(signum)


def exit_status(interrupt: BaseException | None = None) -> int:
    """128 + the signal: 143 after SIGTERM (``interrupt`` a :class:`Terminated`, or, when
    ``interrupt`` is None, the last signal this module turned into an exception), else 130."""
    if interrupt is None:
        terminated = bool(_received) and _received[-1] == signal.SIGTERM
    else:
        terminated = isinstance(interrupt, Terminated)
    return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


@contextmanager
def stop_on_signals(*, sigterm: bool = True) -> Iterator[None]:
    """In the block, Ctrl-C raises :class:`KeyboardInterrupt` and (with ``sigterm``) SIGTERM
    raises :class:`Terminated`, except inside :func:`held`, where they wait for its end.

    Main thread only (elsewhere Python takes no signals). SIGINT is taken over only from
    Python's own handler: a SIGINT that the process was started ignoring (a background job
    of a script) stays ignored, and a handler of the caller's stays in place. The previous
    handlers come back afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _handler)
    if sigterm:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C and SIGTERM (as :func:`stop_on_signals` takes them) wait until the block ends,
    then raise."""
    global _held
    _held += 1
    signum = None
    try:
        yield
    finally:
        _held -= 1
        if not _held and _pending:
            # Raised after a block that ended normally; one that raised raises its own.
            signum = _pending[-1]
            _pending.clear()
    if signum is not None:
        _raise_for(signum)
