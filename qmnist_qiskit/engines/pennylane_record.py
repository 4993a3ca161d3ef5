"""The pennylane engine's record: its options, the extra, memory model and variants.

It lives beside :mod:`qmnist_qiskit.engines.pennylane`, not inside it, because that package
needs the PennyLane extra to import, while its options are checked (and its absence reported)
without it.
"""

from __future__ import annotations

from typing import NamedTuple

from qmnist_qiskit.engines.record import EngineRecord, EngineVariant, MemoryModel
from qmnist_qiskit.parameters import is_integer

PENNYLANE_DEVICES: dict[str, tuple[str, ...]] = {
    "default.qubit": ("backprop", "parameter-shift", "adjoint", "finite-diff"),
    "lightning.qubit": ("adjoint", "parameter-shift", "finite-diff"),
    "qiskit.aer": ("parameter-shift", "finite-diff"),
}
"""The pennylane engine's devices and their differentiation methods, the default first."""


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
        if not is_integer(shots) or shots < 1:
            raise ValueError(f"shots must be a positive integer or None, got {shots!r}")
        if device != "qiskit.aer":
            raise ValueError(f"shots are supported on the qiskit.aer device only, not {device}")
    if seed is not None and not is_integer(seed):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return PennyLaneOptions(device, diff_method or methods[0], shots, seed)


RECORD = EngineRecord(
    name="pennylane",
    factory=("qmnist_qiskit.engines.pennylane", "make_pennylane_qnn"),
    parse=check_pennylane_options,
    options_type=PennyLaneOptions,
    extra="pennylane",
    # The device's state and a work copy.
    memory=MemoryModel(copies=2),
    variants=tuple(
        EngineVariant(f"pennylane {device}", "pennylane", {"device": device})
        for device in PENNYLANE_DEVICES
    ),
)
