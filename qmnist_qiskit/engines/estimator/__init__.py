"""The ``"estimator"`` engine: any Qiskit ``BaseEstimatorV2`` the user hands over.

qiskit-ibm-runtime's ``EstimatorV2`` on a device (job, session or batch mode) or in local
testing mode on a fake backend, Aer's, Qiskit's reference ``StatevectorEstimator``, this
project's: circuits transpiled to the estimator's backend once, observables laid out, one PUB
per mini-batch through the batched gradients, failed jobs retried with backoff
(:class:`RetryingEstimator`). Its cost is known before the first job
(:mod:`qmnist_qiskit.cost`).
"""

from __future__ import annotations

from qmnist_qiskit.engines.estimator.options import (
    EstimatorEngineOptions,
    estimator_backend,
    estimator_shots,
    parse_estimator_options,
)
from qmnist_qiskit.engines.estimator.qnn import (
    EstimatorEngineQNN,
    device_circuit,
    make_estimator_qnn,
)
from qmnist_qiskit.engines.estimator.retry import RetryingEstimator

__all__ = [
    "EstimatorEngineOptions",
    "EstimatorEngineQNN",
    "RetryingEstimator",
    "device_circuit",
    "estimator_backend",
    "estimator_shots",
    "make_estimator_qnn",
    "parse_estimator_options",
]
