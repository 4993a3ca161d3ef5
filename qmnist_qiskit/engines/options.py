"""Checking an engine's options against its record, once: :func:`check_engine_options`.

An engine's table of options is the keyword-only signature of its record's parser: the names
it accepts and, in the parser, what each may be. The parser returns the parsed options object
(``StatevectorOptions``, ``AerOptions``, ``PennyLaneOptions``, ...), which then travels down
to the engine: nobody parses the dict again. Parsing needs no circuit and imports no optional
extra, so callers (``make_qnn``, the classifier's ``fit``) run it before any work, and before
any warning that assumes the options are valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qmnist_qiskit.engines.pennylane_record import (
    PENNYLANE_DEVICES,
    PennyLaneOptions,
    check_pennylane_options,
)
from qmnist_qiskit.engines.registry import engine_record
from qmnist_qiskit.engines.statevector.record import StatevectorOptions, parse_statevector_options


def option_names(engine: str) -> tuple[str, ...]:
    """The options ``engine`` accepts.

    Examples
    --------
    >>> option_names("pennylane")
    ('device', 'diff_method', 'shots', 'seed')
    """
    return engine_record(engine).option_names()


def check_engine_options(engine: str, options: Mapping[str, Any] | None) -> Any:
    """Parse ``options`` with ``engine``'s own parser, before anything is built or warned.

    Parameters
    ----------
    engine : {"statevector", "aer", "pennylane", "estimator"}
        The engine's name, as given to :func:`~qmnist_qiskit.engines.make_qnn`.
    options : dict or None
        The options that would be passed to it (``None`` means none).

    Returns
    -------
    The engine's parsed options object
        ``StatevectorOptions``, ``AerOptions``, ``PennyLaneOptions`` or
        ``EstimatorEngineOptions``: what
        :func:`~qmnist_qiskit.engines.make_qnn` takes as ``options=``.

    Raises
    ------
    ValueError
        For an unknown engine (naming the engines), an unknown option (naming the engine's
        options), or an invalid value (naming the option and what it may be).
    TypeError
        For an Aer ``noise_model``, ``backend`` or ``backend_options`` of the wrong type.

    Examples
    --------
    >>> check_engine_options("aer", {"shots": 1000, "seed": 3}).shots
    1000
    >>> check_engine_options("statevector", {"shots": 100})
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'shots' for engine 'statevector'; its options are dtype, device, max_memory_bytes
    >>> check_engine_options("aer", {"shots": 0})
    Traceback (most recent call last):
    ...
    ValueError: shots must be a positive integer, got 0
    """  # noqa: E501
    return engine_record(engine).parse_options(options)


__all__ = [
    "PENNYLANE_DEVICES",
    "PennyLaneOptions",
    "StatevectorOptions",
    "check_engine_options",
    "check_pennylane_options",
    "option_names",
    "parse_statevector_options",
]
