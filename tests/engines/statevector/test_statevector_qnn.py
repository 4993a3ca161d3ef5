"""``StatevectorQNN``: the engine contract, the torch path, pickling and ``make_qnn``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from qiskit.primitives import StatevectorEstimator as ReferenceEstimator
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import layered_circuit, seed_circuit
from qmnist_qiskit.engines.statevector import StatevectorQNN, make_statevector_qnn
from qmnist_qiskit.exceptions import QMNISTError

SPEC = layered_circuit(4, reps=2, input_scaling=True)


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(0, np.pi, (5, 4)), rng.uniform(-np.pi, np.pi, len(SPEC.weight_params))


@pytest.fixture(scope="module")
def reference() -> EstimatorQNN:
    return EstimatorQNN(
        circuit=SPEC.circuit,
        estimator=ReferenceEstimator(),
        observables=SPEC.observables,
        input_params=SPEC.input_params,
        weight_params=SPEC.weight_params,
        gradient=ParamShiftEstimatorGradient(ReferenceEstimator()),
        input_gradients=True,
        default_precision=0.0,
    )


def test_contract_shapes_and_values(batch, reference):
    x, w = batch
    qnn = make_statevector_qnn(*SPEC)
    assert isinstance(qnn, StatevectorQNN)
    assert (qnn.num_inputs, qnn.num_weights, qnn.output_shape) == (4, 24, (4,))
    values = qnn.forward(x, w)
    assert values.shape == (5, 4) and values.dtype == np.float64
    np.testing.assert_allclose(values, reference.forward(x, w), atol=1e-10)
    input_grad, weight_grad = qnn.backward(x, w)
    assert input_grad is None and weight_grad.shape == (5, 4, 24)
    np.testing.assert_allclose(weight_grad, reference.backward(x, w)[1], atol=1e-10)


def test_input_gradients(batch, reference):
    x, w = batch
    qnn = make_statevector_qnn(*SPEC, input_gradients=True)
    input_grad, weight_grad = qnn.backward(x, w)
    expected_input, expected_weight = reference.backward(x, w)
    np.testing.assert_allclose(input_grad, expected_input, atol=1e-10)
    np.testing.assert_allclose(weight_grad, expected_weight, atol=1e-10)
    qnn.input_gradients = False
    assert qnn.backward(x, w)[0] is None


def test_torch_forward_is_differentiable_without_numpy(batch, reference):
    x, w = batch
    qnn = make_statevector_qnn(*SPEC)
    inputs = torch.tensor(x, requires_grad=True)
    weights = torch.tensor(w, requires_grad=True)
    values = qnn.torch_forward(inputs, weights)
    assert values.dtype == torch.float64 and values.shape == (5, 4)
    values[:, 1].sum().backward()
    expected_input, expected_weight = reference.backward(x, w)
    np.testing.assert_allclose(inputs.grad.numpy(), expected_input[:, 1], atol=1e-10)
    np.testing.assert_allclose(weights.grad.numpy(), expected_weight[:, 1].sum(0), atol=1e-10)


def test_single_precision_torch_forward(batch):
    x, w = batch
    qnn = make_statevector_qnn(*SPEC, dtype=torch.complex64)
    values = qnn.torch_forward(torch.tensor(x), torch.tensor(w))
    assert values.dtype == torch.float32
    np.testing.assert_allclose(values.numpy(), make_qnn(*SPEC).forward(x, w), atol=1e-5)


def test_pickling_round_trips(batch):
    x, w = batch
    qnn = make_statevector_qnn(*SPEC, input_gradients=True, max_memory_bytes=10**7)
    clone = pickle.loads(pickle.dumps(qnn))
    assert clone.input_gradients and clone.simulator.program.num_qubits == 4
    np.testing.assert_array_equal(clone.forward(x, w), qnn.forward(x, w))
    for mine, theirs in zip(clone.backward(x, w), qnn.backward(x, w), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_make_qnn_dispatches_here_with_options(batch):
    x, w = batch
    qnn = make_qnn(*SPEC, engine="statevector", input_gradients=True, dtype="complex64")
    assert isinstance(qnn, StatevectorQNN) and qnn.input_gradients
    assert qnn.simulator.dtype == torch.complex64
    assert list(qnn.input_params) == list(SPEC.input_params)
    assert list(qnn.weight_params) == list(SPEC.weight_params)
    assert qnn.observables == list(SPEC.observables) and qnn.circuit is SPEC.circuit


def test_works_with_torch_connector():
    spec = seed_circuit(3)
    qnn = make_statevector_qnn(*spec, input_gradients=True)
    model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, 6))
    inputs = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    model(inputs).sum().backward()
    # TorchConnector computes in float32: compare at its weights, to float32 accuracy.
    weights = model.weight.detach().double().requires_grad_()
    direct_inputs = inputs.detach().clone().requires_grad_()
    qnn.torch_forward(direct_inputs, weights).sum().backward()
    torch.testing.assert_close(model.weight.grad.double(), weights.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(inputs.grad, direct_inputs.grad, atol=1e-6, rtol=0)


def test_circuits_without_inputs():
    spec = layered_circuit(2, reps=1)
    circuit = spec.circuit.assign_parameters(dict.fromkeys(spec.input_params, 0.4))
    qnn = make_statevector_qnn(circuit, [], spec.weight_params, spec.observables)
    w = np.linspace(0, 1, 4)
    assert qnn.forward(None, w).shape == (1, 2)
    assert qnn.backward(None, w)[1].shape == (1, 2, 4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_a_gpu_fails_before_any_work():
    with pytest.raises(QMNISTError, match="no CUDA GPU"):
        make_qnn(*SPEC, engine="statevector", device="cuda:0")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_qnn_matches_cpu(batch):
    x, w = batch
    cpu = make_statevector_qnn(*SPEC, input_gradients=True)
    gpu = make_statevector_qnn(*SPEC, input_gradients=True, device="cuda")
    np.testing.assert_allclose(gpu.forward(x, w), cpu.forward(x, w), atol=1e-10)
    for on_gpu, on_cpu in zip(gpu.backward(x, w), cpu.backward(x, w), strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-10)
