"""The engine contract (engines/base.py) on every engine: forward, backward and torch_forward
agree, in qiskit-machine-learning's shapes, with exact numbers from Qiskit's Statevector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit_machine_learning.neural_networks import EstimatorQNN, NeuralNetwork

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines import EngineQNN, qnn_torch_forward
from qmnist_qiskit.engines.base import bridge_forward, torch_jacobians
from qmnist_qiskit.engines.statevector import StatevectorEstimator

SPEC = layered_circuit(3, reps=2, input_scaling=True)
BATCH = 3

# (engine, options, whether torch_forward is native)
ENGINES = [
    pytest.param("statevector", {}, True, id="statevector"),
    pytest.param("aer", {}, False, id="aer"),
    pytest.param("pennylane", {}, True, id="pennylane-default.qubit", marks=pytest.mark.pennylane),
    pytest.param(
        "pennylane",
        {"device": "lightning.qubit"},
        False,
        id="pennylane-lightning.qubit",
        marks=pytest.mark.pennylane,
    ),
]


def _data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0, np.pi, (BATCH, len(SPEC.input_params)))
    return inputs, rng.uniform(-np.pi, np.pi, len(SPEC.weight_params))


@pytest.mark.parametrize(("engine", "options", "native"), ENGINES)
def test_forward_backward_and_torch_forward_agree_with_statevector(
    engine, options, native, exact_outputs, exact_jacobians
):
    qnn = make_qnn(*SPEC, engine=engine, input_gradients=True, **options)
    assert isinstance(qnn, EngineQNN) and isinstance(qnn, NeuralNetwork)
    assert qnn.native_torch is native
    inputs, weights = _data()
    n_out, n_in, n_w = len(SPEC.observables), len(SPEC.input_params), len(SPEC.weight_params)

    values = qnn.forward(inputs, weights)
    input_jac, weight_jac = qnn.backward(inputs, weights)
    assert values.shape == (BATCH, n_out) and values.dtype == np.float64
    assert input_jac.shape == (BATCH, n_out, n_in)
    assert weight_jac.shape == (BATCH, n_out, n_w)
    expected_input_jac, expected_weight_jac = exact_jacobians(SPEC, inputs, weights)
    np.testing.assert_allclose(values, exact_outputs(SPEC, inputs, weights), rtol=0, atol=1e-10)
    np.testing.assert_allclose(input_jac, expected_input_jac, rtol=0, atol=1e-10)
    np.testing.assert_allclose(weight_jac, expected_weight_jac, rtol=0, atol=1e-10)

    x = torch.tensor(inputs, requires_grad=True)
    w = torch.tensor(weights, requires_grad=True)
    scores = qnn.torch_forward(x, w)
    assert scores.shape == (BATCH, n_out)
    upstream = torch.tensor(np.random.default_rng(1).normal(size=(BATCH, n_out)))
    (scores * upstream).sum().backward()
    np.testing.assert_allclose(scores.detach().numpy(), values, rtol=0, atol=1e-12)
    g = upstream.numpy()
    np.testing.assert_allclose(
        w.grad.numpy(), np.einsum("bo,bow->w", g, weight_jac), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        x.grad.numpy(), np.einsum("bo,boi->bi", g, input_jac), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize(("engine", "options", "native"), ENGINES)
def test_weight_only_backward_and_single_sample_shapes(engine, options, native):
    qnn = make_qnn(*SPEC, engine=engine, **options)
    inputs, weights = _data(3)
    input_jac, weight_jac = qnn.backward(inputs[0], weights)
    assert input_jac is None
    assert weight_jac.shape == (1, len(SPEC.observables), len(SPEC.weight_params))
    assert qnn.forward(inputs[0], weights).shape == (1, len(SPEC.observables))
    with torch.no_grad():
        plain = qnn.torch_forward(torch.tensor(inputs), torch.tensor(weights))
    assert not plain.requires_grad
    np.testing.assert_allclose(plain.numpy(), qnn.forward(inputs, weights), rtol=0, atol=1e-12)


class _CountingNetwork(EngineQNN):
    """A numpy engine over the statevector QNN that counts how the bridge reaches it."""

    def __init__(self, inner: NeuralNetwork, joint: bool) -> None:
        self.inner = inner
        self.joint = joint
        self.calls: list[str] = []
        super().__init__(
            num_inputs=inner.num_inputs,
            num_weights=inner.num_weights,
            sparse=False,
            output_shape=inner.output_shape,
            input_gradients=False,
        )

    def _forward(self, input_data, weights):
        self.calls.append("forward")
        return self.inner.forward(input_data, weights)

    def _backward(self, input_data, weights):
        self.calls.append("backward")
        self.inner.input_gradients = self.input_gradients
        return self.inner.backward(input_data, weights)

    def forward_and_jacobians(self, input_data, weights, *, input_gradients):
        if not self.joint:
            return super().forward_and_jacobians(
                input_data, weights, input_gradients=input_gradients
            )
        self.calls.append("joint")
        self.inner.input_gradients = input_gradients
        values = self.inner.forward(input_data, weights)
        return (values, *self.inner.backward(input_data, weights))


@pytest.mark.parametrize("joint", [False, True])
def test_the_bridge_calls_the_joint_hook_once_per_step(joint):
    network = _CountingNetwork(make_qnn(*SPEC), joint)
    assert not network.native_torch
    inputs, weights = _data(5)
    w = torch.tensor(weights, requires_grad=True)
    network.torch_forward(torch.tensor(inputs), w).sum().backward()
    assert network.calls == (["joint"] if joint else ["forward", "backward"])
    assert network.input_gradients is False
    expected = network.inner.backward(inputs, weights)[1].sum(axis=(0, 1))
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=0, atol=1e-12)
    network.calls.clear()
    with torch.no_grad():
        network.torch_forward(torch.tensor(inputs), w)
    assert network.calls == ["forward"]


def test_an_engine_missing_its_half_of_the_contract_says_so():
    class Incomplete(EngineQNN):
        native_torch = True

    incomplete = Incomplete(
        num_inputs=1, num_weights=0, sparse=False, output_shape=1, input_gradients=False
    )
    with pytest.raises(NotImplementedError, match="Incomplete must implement torch_forward"):
        incomplete.torch_forward(torch.zeros(1, 1), torch.zeros(0))
    incomplete.native_torch = False
    with pytest.raises(NotImplementedError, match="Incomplete must implement _forward"):
        incomplete.forward(np.zeros((1, 1)), np.zeros(0))


def test_a_plain_estimator_qnn_runs_through_the_bridge(exact_outputs, exact_jacobians):
    qnn = EstimatorQNN(
        circuit=SPEC.circuit,
        estimator=StatevectorEstimator(),
        observables=SPEC.observables,
        input_params=SPEC.input_params,
        weight_params=SPEC.weight_params,
    )
    inputs, weights = _data(2)
    x = torch.tensor(inputs, requires_grad=True)
    w = torch.tensor(weights, requires_grad=True)
    scores = qnn_torch_forward(qnn, x, w)
    scores.sum().backward()
    np.testing.assert_allclose(
        scores.detach().numpy(), exact_outputs(SPEC, inputs, weights), rtol=0, atol=1e-10
    )
    input_jac, weight_jac = exact_jacobians(SPEC, inputs, weights)
    np.testing.assert_allclose(w.grad.numpy(), weight_jac.sum(axis=(0, 1)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), input_jac.sum(axis=1), rtol=0, atol=1e-10)
    assert qnn.input_gradients is False
    with torch.no_grad():
        assert not bridge_forward(qnn, x, w).requires_grad


def test_torch_jacobians_of_a_known_function():
    x = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.5], [-0.5]], dtype=torch.float64, requires_grad=True)
    unused = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    values = torch.stack([torch.sin(x[:, 0]) * w[:, 0], x[:, 1] ** 3], dim=1)
    input_jac, weight_jac, unused_jac = torch_jacobians(values, [x, w, unused])
    a, b = x.detach().numpy().T
    wv = w.detach().numpy()[:, 0]
    expected_input = np.zeros((2, 2, 2))
    expected_input[:, 0, 0] = np.cos(a) * wv
    expected_input[:, 1, 1] = 3 * b**2
    np.testing.assert_allclose(input_jac, expected_input, rtol=0, atol=1e-15)
    np.testing.assert_allclose(weight_jac[:, :, 0], np.stack([np.sin(a), 0 * a], 1), atol=1e-15)
    np.testing.assert_array_equal(unused_jac, np.zeros((2, 2, 4)))
