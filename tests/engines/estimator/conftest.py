"""Real estimators of ours for the estimator engine's tests: subclasses of Qiskit's reference
``StatevectorEstimator`` that count their jobs, or whose jobs fail the first times."""

from __future__ import annotations

import pytest
from qiskit.primitives import StatevectorEstimator
from qiskit.primitives.primitive_job import PrimitiveJob


class CountingEstimator(StatevectorEstimator):
    """Qiskit's reference estimator, counting the jobs it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = 0

    def run(self, pubs, *, precision=None):
        self.jobs += 1
        return super().run(pubs, precision=precision)


class FlakyEstimator(CountingEstimator):
    """Qiskit's reference estimator whose first ``failures`` jobs fail when their result is
    asked for, as a device job that errors does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def run(self, pubs, *, precision=None):
        if self.jobs < self.failures:
            self.jobs += 1
            job = PrimitiveJob(self._fail, self.jobs)
            job._submit()
            return job
        return super().run(pubs, precision=precision)

    @staticmethod
    def _fail(number: int):
        raise RuntimeError(f"job {number} failed: the device was recalibrating")


@pytest.fixture
def counting_estimator() -> CountingEstimator:
    """A fresh :class:`CountingEstimator`."""
    return CountingEstimator()


@pytest.fixture
def flaky_estimator():
    """Makes a :class:`FlakyEstimator`: ``flaky_estimator(failures)``."""
    return FlakyEstimator
