"""The contract every engine implements: :class:`EngineQNN`.

An engine is a qiskit-machine-learning ``NeuralNetwork`` with a torch forward,
``torch_forward(inputs (B, n_in), weights (n_w,) or (B, n_w)) -> (B, n_out)``, which the
classifier trains through. There are two kinds:

* torch-native engines (``native_torch = True``) implement only ``torch_forward``; their
  ``forward`` and ``backward``, in qiskit-machine-learning's numpy shapes, are derived from it
  here, once: values under ``no_grad``, Jacobians by one autograd pass per output with one
  weight row per sample;
* numpy engines implement ``forward`` and ``backward`` (``_forward``/``_backward``) as any
  ``NeuralNetwork`` does; their ``torch_forward`` is the one numpy-to-torch bridge here. An
  engine that gets values and Jacobians from one call (Aer's batched gradients) overrides the
  hook :meth:`EngineQNN.forward_and_jacobians`, and the bridge calls it instead of ``forward``
  then ``backward``.

:func:`qnn_torch_forward` runs any ``NeuralNetwork`` in torch: an engine's ``torch_forward``,
or the bridge for networks from elsewhere (a plain ``EstimatorQNN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import NeuralNetwork

Jacobians = tuple[np.ndarray, np.ndarray | None, np.ndarray]
"""``(values (B, n_out), input Jacobian (B, n_out, n_in) or None, weight Jacobian
(B, n_out, n_w))``."""


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64)


def torch_jacobians(values: torch.Tensor, targets: list[torch.Tensor]) -> list[np.ndarray]:
    """Per-sample Jacobians ``(B, n_out, n_target)`` of ``values`` ``(B, n_out)`` with respect
    to each target ``(B, n_target)``, one autograd pass per output.

    Row ``b`` of a target must only reach row ``b`` of ``values`` (per-sample inputs, or the
    weights repeated once per sample), so that the gradient of an output's column sum is the
    per-sample gradient. A target that no output depends on gets zeros.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    >>> values = torch.stack([x[:, 0] * x[:, 1], x[:, 0] ** 2], dim=1)
    >>> torch_jacobians(values, [x])[0].tolist()
    [[[2.0, 1.0], [2.0, 0.0]], [[4.0, 3.0], [6.0, 0.0]]]
    """
    batch, n_out = values.shape
    jacobians = [np.zeros((batch, n_out, target.shape[-1])) for target in targets]
    if not values.requires_grad:
        return jacobians
    for output in range(n_out):
        grads = torch.autograd.grad(
            values[:, output].sum(),
            targets,
            retain_graph=output < n_out - 1,
            allow_unused=True,
        )
        for jacobian, grad in zip(jacobians, grads, strict=True):
            if grad is not None:
                jacobian[:, output] = _as_numpy(grad)
    return jacobians


def _forward_then_backward(
    qnn: NeuralNetwork, input_data: np.ndarray, weights: np.ndarray, input_gradients: bool
) -> Jacobians:
    values = np.asarray(qnn.forward(input_data, weights))
    previous = qnn.input_gradients
    qnn.input_gradients = input_gradients
    try:
        input_jac, weight_jac = qnn.backward(input_data, weights)
    finally:
        qnn.input_gradients = previous
    return values, input_jac, weight_jac


def _joint(
    qnn: NeuralNetwork, input_data: np.ndarray, weights: np.ndarray, input_gradients: bool
) -> Jacobians:
    if isinstance(qnn, EngineQNN):
        return qnn.forward_and_jacobians(input_data, weights, input_gradients=input_gradients)
    return _forward_then_backward(qnn, input_data, weights, input_gradients)


class _Bridge(torch.autograd.Function):
    """Values and Jacobians from the network in the forward pass; the backward pass contracts
    the Jacobians with the incoming gradient."""

    @staticmethod
    def forward(ctx, inputs, weights, qnn):  # noqa: D102
        values, input_jac, weight_jac = _joint(
            qnn, _as_numpy(inputs), _as_numpy(weights), bool(ctx.needs_input_grad[0])
        )
        ctx.jacobians = (input_jac, weight_jac)
        ctx.metas = ((inputs.dtype, inputs.device), (weights.dtype, weights.device))
        values = np.reshape(values, (inputs.shape[0], -1))
        return torch.as_tensor(values, dtype=weights.dtype, device=weights.device)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        grad = _as_numpy(grad_output)
        (input_jac, weight_jac), (input_meta, weight_meta) = ctx.jacobians, ctx.metas
        grad_inputs = grad_weights = None
        if ctx.needs_input_grad[0] and input_jac is not None:
            contracted = np.einsum("bo,boi->bi", grad, np.asarray(input_jac))
            grad_inputs = torch.as_tensor(contracted, dtype=input_meta[0], device=input_meta[1])
        if ctx.needs_input_grad[1] and weight_jac is not None:
            contracted = np.einsum("bo,bow->w", grad, np.asarray(weight_jac))
            grad_weights = torch.as_tensor(contracted, dtype=weight_meta[0], device=weight_meta[1])
        return grad_inputs, grad_weights, None


def bridge_forward(qnn: NeuralNetwork, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``qnn``'s values ``(B, n_out)`` as a differentiable torch tensor, through numpy.

    Without gradients (``no_grad``, or neither argument requires one) only ``forward`` runs.
    Otherwise values and Jacobians are computed at once (:meth:`EngineQNN.forward_and_jacobians`
    for an engine, ``forward`` then ``backward`` for any other network) and the backward pass
    contracts the Jacobians; input Jacobians only when ``inputs`` require a gradient.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from qiskit_machine_learning.neural_networks import EstimatorQNN
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, obs = seed_circuit(2)
    >>> qnn = EstimatorQNN(circuit=qc, observables=obs, input_params=x, weight_params=theta)
    >>> weights = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    >>> bridge_forward(qnn, torch.zeros(3, 2, dtype=torch.float64), weights).shape
    torch.Size([3, 2])
    """
    if torch.is_grad_enabled() and (inputs.requires_grad or weights.requires_grad):
        return _Bridge.apply(inputs, weights, qnn)
    values = qnn.forward(_as_numpy(inputs), _as_numpy(weights))
    values = np.reshape(np.asarray(values), (inputs.shape[0], -1))
    return torch.as_tensor(values, dtype=weights.dtype, device=weights.device)


class EngineQNN(NeuralNetwork):
    """Base of every engine behind :func:`~qmnist_qiskit.engines.make_qnn`.

    Subclasses set ``native_torch``; :class:`CircuitQNN` adds the circuit, parameters and
    observables an engine was built from. Torch-native engines (``True``) override
    :meth:`torch_forward` and inherit ``forward``/``backward``; numpy engines (``False``,
    the default) implement ``_forward``/``_backward`` and inherit :meth:`torch_forward` (the
    bridge), optionally overriding the :meth:`forward_and_jacobians` hook. ``native_torch`` may
    be set per instance, by an engine whose path depends on its options.

    Whatever the kind, ``forward``, ``backward`` and ``torch_forward`` agree: the same
    values, and torch gradients equal to the contraction of ``backward``'s Jacobians.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from qmnist_qiskit import make_qnn
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> for engine in ("statevector", "aer"):
    ...     qnn = make_qnn(*seed_circuit(2), engine=engine)
    ...     _, jacobian = qnn.backward(np.full((3, 2), 0.4), np.full(4, 0.2))
    ...     inputs = torch.full((3, 2), 0.4, dtype=torch.float64)
    ...     weights = torch.full((4,), 0.2, dtype=torch.float64, requires_grad=True)
    ...     qnn.torch_forward(inputs, weights).sum().backward()
    ...     print(engine, qnn.native_torch, bool(np.allclose(weights.grad, jacobian.sum((0, 1)))))
    statevector True True
    aer False True
    """

    native_torch: bool = False

    def torch_forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Values ``(B, n_out)``, differentiable in torch with respect to both arguments.

        Parameters
        ----------
        inputs : Tensor of shape (B, num_inputs)
            One row per sample.
        weights : Tensor of shape (num_weights,)
            Shared by the batch (torch-native engines also take ``(B, num_weights)``).

        Returns
        -------
        Tensor of shape (B, n_out)
            Real numbers: in the dtype of ``weights`` for numpy engines; torch-native engines
            state theirs (the statevector engine's follows its ``dtype`` option).
        """
        if self.native_torch:
            raise NotImplementedError(f"{type(self).__name__} must implement torch_forward")
        return bridge_forward(self, inputs, weights)

    def forward_and_jacobians(
        self, input_data: np.ndarray, weights: np.ndarray, *, input_gradients: bool
    ) -> Jacobians:
        """Values and Jacobians at once: the hook the bridge calls when torch needs gradients.

        The default runs ``forward`` then ``backward``; engines that get both from one call
        override it.

        Parameters
        ----------
        input_data : ndarray of shape (B, num_inputs)
        weights : ndarray of shape (num_weights,)
        input_gradients : bool
            Whether to compute the input Jacobian (else ``None`` is returned for it).

        Returns
        -------
        values, input_jacobian, weight_jacobian
            Shapes ``(B, n_out)``, ``(B, n_out, num_inputs)`` or ``None``,
            ``(B, n_out, num_weights)``.
        """
        return _forward_then_backward(self, input_data, weights, input_gradients)

    def _tensors(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.native_torch:
            raise NotImplementedError(f"{type(self).__name__} must implement _forward/_backward")
        inputs = (
            torch.zeros(1, 0, dtype=torch.float64)
            if input_data is None
            else torch.as_tensor(input_data, dtype=torch.float64)
        )
        weights_ = (
            torch.zeros(0, dtype=torch.float64)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64)
        )
        return inputs, weights_

    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
        inputs, weights_ = self._tensors(input_data, weights)
        with torch.no_grad():
            values = self.torch_forward(inputs, weights_)
        return np.ascontiguousarray(_as_numpy(values))

    def _backward(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray]:
        inputs, weights_ = self._tensors(input_data, weights)
        inputs.requires_grad_(self._input_gradients)
        # One row of weights per sample, so that autograd returns per-sample gradients.
        rows = weights_.expand(inputs.shape[0], self.num_weights).clone().requires_grad_()
        targets = [rows, inputs] if self._input_gradients else [rows]
        # Callers such as TorchConnector run this inside their own backward, under no_grad.
        with torch.enable_grad():
            jacobians = torch_jacobians(self.torch_forward(inputs, rows), targets)
        return (jacobians[1] if self._input_gradients else None), jacobians[0]


class CircuitQNN(EngineQNN):
    """An engine that keeps the circuit, parameter lists and observables it was built from.

    Subclasses build their simulator in :meth:`_setup`, from the stored circuit and their own
    keyword options.

    Parameters
    ----------
    circuit : QuantumCircuit
        The parameterised circuit (checked by :func:`~qmnist_qiskit.engines.make_qnn`).
    input_params, weight_params : sequence of Parameter
        In the column order of ``input_data`` and of ``weights``.
    observables : sequence of SparsePauliOp
        One output each.
    input_gradients : bool
        Whether ``backward`` also returns the input Jacobian.
    **options
        The engine's options, given to :meth:`_setup`.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        input_params: Sequence[Parameter],
        weight_params: Sequence[Parameter],
        observables: Sequence[SparsePauliOp],
        *,
        input_gradients: bool = False,
        **options: Any,
    ) -> None:
        self._circuit = circuit
        self._input_params = list(input_params)
        self._weight_params = list(weight_params)
        self._observables = list(observables)
        self._setup(**options)
        super().__init__(
            num_inputs=len(self._input_params),
            num_weights=len(self._weight_params),
            sparse=False,
            output_shape=len(self._observables),
            input_gradients=input_gradients,
        )

    def _setup(self, **options: Any) -> None:
        """Build what evaluates the circuit, from the engine's options."""
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    @property
    def circuit(self) -> QuantumCircuit:
        """The circuit."""
        return self._circuit

    @property
    def input_params(self) -> list[Parameter]:
        """The parameters bound to the columns of ``input_data``."""
        return list(self._input_params)

    @property
    def weight_params(self) -> list[Parameter]:
        """The parameters bound to ``weights``."""
        return list(self._weight_params)

    @property
    def observables(self) -> list[SparsePauliOp]:
        """The observables, one output each."""
        return list(self._observables)


def qnn_torch_forward(
    qnn: NeuralNetwork, inputs: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Expectations ``(batch, n_outputs)`` of any ``qnn``, differentiable in torch.

    An engine's own :meth:`EngineQNN.torch_forward`; for another ``NeuralNetwork`` (a plain
    ``EstimatorQNN``), the numpy bridge over its ``forward``/``backward``.

    Examples
    --------
    >>> import torch
    >>> from qmnist_qiskit import make_qnn
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_qnn(*seed_circuit(3))
    >>> qnn_torch_forward(qnn, torch.zeros(2, 3, dtype=torch.float64), torch.zeros(6)).shape
    torch.Size([2, 3])
    """
    if isinstance(qnn, EngineQNN):
        return qnn.torch_forward(inputs, weights)
    return bridge_forward(qnn, inputs, weights)
