"""Shared test settings: a small torch thread count keeps parallel workers from fighting;
tests marked ``pennylane`` skip, naming the extra to install, when PennyLane is absent."""

from __future__ import annotations

import os
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
