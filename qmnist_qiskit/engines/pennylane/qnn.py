"""The ``"pennylane"`` engine: a Qiskit circuit converted by pennylane-qiskit, on PennyLane.

Devices and how they differentiate:

* ``"default.qubit"``: torch interface, the whole batch broadcast in one call, backprop: a
  torch-native engine (:class:`~qmnist_qiskit.engines.base.EngineQNN`), whose ``forward`` and
  ``backward`` are derived from ``torch_forward``.
* ``"lightning.qubit"``: adjoint differentiation, one sample at a time.
* ``"qiskit.aer"``: Qiskit Aer through pennylane-qiskit's device, parameter shift, one sample
  at a time; exact (statevector, ``shots=None``) or sampled (``shots=int``).

The last two (and default.qubit with a ``diff_method`` other than backprop) go through
PennyLane's autograd interface, whose Jacobian is computed once per sample and cached; their
``torch_forward`` is the engines' numpy-to-torch bridge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane import numpy as pnp

from qmnist_qiskit.engines.base import CircuitQNN
from qmnist_qiskit.engines.pennylane.convert import to_pennylane
from qmnist_qiskit.engines.pennylane_record import PennyLaneOptions, check_pennylane_options
from qmnist_qiskit.engines.record import options_from
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.resources import available_budget

# complex128 amplitudes, as default.qubit holds them with float64 parameters.
_AMPLITUDE_BYTES = 16
# States default.qubit's backprop keeps per operation and sample (measured 2.9).
_BACKPROP_STATES_PER_OPERATION = 3


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


class PennyLaneQNN(CircuitQNN):
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
    options : PennyLaneOptions, optional
        The options above, already parsed (what ``make_qnn`` passes); give either this or
        them.

    Attributes
    ----------
    device_name, diff_method, shots, seed
        The resolved options.
    qnode : pennylane.QNode
        ``qnode(inputs, weights)`` -> list of expectations.
    native_torch : bool
        True with default.qubit and backprop: ``torch_forward`` is then PennyLane's torch
        interface itself, else the numpy bridge over ``forward``/``backward``.

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

    def _setup(self, *, options: PennyLaneOptions | None = None, **keywords: Any) -> None:
        self.device_name, self.diff_method, self.shots, self.seed = options_from(
            PennyLaneOptions, check_pennylane_options, options, keywords
        )
        qfunc = to_pennylane(
            self._circuit, self._input_params, self._weight_params, self._observables
        )
        self.native_torch = self.device_name == "default.qubit" and self.diff_method == "backprop"
        self.qnode = qml.QNode(
            qfunc,
            _make_device(self.device_name, self._circuit.num_qubits, self.shots, self.seed),
            interface="torch" if self.native_torch else "autograd",
            diff_method=self.diff_method,
            shots=self.shots,
        )

    def _torch_outputs(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack(self.qnode(inputs, weights), dim=-1)
        # Without inputs (and shared weights) nothing carries the batch dimension.
        return torch.broadcast_to(outputs, (inputs.shape[0], outputs.shape[-1]))

    def _sample_bytes(self, differentiable: bool) -> int:
        """Bytes one sample takes in a broadcast call of default.qubit: its state and, for
        backprop, about three per operation until the backward pass (measured: 17.5 MB per
        sample for a 12-qubit, 94-operation circuit, 274 states of 64 KB; 6.8 states without
        gradients)."""
        per_state = 2**self._circuit.num_qubits * _AMPLITUDE_BYTES
        if differentiable:
            return per_state * _BACKPROP_STATES_PER_OPERATION * (self._circuit.size() + 2)
        return per_state * 8

    def chunk_size(self, batch: int, differentiable: bool) -> int:
        """Samples per broadcast call of default.qubit within the memory budget
        (:func:`~qmnist_qiskit.resources.available_budget`): broadcasting holds every
        sample's states at once, so a batch of 1,024 of the 12-qubit circuit above would take
        18 GB in one differentiable call."""
        return max(1, min(batch, available_budget() // self._sample_bytes(differentiable)))

    def torch_forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Values ``(B, n_out)`` in the dtype of ``weights``, differentiable in torch.

        Without gradients, a batch larger than :meth:`chunk_size` runs in chunks. With them
        (backprop keeps every chunk's states until the backward pass), such a batch is refused
        with a :class:`QMNISTError` giving the bytes, the budget and the largest batch that
        fits, before any simulation."""
        if not self.native_torch:
            return super().torch_forward(inputs, weights)
        # The converter sees a batch only as trainable (see to_pennylane): without this,
        # outputs would require grad even when neither argument does.
        wanted = torch.is_grad_enabled() and (inputs.requires_grad or weights.requires_grad)
        inputs, weights64 = inputs.to(torch.float64), weights.to(torch.float64)
        batch = inputs.shape[0]
        chunk = self.chunk_size(max(1, batch), wanted)
        if chunk < batch and wanted:
            raise QMNISTError(
                f"a batch of {batch:,} samples needs about {batch * self._sample_bytes(True):,} "
                f"bytes on PennyLane's default.qubit with backprop (each sample's state kept for "
                f"each of the circuit's {self._circuit.size():,} operations until the backward "
                f"pass), but the memory budget is {available_budget():,} bytes; use a "
                f"batch_size of at most {chunk:,}, or another diff_method or device (one "
                "sample at a time)"
            )
        with torch.set_grad_enabled(wanted):
            if chunk >= batch:
                outputs = self._torch_outputs(inputs, weights64)
            else:
                outputs = torch.cat(
                    [self._torch_outputs(part, weights64) for part in inputs.split(chunk)]
                )
        return outputs.to(weights.dtype)

    def _sample_outputs(self, sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return qml.math.stack(self.qnode(sample, weights))

    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
        if self.native_torch:
            return super()._forward(input_data, weights)
        return np.array([self._sample_outputs(sample, weights) for sample in input_data])

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
        if self.native_torch:
            return super()._backward(input_data, weights)
        per_sample = [self._sample_backward(sample, weights) for sample in input_data]
        weight_grad = np.stack([grads[1] for grads in per_sample])
        if not self.input_gradients:
            return None, weight_grad
        return np.stack([grads[0] for grads in per_sample]), weight_grad


make_pennylane_qnn = PennyLaneQNN
"""The ``"pennylane"`` engine of :func:`qmnist_qiskit.engines.make_qnn`: the class itself."""
