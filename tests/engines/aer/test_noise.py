"""Noise models and fake IBM backends on the Aer engine."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_ibm_runtime.fake_provider import FakeGuadalupeV2, FakeManilaV2

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.aer import make_aer_qnn
from qmnist_qiskit.exceptions import QMNISTError

# qiskit-ibm-runtime's transpiler plugins announce a deprecation of their own when loaded
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*IBMFractionalTranslationPlugin is deprecated:DeprecationWarning"
)


def _depolarising(p1: float, p2: float) -> NoiseModel:
    noise_model = NoiseModel()
    noise_model.add_all_qubit_quantum_error(depolarizing_error(p1, 1), ["rx", "ry"])
    noise_model.add_all_qubit_quantum_error(depolarizing_error(p2, 2), ["cx"])
    return noise_model


def test_depolarising_noise_scales_expectations_exactly():
    x, t = Parameter("x"), Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.rx(x, 0)
    circuit.ry(t, 0)
    p = 0.1
    qnn = make_aer_qnn(
        circuit,
        [x],
        [t],
        [SparsePauliOp("Z")],
        noise_model=_depolarising(p, 0.0),
        input_gradients=True,
    )
    assert qnn.estimator.simulator.options.method == "density_matrix"
    inputs, theta = np.array([[0.3], [1.1], [2.0]]), 0.7
    # each depolarising channel shrinks the Bloch vector by (1 - p): <Z> = (1-p)^2 cos x cos t
    shrink = (1 - p) ** 2
    input_jac, weight_jac = qnn.backward(inputs, [theta])
    np.testing.assert_allclose(
        qnn.forward(inputs, [theta]), shrink * np.cos(inputs) * np.cos(theta), atol=1e-10
    )
    np.testing.assert_allclose(
        input_jac[..., 0], -shrink * np.sin(inputs) * np.cos(theta), atol=1e-10
    )
    np.testing.assert_allclose(
        weight_jac[..., 0], -shrink * np.cos(inputs) * np.sin(theta), atol=1e-10
    )


@pytest.mark.parametrize("method", [None, "statevector"])
def test_noisy_shots_agree_with_exact_noisy_values(method):
    spec = seed_circuit(3)
    x, w = np.array([[0.2, 0.9, 1.6], [2.5, 0.4, 1.1]]), np.linspace(-0.5, 0.5, 6)
    noise_model = _depolarising(0.02, 0.05)
    exact = make_aer_qnn(*spec, noise_model=noise_model).forward(x, w)
    ideal = make_aer_qnn(*spec).forward(x, w)
    assert np.all(np.abs(exact) < np.abs(ideal))
    sampled = make_aer_qnn(*spec, noise_model=noise_model, shots=4000, seed=3, method=method)
    values, stds = sampled.forward_with_std(x, w)
    assert np.all(np.abs(values - exact) <= 5 * stds)


def test_fake_backend_transpiles_and_maps_the_observables():
    backend = FakeManilaV2()
    spec = seed_circuit(3)
    # with zero weights <Z_i> = cos x_0 ... cos x_i: distinct per wire, so a wrong qubit
    # mapping would show
    x, w = np.array([[0.2, 1.4, 2.6], [1.0, 0.3, 0.5]]), np.zeros(6)
    ideal = make_aer_qnn(*spec, input_gradients=True)
    qnn = make_aer_qnn(*spec, backend=backend, input_gradients=True)
    assert qnn.circuit.num_qubits == backend.num_qubits
    assert {item.operation.name for item in qnn.circuit.data} <= set(backend.target.operation_names)
    np.testing.assert_allclose(qnn.forward(x, w), ideal.forward(x, w), atol=0.05)
    for noisy, exact in zip(qnn.backward(x, w), ideal.backward(x, w), strict=True):
        np.testing.assert_allclose(noisy, exact, atol=0.05)

    sampled = make_aer_qnn(*spec, backend=backend, shots=2000, seed=1)
    values, stds = sampled.forward_with_std(x, w)
    assert np.all(stds > 0)
    np.testing.assert_allclose(values, ideal.forward(x, w), atol=0.1)


def test_a_large_backend_simulates_only_the_circuits_qubits():
    # fake_guadalupe has 16 qubits; measuring or reading them all asked Aer for a density
    # matrix of the whole device (68 GB: "Insufficient memory") where the circuit uses 3
    backend = FakeGuadalupeV2()
    spec = seed_circuit(3)
    x, w = np.array([[0.2, 1.4, 2.6]]), np.zeros(6)
    ideal = make_aer_qnn(*spec).forward(x, w)
    exact = make_aer_qnn(*spec, backend=backend)
    assert exact.circuit.num_qubits == 16
    np.testing.assert_allclose(exact.forward(x, w), ideal, atol=0.1)
    values, stds = make_aer_qnn(*spec, backend=backend, shots=2000, seed=1).forward_with_std(x, w)
    # readout errors (a few percent here) act on the shots only
    np.testing.assert_allclose(values, ideal, atol=0.2)
    assert np.all(stds > 0)


def test_backend_with_too_few_qubits_is_rejected():
    with pytest.raises(QMNISTError, match="has 5 qubits; the circuit needs 6"):
        make_aer_qnn(*seed_circuit(6), backend=FakeManilaV2())


def test_backend_without_needed_gates_is_rejected():
    backend = GenericBackendV2(5, basis_gates=["rz", "sx", "x"], seed=1)
    with pytest.raises(QMNISTError, match="cannot run the circuit"):
        make_aer_qnn(*seed_circuit(3), backend=backend)


def test_exact_noise_needs_the_density_matrix():
    with pytest.raises(ValueError, match="cannot give exact noisy expectation values"):
        make_aer_qnn(*seed_circuit(2), noise_model=_depolarising(0.01, 0.01), method="statevector")
