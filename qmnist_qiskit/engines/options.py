"""Each engine's table of options, and :func:`check_engine_options`, which checks against it.

An engine's table is the keyword-only signature of its checking function: the names it
accepts and, in the function, what each may be. Checking needs no circuit and imports no
optional extra, so callers (``make_qnn``, the classifier's ``fit``) run it before any work,
and before any warning that assumes the options are valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from numbers import Integral
from typing import Any, NamedTuple

import torch

from qmnist_qiskit.engines.aer.options import resolve_options
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.torch_utils import resolve_device

PENNYLANE_DEVICES: dict[str, tuple[str, ...]] = {
    "default.qubit": ("backprop", "parameter-shift", "adjoint", "finite-diff"),
    "lightning.qubit": ("adjoint", "parameter-shift", "finite-diff"),
    "qiskit.aer": ("parameter-shift", "finite-diff"),
}
"""The pennylane engine's devices and their differentiation methods, the default first."""


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_statevector_options(
    *,
    dtype: str | torch.dtype = "complex128",
    device: str | torch.device = "cpu",
    max_memory_bytes: int | None = None,
) -> None:
    """The statevector engine's options (see
    :func:`~qmnist_qiskit.engines.statevector.make_statevector_qnn`).

    Raises
    ------
    ValueError
        For a dtype other than complex128/complex64, a device that is not a CPU or CUDA
        device name (or ``torch.device``), or a ``max_memory_bytes`` that is not a positive
        integer. A CUDA device on a machine without one is valid here; building the engine
        reports it.
    """
    from qmnist_qiskit.engines.statevector.simulator import resolve_dtype

    resolve_dtype(dtype)
    if not isinstance(device, str | torch.device):
        raise ValueError(
            f"device must be a string such as 'cpu' or 'cuda:0', or a torch.device, got {device!r}"
        )
    try:
        resolve_device(device)
    except QMNISTError:
        pass  # a valid name; whether this machine has the device is for the engine to say
    if max_memory_bytes is not None and (not _is_int(max_memory_bytes) or max_memory_bytes < 1):
        raise ValueError(
            f"max_memory_bytes must be a positive integer or None, got {max_memory_bytes!r}"
        )


class PennyLaneOptions(NamedTuple):
    """The pennylane engine's options, checked, with the differentiation method resolved."""

    device: str
    diff_method: str
    shots: int | None
    seed: int | None


def check_pennylane_options(
    *,
    device: str = "default.qubit",
    diff_method: str | None = None,
    shots: int | None = None,
    seed: int | None = None,
) -> PennyLaneOptions:
    """The pennylane engine's options (see
    :class:`~qmnist_qiskit.engines.pennylane.PennyLaneQNN`), with ``diff_method`` resolved
    to the device's default when ``None``.

    Raises
    ------
    ValueError
        For an unknown device, a ``diff_method`` the device lacks, shots that are not a
        positive integer or not on ``qiskit.aer``, or a seed that is not an integer.

    Examples
    --------
    >>> check_pennylane_options(device="lightning.qubit")
    PennyLaneOptions(device='lightning.qubit', diff_method='adjoint', shots=None, seed=None)
    """
    if not isinstance(device, str) or device not in PENNYLANE_DEVICES:
        raise ValueError(
            f"unknown PennyLane device {device!r}; choose one of {list(PENNYLANE_DEVICES)}"
        )
    methods = PENNYLANE_DEVICES[device]
    if diff_method is not None and diff_method not in methods:
        raise ValueError(f"diff_method for {device} must be one of {methods}, got {diff_method!r}")
    if shots is not None:
        if not _is_int(shots) or shots < 1:
            raise ValueError(f"shots must be a positive integer or None, got {shots!r}")
        if device != "qiskit.aer":
            raise ValueError(f"shots are supported on the qiskit.aer device only, not {device}")
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return PennyLaneOptions(device, diff_method or methods[0], shots, seed)


OPTION_CHECKS: dict[str, Callable[..., Any]] = {
    "statevector": check_statevector_options,
    "aer": resolve_options,
    "pennylane": check_pennylane_options,
}
"""Each engine's checking function; its keyword-only parameters are the engine's options."""


def option_names(engine: str) -> tuple[str, ...]:
    """The options ``engine`` accepts.

    Examples
    --------
    >>> option_names("pennylane")
    ('device', 'diff_method', 'shots', 'seed')
    """
    return tuple(inspect.signature(OPTION_CHECKS[engine]).parameters)


def check_engine_options(engine: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``options`` against ``engine``'s own table, before anything is built or warned.

    Parameters
    ----------
    engine : {"statevector", "aer", "pennylane"}
        The engine's name, as given to :func:`~qmnist_qiskit.engines.make_qnn`.
    options : dict or None
        The options that would be passed to it (``None`` means none).

    Returns
    -------
    dict
        A copy of ``options``, checked.

    Raises
    ------
    ValueError
        For an unknown engine (naming the engines), an unknown option (naming the engine's
        options), or an invalid value (naming the option and what it may be).
    TypeError
        For an Aer ``noise_model``, ``backend`` or ``backend_options`` of the wrong type.

    Examples
    --------
    >>> check_engine_options("aer", {"shots": 1000, "seed": 3})
    {'shots': 1000, 'seed': 3}
    >>> check_engine_options("statevector", {"shots": 100})
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'shots' for engine 'statevector'; its options are dtype, device, max_memory_bytes
    >>> check_engine_options("aer", {"shots": 0})
    Traceback (most recent call last):
    ...
    ValueError: shots must be a positive integer, got 0
    """  # noqa: E501
    if engine not in OPTION_CHECKS:
        raise ValueError(f"unknown engine {engine!r}; choose one of {tuple(OPTION_CHECKS)}")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ValueError(f"engine options must be a dict or None, got {options!r}")
    names = option_names(engine)
    unknown = [key for key in options if key not in names]
    if unknown:
        label = f"option {unknown[0]!r}" if len(unknown) == 1 else f"options {unknown}"
        raise ValueError(
            f"unknown {label} for engine {engine!r}; its options are {', '.join(names)}"
        )
    OPTION_CHECKS[engine](**options)
    return dict(options)
