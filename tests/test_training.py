from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qmnist_qiskit import training
from qmnist_qiskit.training import make_scheduler, run_epochs, sample_progress


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


def _fit_small(epochs, batch_size, verbose):
    torch.manual_seed(0)
    module = nn.Linear(3, 2, dtype=torch.float64)
    inputs = torch.randn(10, 3, dtype=torch.float64)
    targets = (inputs[:, 0] > 0).long()
    history: list[dict] = []
    run_epochs(
        module,
        torch.optim.SGD(module.parameters(), lr=0.5),
        inputs,
        targets,
        epochs=epochs,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(0),
        history=history,
        verbose=verbose,
    )
    return history


def test_verbose_zero_writes_nothing(capfd):
    _fit_small(epochs=3, batch_size=4, verbose=0)
    assert capfd.readouterr() == ("", "")


def test_the_bar_advances_per_batch_over_all_epochs(capfd, monkeypatch):
    updates = []
    original = training.sample_progress

    def recording_progress(total, desc, verbose):
        bar = original(total, desc, verbose)
        bar_update = bar.update
        bar.update = lambda n=1: updates.append(n) or bar_update(n)
        return bar

    monkeypatch.setattr(training, "sample_progress", recording_progress)
    _fit_small(epochs=3, batch_size=4, verbose=1)
    # 10 samples in batches of 4, 4 and 2, three times; one bar of 30 samples.
    assert updates == [4, 4, 2] * 3
    err = capfd.readouterr().err
    assert "training" in err and "30.0/30.0" in err and "sample/s" in err
    assert "epoch=3/3" in err and "loss=" in err and "acc=" in err


def test_sample_progress_is_disabled_at_verbose_zero():
    assert sample_progress(10, "x", verbose=0).disable
    bar = sample_progress(10, "x", verbose=1)
    assert not bar.disable and bar.total == 10 and bar.unit == "sample"
    bar.close()
