"""Grouping a batch of estimator requests: by circuit, and by distinct observable.

Gradients and estimators get one request per (circuit, observable, parameter row), often with
the same circuit object repeated, sometimes with equal copies of it. Requests are grouped by
qiskit-machine-learning's ``circuit_cache_key`` (equal circuits share a group), computed once
per distinct circuit object.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit_machine_learning.utils import circuit_cache_key


def group_by_circuit(
    circuits: Sequence[QuantumCircuit], extra_keys: Sequence[Hashable] | None = None
) -> list[list[int]]:
    """The positions of ``circuits``, grouped by equal circuit (and equal ``extra_keys``).

    Groups come in the order of their first member; members in their order.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> a, b = QuantumCircuit(1), QuantumCircuit(2)
    >>> group_by_circuit([a, b, a.copy(), a])
    [[0, 2, 3], [1]]
    >>> group_by_circuit([a, a, a], extra_keys=["x", "y", "x"])
    [[0, 2], [1]]
    """
    known: dict[int, Hashable] = {}
    groups: dict[tuple, list[int]] = {}
    for position, circuit in enumerate(circuits):
        key = known.get(id(circuit))
        if key is None:
            key = known[id(circuit)] = circuit_cache_key(circuit)
        extra = None if extra_keys is None else extra_keys[position]
        groups.setdefault((key, extra), []).append(position)
    return list(groups.values())


def observable_key(observable: BaseOperator) -> tuple:
    """A hashable key equal for equal Pauli sums (a ``Pauli`` and its ``SparsePauliOp`` too).

    Examples
    --------
    >>> from qiskit.quantum_info import Pauli, SparsePauliOp
    >>> observable_key(Pauli("XZ")) == observable_key(SparsePauliOp("XZ"))
    True
    """
    if not isinstance(observable, SparsePauliOp | Pauli):
        raise TypeError(
            f"observables must be SparsePauliOp or Pauli, got {type(observable).__name__}"
        )
    operator = SparsePauliOp(observable)
    return tuple(sorted((label, complex(coeff)) for label, coeff in operator.to_list()))


def distinct_observables(
    observables: Sequence[BaseOperator],
) -> tuple[list[BaseOperator], list[int]]:
    """The distinct observables (first occurrences, in order) and, for each of
    ``observables``, the index of its distinct one.

    Examples
    --------
    >>> from qiskit.quantum_info import Pauli, SparsePauliOp
    >>> z, x = SparsePauliOp("Z"), SparsePauliOp("X")
    >>> distinct, index = distinct_observables([z, x, SparsePauliOp("Z")])
    >>> len(distinct), index
    (2, [0, 1, 0])
    """
    position: dict[tuple, int] = {}
    distinct: list[BaseOperator] = []
    index = []
    for observable in observables:
        key = observable_key(observable)
        if key not in position:
            position[key] = len(distinct)
            distinct.append(observable)
        index.append(position[key])
    return distinct, index
