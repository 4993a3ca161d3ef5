"""Accuracy under a fake device's noise, with and without readout mitigation, and its CLI."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit import QMNISTError, QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.circuits import CircuitSpec, seed_circuit
from qmnist_qiskit.cli import main
from qmnist_qiskit.noise import noisy_accuracy

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*IBMFractionalTranslationPlugin is deprecated:DeprecationWarning",
    "ignore:Properties of fake_nighthawk:UserWarning",
)


@pytest.fixture(scope="module")
def small_model():
    X, y = load_mnist()
    clf = QuantumMNISTClassifier(encoder="pca", n_qubits=3, reps=1, epochs=2, random_state=0)
    return clf.fit(X[:200], y[:200]), X[-20:], y[-20:]


@pytest.mark.parametrize("path", ["runtime", "aer"])
def test_exact_noisy_and_mitigated_accuracy_on_a_fake_backend(small_model, path):
    clf, X, y = small_model
    report = noisy_accuracy(clf, X, y, "fake_manila", shots=1000, path=path, seed=1)
    assert report.exact_accuracy == pytest.approx(clf.score(X, y))
    assert (report.backend, report.path, report.n_images, report.shots) == (
        "fake_manila",
        path,
        20,
        1000,
    )
    for accuracy in (report.noisy_accuracy, report.mitigated_accuracy):
        assert 0.0 <= accuracy <= 1.0
    # fake_manila reads out with a few percent error: M3 brings the measured expectations
    # closer to the exact ones than the raw counts are
    assert report.mitigated_expectation_error < report.noisy_expectation_error
    assert report.qpu_seconds_per_image > 1000 * 250e-6
    assert report.seconds_per_image > 0
    assert "readout-mitigated (M3)" in report.to_text()
    assert report.as_dict()["noisy_stderr"] == pytest.approx(
        np.sqrt(report.noisy_accuracy * (1 - report.noisy_accuracy) / 20)
    )


def test_observables_must_be_z_strings():
    circuit, inputs, weights, _ = seed_circuit(2)
    spec = CircuitSpec(circuit, inputs, weights, [SparsePauliOp("XI"), SparsePauliOp("IZ")])
    X = np.random.default_rng(0).random((20, 2)) * np.pi
    clf = QuantumMNISTClassifier(encoder=None, ansatz=spec, epochs=1).fit(X, np.arange(20) % 2)
    with pytest.raises(QMNISTError, match="sum of Z and I strings"):
        noisy_accuracy(clf, X[:2], [0, 1], "fake_manila", shots=10)


def test_cli_evaluate_on_a_backend(tmp_path, capsys, small_model):
    clf, _, _ = small_model
    model = clf.save(tmp_path / "model.safetensors")
    arguments = ["evaluate", str(model), "--backend", "fake_manila", "--shots", "300"]
    assert main([*arguments, "--n-test", "20", "--path", "aer", "--no-mitigation"]) == 0
    out = capsys.readouterr().out
    assert "test images: fake_manila (Aer)" in out and "20 images, 300 shots each" in out
    for line in ("exact accuracy", "noisy accuracy", "cost per image"):
        assert line in out
    assert "not computed" in out.split("readout-mitigated (M3)")[1].splitlines()[0]
    assert main(["evaluate", str(model), "--n-test", "20"]) == 0
    assert "test accuracy on 20 images" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--backend", "fake_nowhere"], "no fake backend 'fake_nowhere'"),
        (["--shots", "100"], "--shots needs --backend"),
    ],
)
def test_cli_evaluate_errors_before_loading(tmp_path, capsys, arguments, message):
    # the model file does not exist: these errors come first
    assert main(["evaluate", str(tmp_path / "absent"), *arguments]) == 2
    assert message in capsys.readouterr().err
