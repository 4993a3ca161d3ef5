"""Compile a parameterised Qiskit circuit into a short program of fused statevector operations.

The program has three parts:

* ``initial``: for each wire, the single-qubit gates met before anything entangles it. They
  commute with everything on other wires, so they prepare a product state, built as a
  Kronecker product of one 2-vector per wire;
* ``ops``: the rest, in order, with each run of single-qubit gates on a wire fused into one
  2x2 matrix, every parameter-free permutation-with-phases gate (``cx``, ``swap``, ``cz``, a
  CNOT chain...) merged with its neighbours into a single gather, parameterised diagonal
  two-qubit gates (``rzz``, ``crz``, ``cp``) kept as four phases, other two-qubit gates as
  4x4 matrices, and parameter-free gates on more qubits as dense matrices;
* ``final``: for each wire, the single-qubit gates after its last entangling gate, which the
  observables can absorb (Heisenberg picture) instead of the state.

Parameter-free gates of up to :data:`MAX_MATRIX_QUBITS` qubits are used through their matrix
(``Operator(gate)``, as Qiskit's ``Statevector`` does): as a permutation with phases when they
are one, otherwise as a dense matrix. Other gates are replaced by their definitions, recursively,
until every gate is one of those or a parameterised gate with a torch builder
(:mod:`~qmnist_qiskit.engines.statevector.gates`); the definitions' global phases are added to
the circuit's. Barriers, delays and identities are skipped, and so are resets (``initialize``
starts with them) on qubits still in |0>. Measurements, classical control and resets of qubits
that a gate already acted on are not deterministic: they are refused with a
:class:`~qmnist_qiskit.QMNISTError` that names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import (
    Gate,
    Instruction,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
)
from qiskit.circuit.library import PauliEvolutionGate
from qiskit.quantum_info import Operator, SparsePauliOp

from qmnist_qiskit.engines.checks import check_parameters, non_unitary_instruction
from qmnist_qiskit.engines.statevector.expressions import TorchExpression
from qmnist_qiskit.engines.statevector.gates import (
    DIAGONAL_TWO_QUBIT,
    SINGLE_QUBIT,
    TWO_QUBIT,
    monomial_structure,
)
from qmnist_qiskit.exceptions import QMNISTError

MAX_MATRIX_QUBITS = 8
"""Parameter-free gates on up to this many qubits are applied through their matrix; wider ones
are replaced by their definitions."""

_SKIPPED = frozenset({"barrier", "delay", "id", "reset"})


@dataclass(frozen=True, eq=False)
class GateRef:
    """One gate of a fused operation: a torch builder with angles, or a constant matrix."""

    name: str
    angles: tuple[int, ...] = ()
    matrix: np.ndarray | None = None


@dataclass(frozen=True)
class UnitaryOp:
    """A dense 1- or 2-qubit matrix: the product of ``gates`` (applied in order)."""

    qubits: tuple[int, ...]
    gates: tuple[GateRef, ...]


@dataclass(frozen=True)
class DiagonalOp:
    """A parameterised diagonal two-qubit gate, applied as four phases."""

    qubits: tuple[int, int]
    gate: GateRef


@dataclass(frozen=True, eq=False)
class MonomialOp:
    """A parameter-free permutation with phases: ``out[k] = phase[k] * in[source[k]]``.

    ``phase`` is ``None`` when every phase is 1; ``source`` is ``None`` for the identity
    permutation; ``qubits`` are the wires of the gates merged into it.
    """

    source: np.ndarray | None
    phase: np.ndarray | None
    qubits: frozenset[int]


@dataclass(frozen=True, eq=False)
class DenseOp:
    """A parameter-free matrix on three or more qubits that is not a permutation with phases,
    indexed as ``Gate.to_matrix()`` indexes it (``qubits[0]`` the least significant bit)."""

    qubits: tuple[int, ...]
    matrix: np.ndarray


Op = UnitaryOp | DiagonalOp | MonomialOp | DenseOp


@dataclass(frozen=True)
class GlobalPhase:
    """The circuit's global phase: a constant plus the parameterised phases of the circuit,
    its ``GlobalPhaseGate``s and the definitions it was unrolled through, each evaluated as
    Qiskit wrote it (a sum built here would be a new expression for Qiskit to translate)."""

    constant: float
    terms: tuple[TorchExpression, ...]

    def __call__(
        self,
        columns: Sequence[torch.Tensor],
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The phase, ``(N,)`` (``(1,)`` when constant), from one column per parameter."""
        total = torch.full((1,), self.constant, dtype=dtype, device=device)
        for term in self.terms:
            total = total + term(columns, dtype, device)
        return total


@dataclass(frozen=True)
class CircuitProgram:
    """A compiled circuit; see the module docstring.

    ``parameters`` lists the inputs first, then the weights; ``angles[i]`` evaluates gate
    angle ``i`` from one column per parameter.
    """

    num_qubits: int
    parameters: tuple[Parameter, ...]
    num_inputs: int
    angles: tuple[TorchExpression, ...]
    initial: tuple[tuple[GateRef, ...], ...]
    ops: tuple[Op, ...]
    final: tuple[tuple[GateRef, ...], ...]
    global_phase: GlobalPhase

    def varies(self, gates: Sequence[GateRef]) -> bool:
        """Whether the product of ``gates`` depends on an input (differs per sample)."""
        return any(
            index < self.num_inputs
            for gate in gates
            for angle in gate.angles
            for index in self.angles[angle].parameters
        )


def _check_unitary(circuit: QuantumCircuit) -> None:
    found = non_unitary_instruction(circuit)
    if found is not None:
        raise QMNISTError(
            f"the statevector engine simulates deterministic circuits only, but the circuit "
            f"contains the instruction {found}; remove measurements and classical control "
            f"(expectation values need none of them), and reset or initialize a qubit only "
            f"while it is still in |0>"
        )


def _is_free(value) -> bool:
    return isinstance(value, ParameterExpression) and bool(value.parameters)


def _constant_matrix(operation: Instruction) -> np.ndarray | None:
    """The matrix of a parameter-free gate, or ``None`` when it has none we can use."""
    if operation.num_qubits > MAX_MATRIX_QUBITS or not isinstance(operation, Gate):
        return None
    if any(_is_free(value) for value in operation.params):
        return None
    try:
        return Operator(operation).data
    except Exception:  # noqa: BLE001 - a gate without a matrix is replaced by its definition
        return None


def _is_monomial(matrix: np.ndarray) -> bool:
    try:
        monomial_structure(matrix)
    except ValueError:
        return False
    return True


def _has_builder(operation: Instruction) -> bool:
    if operation.num_qubits == 1:
        return operation.name in SINGLE_QUBIT
    return operation.name in TWO_QUBIT or operation.name in DIAGONAL_TWO_QUBIT


def _inexact_definition(operation: Instruction) -> bool:
    """Whether the definition of ``operation`` only approximates its matrix: a parameterised
    Pauli evolution of non-commuting terms is defined by a product formula."""
    if not isinstance(operation, PauliEvolutionGate):
        return False
    terms = operation.operator
    if not isinstance(terms, SparsePauliOp):
        terms = SparsePauliOp.sum(list(terms))
    paulis = terms.paulis
    return any(
        not paulis[i].commutes(paulis[j])
        for i in range(len(paulis))
        for j in range(i + 1, len(paulis))
    )


@dataclass(frozen=True, eq=False)
class _Flat:
    """A circuit as supported gates only, ``(operation, qubits, matrix or None)`` in order,
    and the terms of its global phase."""

    gates: list[tuple[Instruction, tuple[int, ...], np.ndarray | None]]
    global_phase: list[ParameterExpression | float]


def _flatten(circuit: QuantumCircuit) -> _Flat:
    gates: list[tuple[Instruction, tuple[int, ...], np.ndarray | None]] = []
    phase = [circuit.global_phase]

    def visit(operation: Instruction, qubits: tuple[int, ...], outer: tuple[str, ...]) -> None:
        if operation.name in _SKIPPED:
            return
        if operation.num_qubits == 0 and operation.params:
            phase.append(operation.params[0])
            return
        if _has_builder(operation) and any(_is_free(value) for value in operation.params):
            gates.append((operation, qubits, None))
            return
        matrix = _constant_matrix(operation)
        if matrix is not None:
            gates.append((operation, qubits, matrix))
            return
        where = f"{operation.name!r}" + "".join(f" (inside {name!r})" for name in outer)
        if _inexact_definition(operation):
            raise QMNISTError(
                f"the gate {where} is a Pauli evolution of non-commuting terms over a "
                "parameterised time: its definition is only a product formula, and the "
                "statevector engine simulates it exactly or not at all; bind the time, or "
                "give commuting terms"
            )
        try:
            definition = operation.definition
        except Exception as exc:
            raise QMNISTError(f"the gate {where} has no definition to simulate: {exc}") from exc
        if definition is None:
            raise QMNISTError(f"the gate {where} has neither a matrix nor a definition to simulate")
        phase.append(definition.global_phase)
        for inner in definition.data:
            inner_qubits = tuple(qubits[definition.find_bit(q).index] for q in inner.qubits)
            visit(inner.operation, inner_qubits, (operation.name, *outer))

    for instruction in circuit.data:
        qubits = tuple(circuit.find_bit(qubit).index for qubit in instruction.qubits)
        visit(instruction.operation, qubits, ())
    return _Flat(gates, phase)


def _parameter_index(
    circuit: QuantumCircuit, inputs: Sequence[Parameter], weights: Sequence[Parameter]
) -> dict[str, int]:
    check_parameters(circuit, inputs, weights)
    return {parameter.name: column for column, parameter in enumerate([*inputs, *weights])}


def _embed_monomial(
    matrix: np.ndarray, qubits: Sequence[int], num_qubits: int
) -> tuple[np.ndarray, np.ndarray]:
    """The full-register ``(source, phase)`` of a monomial gate acting on ``qubits``."""
    columns, values = monomial_structure(matrix)
    states = np.arange(2**num_qubits)
    local = np.zeros_like(states)
    cleared = states.copy()
    for position, qubit in enumerate(qubits):
        local |= ((states >> qubit) & 1) << position
        cleared &= ~(1 << qubit)
    source = cleared.copy()
    for position, qubit in enumerate(qubits):
        source |= ((columns[local] >> position) & 1) << qubit
    return source, values[local]


def _compose(first: MonomialOp, second: MonomialOp, size: int) -> MonomialOp:
    """``second`` after ``first``, as one permutation with phases."""
    first_source = np.arange(size) if first.source is None else first.source
    second_source = np.arange(size) if second.source is None else second.source
    source = first_source[second_source]
    phase = np.ones(size, dtype=complex)
    if first.phase is not None:
        phase = first.phase[second_source]
    if second.phase is not None:
        phase = phase * second.phase
    return _normalised_monomial(source, phase, first.qubits | second.qubits)


def _normalised_monomial(
    source: np.ndarray, phase: np.ndarray, qubits: frozenset[int]
) -> MonomialOp:
    identity = np.array_equal(source, np.arange(len(source)))
    trivial_phase = np.allclose(phase, 1.0, rtol=0.0, atol=1e-15)
    return MonomialOp(None if identity else source, None if trivial_phase else phase, qubits)


class _Builder:
    """Walks the circuit once, fusing and merging as it goes."""

    def __init__(self, num_qubits: int, index: dict[str, int]) -> None:
        self.num_qubits = num_qubits
        self.index = index
        self.angles: list[TorchExpression] = []
        self._angle_ids: dict[str, int] = {}
        self.pending: list[list[GateRef]] = [[] for _ in range(num_qubits)]
        self.initial: list[tuple[GateRef, ...] | None] = [None] * num_qubits
        self.ops: list[Op] = []

    def angle(self, value) -> int:
        expression = TorchExpression(value, self.index)
        key = expression.text
        if key not in self._angle_ids:
            self._angle_ids[key] = len(self.angles)
            self.angles.append(expression)
        return self._angle_ids[key]

    def gate_ref(self, operation: Instruction, matrix: np.ndarray | None) -> GateRef:
        if matrix is None:
            return GateRef(operation.name, tuple(self.angle(value) for value in operation.params))
        return GateRef("constant", matrix=matrix)

    def _flush(self, qubits: Sequence[int]) -> None:
        for qubit in qubits:
            if self.initial[qubit] is None:
                self.initial[qubit] = tuple(self.pending[qubit])
            elif self.pending[qubit]:
                # Place the run right after the last operation on its wire: it commutes with
                # the later ones, which keeps consecutive permutations adjacent for merging.
                position = len(self.ops)
                while position and qubit not in self.ops[position - 1].qubits:
                    position -= 1
                self.ops.insert(position, UnitaryOp((qubit,), tuple(self.pending[qubit])))
            self.pending[qubit] = []

    def _append(self, op: Op) -> None:
        size = 2**self.num_qubits
        if isinstance(op, MonomialOp) and self.ops and isinstance(self.ops[-1], MonomialOp):
            op = _compose(self.ops.pop(), op, size)
        if isinstance(op, MonomialOp) and op.source is None and op.phase is None:
            return
        self.ops.append(op)

    def add(
        self, operation: Instruction, qubits: tuple[int, ...], matrix: np.ndarray | None
    ) -> None:
        gate = self.gate_ref(operation, matrix)
        if len(qubits) == 1:
            self.pending[qubits[0]].append(gate)
            return
        self._flush(qubits)
        if gate.matrix is None and operation.name in DIAGONAL_TWO_QUBIT:
            self._append(DiagonalOp(qubits, gate))
        elif gate.matrix is None:
            self._append(UnitaryOp(qubits, (gate,)))
        elif _is_monomial(gate.matrix):
            source, phase = _embed_monomial(gate.matrix, qubits, self.num_qubits)
            self._append(_normalised_monomial(source, phase, frozenset(qubits)))
        elif len(qubits) == 2:
            self._append(UnitaryOp(qubits, (gate,)))
        else:
            self._append(DenseOp(qubits, gate.matrix))

    def finish(self) -> tuple[tuple, tuple]:
        final: list[tuple[GateRef, ...]] = []
        for qubit in range(self.num_qubits):
            if self.initial[qubit] is None:
                self.initial[qubit] = tuple(self.pending[qubit])
                final.append(())
            else:
                final.append(tuple(self.pending[qubit]))
        return tuple(self.initial), tuple(final)


def compile_circuit(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter] = (),
    weight_params: Sequence[Parameter] = (),
) -> CircuitProgram:
    """Compile ``circuit`` for the batched statevector simulator.

    Parameters
    ----------
    circuit : QuantumCircuit
        A deterministic circuit: no measurements or classical control, and resets (or
        ``initialize``) only on qubits still in |0>.
    input_params, weight_params : sequence of Parameter
        Together, every parameter of ``circuit``: inputs vary per sample, weights are
        shared by the batch.

    Returns
    -------
    CircuitProgram
        The fused program.

    Raises
    ------
    QMNISTError
        If the circuit contains a non-deterministic instruction, or a gate with neither a
        matrix nor a definition (both named).
    ValueError
        If the parameter lists do not match the circuit's parameters.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, _ = seed_circuit(4)
    >>> program = compile_circuit(qc, x, theta)
    >>> [len(gates) for gates in program.initial], len(program.ops)
    ([1, 1, 1, 1], 1)
    >>> [len(gates) for gates in program.final]
    [2, 2, 2, 2]
    """
    if not isinstance(circuit, QuantumCircuit):
        raise TypeError(f"expected a QuantumCircuit, got {type(circuit).__name__}")
    if circuit.num_qubits < 1:
        raise ValueError("the circuit has no qubits")
    _check_unitary(circuit)
    index = _parameter_index(circuit, input_params, weight_params)
    flat = _flatten(circuit)
    builder = _Builder(circuit.num_qubits, index)
    for operation, qubits, matrix in flat.gates:
        builder.add(operation, qubits, matrix)
    initial, final = builder.finish()
    return CircuitProgram(
        num_qubits=circuit.num_qubits,
        parameters=tuple([*input_params, *weight_params]),
        num_inputs=len(input_params),
        angles=tuple(builder.angles),
        initial=initial,
        ops=tuple(builder.ops),
        final=final,
        global_phase=GlobalPhase(
            sum(float(value) for value in flat.global_phase if not _is_free(value)),
            tuple(TorchExpression(value, index) for value in flat.global_phase if _is_free(value)),
        ),
    )
