"""Exact mode of the Aer engine against Statevector, qiskit-machine-learning and torch."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import EstimatorV2
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import layered_circuit, seed_circuit
from qmnist_qiskit.engines.aer import AerQNN, BatchedParamShiftGradient, make_aer_qnn

SPECS = {
    "seed10": lambda: seed_circuit(10),
    "layered4_scaled": lambda: layered_circuit(4, reps=2, input_scaling=True),
}


def _data(spec, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, np.pi, (batch, len(spec.input_params)))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    return x, w


@pytest.mark.parametrize("name", SPECS)
def test_forward_and_jacobians_equal_statevector(name, reference):
    spec = SPECS[name]()
    x, w = _data(spec)
    qnn = make_aer_qnn(*spec, input_gradients=True)
    assert isinstance(qnn, AerQNN) and isinstance(qnn, EstimatorQNN)
    assert qnn.default_precision == 0.0

    values, stds = qnn.forward_with_std(x, w)
    input_jac, weight_jac = qnn.backward(x, w)
    ref_input_jac, ref_weight_jac = reference.jacobians(spec, x, w)

    assert values.shape == (2, len(spec.observables)) and values.dtype == np.float64
    np.testing.assert_allclose(values, reference.outputs(spec, x, w), atol=1e-10)
    np.testing.assert_array_equal(stds, 0.0)
    assert input_jac.shape == (2, len(spec.observables), len(spec.input_params))
    assert weight_jac.shape == (2, len(spec.observables), len(spec.weight_params))
    np.testing.assert_allclose(input_jac, ref_input_jac, atol=1e-10)
    np.testing.assert_allclose(weight_jac, ref_weight_jac, atol=1e-10)


def test_make_qnn_door_and_weight_only_backward():
    spec = seed_circuit(4)
    x, w = _data(spec, batch=3)
    qnn = make_qnn(*spec, engine="aer")
    assert isinstance(qnn, AerQNN)
    assert (qnn.num_inputs, qnn.num_weights, qnn.output_shape) == (4, 8, (4,))
    input_jac, weight_jac = qnn.backward(x, w)
    assert input_jac is None
    full = make_aer_qnn(*spec, input_gradients=True).backward(x, w)[1]
    np.testing.assert_allclose(weight_jac, full, atol=1e-12)


def test_batched_gradient_equals_qiskit_machine_learning_param_shift():
    spec = layered_circuit(3, reps=2, input_scaling=True)
    circuit = spec.circuit
    rng = np.random.default_rng(3)
    values = rng.uniform(-np.pi, np.pi, (3, circuit.num_parameters))
    observables = [spec.observables[0], SparsePauliOp(["XZI", "IYY"], [0.5, -1.5])]
    circuits = [circuit] * 6
    ops = [observables[i % 2] for i in range(6)]
    rows = values[[0, 0, 1, 1, 2, 2]]
    weights_only = [list(spec.weight_params)] * 6
    estimator = EstimatorV2(options={"default_precision": 0.0})
    for parameters in (None, weights_only):
        ours = BatchedParamShiftGradient(estimator).run(circuits, ops, rows, parameters).result()
        theirs = ParamShiftEstimatorGradient(estimator).run(circuits, ops, rows, parameters)
        theirs = theirs.result()
        np.testing.assert_allclose(
            np.array(ours.gradients), np.array(theirs.gradients), rtol=0, atol=1e-12
        )
        for meta in ours.metadata:
            np.testing.assert_array_equal(meta["stds"], 0.0)


def test_batched_gradient_is_a_drop_in_for_estimator_qnn(reference):
    spec = layered_circuit(4, reps=2, input_scaling=True)
    x, w = _data(spec, seed=4)
    estimator = EstimatorV2(options={"default_precision": 0.0})
    qnn = EstimatorQNN(
        circuit=spec.circuit,
        estimator=estimator,
        observables=spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
        gradient=BatchedParamShiftGradient(estimator),
        input_gradients=True,
        default_precision=0.0,
    )
    input_jac, weight_jac = qnn.backward(x, w)
    ref_input_jac, ref_weight_jac = reference.jacobians(spec, x, w)
    np.testing.assert_allclose(input_jac, ref_input_jac, atol=1e-10)
    np.testing.assert_allclose(weight_jac, ref_weight_jac, atol=1e-10)


def test_torch_forward_reuses_one_call_and_matches_backward():
    spec = layered_circuit(3, reps=2, input_scaling=True)
    x, w = _data(spec, batch=3, seed=5)
    qnn = make_aer_qnn(*spec)
    inputs = torch.tensor(x, requires_grad=True)
    weights = torch.tensor(w, requires_grad=True)
    output = qnn.torch_forward(inputs, weights)
    upstream = torch.linspace(-1, 1, output.numel(), dtype=torch.float64).reshape(output.shape)
    (output * upstream).sum().backward()

    np.testing.assert_allclose(output.detach().numpy(), qnn.forward(x, w), atol=1e-12)
    qnn.input_gradients = True
    input_jac, weight_jac = qnn.backward(x, w)
    g = upstream.numpy()
    np.testing.assert_allclose(inputs.grad.numpy(), np.einsum("bo,boi->bi", g, input_jac))
    np.testing.assert_allclose(weights.grad.numpy(), np.einsum("bo,bow->w", g, weight_jac))
    with torch.no_grad():
        plain = qnn.torch_forward(inputs, weights)
    assert not plain.requires_grad
    np.testing.assert_allclose(plain.numpy(), output.detach().numpy(), atol=1e-12)


def test_torch_connector_trains_through_aer_qnn():
    spec = seed_circuit(3)
    qnn = make_aer_qnn(*spec, input_gradients=True)
    model = TorchConnector(qnn, initial_weights=np.full(6, 0.1))
    inputs = torch.tensor(_data(spec, batch=4)[0], dtype=torch.float32)
    loss = model(inputs).sum()
    loss.backward()
    assert model.weight.grad.shape == (6,)
    assert torch.all(torch.isfinite(model.weight.grad))


def test_parameterised_global_phase_is_dropped():
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(1, global_phase=a / 2)
    circuit.rx(a, 0)
    circuit.ry(b, 0)
    qnn = make_aer_qnn(circuit, [a], [b], [SparsePauliOp("Z")], input_gradients=True)
    input_jac, weight_jac = qnn.backward([[0.4]], [0.9])
    np.testing.assert_allclose(qnn.forward([[0.4]], [0.9]), [[np.cos(0.4) * np.cos(0.9)]])
    np.testing.assert_allclose(input_jac, [[[-np.sin(0.4) * np.cos(0.9)]]], atol=1e-12)
    np.testing.assert_allclose(weight_jac, [[[-np.cos(0.4) * np.sin(0.9)]]], atol=1e-12)


def test_matrix_product_state_agrees_with_statevector():
    spec = layered_circuit(5, reps=2, input_scaling=True, entanglement="circular")
    x, w = _data(spec, seed=6)
    exact = make_aer_qnn(*spec, input_gradients=True)
    mps = make_aer_qnn(*spec, input_gradients=True, method="matrix_product_state")
    np.testing.assert_allclose(mps.forward(x, w), exact.forward(x, w), atol=1e-10)
    for ours, reference in zip(mps.backward(x, w), exact.backward(x, w), strict=True):
        np.testing.assert_allclose(ours, reference, atol=1e-10)


def _engine_ready(engine: str) -> bool:
    try:
        module = importlib.import_module(f"qmnist_qiskit.engines.{engine}")
    except ImportError:
        return False
    return hasattr(module, f"make_{engine}_qnn")


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(
            engine,
            marks=[
                pytest.mark.skipif(not _engine_ready(engine), reason=f"no {engine} engine"),
                *([pytest.mark.pennylane] if engine == "pennylane" else []),
            ],
        )
        for engine in ("statevector", "pennylane")
    ],
)
@pytest.mark.parametrize("name", SPECS)
def test_agrees_with_the_other_engines(engine, name):
    spec = SPECS[name]()
    x, w = _data(spec, batch=3, seed=8)
    aer = make_qnn(*spec, engine="aer", input_gradients=True)
    other = make_qnn(*spec, engine=engine, input_gradients=True)
    np.testing.assert_allclose(aer.forward(x, w), other.forward(x, w), atol=1e-10)
    for ours, theirs in zip(aer.backward(x, w), other.backward(x, w), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-10)
