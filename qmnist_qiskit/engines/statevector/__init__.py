"""The batched, differentiable statevector engine (``engine="statevector"``).

Four ways to use it:

* :func:`make_statevector_qnn` / :class:`StatevectorQNN`: a qiskit-machine-learning
  ``NeuralNetwork`` with a native torch path (``torch_forward``), used by the classifier;
* :class:`StatevectorSimulator`: batched expectations and statevectors as torch tensors;
* :class:`StatevectorEstimator`: a Qiskit ``BaseEstimatorV2`` primitive;
* :class:`StatevectorEstimatorGradient`: a qiskit-machine-learning estimator gradient, so
  ``EstimatorQNN`` users get the speed too.
"""

from __future__ import annotations

from qmnist_qiskit.engines.statevector.estimator import (
    StatevectorEstimator,
    StatevectorEstimatorOptions,
)
from qmnist_qiskit.engines.statevector.gradient import StatevectorEstimatorGradient
from qmnist_qiskit.engines.statevector.qnn import StatevectorQNN, make_statevector_qnn
from qmnist_qiskit.engines.statevector.simulator import StatevectorSimulator

__all__ = [
    "StatevectorEstimator",
    "StatevectorEstimatorGradient",
    "StatevectorEstimatorOptions",
    "StatevectorQNN",
    "StatevectorSimulator",
    "make_statevector_qnn",
]
