"""Run any qiskit-machine-learning ``NeuralNetwork`` as a differentiable torch function.

Engines with a native torch path expose ``torch_forward(inputs, weights)``; every other
``NeuralNetwork`` (an ``EstimatorQNN`` on Aer, say) goes through its own ``forward`` and
``backward``, one numpy round trip per batch.
"""

from __future__ import annotations

import numpy as np
import torch
from qiskit_machine_learning.neural_networks import NeuralNetwork


class _NeuralNetworkFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, weights, qnn):  # noqa: D102
        ctx.qnn = qnn
        inputs_np = inputs.detach().cpu().numpy().astype(np.float64)
        weights_np = weights.detach().cpu().numpy().astype(np.float64)
        ctx.save_for_backward(inputs, weights)
        output = qnn.forward(inputs_np, weights_np)
        return torch.as_tensor(np.asarray(output), dtype=weights.dtype, device=weights.device)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        inputs, weights = ctx.saved_tensors
        qnn = ctx.qnn
        need_inputs = ctx.needs_input_grad[0]
        previous = qnn.input_gradients
        qnn.input_gradients = bool(need_inputs)
        try:
            input_jac, weight_jac = qnn.backward(
                inputs.detach().cpu().numpy().astype(np.float64),
                weights.detach().cpu().numpy().astype(np.float64),
            )
        finally:
            qnn.input_gradients = previous
        grad = grad_output.detach().cpu().numpy().astype(np.float64)
        grad_inputs = grad_weights = None
        if need_inputs and input_jac is not None:
            grad_inputs = torch.as_tensor(
                np.einsum("bo,boi->bi", grad, np.asarray(input_jac)),
                dtype=inputs.dtype,
                device=inputs.device,
            )
        if ctx.needs_input_grad[1] and weight_jac is not None:
            grad_weights = torch.as_tensor(
                np.einsum("bo,bow->w", grad, np.asarray(weight_jac)),
                dtype=weights.dtype,
                device=weights.device,
            )
        return grad_inputs, grad_weights, None


def qnn_torch_forward(
    qnn: NeuralNetwork, inputs: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Expectations ``(batch, n_outputs)`` of ``qnn``, differentiable in torch.

    Uses the network's native ``torch_forward`` where it has one, otherwise its
    ``forward``/``backward`` (gradients come from the network's own gradient method).
    """
    native = getattr(qnn, "torch_forward", None)
    if native is not None:
        return native(inputs, weights)
    output = _NeuralNetworkFunction.apply(inputs, weights, qnn)
    return output.reshape(inputs.shape[0], -1)
