"""The ``"pennylane"`` engine: a Qiskit circuit converted by pennylane-qiskit, on PennyLane.

Devices and how they differentiate:

* ``"default.qubit"``: torch interface, the whole batch broadcast in one call, backprop.
  ``torch_forward`` is native torch; ``backward`` gives every sample its own copy of the
  weights, so ``n_outputs`` backward passes yield the full per-sample Jacobian.
* ``"lightning.qubit"``: adjoint differentiation, one sample at a time.
* ``"qiskit.aer"``: Qiskit Aer through pennylane-qiskit's device, parameter shift, one sample
  at a time; exact (statevector, ``shots=None``) or sampled (``shots=int``).

The last two (and default.qubit with a ``diff_method`` other than backprop) go through
PennyLane's autograd interface, whose Jacobian is computed once per sample and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane import numpy as pnp
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import NeuralNetwork

from qmnist_qiskit.engines.pennylane.convert import to_pennylane
from qmnist_qiskit.exceptions import QMNISTError

DEVICES: dict[str, tuple[str, ...]] = {
    "default.qubit": ("backprop", "parameter-shift", "adjoint", "finite-diff"),
    "lightning.qubit": ("adjoint", "parameter-shift", "finite-diff"),
    "qiskit.aer": ("parameter-shift", "finite-diff"),
}
"""Supported device names and their differentiation methods, the default first."""


def _check_options(
    device: str, diff_method: str | None, shots: int | None, seed: int | None
) -> str:
    if device not in DEVICES:
        raise ValueError(f"unknown PennyLane device {device!r}; choose one of {list(DEVICES)}")
    methods = DEVICES[device]
    if diff_method is not None and diff_method not in methods:
        raise ValueError(f"diff_method for {device} must be one of {methods}, got {diff_method!r}")
    if shots is not None:
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots must be a positive integer or None, got {shots!r}")
        if device != "qiskit.aer":
            raise ValueError(f"shots are supported on the qiskit.aer device only, not {device}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return diff_method or methods[0]


def _make_device(device: str, n_qubits: int, shots: int | None, seed: int | None) -> Any:
    options: dict[str, Any] = {}
    if device == "qiskit.aer" and shots is None:
        # Aer's statevector method makes shots=None exact instead of 1,024 samples.
        options["method"] = "statevector"
    elif device == "qiskit.aer" and seed is not None:
        # Only without the statevector method does Aer draw the samples itself (seeded);
        # with it, PennyLane samples from the state with numpy's global generator.
        options["seed_simulator"] = seed
    try:
        return qml.device(device, wires=n_qubits, **options)
    except qml.exceptions.DeviceError as exc:
        raise QMNISTError(f"cannot create PennyLane device {device!r}: {exc}") from exc


class PennyLaneQNN(NeuralNetwork):
    """A qiskit-machine-learning ``NeuralNetwork`` evaluated on a PennyLane device.

    Parameters
    ----------
    circuit : QuantumCircuit
        Parameterised circuit without measurements.
    input_params, weight_params : sequence of Parameter
        Bound, in this order, to the columns of ``input_data`` and ``weights``.
    observables : sequence of SparsePauliOp
        One output per observable.
    input_gradients : bool
        Also return gradients with respect to the inputs from ``backward``.
    device : {"default.qubit", "lightning.qubit", "qiskit.aer"}
        PennyLane device.
    diff_method : str, optional
        One of ``DEVICES[device]``; the first one (backprop, adjoint, parameter-shift) if None.
    shots : int, optional
        Sample each expectation from this many shots (qiskit.aer only); exact if None.
    seed : int, optional
        Aer's ``seed_simulator``: shot results repeat from run to run. Every execution
        (one per sample) restarts from it, so the shot noise of different samples is
        correlated; leave it None for independent noise.

    Attributes
    ----------
    device_name, diff_method, shots, seed
        The resolved options.
    qnode : pennylane.QNode
        ``qnode(inputs, weights)`` -> list of expectations.
    torch_forward : callable
        Only with default.qubit and backprop: ``torch_forward(inputs (B, n_in), weights
        (n_w,)) -> (B, n_out)``, differentiable by torch autograd.

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> from qmnist_qiskit.engines.pennylane import PennyLaneQNN
    >>> qnn = PennyLaneQNN(*seed_circuit(3), device="lightning.qubit")
    >>> qnn.forward(np.zeros((2, 3)), np.zeros(6)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> qnn.backward(np.zeros((2, 3)), np.zeros(6))[1].shape
    (2, 3, 6)
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        input_params: Sequence[Parameter],
        weight_params: Sequence[Parameter],
        observables: Sequence[SparsePauliOp],
        *,
        input_gradients: bool = False,
        device: str = "default.qubit",
        diff_method: str | None = None,
        shots: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.diff_method = _check_options(device, diff_method, shots, seed)
        self.device_name = device
        self.shots = shots
        self.seed = seed
        qfunc = to_pennylane(circuit, input_params, weight_params, observables)
        super().__init__(
            num_inputs=len(input_params),
            num_weights=len(weight_params),
            sparse=False,
            output_shape=len(observables),
            input_gradients=input_gradients,
        )
        self._broadcasting = device == "default.qubit" and self.diff_method == "backprop"
        self.qnode = qml.QNode(
            qfunc,
            _make_device(device, circuit.num_qubits, shots, seed),
            interface="torch" if self._broadcasting else "autograd",
            diff_method=self.diff_method,
            shots=shots,
        )
        if self._broadcasting:
            self.torch_forward = self._torch_forward

    def _torch_outputs(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack(self.qnode(inputs, weights), dim=-1)
        # Without inputs (and shared weights) nothing carries the batch dimension.
        return torch.broadcast_to(outputs, (inputs.shape[0], outputs.shape[-1]))

    def _torch_forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        # The converter sees a batch only as trainable (see to_pennylane): without this,
        # outputs would require grad even when neither argument does.
        wanted = torch.is_grad_enabled() and (inputs.requires_grad or weights.requires_grad)
        with torch.set_grad_enabled(wanted):
            outputs = self._torch_outputs(inputs.to(torch.float64), weights.to(torch.float64))
        return outputs.to(weights.dtype)

    def _sample_outputs(self, sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return qml.math.stack(self.qnode(sample, weights))

    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
        if self._broadcasting:
            with torch.no_grad():
                outputs = self._torch_outputs(
                    torch.from_numpy(input_data), torch.from_numpy(weights)
                )
            return np.ascontiguousarray(outputs.numpy())
        return np.array([self._sample_outputs(sample, weights) for sample in input_data])

    def _broadcast_backward(
        self, input_data: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray]:
        inputs = torch.tensor(input_data, requires_grad=self.input_gradients)
        # One weight vector per sample: the gradient of sum_b f_b(w_b) with respect to w_b
        # is sample b's own gradient, so each output needs a single backward pass.
        sample_weights = torch.tensor(np.tile(weights, (len(input_data), 1)), requires_grad=True)
        outputs = self._torch_outputs(inputs, sample_weights)
        targets = [sample_weights, inputs] if self.input_gradients else [sample_weights]
        n_outputs = outputs.shape[1]
        per_output = [
            torch.autograd.grad(outputs[:, k].sum(), targets, retain_graph=k < n_outputs - 1)
            for k in range(n_outputs)
        ]
        weight_grad = torch.stack([grads[0] for grads in per_output], dim=1).numpy()
        if not self.input_gradients:
            return None, weight_grad
        return torch.stack([grads[1] for grads in per_output], dim=1).numpy(), weight_grad

    def _sample_backward(
        self, sample: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray]:
        trainable_weights = pnp.array(weights, requires_grad=True)
        if self.input_gradients:
            jacobian = qml.jacobian(self._sample_outputs, argnums=(0, 1))
            input_grad, weight_grad = jacobian(
                pnp.array(sample, requires_grad=True), trainable_weights
            )
            return np.asarray(input_grad), np.asarray(weight_grad)
        jacobian = qml.jacobian(self._sample_outputs, argnums=1)
        return None, np.asarray(jacobian(pnp.array(sample, requires_grad=False), trainable_weights))

    def _backward(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray]:
        if self._broadcasting:
            return self._broadcast_backward(input_data, weights)
        per_sample = [self._sample_backward(sample, weights) for sample in input_data]
        weight_grad = np.stack([grads[1] for grads in per_sample])
        if not self.input_gradients:
            return None, weight_grad
        return np.stack([grads[0] for grads in per_sample]), weight_grad


def make_pennylane_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    *,
    input_gradients: bool = False,
    device: str = "default.qubit",
    diff_method: str | None = None,
    shots: int | None = None,
    seed: int | None = None,
) -> PennyLaneQNN:
    """The ``"pennylane"`` engine of :func:`qmnist_qiskit.engines.make_qnn`.

    Parameters
    ----------
    circuit, input_params, weight_params, observables, input_gradients
        As for :func:`~qmnist_qiskit.engines.make_qnn`.
    device : {"default.qubit", "lightning.qubit", "qiskit.aer"}
        PennyLane device: torch backprop with broadcasting, adjoint, or Aer with parameter
        shift.
    diff_method : str, optional
        Override the device's differentiation method (``DEVICES[device]`` lists them).
    shots : int, optional
        Shots per expectation on qiskit.aer; exact (Aer statevector) if None.
    seed : int, optional
        Aer's simulator seed, for reproducible shot results.

    Returns
    -------
    PennyLaneQNN

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit import make_qnn
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_qnn(*seed_circuit(4), engine="pennylane", device="default.qubit")
    >>> qnn.forward(np.zeros((2, 4)), np.zeros(8)).round(6).tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    return PennyLaneQNN(
        circuit,
        input_params,
        weight_params,
        observables,
        input_gradients=input_gradients,
        device=device,
        diff_method=diff_method,
        shots=shots,
        seed=seed,
    )
