"""Shared test settings: a small torch thread count keeps parallel workers from fighting;
tests marked ``pennylane`` skip, naming the extra to install, when PennyLane is absent; child
processes start with known signal dispositions and every wait on them is bounded
(:func:`children`)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    # Two xdist workers on two cores: one torch thread each avoids oversubscription.
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from qmnist_qiskit.extras import missing_extra

    missing = missing_extra("pennylane")
    if missing is None:
        return
    skip = pytest.mark.skip(reason=missing)
    for item in items:
        if item.get_closest_marker("pennylane") is not None:
            item.add_marker(skip)


@pytest.fixture
def without_pennylane(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PennyLane extra's modules unimportable for one test, whether installed or not."""
    from qmnist_qiskit.extras import EXTRAS

    for module in EXTRAS["pennylane"][1]:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.fixture
def two_torch_threads():
    """Torch set to two threads for the test (restored after): the count the estimators'
    ``n_threads`` must leave as it found it."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(previous)


# Waits on a child are bounded by this many seconds unless a test says otherwise: a stuck child
# fails its own test, and is killed, instead of stalling the suite.
CHILD_TIMEOUT = 180


def _known_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM at their defaults. A pytest started in
    the background (``pytest &`` from a script, some CI launchers) has SIGINT ignored, and a
    child would inherit that and never see the Ctrl-C a test sends it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Children:
    """Child processes of one test: started with known signal dispositions, in their own
    process group; :meth:`finish` waits a bounded time; all are killed (group and all) when
    the test ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command, *, limits: dict | None = None, **options) -> subprocess.Popen:
        """Start ``command``; ``limits`` maps ``resource.RLIMIT_*`` to a soft limit set in
        the child before exec (``RLIMIT_FSIZE``: a file-size limit, as ``ulimit -f``)."""

        def prepare() -> None:
            _known_signals()
            for which, soft in (limits or {}).items():
                resource.setrlimit(which, (soft, resource.getrlimit(which)[1]))

        process = subprocess.Popen(command, preexec_fn=prepare, process_group=0, **options)
        self.started.append(process)
        return process

    def run(self, command, timeout: float = CHILD_TIMEOUT, **options):
        """``subprocess.run`` with a bound: ``(returncode, stdout, stderr)``."""
        process = self.start(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)
        return self.finish(process, timeout)

    def finish(self, process: subprocess.Popen, timeout: float = CHILD_TIMEOUT):
        """``process.communicate()`` within ``timeout`` seconds, or kill it and fail the test
        with the end of what it wrote."""
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)
            out, err = process.communicate(timeout=30)
            pytest.fail(
                f"child {process.args!r} still running after {timeout} s; killed. "
                f"stderr ends: {(err or '')[-1500:]!r}"
            )
        return process.returncode, out, err

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL to the child's whole process group (grandchildren too)."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                self.kill(process)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def children():
    """Start child processes through this (see :class:`Children`); none outlives the test."""
    started = Children()
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def sigint_ignored():
    """SIGINT ignored in this process for the test, as in a pytest started in the background:
    what its children would inherit without :func:`_known_signals`."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)
