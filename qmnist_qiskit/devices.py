"""IBM devices by name, in qiskit-ibm-runtime's local testing mode: a fake backend, and the
``engine="estimator"`` options that run a classifier on it through Runtime's ``EstimatorV2``.

The same code runs on a real device: only the backend changes (the README's "On an IBM
device")::

    service = QiskitRuntimeService()
    backend = service.backend("ibm_torino")
"""

from __future__ import annotations

import warnings
from typing import Any

from qiskit.providers import BackendV2

from qmnist_qiskit.exceptions import QMNISTError

_SHOWN = 6


def fake_backend_names() -> tuple[str, ...]:
    """The fake backends of ``qiskit_ibm_runtime.fake_provider``, by name (``"fake_torino"``).

    Examples
    --------
    >>> {"fake_manila", "fake_torino"} <= set(fake_backend_names())
    True
    """
    return tuple(sorted(_fake_backend_classes()))


def _fake_backend_classes() -> dict[str, type]:
    import qiskit_ibm_runtime.fake_provider as provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes: dict[str, type] = {}
    for name in dir(provider):
        found = getattr(provider, name)
        if isinstance(found, type) and issubclass(found, FakeBackendV2):
            backend_name = getattr(found, "backend_name", None)
            if isinstance(backend_name, str):
                classes.setdefault(backend_name, found)
    return classes


def fake_backend(name: str) -> BackendV2:
    """The fake IBM backend called ``name`` (``"fake_manila"``, ``"fake_torino"``, ...): a
    snapshot of the device's qubits, instruction set, durations and noise.

    Raises
    ------
    QMNISTError
        For an unknown name, in one line with a few valid ones.

    Examples
    --------
    >>> fake_backend("fake_manila").num_qubits
    5
    >>> fake_backend("fake_nowhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qmnist_qiskit.exceptions.QMNISTError: no fake backend 'fake_nowhere' in qiskit_ibm_runtime.fake_provider; for example fake_brisbane, fake_fez, fake_kyiv, fake_manila, fake_sherbrooke, fake_torino (... in all)
    """  # noqa: E501
    classes = _fake_backend_classes()
    if name not in classes:
        preferred = [
            known
            for known in (
                "fake_brisbane",
                "fake_fez",
                "fake_kyiv",
                "fake_manila",
                "fake_sherbrooke",
                "fake_torino",
            )
            if known in classes
        ]
        shown = (preferred or sorted(classes))[:_SHOWN]
        raise QMNISTError(
            f"no fake backend {name!r} in qiskit_ibm_runtime.fake_provider; for example "
            f"{', '.join(shown)} ({len(classes)} in all)"
        )
    return classes[name]()


def runtime_primitive(name: str, mode: Any) -> Any:
    """qiskit-ibm-runtime's ``EstimatorV2`` or ``SamplerV2`` (``name``) in ``mode`` (a backend,
    ``Session`` or ``Batch``).

    Runtime 0.50 deprecated both classes in favour of client-side primitives that do not yet
    run in local testing mode; this project chooses them knowingly, so their deprecation
    warning is not passed on to users (on Runtime 0.45 there is none).

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> type(runtime_primitive("SamplerV2", FakeManilaV2())).__name__
    'SamplerV2'
    """
    import qiskit_ibm_runtime

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", f"The {name} class is deprecated", DeprecationWarning)
        return getattr(qiskit_ibm_runtime, name)(mode=mode)


def device_engine_options(
    backend: str | BackendV2, *, shots: int | None = None, **options: Any
) -> dict[str, Any]:
    """The ``engine_options`` that run ``engine="estimator"`` on ``backend`` through
    qiskit-ibm-runtime's ``EstimatorV2`` (local testing mode for a fake backend; a real
    backend from ``QiskitRuntimeService().backend(NAME)`` sends real jobs).

    Parameters
    ----------
    backend : str or BackendV2
        A fake backend's name (:func:`fake_backend`), or a backend.
    shots : int, optional
        Shots per parameter set (default: Runtime's, 4,096).
    **options
        Further options of the estimator engine (``gradient="spsa"``, ``max_retries=5``).

    Examples
    --------
    >>> options = device_engine_options("fake_manila", shots=1000)
    >>> type(options["estimator"]).__name__, options["shots"]
    ('EstimatorV2', 1000)
    """
    if isinstance(backend, str):
        backend = fake_backend(backend)
    engine_options: dict[str, Any] = {
        "estimator": runtime_primitive("EstimatorV2", backend),
        **options,
    }
    if shots is not None:
        engine_options["shots"] = shots
    return engine_options
