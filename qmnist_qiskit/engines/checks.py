"""What every engine needs of a circuit, its parameters and its observables, checked once.

:func:`check_qnn_spec` is what :func:`~qmnist_qiskit.engines.make_qnn` runs before it picks
an engine, so that a bad circuit gets the same error whichever engine was asked for. The
statevector simulator, which is also reachable without ``make_qnn`` (its Qiskit estimator
takes any circuit), uses the same pieces: :func:`non_unitary_instruction`,
:func:`check_parameters` and :func:`observable_terms`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import ControlFlowOp, Gate, Instruction, Parameter, QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp

_NON_DETERMINISTIC = frozenset({"measure", "store"})
_PASSIVE = frozenset({"barrier", "delay", "id"})


def _nondeterministic_inside(
    operation: Instruction, qubits: Sequence[int], touched: set[int]
) -> str | None:
    """The first non-deterministic instruction of ``operation`` on ``qubits``, if any.

    ``touched`` holds the qubits that a gate has acted on so far; it is updated.
    """
    if operation.name in _NON_DETERMINISTIC or isinstance(operation, ControlFlowOp):
        return operation.name
    if operation.name == "reset":
        moved = [qubit for qubit in qubits if qubit in touched]
        if moved:
            return f"reset on qubit {moved[0]} after a gate acted on it"
        return None
    if operation.name in _PASSIVE:
        return None
    if isinstance(operation, Gate):
        touched.update(qubits)
        return None
    definition = operation.definition
    if definition is None:
        return operation.name
    for inner in definition.data:
        inner_qubits = [qubits[definition.find_bit(qubit).index] for qubit in inner.qubits]
        found = _nondeterministic_inside(inner.operation, inner_qubits, touched)
        if found is not None:
            return f"{found} (inside {operation.name!r})"
    return None


def non_unitary_instruction(circuit: QuantumCircuit) -> str | None:
    """The first instruction of ``circuit`` whose result is not deterministic, if any.

    Measurements and classical control are; a reset (``initialize`` starts with one) is only
    on a qubit that a gate has already acted on: on a qubit still in |0> it does nothing.
    Instructions are searched through their definitions, so a measurement inside a custom
    instruction is found and named with it.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> qc = QuantumCircuit(1, 1)
    >>> _ = qc.initialize([0, 1], 0)
    >>> _ = qc.h(0)
    >>> non_unitary_instruction(qc) is None
    True
    >>> _ = qc.reset(0)
    >>> non_unitary_instruction(qc)
    'reset on qubit 0 after a gate acted on it'
    """
    touched: set[int] = set()
    for instruction in circuit.data:
        qubits = [circuit.find_bit(qubit).index for qubit in instruction.qubits]
        found = _nondeterministic_inside(instruction.operation, qubits, touched)
        if found is not None:
            return found
    return None


def check_circuit(circuit: QuantumCircuit) -> None:
    """:class:`TypeError` or :class:`ValueError` unless ``circuit`` is a unitary
    ``QuantumCircuit`` on at least one qubit, with no classical bits.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> check_circuit(QuantumCircuit(2, 2))
    Traceback (most recent call last):
    ...
    ValueError: the circuit must have no measurements or classical bits (expectation values need none), but it has 2 classical bits
    """  # noqa: E501
    if not isinstance(circuit, QuantumCircuit):
        raise TypeError(f"circuit must be a QuantumCircuit, got {type(circuit).__name__}")
    if circuit.num_qubits < 1:
        raise ValueError("the circuit has no qubits")
    found = non_unitary_instruction(circuit)
    if found is not None:
        what = f"contains the instruction {found}"
    elif circuit.num_clbits:
        what = f"has {circuit.num_clbits} classical bits"
    else:
        return
    raise ValueError(
        "the circuit must have no measurements or classical bits (expectation values need "
        f"none), but it {what}"
    )


def check_parameters(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
) -> None:
    """:class:`ValueError` unless ``input_params`` and ``weight_params`` together list every
    parameter of ``circuit`` exactly once, and nothing else (:class:`TypeError` for an entry
    that is not a ``Parameter``).

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, _ = seed_circuit(2)
    >>> check_parameters(qc, x, list(theta)[:3])
    Traceback (most recent call last):
    ...
    ValueError: circuit parameters ['θ[3]'] are neither in input_params nor in weight_params
    """
    declared = [*input_params, *weight_params]
    seen: set[Parameter] = set()
    for parameter in declared:
        if not isinstance(parameter, Parameter):
            raise TypeError(
                "input_params and weight_params must hold Qiskit Parameters, got "
                f"{type(parameter).__name__} {parameter}"
            )
        if parameter in seen:
            raise ValueError(
                f"parameter {parameter.name!r} is listed twice: input_params and weight_params "
                "must be distinct parameters"
            )
        seen.add(parameter)
    present = set(circuit.parameters)
    missing = [parameter.name for parameter in declared if parameter not in present]
    if missing:
        raise ValueError(
            f"parameters {missing} do not occur in the circuit's gates (a parameter that is "
            "not in the circuit cannot be bound)"
        )
    undeclared = [parameter.name for parameter in circuit.parameters if parameter not in seen]
    if undeclared:
        raise ValueError(
            f"circuit parameters {undeclared} are neither in input_params nor in weight_params"
        )


def observable_terms(observable: object, num_qubits: int, position: int) -> dict[str, float]:
    """The real coefficient of each Pauli label of a Hermitian observable on ``num_qubits``.

    Repeated labels are summed. ``position`` names the observable in errors.

    Raises
    ------
    TypeError
        Unless ``observable`` is a ``SparsePauliOp`` or a ``Pauli``.
    ValueError
        If it acts on another number of qubits, or has parameterised, non-finite or
        complex (non-Hermitian) coefficients.

    Examples
    --------
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> observable_terms(SparsePauliOp(["ZI", "XX", "ZI"], [0.5, 2.0, 0.25]), 2, 0)
    {'ZI': 0.75, 'XX': 2.0}
    >>> observable_terms(SparsePauliOp("Z"), 2, 3)
    Traceback (most recent call last):
    ...
    ValueError: observable 3 acts on 1 qubits, the circuit on 2
    """
    if isinstance(observable, Pauli):
        observable = SparsePauliOp(observable)
    if not isinstance(observable, SparsePauliOp):
        raise TypeError(
            f"observable {position} must be a SparsePauliOp or Pauli, "
            f"got {type(observable).__name__}"
        )
    if observable.num_qubits != num_qubits:
        raise ValueError(
            f"observable {position} acts on {observable.num_qubits} qubits, the circuit on "
            f"{num_qubits}"
        )
    if observable.coeffs.dtype == object:
        raise ValueError(f"observable {position} has parameterised coefficients; give numbers")
    combined: dict[str, complex] = {}
    for label, coefficient in observable.to_list():
        combined[label] = combined.get(label, 0.0) + complex(coefficient)
    scale = max([1.0, *(abs(value) for value in combined.values())])
    for label, value in combined.items():
        if not np.isfinite(value):
            raise ValueError(f"observable {position} has a non-finite coefficient on {label}")
        if abs(value.imag) > 1e-12 * scale:
            raise ValueError(
                f"observable {position} is not Hermitian (coefficient {value} on {label}): "
                f"expectation values must be real"
            )
    return {label: value.real for label, value in combined.items()}


def check_observables(observables: Sequence[object], num_qubits: int) -> list[SparsePauliOp]:
    """The observables as ``SparsePauliOp``s, after :func:`observable_terms` checked each one.

    Raises
    ------
    ValueError
        When there is none, or as :func:`observable_terms`.

    Examples
    --------
    >>> from qiskit.quantum_info import Pauli
    >>> check_observables([Pauli("ZI")], 2)
    [SparsePauliOp(['ZI'],
                  coeffs=[1.+0.j])]
    """
    observables = list(observables)
    if not observables:
        raise ValueError("give at least one observable")
    for position, observable in enumerate(observables):
        observable_terms(observable, num_qubits, position)
    return [SparsePauliOp(observable) for observable in observables]


def check_qnn_spec(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[object],
) -> list[SparsePauliOp]:
    """Check a circuit, its parameter lists and its observables, as ``make_qnn`` does.

    Returns
    -------
    list of SparsePauliOp
        The observables (a ``Pauli`` becomes a ``SparsePauliOp``).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_circuit`, :func:`check_parameters` and :func:`check_observables`.
    """
    check_circuit(circuit)
    check_parameters(circuit, input_params, weight_params)
    return check_observables(observables, circuit.num_qubits)
