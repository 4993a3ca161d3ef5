"""Estimator gradients for any Qiskit ``BaseEstimatorV2``, as in qiskit-machine-learning.

* :class:`BatchedParamShiftGradient`: exact parameter shift, every shifted parameter set of a
  batch in one PUB per circuit;
* :class:`BatchedSPSAGradient`: SPSA, batched the same way;
* :class:`BatchedEstimatorGradient`: their base (grouping, one broadcast PUB, scattering);
* :mod:`~qmnist_qiskit.gradients.grouping`: grouping requests by circuit and observable,
  shared with the statevector engine's estimator and gradient.

Both gradients are ``BaseEstimatorGradient`` subclasses, usable as
``EstimatorQNN(..., gradient=...)``; the Aer engine builds its QNN with them.
"""

from __future__ import annotations

from qmnist_qiskit.gradients.batched import BatchedEstimatorGradient
from qmnist_qiskit.gradients.param_shift import BatchedParamShiftGradient
from qmnist_qiskit.gradients.spsa import BatchedSPSAGradient

__all__ = ["BatchedEstimatorGradient", "BatchedParamShiftGradient", "BatchedSPSAGradient"]
