"""The package's exception for engine, backend and data-format failures."""

from __future__ import annotations


class QMNISTError(Exception):
    """An engine, backend, file-format or download failure in qmnist_qiskit.

    Errors of the scikit-learn contract (bad ``X``/``y``, unfitted models) stay
    :class:`ValueError` / :class:`~sklearn.exceptions.NotFittedError`.
    """


class JobFailedError(QMNISTError):
    """A primitive job (an engine's forward or backward) that failed, or timed out, for good:
    after its retries, where the engine retries. Training stops on it with the model trained
    so far (see :class:`TrainingStoppedError`)."""
