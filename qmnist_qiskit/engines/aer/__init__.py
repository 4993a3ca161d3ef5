"""The ``"aer"`` engine: qiskit-machine-learning's ``EstimatorQNN`` on Qiskit Aer.

Exact statevector by default (really exact: precision 0), or measurement shots with error bars,
the matrix-product-state method, Aer's GPU build, noise models and fake IBM backends; gradients
by batched parameter shift (one broadcast PUB per batch) or batched SPSA.
"""

from __future__ import annotations

from qmnist_qiskit.engines.aer.primitives import AerExactEstimator, AerSamplingEstimator
from qmnist_qiskit.engines.aer.qnn import AerQNN, make_aer_qnn
from qmnist_qiskit.gradients import BatchedParamShiftGradient, BatchedSPSAGradient

__all__ = [
    "AerExactEstimator",
    "AerQNN",
    "AerSamplingEstimator",
    "BatchedParamShiftGradient",
    "BatchedSPSAGradient",
    "make_aer_qnn",
]
