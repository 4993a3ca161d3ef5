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


class TrainingStoppedError(QMNISTError):
    """Training stopped before its end by a failure it cannot go past (a job that failed
    after its retries, a loss or gradient that is no longer finite).

    Raised by ``fit`` and ``partial_fit`` *after* the estimator has kept the model as of its
    last good step, as Ctrl-C does (``interrupted_`` is then True): the model predicts,
    saves, and can train further. ``epoch`` and ``step`` (1-based, the step within its
    epoch) say where it stopped; the cause, if any, is chained (``__cause__``).
    """

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step


class TrainingDivergedError(TrainingStoppedError):
    """The loss, a gradient or the weights became NaN or infinite (a learning rate far too
    large, inputs that blow up): the estimator keeps the last weights whose loss was finite."""
