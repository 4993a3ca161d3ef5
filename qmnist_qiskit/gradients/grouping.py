"""Grouping a batch of estimator requests: by circuit, and by distinct observable.

Gradients and estimators get one request per (circuit, observable, parameter row), often with
the same circuit object repeated, sometimes with equal copies of it. Requests are grouped by
:func:`circuit_key` (equal circuits share a group), computed once per distinct circuit object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence

from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Pauli, SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit_machine_learning.utils import circuit_cache_key

_STANDARD = {name: type(gate) for name, gate in get_standard_gate_name_mapping().items()}


def circuit_key(circuit: QuantumCircuit) -> str:
    """A key equal for circuits that do the same: qiskit-machine-learning's
    ``circuit_cache_key`` (gate names, wires, parameters), and for every gate that is not one of
    Qiskit's standard gates, the key of its definition, so two custom gates of the same name but
    different content (``QuantumCircuit(1, name="block").to_gate()`` twice) do not share one.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> flip, turn = QuantumCircuit(1, name="block"), QuantumCircuit(1, name="block")
    >>> _ = flip.x(0), turn.h(0)
    >>> a, b = QuantumCircuit(1), QuantumCircuit(1)
    >>> _ = a.append(flip.to_gate(), [0]), b.append(turn.to_gate(), [0])
    >>> circuit_key(a) == circuit_key(b), circuit_key(a) == circuit_key(a.copy())
    (False, True)
    """
    custom = []
    for position, instruction in enumerate(circuit.data):
        operation = instruction.operation
        if _STANDARD.get(operation.name) is type(operation):
            continue
        definition = getattr(operation, "definition", None)
        if definition is not None:
            custom.append((position, circuit_key(definition), repr(definition.global_phase)))
        else:
            custom.append((position, type(operation).__qualname__, repr(operation)))
    base = circuit_cache_key(circuit)
    if not custom:
        return base
    return hashlib.sha256(f"{base}{custom!r}".encode()).hexdigest()


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
            key = known[id(circuit)] = circuit_key(circuit)
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
    terms = [(label, complex(coeff)) for label, coeff in operator.to_list()]
    # A label may repeat (``SparsePauliOp(["I", "I"], [1, -1])``): complex numbers do not
    # order, so ties are broken by their parts.
    return tuple(sorted(terms, key=lambda term: (term[0], term[1].real, term[1].imag)))


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
