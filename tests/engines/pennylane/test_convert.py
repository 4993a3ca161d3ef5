"""Qiskit circuits converted by pennylane-qiskit give Statevector's numbers, with gradients."""

from __future__ import annotations

import pytest

# Without the PennyLane extra (pip install 'qmnist_qiskit[pennylane]') the module is skipped.
pytest.importorskip("pennylane_qiskit")

import numpy as np
import pennylane as qml
import torch
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.circuits import CircuitSpec, layered_circuit, seed_circuit
from qmnist_qiskit.engines.pennylane import to_pennylane
from qmnist_qiskit.exceptions import QMNISTError

pytestmark = pytest.mark.pennylane


def _random_layered(seed: int) -> CircuitSpec:
    rng = np.random.default_rng(seed)
    n_qubits = int(rng.integers(2, 6))
    return layered_circuit(
        n_qubits,
        reps=int(rng.integers(1, 4)),
        n_features=int(rng.integers(1, 2 * n_qubits + 1)),
        reupload=bool(rng.integers(2)),
        input_scaling=bool(rng.integers(2)),
        entanglement=str(rng.choice(["linear", "circular", "full"])),
        rotations=[str(r) for r in rng.choice(["rx", "ry", "rz"], size=int(rng.integers(1, 3)))],
    )


def _run(spec: CircuitSpec, inputs: np.ndarray, weights: np.ndarray):
    """Outputs and per-sample Jacobians from default.qubit with torch backprop."""
    device = qml.device("default.qubit", wires=spec.num_qubits)
    qnode = qml.QNode(to_pennylane(*spec), device, interface="torch", diff_method="backprop")

    def outputs(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.stack(qnode(x, w), dim=-1)

    x, w = torch.tensor(inputs), torch.tensor(weights)
    input_jac, weight_jac = torch.autograd.functional.jacobian(outputs, (x, w))
    batch = np.arange(len(inputs))
    # (B, n_obs, B, n_in): sample b's outputs depend on its own inputs only.
    input_jac = input_jac.numpy()[batch, :, batch, :]
    return outputs(x, w).detach().numpy(), input_jac, weight_jac.numpy()


@pytest.mark.parametrize("seed", range(8))
def test_random_layered_circuits_match_statevector(seed, exact_outputs, exact_jacobians):
    spec = _random_layered(seed)
    rng = np.random.default_rng(100 + seed)
    inputs = rng.uniform(0, np.pi, (2, len(spec.input_params)))
    weights = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    outputs, input_jac, weight_jac = _run(spec, inputs, weights)
    expected_input_jac, expected_weight_jac = exact_jacobians(spec, inputs, weights)
    np.testing.assert_allclose(outputs, exact_outputs(spec, inputs, weights), rtol=0, atol=1e-12)
    np.testing.assert_allclose(input_jac, expected_input_jac, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weight_jac, expected_weight_jac, rtol=0, atol=1e-12)


def test_qubit_order_with_asymmetric_observables(exact_outputs):
    circuit, inputs_vector, weights_vector, _ = layered_circuit(3, reps=2, entanglement="full")
    observables = [
        SparsePauliOp("IIX"),
        SparsePauliOp("YZI"),
        SparsePauliOp(["XIZ", "IYY", "ZZZ"], [0.5, -1.0, 0.25]),
    ]
    spec = CircuitSpec(circuit, inputs_vector, weights_vector, observables)
    rng = np.random.default_rng(7)
    inputs = rng.uniform(0, np.pi, (2, 3))
    weights = rng.uniform(-np.pi, np.pi, len(weights_vector))
    outputs, _, _ = _run(spec, inputs, weights)
    assert outputs.dtype == np.float64
    np.testing.assert_allclose(outputs, exact_outputs(spec, inputs, weights), rtol=0, atol=1e-12)


def test_binds_by_the_given_lists_not_by_names(exact_outputs):
    """Weights named "a" sort before inputs named "x", and the lists are permuted."""
    inputs_vector, weights_vector = ParameterVector("x", 2), ParameterVector("a", 3)
    lone = Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.rx(inputs_vector[1], 0)
    circuit.ry(inputs_vector[0] * weights_vector[2], 1)
    circuit.cx(0, 1)
    circuit.rz(weights_vector[0], 1)
    circuit.rx(lone, 0)
    circuit.ry(weights_vector[1], 0)
    input_params = [inputs_vector[1], inputs_vector[0]]
    weight_params = [weights_vector[2], lone, weights_vector[0], weights_vector[1]]
    observables = [SparsePauliOp("IZ"), SparsePauliOp("XI")]
    spec = CircuitSpec(circuit, input_params, weight_params, observables)
    rng = np.random.default_rng(3)
    inputs = rng.uniform(0, np.pi, (3, 2))
    weights = rng.uniform(-np.pi, np.pi, 4)
    outputs, _, _ = _run(spec, inputs, weights)
    np.testing.assert_allclose(outputs, exact_outputs(spec, inputs, weights), rtol=0, atol=1e-12)


def test_unused_vector_elements_are_allowed(exact_outputs):
    inputs_vector, weights_vector = ParameterVector("x", 1), ParameterVector("w", 3)
    circuit = QuantumCircuit(1)
    circuit.rx(inputs_vector[0], 0)
    circuit.ry(weights_vector[2], 0)
    spec = CircuitSpec(circuit, list(inputs_vector), [weights_vector[2]], [SparsePauliOp("Z")])
    inputs = np.array([[0.3], [1.2]])
    outputs, _, _ = _run(spec, inputs, np.array([0.4]))
    np.testing.assert_allclose(outputs, np.cos(inputs) * np.cos(0.4), rtol=0, atol=1e-12)


def test_single_sample_without_batch_dimension():
    spec = seed_circuit(3)
    qnode = qml.QNode(to_pennylane(*spec), qml.device("default.qubit", wires=3))
    assert np.allclose(qnode(np.array([0.0, np.pi, 0.0]), np.zeros(6)), [1.0, -1.0, -1.0])


def test_rejects_parameters_missing_or_listed_twice():
    circuit, inputs, weights, observables = seed_circuit(2)
    with pytest.raises(ValueError, match="neither input_params nor weight_params"):
        to_pennylane(circuit, list(inputs), list(weights)[:-1], observables)
    with pytest.raises(ValueError, match="listed twice"):
        to_pennylane(circuit, list(inputs), list(weights) + [inputs[0]], observables)


def test_rejects_a_vector_mixing_inputs_and_weights():
    vector = ParameterVector("v", 2)
    circuit = QuantumCircuit(1)
    circuit.rx(vector[0], 0)
    circuit.ry(vector[1], 0)
    with pytest.raises(ValueError, match="mixes inputs and weights"):
        to_pennylane(circuit, [vector[0]], [vector[1]], [SparsePauliOp("Z")])


def test_rejects_reserved_parameter_names():
    wires = Parameter("wires")
    circuit = QuantumCircuit(1)
    circuit.rx(wires, 0)
    with pytest.raises(ValueError, match="reserves"):
        to_pennylane(circuit, [], [wires], [SparsePauliOp("Z")])


@pytest.mark.parametrize(
    ("observable", "error", "match"),
    [
        (SparsePauliOp("ZZZ"), ValueError, "on 3 qubits"),
        (SparsePauliOp("ZZ", 1j), ValueError, "not Hermitian"),
        (SparsePauliOp(["ZZ"], np.array([Parameter("c")], dtype=object)), ValueError, "param"),
        (np.eye(4), TypeError, "SparsePauliOp"),
    ],
)
def test_rejects_bad_observables(observable, error, match):
    circuit, inputs, weights, _ = seed_circuit(2)
    with pytest.raises(error, match=match):
        to_pennylane(circuit, inputs, weights, [observable])


def test_refuses_instructions_pennylane_would_drop():
    circuit, inputs, weights, observables = seed_circuit(2)
    circuit.reset(0)
    with pytest.raises(QMNISTError, match="Reset"):
        to_pennylane(circuit, inputs, weights, observables)
