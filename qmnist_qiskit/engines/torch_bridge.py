"""Where :func:`qnn_torch_forward` was first defined; it now lives in
:mod:`qmnist_qiskit.engines.base`, with the engine contract and the numpy-to-torch bridge."""

from __future__ import annotations

from qmnist_qiskit.engines.base import bridge_forward, qnn_torch_forward

__all__ = ["bridge_forward", "qnn_torch_forward"]
