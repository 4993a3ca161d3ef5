"""A qiskit-machine-learning ``NeuralNetwork`` backed by the batched statevector simulator."""

from __future__ import annotations

from typing import Any

import torch

from qmnist_qiskit.engines.base import CircuitQNN
from qmnist_qiskit.engines.record import options_from
from qmnist_qiskit.engines.statevector.record import StatevectorOptions, parse_statevector_options
from qmnist_qiskit.engines.statevector.simulator import StatevectorSimulator


class StatevectorQNN(CircuitQNN):
    """Exact expectation values of ``observables`` with exact gradients, as a QNN.

    A torch-native engine (:class:`~qmnist_qiskit.engines.base.EngineQNN`):
    :meth:`torch_forward` is the simulator's differentiable torch function, with no numpy
    round trip, and ``forward``/``backward`` (qiskit-machine-learning's contract, numpy in and
    out) are derived from it.

    Parameters
    ----------
    circuit : QuantumCircuit
        Unitary parameterised circuit (no measurements, resets or classical control).
    input_params, weight_params : sequence of Parameter
        Together, all of the circuit's parameters, in the column order of ``input_data``
        and ``weights``.
    observables : sequence of SparsePauliOp
        Hermitian observables, one output each.
    input_gradients : bool
        Whether ``backward`` also returns gradients with respect to the inputs.
    dtype : {"complex128", "complex64"} or torch.dtype
        Statevector precision; outputs of ``torch_forward`` are float64 or float32.
    device : str or torch.device
        ``"cpu"`` or a CUDA device; a :class:`~qmnist_qiskit.QMNISTError` is raised at once
        when CUDA is asked for but absent.
    max_memory_bytes : int, optional
        Memory bound for one call; batches are split into chunks to respect it.
    options : StatevectorOptions, optional
        The three options above, already parsed (what ``make_qnn`` passes); give either this
        or them.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = StatevectorQNN(*seed_circuit(2))
    >>> qnn.forward(np.array([[np.pi, 0.0]]), np.zeros(4)).round(12).tolist()
    [[-1.0, -1.0]]
    >>> _, weight_grad = qnn.backward(np.array([[0.3, 0.1]]), np.zeros(4))
    >>> weight_grad.shape
    (1, 2, 4)
    >>> weights = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    >>> scores = qnn.torch_forward(torch.zeros(3, 2, dtype=torch.float64), weights)
    >>> scores.shape, scores.dtype
    (torch.Size([3, 2]), torch.float64)
    """

    native_torch = True

    def _setup(self, *, options: StatevectorOptions | None = None, **keywords: Any) -> None:
        options = options_from(StatevectorOptions, parse_statevector_options, options, keywords)
        self._simulator = StatevectorSimulator(
            self._circuit,
            self._observables,
            input_params=self._input_params,
            weight_params=self._weight_params,
            dtype=options.dtype,
            device=options.device,
            max_memory_bytes=options.max_memory_bytes,
        )

    @property
    def simulator(self) -> StatevectorSimulator:
        """The simulator that evaluates the circuit."""
        return self._simulator

    def torch_forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Expectations ``(B, num_observables)``, differentiable with respect to both
        ``inputs`` ``(B, num_inputs)`` and ``weights`` ``(num_weights,)`` or
        ``(B, num_weights)``."""
        return self._simulator.expectations(inputs, weights)


make_statevector_qnn = StatevectorQNN
"""The ``engine="statevector"`` factory of :func:`qmnist_qiskit.make_qnn`: the class itself."""
