"""The torch module a classifier trains: [encoder] -> quantum layer -> readout."""

from __future__ import annotations

import math

import numpy as np
import torch
from qiskit_machine_learning.neural_networks import NeuralNetwork
from torch import nn

from qmnist_qiskit.engines.torch_bridge import qnn_torch_forward


def initial_weights(scale_mask: list[bool], generator: torch.Generator) -> torch.Tensor:
    """Input scales start at 1; rotation angles uniformly in ``[-pi, pi)``."""
    angles = (
        torch.rand(len(scale_mask), generator=generator, dtype=torch.float64) * 2 - 1
    ) * math.pi
    return torch.where(torch.as_tensor(np.asarray(scale_mask, dtype=bool)), 1.0, angles)


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
        return qnn_torch_forward(self.qnn, features.to(self.weights.dtype), self.weights)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.expectations(inputs).to(torch.float64))
