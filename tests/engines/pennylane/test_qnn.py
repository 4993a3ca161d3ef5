"""The "pennylane" engine on every device, against exact Statevector numbers."""

from __future__ import annotations

import pytest

# Without the PennyLane extra (pip install 'qmnist_qiskit[pennylane]') the module is skipped.
pytest.importorskip("pennylane_qiskit")

import numpy as np
import torch

from qmnist_qiskit.circuits import CircuitSpec, layered_circuit, seed_circuit
from qmnist_qiskit.engines import make_qnn, qnn_torch_forward
from qmnist_qiskit.engines.pennylane import DEVICES, PennyLaneQNN, make_pennylane_qnn

# pennylane-qiskit transpiles every circuit it runs, loading qiskit-ibm-runtime's plugins.
pytestmark = [
    pytest.mark.pennylane,
    pytest.mark.filterwarnings("ignore:Since backends now support running jobs:DeprecationWarning"),
]

# qiskit.aer transpiles every circuit it runs (about 0.1 s each): keep its circuits tiny.
SMALL = layered_circuit(2, reps=1, input_scaling=True)
MEDIUM = layered_circuit(3, reps=2, input_scaling=True, entanglement="full")
LARGER = layered_circuit(4, reps=2, input_scaling=True, entanglement="circular")


def _data(spec: CircuitSpec, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0, np.pi, (batch, len(spec.input_params)))
    return inputs, rng.uniform(-np.pi, np.pi, len(spec.weight_params))


@pytest.mark.parametrize(
    ("device", "diff_method", "spec", "batch"),
    [
        ("default.qubit", None, LARGER, 3),
        ("default.qubit", "parameter-shift", SMALL, 2),
        ("default.qubit", "adjoint", SMALL, 2),
        ("lightning.qubit", None, MEDIUM, 2),
        ("lightning.qubit", "parameter-shift", SMALL, 2),
        ("qiskit.aer", None, SMALL, 1),
    ],
)
def test_forward_and_backward_match_statevector(
    device, diff_method, spec, batch, exact_outputs, exact_jacobians
):
    qnn = make_qnn(
        *spec, engine="pennylane", device=device, diff_method=diff_method, input_gradients=True
    )
    inputs, weights = _data(spec, batch, 11)
    expected_input_jac, expected_weight_jac = exact_jacobians(spec, inputs, weights)
    outputs = qnn.forward(inputs, weights)
    input_jac, weight_jac = qnn.backward(inputs, weights)
    assert outputs.shape == (batch, len(spec.observables))
    assert outputs.dtype == np.float64
    assert input_jac.shape == (batch, len(spec.observables), len(spec.input_params))
    assert weight_jac.shape == (batch, len(spec.observables), len(spec.weight_params))
    np.testing.assert_allclose(outputs, exact_outputs(spec, inputs, weights), rtol=0, atol=1e-10)
    np.testing.assert_allclose(input_jac, expected_input_jac, rtol=0, atol=1e-10)
    np.testing.assert_allclose(weight_jac, expected_weight_jac, rtol=0, atol=1e-10)
    qnn.input_gradients = False
    no_input_jac, same_weight_jac = qnn.backward(inputs, weights)
    assert no_input_jac is None
    np.testing.assert_allclose(same_weight_jac, weight_jac, rtol=0, atol=1e-12)


def test_seed_circuit_on_ten_qubits(exact_outputs, exact_jacobians):
    spec = seed_circuit(10)
    inputs, weights = _data(spec, 3, 5)
    _, expected = exact_jacobians(spec, inputs, weights)
    for device in ("default.qubit", "lightning.qubit"):
        qnn = make_pennylane_qnn(*spec, device=device)
        outputs = qnn.forward(inputs, weights)
        np.testing.assert_allclose(outputs, exact_outputs(spec, inputs, weights), atol=1e-10)
        np.testing.assert_allclose(qnn.backward(inputs, weights)[1], expected, atol=1e-10)


def test_torch_forward_is_native_on_default_qubit_only():
    assert make_pennylane_qnn(*SMALL).native_torch
    for device, diff_method in [("default.qubit", "parameter-shift"), ("lightning.qubit", None)]:
        qnn = make_pennylane_qnn(*SMALL, device=device, diff_method=diff_method)
        assert not qnn.native_torch


@pytest.mark.parametrize(
    ("device", "spec"), [("default.qubit", LARGER), ("lightning.qubit", SMALL)]
)
def test_torch_gradient_is_the_backward_contraction(device, spec):
    qnn = make_pennylane_qnn(*spec, device=device, input_gradients=True)
    inputs, weights = _data(spec, 3, 2)
    x = torch.tensor(inputs, requires_grad=True)
    w = torch.tensor(weights, requires_grad=True)
    upstream = torch.tensor(np.random.default_rng(0).normal(size=(3, len(spec.observables))))
    (qnn_torch_forward(qnn, x, w) * upstream).sum().backward()
    input_jac, weight_jac = qnn.backward(inputs, weights)
    np.testing.assert_allclose(
        w.grad.numpy(), np.einsum("bo,bow->w", upstream.numpy(), weight_jac), atol=1e-10
    )
    np.testing.assert_allclose(
        x.grad.numpy(), np.einsum("bo,boi->bi", upstream.numpy(), input_jac), atol=1e-10
    )


def test_torch_forward_keeps_the_weights_dtype(exact_outputs):
    qnn = make_pennylane_qnn(*SMALL)
    inputs, weights = _data(SMALL, 2, 4)
    outputs = qnn.torch_forward(torch.tensor(inputs), torch.tensor(weights, dtype=torch.float32))
    assert outputs.dtype == torch.float32
    assert not outputs.requires_grad
    np.testing.assert_allclose(outputs.numpy(), exact_outputs(SMALL, inputs, weights), atol=1e-6)


def test_circuit_without_inputs_keeps_the_batch(exact_outputs):
    circuit, inputs_vector, weights_vector, observables = seed_circuit(2)
    bound = circuit.assign_parameters(dict.fromkeys(inputs_vector, 0.3))
    spec = CircuitSpec(bound, [], list(weights_vector), observables)
    qnn = make_pennylane_qnn(*spec)
    weights = np.linspace(0.1, 0.8, 4)
    outputs = qnn.forward(np.zeros((3, 0)), weights)
    expected = exact_outputs(spec, np.zeros((1, 0)), weights)
    np.testing.assert_allclose(outputs, np.repeat(expected, 3, axis=0), rtol=0, atol=1e-12)


def test_qiskit_aer_shots_are_seeded_and_within_five_standard_errors(exact_outputs):
    spec = seed_circuit(2)
    inputs, weights = _data(spec, 3, 8)
    shots = 2000
    first = make_pennylane_qnn(*spec, device="qiskit.aer", shots=shots, seed=7)
    again = make_pennylane_qnn(*spec, device="qiskit.aer", shots=shots, seed=7)
    outputs = first.forward(inputs, weights)
    np.testing.assert_array_equal(outputs, again.forward(inputs, weights))
    exact = exact_outputs(spec, inputs, weights)
    standard_errors = np.sqrt((1 - exact**2) / shots)
    assert np.all(np.abs(outputs - exact) <= 5 * standard_errors + 1e-12)
    assert not np.allclose(outputs, exact, atol=1e-6)


def test_default_options_are_the_first_methods():
    assert {device: methods[0] for device, methods in DEVICES.items()} == {
        "default.qubit": "backprop",
        "lightning.qubit": "adjoint",
        "qiskit.aer": "parameter-shift",
    }
    qnn = PennyLaneQNN(*SMALL, device="qiskit.aer")
    assert (qnn.device_name, qnn.diff_method, qnn.shots, qnn.seed) == (
        "qiskit.aer",
        "parameter-shift",
        None,
        None,
    )
    assert (qnn.num_inputs, qnn.num_weights, qnn.output_shape) == (2, 6, (2,))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"device": "default.mixed"}, "unknown PennyLane device"),
        ({"device": "qiskit.aer", "diff_method": "adjoint"}, "diff_method for qiskit.aer"),
        ({"device": "default.qubit", "shots": 100}, "qiskit.aer device only"),
        ({"device": "qiskit.aer", "shots": 0}, "positive integer"),
        ({"device": "qiskit.aer", "shots": True}, "positive integer"),
        ({"device": "qiskit.aer", "seed": 1.5}, "seed must be an integer"),
    ],
)
def test_rejects_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        make_qnn(*SMALL, engine="pennylane", **options)
