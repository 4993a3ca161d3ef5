"""The statevector engine's record: its options, availability, memory model and variants."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import torch

from qmnist_qiskit.engines.record import EngineRecord, EngineVariant, MemoryModel
from qmnist_qiskit.engines.statevector.simulator import resolve_dtype
from qmnist_qiskit.torch_utils import device_unavailable, parse_device


@dataclass(frozen=True)
class StatevectorOptions:
    """The statevector engine's options, parsed (see :func:`parse_statevector_options`)."""

    dtype: torch.dtype = torch.complex128
    device: torch.device = torch.device("cpu")
    max_memory_bytes: int | None = None


def parse_statevector_options(
    *,
    dtype: str | torch.dtype = "complex128",
    device: str | torch.device = "cpu",
    max_memory_bytes: int | None = None,
) -> StatevectorOptions:
    """The statevector engine's options (see
    :class:`~qmnist_qiskit.engines.statevector.StatevectorQNN`), parsed.

    Raises
    ------
    ValueError
        For a dtype other than complex128/complex64, a device that is not a CPU or CUDA
        device name (or ``torch.device``), or a ``max_memory_bytes`` that is not a positive
        integer. A CUDA device on a machine without one is valid here; whether this machine
        has it is the engine's availability.

    Examples
    --------
    >>> parse_statevector_options(dtype="complex64").dtype
    torch.complex64
    """
    if not isinstance(device, str | torch.device):
        raise ValueError(
            f"device must be a string such as 'cpu' or 'cuda:0', or a torch.device, got {device!r}"
        )
    parsed_device = parse_device(device)
    if max_memory_bytes is not None and (
        not isinstance(max_memory_bytes, Integral)
        or isinstance(max_memory_bytes, bool)
        or max_memory_bytes < 1
    ):
        raise ValueError(
            f"max_memory_bytes must be a positive integer or None, got {max_memory_bytes!r}"
        )
    return StatevectorOptions(
        dtype=resolve_dtype(dtype),
        device=parsed_device,
        max_memory_bytes=None if max_memory_bytes is None else int(max_memory_bytes),
    )


def _availability(options: StatevectorOptions) -> str | None:
    return device_unavailable(options.device)


RECORD = EngineRecord(
    name="statevector",
    factory=("qmnist_qiskit.engines.statevector", "make_statevector_qnn"),
    parse=parse_statevector_options,
    options_type=StatevectorOptions,
    availability=_availability,
    # About eight copies of a sample's state at once (state, seed, spare buffers, a conjugated
    # copy, temporaries) and compiler tables of about 64 bytes per amplitude (merged
    # permutations with their inverses and phases, observable signs). The simulator checks
    # again when built, on a CUDA device too, against the same budget.
    memory=MemoryModel(
        copies=8,
        table_bytes=64,
        holds_state=lambda options: options.device.type == "cpu",
        budget=lambda options: options.max_memory_bytes,
    ),
    variants=(
        EngineVariant("statevector", "statevector", {"dtype": "complex128"}),
        EngineVariant("statevector cuda", "statevector", {"dtype": "complex128", "device": "cuda"}),
    ),
)
