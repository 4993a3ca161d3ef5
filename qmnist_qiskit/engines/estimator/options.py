"""The estimator engine's options, and what it reads of the estimator it is given.

The estimator object carries its own options (qiskit-machine-learning's way); this engine's
options say how to use it: shots or precision, the gradient, the transpilation, the retries,
and ``estimator_options``, set on the estimator's own ``options`` and checked against them.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import BackendV2
from qiskit_aer import AerSimulator

from qmnist_qiskit.engines.aer.options import (
    check_gradient,
    check_optimization_level,
    check_positive_int,
    check_seed,
    resolve_shots,
)
from qmnist_qiskit.parameters import is_integer, is_real

RUNTIME_DEFAULT_SHOTS = 4096
"""Shots per parameter set of qiskit-ibm-runtime's ``EstimatorV2`` when neither its options nor
the engine set any (its default precision, 0.015625, is ``1 / sqrt(4096)``)."""


@dataclass(frozen=True)
class EstimatorEngineOptions:
    """Validated options of the estimator engine (see :func:`parse_estimator_options`)."""

    estimator: BaseEstimatorV2
    shots: int | None = None
    pass_manager: Any = None
    optimization_level: int = 1
    seed: int | None = None
    gradient: str = "param_shift"
    spsa_batch_size: int = 1
    spsa_epsilon: float = 0.1
    max_retries: int = 3
    retry_backoff: float = 1.0
    timeout: float | None = None
    estimator_options: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> BackendV2 | None:
        """The device the estimator runs on, to transpile for (see :func:`estimator_backend`)."""
        return estimator_backend(self.estimator)

    @property
    def precision(self) -> float | None:
        """The precision each PUB asks for: ``1 / sqrt(shots)``, or ``None`` to leave the
        estimator's own default."""
        return None if self.shots is None else 1.0 / math.sqrt(self.shots)


def estimator_backend(estimator: BaseEstimatorV2) -> BackendV2 | None:
    """The device an estimator runs on, when it says: qiskit-ibm-runtime's ``EstimatorV2``
    (``estimator.backend()``, in job, session or batch mode, local or real) and Qiskit's
    ``BackendEstimatorV2`` (``estimator.backend``). Ideal simulators (an ``AerSimulator``
    backend, Qiskit's reference ``StatevectorEstimator``, Aer's ``EstimatorV2``, this
    project's) need no transpilation: ``None``.

    Examples
    --------
    >>> from qiskit.primitives import StatevectorEstimator
    >>> from qiskit_ibm_runtime import EstimatorV2
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> estimator_backend(StatevectorEstimator()) is None
    True
    >>> estimator_backend(EstimatorV2(mode=FakeManilaV2())).name
    'fake_manila'
    """
    backend = getattr(estimator, "backend", None)
    if callable(backend) and not isinstance(backend, BackendV2):
        backend = backend()
    if not isinstance(backend, BackendV2) or isinstance(backend, AerSimulator):
        return None
    return backend


def estimator_shots(estimator: BaseEstimatorV2) -> int | None:
    """Shots per parameter set that ``estimator`` uses by default, or ``None`` when exact.

    Read from its options (``default_shots``, then ``default_precision`` as
    ``ceil(1 / p**2)``) or its ``default_precision``; qiskit-ibm-runtime's ``EstimatorV2``
    without either uses :data:`RUNTIME_DEFAULT_SHOTS`. A precision of 0 means exact.

    Examples
    --------
    >>> from qiskit.primitives import StatevectorEstimator
    >>> from qiskit_ibm_runtime import EstimatorV2
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> estimator_shots(StatevectorEstimator()) is None
    True
    >>> estimator_shots(EstimatorV2(mode=FakeManilaV2(), options={"default_shots": 1000}))
    1000
    >>> estimator_shots(EstimatorV2(mode=FakeManilaV2()))
    4096
    """
    options = getattr(estimator, "options", None)
    shots = getattr(options, "default_shots", None)
    if is_integer(shots):
        return int(shots)
    for owner in (options, estimator):
        precision = getattr(owner, "default_precision", None)
        if is_real(precision):
            return None if precision == 0 else math.ceil(round(1.0 / float(precision) ** 2, 6))
    if type(estimator).__module__.startswith("qiskit_ibm_runtime"):
        return RUNTIME_DEFAULT_SHOTS
    return None


def estimator_option_names(estimator: BaseEstimatorV2) -> tuple[str, ...]:
    """The names of the estimator's own options (its ``options`` object's fields)."""
    options = getattr(estimator, "options", None)
    if options is None:
        return ()
    if dataclasses.is_dataclass(options):
        return tuple(
            item.name for item in dataclasses.fields(options) if not item.name.startswith("_")
        )
    return tuple(name for name in vars(options) if not name.startswith("_"))


def _check_estimator_options(estimator: BaseEstimatorV2, values: object) -> dict[str, Any]:
    """``values`` checked against the estimator's own options, on a copy of them (the
    estimator itself is changed only when the engine is built)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"estimator_options must be a dict or None, got {values!r}")
    names = estimator_option_names(estimator)
    unknown = [key for key in values if key not in names]
    if unknown:
        valid = ", ".join(names) if names else "none"
        raise ValueError(
            f"unknown estimator option(s) {unknown} for {type(estimator).__name__}; its "
            f"options are {valid}"
        )
    trial = copy.deepcopy(estimator.options)
    for key, value in values.items():
        try:
            setattr(trial, key, value)
        except Exception as exc:
            raise ValueError(
                f"estimator option {key}={value!r} is refused by {type(estimator).__name__}: {exc}"
            ) from exc
    return dict(values)


def _check_non_negative(name: str, value: object) -> float:
    if not is_real(value) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def parse_estimator_options(
    *,
    estimator: BaseEstimatorV2 | None = None,
    shots: int | None = None,
    precision: float | None = None,
    pass_manager: Any = None,
    optimization_level: int = 1,
    seed: int | None = None,
    gradient: str = "param_shift",
    spsa_batch_size: int = 1,
    spsa_epsilon: float = 0.1,
    max_retries: int = 3,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    estimator_options: dict[str, Any] | None = None,
) -> EstimatorEngineOptions:
    """Check the estimator engine's options (see
    :func:`~qmnist_qiskit.engines.estimator.make_estimator_qnn`).

    Raises
    ------
    ValueError
        When ``estimator`` is missing, for values out of range, and for an
        ``estimator_options`` key the estimator's options lack (naming those it has) or a
        value they refuse.
    TypeError
        For an ``estimator`` that is not a Qiskit ``BaseEstimatorV2``, or a ``pass_manager``
        without ``run``.

    Examples
    --------
    >>> from qiskit.primitives import StatevectorEstimator
    >>> parse_estimator_options(estimator=StatevectorEstimator(), precision=0.01).shots
    10000
    >>> parse_estimator_options(shots=10)
    Traceback (most recent call last):
    ...
    ValueError: engine 'estimator' needs estimator=: a Qiskit BaseEstimatorV2 (qiskit-ibm-runtime's EstimatorV2, Aer's, Qiskit's StatevectorEstimator)
    """  # noqa: E501
    if estimator is None:
        raise ValueError(
            "engine 'estimator' needs estimator=: a Qiskit BaseEstimatorV2 (qiskit-ibm-runtime's "
            "EstimatorV2, Aer's, Qiskit's StatevectorEstimator)"
        )
    if not isinstance(estimator, BaseEstimatorV2):
        raise TypeError(
            f"estimator must be a Qiskit BaseEstimatorV2, got {type(estimator).__name__}"
        )
    if pass_manager is not None and not callable(getattr(pass_manager, "run", None)):
        raise TypeError(
            "pass_manager must be a Qiskit PassManager (with run), got "
            f"{type(pass_manager).__name__}"
        )
    check_gradient(gradient, spsa_epsilon)
    if timeout is not None and (not is_real(timeout) or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if not is_integer(max_retries) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
    return EstimatorEngineOptions(
        estimator=estimator,
        shots=resolve_shots(shots, precision),
        pass_manager=pass_manager,
        optimization_level=check_optimization_level(optimization_level),
        seed=check_seed(seed),
        gradient=str(gradient),
        spsa_batch_size=check_positive_int("spsa_batch_size", spsa_batch_size),
        spsa_epsilon=float(spsa_epsilon),
        max_retries=int(max_retries),
        retry_backoff=_check_non_negative("retry_backoff", retry_backoff),
        timeout=None if timeout is None else float(timeout),
        estimator_options=_check_estimator_options(estimator, estimator_options),
    )
