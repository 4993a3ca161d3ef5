"""The Aer simulator and the estimator primitive that the Aer engine runs on.

Exact runs use :class:`~qmnist_qiskit.engines.aer.primitives.AerExactEstimator` (Aer's
``save_expectation_value``, no sampling noise); runs with shots use
:class:`~qmnist_qiskit.engines.aer.primitives.AerSamplingEstimator`, which measures.

Default simulator options, chosen by ``benchmarks/bench_aer.py`` on the weight Jacobian of 16
images of the 10-qubit seed circuit (656 parameter sets in one PUB); its "Aer options" table in
``benchmarks/results/aer.md`` times each candidate:

* ``runtime_parameter_bind_enable=True`` binds every parameter set in one experiment instead of
  Aer's default of one experiment per set. Chosen: the clearest gain.
* ``fusion_threshold=5`` (gate fusion at 10 qubits; Aer's threshold is 14) fuses every
  parameter set anew and was slower. Left at Aer's default.
* ``max_parallel_threads=1``, ``max_parallel_experiments=0``,
  ``statevector_parallel_threshold=5``, ``fusion_enable=False`` and ``precision="single"``
  changed little or depended on the load. All left at Aer's defaults (single precision would
  also cost the ``1e-10`` agreement).

On a GPU (``device="GPU"``, Aer's CUDA build) ``batched_shots_gpu=True`` is added, so that
Aer runs the bound parameter sets as one batch on the device, as Aer's documentation
recommends together with runtime parameter binding; this GPU default comes from that
documentation, not from a measurement here.
"""

from __future__ import annotations

from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit_aer import AerSimulator

from qmnist_qiskit.engines.aer.options import AerOptions
from qmnist_qiskit.engines.aer.primitives import AerExactEstimator, AerSamplingEstimator
from qmnist_qiskit.exceptions import QMNISTError

TUNED_BACKEND_OPTIONS: dict[str, Any] = {"runtime_parameter_bind_enable": True}
GPU_BACKEND_OPTIONS: dict[str, Any] = {"batched_shots_gpu": True}
GPU_INSTALL_HINT = (
    "install Aer's CUDA build in place of the CPU one: `pip uninstall qiskit-aer && "
    "pip install qiskit-aer-gpu` (Linux x86_64, an NVIDIA GPU and a CUDA 12 driver; "
    "`qiskit-aer-gpu-cu11` for CUDA 11)"
)


def available_devices() -> tuple[str, ...]:
    """The devices this Aer installation can simulate on, e.g. ``("CPU",)`` or ``("CPU", "GPU")``.

    Examples
    --------
    >>> from qmnist_qiskit.engines.aer.estimator import available_devices
    >>> "CPU" in available_devices()
    True
    """
    return tuple(AerSimulator().available_devices())


def device_unavailable(device: str, method: str) -> str | None:
    """Why Aer cannot run ``method`` on ``device`` here, or ``None`` when it can.

    Parameters
    ----------
    device : {"CPU", "GPU"}
        The requested device.
    method : str
        The requested simulation method.

    Examples
    --------
    >>> device_unavailable("CPU", "statevector") is None
    True
    """
    if device != "GPU":
        return None
    devices = available_devices()
    if "GPU" not in devices:
        return (
            f"device='GPU' needs Aer's GPU build and an NVIDIA GPU, but this Aer offers only "
            f"{devices}: {GPU_INSTALL_HINT}"
        )
    if method == "matrix_product_state":
        return (
            "Aer runs method='matrix_product_state' on the CPU only; use device='CPU' or "
            "method='statevector'"
        )
    return None


def check_device(device: str, method: str) -> None:
    """Raise :class:`QMNISTError` unless Aer can run ``method`` on ``device`` here
    (:func:`device_unavailable` says why).

    Examples
    --------
    >>> check_device("CPU", "statevector")
    >>> if "GPU" not in available_devices():
    ...     try:
    ...         check_device("GPU", "statevector")
    ...     except QMNISTError as error:
    ...         print("pip install qiskit-aer-gpu" in str(error))
    ... else:
    ...     print(True)
    True
    """
    reason = device_unavailable(device, method)
    if reason is not None:
        raise QMNISTError(reason)


def build_simulator(options: AerOptions) -> AerSimulator:
    """An ``AerSimulator`` for ``options``: method, device, noise, seed and tuned settings.

    Parameters
    ----------
    options : AerOptions
        Validated options (:func:`~qmnist_qiskit.engines.aer.options.resolve_options`).

    Returns
    -------
    AerSimulator
        Built from ``options.backend`` (its noise model and target) when one is given.

    Examples
    --------
    >>> from qmnist_qiskit.engines.aer.options import resolve_options
    >>> simulator = build_simulator(resolve_options(method="matrix_product_state"))
    >>> simulator.options.method, simulator.options.runtime_parameter_bind_enable
    ('matrix_product_state', True)
    """
    settings: dict[str, Any] = dict(TUNED_BACKEND_OPTIONS)
    if options.device == "GPU":
        settings.update(GPU_BACKEND_OPTIONS)
    settings.update(method=options.method, device=options.device)
    if options.noise_model is not None:
        settings["noise_model"] = options.noise_model
    if options.seed is not None:
        settings["seed_simulator"] = options.seed
    settings.update(options.backend_options)
    if options.backend is not None:
        return AerSimulator.from_backend(options.backend, **settings)
    return AerSimulator(**settings)


def build_estimator(options: AerOptions, simulator: AerSimulator) -> BaseEstimatorV2:
    """The estimator primitive for ``options`` on ``simulator``.

    Parameters
    ----------
    options : AerOptions
        Validated options; ``options.exact`` chooses the primitive.
    simulator : AerSimulator
        From :func:`build_simulator`.

    Returns
    -------
    BaseEstimatorV2
        An :class:`AerExactEstimator` when exact, else an :class:`AerSamplingEstimator`
        with ``options.shots`` shots.

    Examples
    --------
    >>> from qmnist_qiskit.engines.aer.options import resolve_options
    >>> options = resolve_options()
    >>> type(build_estimator(options, build_simulator(options))).__name__
    'AerExactEstimator'

    """
    if options.exact:
        return AerExactEstimator(simulator)
    target = options.backend.target if options.backend is not None else None
    return AerSamplingEstimator(simulator, shots=options.shots, seed=options.seed, target=target)
