"""A failed job is sent again, with backoff, each retry logged; then JobFailedError."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.exceptions import JobFailedError, QMNISTError


def _qnn(estimator, **options):
    return make_qnn(
        *seed_circuit(2), engine="estimator", estimator=estimator, retry_backoff=0.0, **options
    )


def test_a_job_that_fails_twice_is_sent_again_and_each_retry_is_logged(caplog, flaky_estimator):
    flaky = flaky_estimator(failures=2)
    reference = make_qnn(*seed_circuit(2))
    with caplog.at_level(logging.WARNING, "qmnist_qiskit.engines.estimator"):
        with pytest.warns(UserWarning, match="estimator job failed") as warned:
            values = _qnn(flaky, max_retries=2).forward(np.full((1, 2), 0.3), np.zeros(4))
    np.testing.assert_allclose(values, reference.forward(np.full((1, 2), 0.3), np.zeros(4)))
    assert flaky.jobs == 3
    retries = [record.getMessage() for record in caplog.records]
    assert len(retries) == 2 == len([w for w in warned if "estimator job" in str(w.message)])
    assert "try 1 of 3" in retries[0] and "recalibrating" in retries[0]
    assert "try 2 of 3" in retries[1]


def test_when_the_retries_run_out_the_error_names_the_failure(flaky_estimator):
    flaky = flaky_estimator(failures=5)
    qnn = _qnn(flaky, max_retries=1)
    with pytest.warns(UserWarning, match="try 1 of 2"):
        with pytest.raises(JobFailedError) as raised:
            qnn.backward(np.zeros((2, 2)), np.zeros(4))
    assert isinstance(raised.value, QMNISTError)
    assert "failed 2 time(s)" in str(raised.value)
    assert "RuntimeError: job 2 failed: the device was recalibrating" in str(raised.value)
    assert flaky.jobs == 2


def test_no_retries_means_one_try(flaky_estimator):
    flaky = flaky_estimator(failures=1)
    with pytest.raises(JobFailedError, match="failed 1 time"):
        _qnn(flaky, max_retries=0).forward(np.zeros((1, 2)), np.zeros(4))
    assert flaky.jobs == 1


def test_the_backoff_doubles(monkeypatch, flaky_estimator):
    from qmnist_qiskit.engines.estimator import retry

    slept = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    qnn = make_qnn(
        *seed_circuit(2),
        engine="estimator",
        estimator=flaky_estimator(failures=3),
        max_retries=3,
        retry_backoff=0.5,
    )
    with pytest.warns(UserWarning):
        qnn.forward(np.zeros((1, 2)), np.zeros(4))
    assert slept == [0.5, 1.0, 2.0]
