"""The Aer engine's options: checked and normalised before any circuit is built or run.

Exact versus sampled, and which simulation method, follow from a few rules:

* ``shots=None`` and ``precision=None`` (or ``0``): exact expectation values.
* ``shots=S`` (or ``precision=p``, meaning ``S = ceil(1 / p**2)`` shots, the Qiskit primitives'
  convention): every expectation value is estimated from ``S`` measurement shots.
* ``method=None`` picks ``"statevector"`` without noise and ``"density_matrix"`` with noise (a
  ``noise_model`` or a ``backend``). The density matrix gives exact noisy expectation values,
  and with shots Aer samples every shot from it at once, while a noisy statevector simulates one
  random trajectory per shot, so it is only meaningful with shots. Sampling noisy shots from
  the density matrix was the faster of the two in ``benchmarks/results/aer.md`` (its "Modes"
  table). The density matrix's ``4**n`` entries (16 MB at 10 qubits) make noisy 10-qubit
  parameter sets costly (same table), so ``method="statevector"`` with shots is the way past
  the density matrix's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qiskit.providers import BackendV2
from qiskit_aer.noise import NoiseModel

from qmnist_qiskit.parameters import is_integer, is_real

METHODS = ("statevector", "density_matrix", "matrix_product_state")
DEVICES = ("CPU", "GPU")
GRADIENTS = ("param_shift", "spsa")


@dataclass(frozen=True)
class AerOptions:
    """Validated options of the Aer engine (see :func:`resolve_options`)."""

    method: str = "statevector"
    device: str = "CPU"
    shots: int | None = None
    seed: int | None = None
    noise_model: NoiseModel | None = None
    backend: BackendV2 | None = None
    optimization_level: int = 1
    gradient: str = "param_shift"
    spsa_batch_size: int = 1
    spsa_epsilon: float = 0.1
    backend_options: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether expectation values are exact (no shots)."""
        return self.shots is None


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int; :class:`ValueError` naming ``name`` unless a positive integer."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def resolve_shots(shots: object, precision: object) -> int | None:
    """Shots from ``shots`` or ``precision`` (``ceil(1 / p**2)``); ``None`` means exact."""
    if shots is not None and precision is not None:
        raise ValueError(
            "give either shots or precision, not both: precision p means ceil(1 / p**2) shots"
        )
    if shots is not None:
        return check_positive_int("shots", shots)
    if precision is None:
        return None
    if not is_real(precision) or not 0.0 <= precision <= 1.0:
        raise ValueError(f"precision must be a number in [0, 1] (0 means exact), got {precision!r}")
    if precision == 0.0:
        return None
    # rounding first keeps 1 / sqrt(S) from turning into S + 1 shots through float error
    return math.ceil(round(1.0 / float(precision) ** 2, 6))


def _resolve_method(method: object, *, exact: bool, noisy: bool) -> str:
    if method is None:
        return "density_matrix" if noisy else "statevector"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if exact and noisy and method != "density_matrix":
        raise ValueError(
            f"method={method!r} with noise samples random trajectories, so it cannot give exact "
            "noisy expectation values: pass shots=... for sampled results, or "
            "method='density_matrix' (or method=None) for exact ones"
        )
    return str(method)


def _resolve_device(device: object) -> str:
    normalised = device.upper() if isinstance(device, str) else device
    if normalised not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {DEVICES}")
    return normalised


def _check_noise(noise_model: object, backend: object) -> None:
    if noise_model is not None and not isinstance(noise_model, NoiseModel):
        raise TypeError(
            f"noise_model must be a qiskit_aer.noise.NoiseModel, got {type(noise_model).__name__}"
        )
    if backend is not None and not isinstance(backend, BackendV2):
        raise TypeError(
            "backend must be a qiskit BackendV2 (for example a fake IBM backend from "
            f"qiskit_ibm_runtime.fake_provider), got {type(backend).__name__}"
        )
    if noise_model is not None and backend is not None:
        raise ValueError(
            "give either noise_model or backend, not both: a backend brings its own noise model"
        )


def check_seed(seed: object) -> int | None:
    """``seed`` as an int or ``None``; :class:`ValueError` unless a non-negative integer."""
    if seed is not None and (not is_integer(seed) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_optimization_level(level: object) -> int:
    """The preset pass manager's level; :class:`ValueError` unless 0, 1, 2 or 3."""
    if not is_integer(level) or not 0 <= level <= 3:
        raise ValueError(f"optimization_level must be 0, 1, 2 or 3, got {level!r}")
    return int(level)


def check_gradient(gradient: object, spsa_epsilon: object) -> None:
    """:class:`ValueError` for an unknown gradient or an SPSA step outside ``(0, pi/2]``."""
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {gradient!r}; choose one of {GRADIENTS}")
    if not is_real(spsa_epsilon) or not 0.0 < spsa_epsilon <= math.pi / 2:
        raise ValueError(f"spsa_epsilon must be a number in (0, pi/2], got {spsa_epsilon!r}")


def resolve_options(
    *,
    method: str | None = None,
    device: str = "CPU",
    shots: int | None = None,
    precision: float | None = None,
    seed: int | None = None,
    noise_model: NoiseModel | None = None,
    backend: BackendV2 | None = None,
    optimization_level: int = 1,
    gradient: str = "param_shift",
    spsa_batch_size: int = 1,
    spsa_epsilon: float = 0.1,
    backend_options: dict[str, Any] | None = None,
) -> AerOptions:
    """Check the Aer engine's options and fill in the derived ones.

    Parameters are those of :func:`~qmnist_qiskit.engines.aer.make_aer_qnn`.

    Returns
    -------
    AerOptions
        With ``shots`` resolved from ``precision`` and ``method`` resolved from the mode.

    Raises
    ------
    ValueError
        For values out of range or unknown names.
    TypeError
        For a noise model or backend of the wrong type.

    Examples
    --------
    >>> from qmnist_qiskit.engines.aer.options import resolve_options
    >>> resolve_options(precision=0.01).shots
    10000
    >>> resolve_options(shots=0)
    Traceback (most recent call last):
    ...
    ValueError: shots must be a positive integer, got 0
    """
    resolved_shots = resolve_shots(shots, precision)
    seed = check_seed(seed)
    _check_noise(noise_model, backend)
    noisy = noise_model is not None or backend is not None
    resolved_method = _resolve_method(method, exact=resolved_shots is None, noisy=noisy)
    check_gradient(gradient, spsa_epsilon)
    if backend_options is not None and not isinstance(backend_options, dict):
        raise TypeError(
            f"backend_options must be a dict of AerSimulator options, got "
            f"{type(backend_options).__name__}"
        )
    return AerOptions(
        method=resolved_method,
        device=_resolve_device(device),
        shots=resolved_shots,
        seed=seed,
        noise_model=noise_model,
        backend=backend,
        optimization_level=check_optimization_level(optimization_level),
        gradient=str(gradient),
        spsa_batch_size=check_positive_int("spsa_batch_size", spsa_batch_size),
        spsa_epsilon=float(spsa_epsilon),
        backend_options=dict(backend_options or {}),
    )
