"""qmnist train on a fake IBM backend: --backend, --shots, --dry-run and the budgets."""

from __future__ import annotations

import pytest
import qiskit_ibm_runtime

from qmnist_qiskit.cli import main

SMALL = ["--encoder", "pca", "--n-qubits", "3", "--ansatz", "seed", "--n-train", "30"]
SMALL += ["--n-test", "10", "--epochs", "2", "--batch-size", "16", "--quiet"]


class CountingRuntimeEstimator(qiskit_ibm_runtime.EstimatorV2):
    """qiskit-ibm-runtime's EstimatorV2, counting the jobs it is sent."""

    jobs = 0

    def run(self, pubs, *, precision=None):
        CountingRuntimeEstimator.jobs += 1
        return super().run(pubs, precision=precision)


@pytest.fixture
def counted(monkeypatch):
    monkeypatch.setattr(qiskit_ibm_runtime, "EstimatorV2", CountingRuntimeEstimator)
    monkeypatch.setattr(CountingRuntimeEstimator, "jobs", 0)
    return CountingRuntimeEstimator


def test_dry_run_prints_the_cost_and_sends_nothing(tmp_path, capsys, counted):
    output = tmp_path / "out"
    arguments = ["train", "--backend", "fake_manila", "--shots", "500", "--dry-run"]
    assert main([*arguments, *SMALL, "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "cost on fake_manila: 2 epoch(s) of 30 samples in batches of 16" in printed
    assert "500 shots per parameter set" in printed
    assert "param_shift *" in printed and "spsa" in printed and "QPU s" in printed
    assert counted.jobs == 0
    assert not output.exists()


def test_a_budget_refuses_in_one_line_before_any_job(tmp_path, capsys, counted):
    arguments = ["train", "--backend", "fake_manila", "--shots", "500", "--max-shots", "1000"]
    assert main([*arguments, *SMALL, "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qmnist: error: this run would take ")
    assert "more than max_shots=1,000" in error and "\n" not in error
    assert counted.jobs == 0


def test_an_unknown_backend_is_one_line_naming_a_few(tmp_path, capsys):
    assert main(["train", "--backend", "fake_nowhere", "--output", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qmnist: error: no fake backend 'fake_nowhere'")
    assert "fake_manila" in error and "fake_torino" in error and "\n" not in error


@pytest.mark.slow
def test_train_runs_on_a_fake_backend_and_saves_a_statevector_model(tmp_path, capsys):
    from qmnist_qiskit import QuantumMNISTClassifier

    output = tmp_path / "out"
    arguments = ["train", "--backend", "fake_manila", "--shots", "200", *SMALL]
    arguments[arguments.index("--epochs") + 1] = "1"
    arguments[arguments.index("--n-train") + 1] = "16"
    assert main([*arguments, "--output", str(output)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    loaded = QuantumMNISTClassifier.load(output / "model.safetensors")
    assert loaded.engine == "statevector"


def test_gradcheck_checks_a_fake_backends_path():
    from qmnist_qiskit.gradcheck import gradcheck

    report = gradcheck(
        n_qubits=2, batch_size=1, shots=1000, engines=["statevector"], backend="fake_manila"
    )
    assert [check.engine for check in report.checks] == ["statevector", "estimator fake_manila"]
    assert report.ok and report.checks[1].max_sigmas is not None


def test_gradcheck_names_an_unknown_backend_in_one_line(capsys):
    assert main(["gradcheck", "--n-qubits", "2", "--backend", "fake_nowhere"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qmnist: error: no fake backend 'fake_nowhere'") and "\n" not in error
