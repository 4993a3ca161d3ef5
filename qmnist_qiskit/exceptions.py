"""The package's exception for engine, backend and data-format failures."""

from __future__ import annotations


class QMNISTError(Exception):
    """An engine, backend, file-format or download failure in qmnist_qiskit.

    Errors of the scikit-learn contract (bad ``X``/``y``, unfitted models) stay
    :class:`ValueError` / :class:`~sklearn.exceptions.NotFittedError`.
    """
