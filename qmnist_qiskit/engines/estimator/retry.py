"""Jobs that fail are sent again: :class:`RetryingEstimator`.

A device job can fail for reasons that pass (a queue reset, a dropped connection, a
calibration in progress) or hang. Each PUB list is sent up to ``1 + max_retries`` times, with
``retry_backoff * 2**k`` seconds between the ``k``-th failure and the next try; each retry is
logged (logger ``qmnist_qiskit.engines.estimator``) and warned about. When the tries run out,
:class:`~qmnist_qiskit.exceptions.JobFailedError` names the last error.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Iterable

from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import EstimatorPubLike, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.primitive_job import PrimitiveJob

from qmnist_qiskit.exceptions import JobFailedError

logger = logging.getLogger("qmnist_qiskit.engines.estimator")


def _result(job, timeout: float | None):
    """The job's result, waiting at most ``timeout`` seconds where the job can be told so
    (qiskit-ibm-runtime's jobs take ``result(timeout=...)``)."""
    if timeout is not None and "timeout" in inspect.signature(job.result).parameters:
        return job.result(timeout=timeout)
    return job.result()


def _cancel(job) -> None:
    try:
        job.cancel()
    except Exception:  # noqa: BLE001 - a job that cannot be cancelled is left to finish
        logger.debug("could not cancel job %r", job, exc_info=True)


class RetryingEstimator(BaseEstimatorV2):
    """A ``BaseEstimatorV2`` that sends every ``run`` to ``estimator``, and again when its job
    fails or times out.

    Parameters
    ----------
    estimator : BaseEstimatorV2
        The estimator that runs the jobs (a Runtime ``EstimatorV2``, say).
    precision : float, optional
        Given to PUBs that set none; ``None`` leaves the estimator's own default.
    max_retries : int
        Tries after the first; 0 sends each job once.
    retry_backoff : float
        Seconds before the first retry, doubled before each next one.
    timeout : float, optional
        Seconds to wait for a job's result, where the job takes a timeout; a job that runs
        longer counts as failed (it is cancelled, and sent again).

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> from qiskit.primitives import StatevectorEstimator
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> qc = QuantumCircuit(1)
    >>> _ = qc.x(0)
    >>> estimator = RetryingEstimator(StatevectorEstimator(), max_retries=2)
    >>> float(estimator.run([(qc, SparsePauliOp("Z"))]).result()[0].data.evs)
    -1.0
    """

    def __init__(
        self,
        estimator: BaseEstimatorV2,
        *,
        precision: float | None = None,
        max_retries: int = 3,
        retry_backoff: float = 1.0,
        timeout: float | None = None,
    ) -> None:
        self._estimator = estimator
        self._precision = precision
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._timeout = timeout

    @property
    def estimator(self) -> BaseEstimatorV2:
        """The estimator that runs the jobs."""
        return self._estimator

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        """Send ``pubs`` to the estimator, retrying failed or timed-out jobs; the returned
        job's ``result()`` raises :class:`JobFailedError` when every try failed."""
        pubs = list(pubs)
        if precision is None:
            precision = self._precision
        job = PrimitiveJob(self._run_with_retries, pubs, precision)
        job._submit()
        return job

    def _run_with_retries(
        self, pubs: list[EstimatorPubLike | EstimatorPub], precision: float | None
    ) -> PrimitiveResult[PubResult]:
        tries = 1 + self._max_retries
        attempt = 1
        while True:
            try:
                job = self._estimator.run(pubs, precision=precision)
            except (TypeError, ValueError):
                raise  # the PUBs themselves are wrong: sending them again cannot help
            except Exception as exc:  # noqa: BLE001 - a submission that failed, retried
                error = exc
            else:
                try:
                    return _result(job, self._timeout)
                except Exception as exc:  # noqa: BLE001 - a job that failed, retried
                    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
                        _cancel(job)
                    error = exc
            what = f"{type(error).__name__}: {error}"
            if attempt == tries:
                raise JobFailedError(
                    f"the estimator job failed {tries} time(s); last error: {what}"
                ) from error
            delay = self._retry_backoff * 2 ** (attempt - 1)
            message = (
                f"estimator job failed (try {attempt} of {tries}): {what}; "
                f"sending it again in {delay:g} s"
            )
            logger.warning(message)
            warnings.warn(message, UserWarning, stacklevel=2)
            time.sleep(delay)
            attempt += 1
