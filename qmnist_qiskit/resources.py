"""What a circuit will cost, checked before anything is allocated.

Every engine states the memory one sample of an ``n``-qubit circuit needs at least (states,
compiler tables: the memory model in its record) and refuses, with a
:class:`~qmnist_qiskit.QMNISTError` that names the qubit count, the bytes needed and the
budget, before compiling or simulating: a 40-qubit request would otherwise ask for terabytes,
and a 28-qubit one fill the machine while compiling.
"""

from __future__ import annotations

import resource
from pathlib import Path

import psutil

from qmnist_qiskit.exceptions import QMNISTError

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_headroom() -> int | None:
    """Bytes left under this process's cgroup (v2) memory limit, if it has one."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((_CGROUP / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def _address_space_headroom() -> int | None:
    """Bytes left under the process's address-space limit (``ulimit -v``), if it has one."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - psutil.Process().memory_info().vms


def available_budget() -> int:
    """Half of the memory available now: the default budget of every engine on the CPU.

    Available means the least of the machine's available memory, the room left under the
    container's memory limit and under the process's address-space limit.
    """
    limits = [psutil.virtual_memory().available, _cgroup_headroom(), _address_space_headroom()]
    return max(0, min(limit for limit in limits if limit is not None)) // 2


def engine_minimum_bytes(engine: str, num_qubits: int, element_bytes: int = 16) -> int:
    """The memory one sample of a ``num_qubits``-qubit circuit needs at least on ``engine``:
    its record's memory model (:class:`~qmnist_qiskit.engines.record.MemoryModel`).

    Parameters
    ----------
    engine : {"statevector", "aer", "pennylane"}
    num_qubits : int
    element_bytes : int
        Bytes per amplitude (16 for complex128, 8 for complex64).

    Examples
    --------
    >>> engine_minimum_bytes("statevector", 10)
    196608
    >>> engine_minimum_bytes("aer", 30) // 2**30
    32
    """
    from qmnist_qiskit.engines.registry import engine_record

    return engine_record(engine).memory.minimum_bytes(num_qubits, element_bytes)


def require_memory(
    engine: str,
    num_qubits: int,
    budget: int | None = None,
    remedy: str = "raise the engine's memory budget",
    **details,
) -> None:
    """Raise :class:`QMNISTError` when one sample of the circuit cannot fit in ``budget``.

    Parameters
    ----------
    engine : str
        The engine about to be built (named in the message).
    num_qubits : int
        Qubits of the circuit.
    budget : int, optional
        Bytes the engine may use; half of the available memory by default.
    remedy : str
        What the user can do besides using fewer qubits (named in the message).
    **details
        Passed to :func:`engine_minimum_bytes` (``element_bytes``).

    Examples
    --------
    >>> require_memory("statevector", 10, budget=10**9)
    >>> try:
    ...     require_memory("statevector", 40, budget=10**9)
    ... except QMNISTError as error:
    ...     print(str(error)[:74])
    a 40-qubit circuit needs at least 211,106,232,532,992 bytes for one sample
    """
    needed = engine_minimum_bytes(engine, num_qubits, **details)
    budget = available_budget() if budget is None else int(budget)
    if needed > budget:
        raise QMNISTError(
            f"a {num_qubits}-qubit circuit needs at least {needed:,} bytes for one sample on "
            f"the {engine} engine, but the memory budget is {budget:,} bytes; use fewer qubits "
            f"(each one doubles the memory) or {remedy}"
        )
