"""Readouts: from the circuit's ``n_qubits`` expectation values to ``n_classes`` scores.

These are the only trainable classical parts after the encoder, so the circuit does the
classifying: a single learnable scale (class ``i`` scores ``scale * <Z_i>``), or, when the
wires and the classes differ in number, a small learnable linear map.
"""

from __future__ import annotations

import torch
from torch import nn

READOUTS = ("auto", "scale", "linear")


class ScaleReadout(nn.Module):
    """``scores[:, i] = scale * expectations[:, i]`` for the first ``n_classes`` wires.

    Expectations lie in ``[-1, 1]``; the learnable scale lets softmax be as sharp as the
    data allows.
    """

    def __init__(self, n_classes: int, *, initial_scale: float = 3.0) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.scale = nn.Parameter(torch.tensor(float(initial_scale), dtype=torch.float64))

    def forward(self, expectations: torch.Tensor) -> torch.Tensor:
        return self.scale * expectations[:, : self.n_classes]


class LinearReadout(nn.Module):
    """``scores = expectations @ W.T + b``: ``n_qubits`` expectations to ``n_classes`` scores."""

    def __init__(self, n_qubits: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_qubits, n_classes, dtype=torch.float64)

    def forward(self, expectations: torch.Tensor) -> torch.Tensor:
        return self.linear(expectations)


def make_readout(kind: str, n_qubits: int, n_classes: int) -> nn.Module:
    """The readout module for ``kind`` in ``{"auto", "scale", "linear"}``.

    ``"auto"`` is a scale when ``n_qubits == n_classes`` and a linear map otherwise.
    ``"scale"`` needs at least as many wires as classes.
    """
    if kind not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {kind!r}")
    if kind == "auto":
        kind = "scale" if n_qubits == n_classes else "linear"
    if kind == "scale":
        if n_classes > n_qubits:
            raise ValueError(
                f"readout='scale' scores one class per wire, but there are {n_classes} classes "
                f"and only {n_qubits} qubits; use readout='linear' or more qubits"
            )
        return ScaleReadout(n_classes)
    return LinearReadout(n_qubits, n_classes)
