"""The batched, differentiable statevector engine (``engine="statevector"``).

:class:`StatevectorSimulator` gives batched expectations (differentiable by torch autograd)
and statevectors of a parameterised Qiskit circuit as torch tensors, on CPU or CUDA.
"""

from __future__ import annotations

from qmnist_qiskit.engines.statevector.simulator import StatevectorSimulator

__all__ = ["StatevectorSimulator"]
