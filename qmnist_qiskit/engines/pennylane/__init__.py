"""PennyLane: the original forum circuit, Qiskit-to-PennyLane conversion, the "pennylane" engine.

* :func:`original_qnode`, :func:`original_loss`: the 2019 forum code for today's PennyLane.
* :func:`to_pennylane`: a Qiskit circuit and observables as a PennyLane quantum function.
* :func:`make_pennylane_qnn`, :class:`PennyLaneQNN`: the engine behind
  ``make_qnn(..., engine="pennylane", device=...)``.

Needs the PennyLane extra: ``pip install 'qmnist_qiskit[pennylane]'``.
"""

from __future__ import annotations

from qmnist_qiskit.extras import missing_extra

try:
    from qmnist_qiskit.engines.pennylane.convert import to_pennylane
    from qmnist_qiskit.engines.pennylane.original import original_loss, original_qnode
    from qmnist_qiskit.engines.pennylane.qnn import PennyLaneQNN, make_pennylane_qnn
    from qmnist_qiskit.engines.pennylane_record import PENNYLANE_DEVICES as DEVICES
except ImportError as exc:
    missing = missing_extra("pennylane")
    if missing is None:
        raise
    raise ImportError(f"qmnist_qiskit.engines.pennylane {missing}") from exc

__all__ = [
    "DEVICES",
    "PennyLaneQNN",
    "make_pennylane_qnn",
    "original_loss",
    "original_qnode",
    "to_pennylane",
]
