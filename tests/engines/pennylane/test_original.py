"""The forum's circuit for today's PennyLane, against its conversion from Qiskit and Statevector."""

from __future__ import annotations

import pytest

# Without the PennyLane extra (pip install 'qmnist_qiskit[pennylane]') the module is skipped.
pytest.importorskip("pennylane_qiskit")

import numpy as np
import pennylane as qml
import torch

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.pennylane import original_loss, original_qnode, to_pennylane
from qmnist_qiskit.exceptions import QMNISTError

pytestmark = pytest.mark.pennylane

N_QUBITS = 10


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2019)
    inputs = rng.uniform(0, np.pi, (3, N_QUBITS))
    weights = rng.uniform(-np.pi, np.pi, 2 * N_QUBITS)
    labels = rng.integers(0, N_QUBITS, 3)
    return inputs, weights, labels


def _converted_qnode(n_qubits: int) -> qml.QNode:
    device = qml.device("default.qubit", wires=n_qubits)
    return qml.QNode(to_pennylane(*seed_circuit(n_qubits)), device, interface="torch")


def _scores_and_jacobian(qnode, inputs: np.ndarray, weights: np.ndarray):
    x = torch.tensor(inputs)

    def scores(thetas: torch.Tensor) -> torch.Tensor:
        return torch.stack(qnode(x, thetas), dim=-1)

    thetas = torch.tensor(weights)
    return scores(thetas).detach().numpy(), torch.autograd.functional.jacobian(
        scores, thetas
    ).numpy()


def test_original_equals_converted_seed_circuit_and_statevector(
    batch, exact_outputs, exact_jacobians
):
    inputs, weights, _ = batch
    original, original_jac = _scores_and_jacobian(original_qnode(N_QUBITS), inputs, weights)
    converted, converted_jac = _scores_and_jacobian(_converted_qnode(N_QUBITS), inputs, weights)
    spec = seed_circuit(N_QUBITS)
    np.testing.assert_allclose(original, converted, rtol=0, atol=1e-12)
    np.testing.assert_allclose(original_jac, converted_jac, rtol=0, atol=1e-12)
    np.testing.assert_allclose(original, exact_outputs(spec, inputs, weights), rtol=0, atol=1e-12)
    _, weight_jac = exact_jacobians(spec, inputs, weights)
    np.testing.assert_allclose(original_jac, weight_jac, rtol=0, atol=1e-12)


def test_loss_gradients_agree(batch):
    inputs, weights, labels = batch
    gradients = []
    for qnode in (original_qnode(N_QUBITS), _converted_qnode(N_QUBITS)):
        thetas = torch.tensor(weights, requires_grad=True)
        scores = torch.stack(qnode(torch.tensor(inputs), thetas), dim=-1)
        original_loss(scores, labels).backward()
        gradients.append(thetas.grad.numpy())
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=0, atol=1e-12)
    assert np.abs(gradients[0]).max() > 1e-3


def test_original_qnode_single_sample_and_other_device(batch, exact_outputs):
    inputs, weights, _ = batch
    qnode = original_qnode(N_QUBITS, device="lightning.qubit", interface="numpy", diff_method=None)
    scores = np.array(qnode(inputs[0], weights))
    expected = exact_outputs(seed_circuit(N_QUBITS), inputs[:1], weights)[0]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_loss_matches_torch_cross_entropy_in_numpy_and_torch():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 4)) * 30
    labels = np.array([0, 3, 1, 1, 2])
    expected = torch.nn.functional.cross_entropy(torch.tensor(scores), torch.tensor(labels))
    assert original_loss(scores, labels) == pytest.approx(float(expected), abs=1e-12)
    torch_loss = original_loss(torch.tensor(scores), labels)
    assert float(torch_loss) == pytest.approx(float(expected), abs=1e-12)


def test_loss_is_stable_for_large_scores():
    scores = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    assert original_loss(scores, [0, 1]) == pytest.approx(500.0)


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.zeros(4), [0], "shape"),
        (np.zeros((2, 3)), [0], "2 integers"),
        (np.zeros((2, 3)), [0.5, 1.0], "2 integers"),
        (np.zeros((2, 3)), [0, 3], r"\[0, 3\)"),
    ],
)
def test_loss_rejects_bad_arguments(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        original_loss(scores, labels)


def test_qnode_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive integer"):
        original_qnode(0)
    with pytest.raises(QMNISTError, match="no.such"):
        original_qnode(2, device="no.such")
