"""The loss-gradient cross-check across engines: agreement, skips, and the failure path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from qiskit_aer import AerSimulator

from qmnist_qiskit.cli import main
from qmnist_qiskit.extras import missing_extra
from qmnist_qiskit.gradcheck import ENGINES, REFERENCE, gradcheck

# pennylane-qiskit transpiles every circuit it runs, loading qiskit-ibm-runtime's plugins.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Since backends now support running jobs:DeprecationWarning"
)

GPU_ENGINES = {
    "statevector cuda": torch.cuda.is_available(),
    "aer GPU": "GPU" in AerSimulator().available_devices(),
}
PENNYLANE_ENGINES = [name for name in ENGINES if name.startswith("pennylane")]
HAS_PENNYLANE = missing_extra("pennylane") is None


def test_every_engine_agrees_on_a_small_seed_circuit():
    report = gradcheck(n_qubits=3, batch_size=2, seed=3)
    statuses = {check.engine: check.status for check in report.checks}
    assert list(statuses) == list(ENGINES)
    available = GPU_ENGINES | dict.fromkeys(PENNYLANE_ENGINES, HAS_PENNYLANE)
    for name, status in statuses.items():
        assert status == ("ok" if available.get(name, True) else "skipped"), report.to_text()
    assert report.ok
    checks = {check.engine: check for check in report.checks}
    for name in ("aer", "pennylane default.qubit", "pennylane lightning.qubit"):
        if available.get(name, True):
            assert checks[name].max_difference <= 1e-12
    assert checks[REFERENCE].max_difference == 0.0
    shots = checks["aer shots"]
    assert 0 < shots.max_difference <= shots.tolerance
    assert shots.max_sigmas <= 5
    for name, ready in available.items():
        if not ready:
            reason = checks[name].reason
            assert reason.startswith(("device", "engine 'pennylane' needs the PennyLane"))
    assert np.abs(report.reference_gradient).max() > 1e-3


@pytest.mark.usefixtures("without_pennylane")
def test_pennylane_rows_without_the_extra_say_what_to_install():
    report = gradcheck(n_qubits=2, batch_size=1, engines=PENNYLANE_ENGINES)
    assert report.ok
    for check in report.checks:
        assert check.status == "skipped"
        assert check.reason.startswith("engine 'pennylane' needs the PennyLane extra (missing ")
        assert check.reason.endswith("pip install 'qmnist_qiskit[pennylane]'")


@pytest.mark.pennylane
def test_reupload_preset_with_input_scaling():
    engines = ["statevector", "aer", "aer shots", "pennylane default.qubit"]
    report = gradcheck("reupload", n_qubits=3, reps=2, batch_size=2, engines=engines)
    assert report.ok, report.to_text()
    assert len(report.reference_gradient) == 18
    assert report.config["reps"] == 2


@pytest.mark.pennylane
def test_a_wrong_reference_fails_every_engine():
    other_batch = gradcheck(n_qubits=4, batch_size=2, seed=1, engines=[REFERENCE])
    engines = [REFERENCE, "aer", "aer shots", "pennylane default.qubit"]
    report = gradcheck(
        n_qubits=4, batch_size=2, seed=0, engines=engines, reference=other_batch.reference_gradient
    )
    assert not report.ok
    assert [check.status for check in report.checks] == ["failed"] * 4
    assert report.checks[2].max_sigmas > 5
    text = report.to_text()
    assert "reference=given" in text
    assert text.splitlines()[-1] == "FAILED: " + ", ".join(engines)


@pytest.mark.pennylane
def test_report_as_dict_and_text():
    report = gradcheck(n_qubits=3, batch_size=2, engines=["pennylane default.qubit"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert data["config"] == {
        "preset": "seed",
        "n_qubits": 3,
        "reps": 1,
        "batch_size": 2,
        "seed": 0,
        "shots": 4096,
        "reference": "statevector complex128",
    }
    assert [check["engine"] for check in data["checks"]] == ["pennylane default.qubit"]
    assert len(data["reference_gradient"]) == 6
    lines = report.to_text().splitlines()
    assert lines[1].split()[:2] == ["engine", "status"]
    assert lines[3].split()[:3] == ["pennylane", "default.qubit", "ok"]
    assert lines[-1] == "OK"


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"engines": ["aer", "qulacs"]}, "unknown engines"),
        ({"batch_size": 0}, "batch_size"),
        ({"shots": -1}, "shots"),
        ({"shots": 1}, r"shots must be an integer >= 2 \(the shot engines. standard errors"),
        ({"seed": -1}, "seed"),
        ({"preset": "deep"}, "unknown ansatz"),
        ({"reference": np.zeros(3)}, "reference must have shape"),
        ({"exact_tolerance": -1.0}, "exact_tolerance"),
    ],
)
def test_rejects_bad_arguments(arguments, match):
    with pytest.raises(ValueError, match=match):
        gradcheck(n_qubits=2, **arguments)


def test_command_line_prints_the_table_and_exits_zero(capsys):
    status = main(["gradcheck", "--n-qubits", "2", "--batch-size", "1", "--shots", "2048"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "pennylane qiskit.aer" in output
    assert output.strip().splitlines()[-1] == "OK"
