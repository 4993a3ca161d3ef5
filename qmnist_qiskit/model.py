"""The torch module a classifier trains: [encoder] -> quantum layer -> readout."""

from __future__ import annotations

import math

import numpy as np
import torch
from qiskit_machine_learning.neural_networks import NeuralNetwork
from torch import nn

from qmnist_qiskit.engines.torch_bridge import qnn_torch_forward

# Input scales start this small: each encoding begins near the identity and the circuit grows
# its dependence on the data while training. Scales near 1 put the many encodings of the
# "dense" preset at full strength from the first step, which costs accuracy with the default
# recipe, and less so for "reupload" (benchmarks/results/accuracy.md).
INPUT_SCALE_STD = 0.1


def initial_weights(
    scale_mask: list[bool], generator: torch.Generator, *, scale_std: float = INPUT_SCALE_STD
) -> torch.Tensor:
    """Initial circuit weights: input scales small, rotation angles anywhere.

    Parameters
    ----------
    scale_mask : list of bool
        For each weight, whether it is an input scale (see
        :func:`qmnist_qiskit.circuits.input_scale_mask`).
    generator : torch.Generator
        Source of the random draws.
    scale_std : float
        Standard deviation of the input scales, drawn from a normal of mean 0.

    Returns
    -------
    Tensor of shape (len(scale_mask),)
        ``float64``; rotation angles uniform in ``[-pi, pi)``.

    Examples
    --------
    >>> import torch
    >>> weights = initial_weights([True, False], torch.Generator().manual_seed(0))
    >>> bool(abs(weights[0]) < 1), bool(-torch.pi <= weights[1] < torch.pi)
    (True, True)
    """
    size = len(scale_mask)
    angles = (torch.rand(size, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    scales = torch.randn(size, generator=generator, dtype=torch.float64) * scale_std
    return torch.where(torch.as_tensor(np.asarray(scale_mask, dtype=bool)), scales, angles)


class QuantumClassifierModule(nn.Module):
    """Class scores (logits) from features: quantum expectations, then the readout.

    With an ``encoder`` module (fine-tuning), the input is pixels and gradients flow
    through the quantum layer into the encoder.
    """

    def __init__(
        self,
        qnn: NeuralNetwork,
        weights: torch.Tensor,
        readout: nn.Module,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.qnn = qnn
        self.weights = nn.Parameter(weights)
        self.readout = readout
        self.encoder = encoder

    def expectations(self, inputs: torch.Tensor) -> torch.Tensor:
        features = inputs if self.encoder is None else self.encoder(inputs.float())
        if self.encoder is not None and not bool(torch.isfinite(features).all()):
            # A fine-tuned encoder that diverged: NaN scores, which training reports as a
            # divergence (the engines refuse non-finite angles).
            return torch.full(
                (len(inputs), *self.qnn.output_shape), math.nan, dtype=self.weights.dtype
            )
        return qnn_torch_forward(self.qnn, features.to(self.weights.dtype), self.weights)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.expectations(inputs).to(torch.float64))
