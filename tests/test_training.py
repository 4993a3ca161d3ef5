from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qmnist_qiskit.training import make_scheduler, run_epochs


def _optimizer(lr=0.1):
    return torch.optim.Adam([nn.Parameter(torch.zeros(2))], lr=lr)


def _steps(optimizer, scheduler, count):
    for _ in range(count):
        optimizer.step()
        scheduler.step()


def test_cosine_anneals_the_rate_to_zero_over_the_steps():
    optimizer = _optimizer(0.2)
    scheduler = make_scheduler("cosine", optimizer, total_steps=10)
    _steps(optimizer, scheduler, 3)
    expected = 0.2 * (1 + math.cos(math.pi * 3 / 10)) / 2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12)
    _steps(optimizer, scheduler, 7)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_new_schedule_starts_again_from_the_initial_rate():
    optimizer = _optimizer(0.2)
    _steps(optimizer, make_scheduler("cosine", optimizer, total_steps=4), 4)
    assert make_scheduler("constant", optimizer, total_steps=4) is None
    assert optimizer.param_groups[0]["lr"] == 0.2
    _steps(optimizer, make_scheduler("cosine", optimizer, total_steps=4), 4)
    make_scheduler("cosine", optimizer, total_steps=4)
    assert optimizer.param_groups[0]["lr"] == 0.2


@pytest.mark.parametrize(
    "name, steps, message",
    [("linear", 5, "lr_schedule"), ("cosine", 0, "total_steps"), ("cosine", 2.5, "total_steps")],
)
def test_make_scheduler_rejects_bad_arguments(name, steps, message):
    with pytest.raises(ValueError, match=message):
        make_scheduler(name, _optimizer(), total_steps=steps)


def test_run_epochs_steps_the_scheduler_after_every_batch():
    torch.manual_seed(0)
    module = nn.Linear(3, 2, dtype=torch.float64)
    inputs = torch.randn(10, 3, dtype=torch.float64)
    targets = (inputs[:, 0] > 0).long()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    scheduler = make_scheduler("cosine", optimizer, total_steps=2 * 3)
    history: list[dict] = []
    completed = run_epochs(
        module,
        optimizer,
        inputs,
        targets,
        epochs=2,
        batch_size=4,
        generator=torch.Generator().manual_seed(0),
        history=history,
        scheduler=scheduler,
    )
    assert completed and len(history) == 2
    assert scheduler.last_epoch == 6
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
