r"""Bind parameter values to a compiled program: every gate matrix of a batch at once.

A compiled :class:`~qmnist_qiskit.engines.statevector.compiler.CircuitProgram` names its gate
angles as expressions of the parameters and its operations as runs of gates. Binding turns a
batch of input rows and the weights into the tensors the executor needs, in a few tensor
operations whatever the number of gates:

1. **Angles**, all of them from one table
   (:mod:`~qmnist_qiskit.engines.statevector.angle_table`).
2. **Gate matrices.** All gates of one kind (``rx``, ``rz``, ``crx``...) are built by one call
   of their builder on a ``(rows, gates)`` tensor of angles.
3. **Fusion.** The runs of single-qubit gates on each wire (the product-state prefix, the
   fused operations, the final gates absorbed by the observables) are multiplied as a batched
   tree: as quaternions when they are all ``rx``/``ry``/``rz``
   (:mod:`~qmnist_qiskit.engines.statevector.rotation_runs`), as 2x2 matrices otherwise
   (:mod:`~qmnist_qiskit.engines.statevector.run_products`).

Operations that depend on an input get one matrix per sample (the *varying* rows); the others
one matrix per weight row, usually a single one for the whole batch (the *shared* rows). Each
kind of rows is one group, which binds three :class:`Part`\ s; the binder returns them as one
list, :func:`slot` naming the position of each. Autograd differentiates through the same few
operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from qmnist_qiskit.engines.statevector.angle_table import AngleTable
from qmnist_qiskit.engines.statevector.compiler import (
    CircuitProgram,
    DenseOp,
    DiagonalOp,
    GateRef,
    MonomialOp,
    UnitaryOp,
)
from qmnist_qiskit.engines.statevector.gates import build_matrix
from qmnist_qiskit.engines.statevector.rotation_runs import ROTATIONS, RotationRuns
from qmnist_qiskit.engines.statevector.run_products import RunProducts


class Rows(IntEnum):
    """Which rows a group's matrices have."""

    SHARED = 0
    """One per weight row (a single one when the batch shares its weights)."""
    VARYING = 1
    """One per sample: the operation depends on an input."""


class Part(IntEnum):
    """What a group binds, in the order it returns them."""

    RUNS = 0
    """Products of the runs of single-qubit gates, ``(N, R, 2, 2)``."""
    TWO_QUBIT = 1
    """Dense two-qubit matrices, ``(N, T, 4, 4)``."""
    DIAGONAL = 2
    """Diagonals of two-qubit gates, ``(N, D, 4)``."""


def slot(rows: Rows, part: Part) -> int:
    """Where ``part`` of the ``rows`` group lies in the list :class:`Binder` returns.

    Examples
    --------
    >>> slot(Rows.SHARED, Part.RUNS), slot(Rows.VARYING, Part.DIAGONAL)
    (0, 5)
    """
    return len(Part) * rows + part


Address = tuple[int, int]
"""``(slot, index)``: the operation's matrix is ``bound[slot][:, index]``."""


@dataclass(frozen=True)
class _Kind:
    """All gates of one name in a group: one builder call on ``(rows, gates)`` angles."""

    name: str
    columns: torch.Tensor
    """``(gates, angles per gate)``: the gates' angles, as output columns of the table."""


def _build(kinds: Sequence[_Kind], angles: torch.Tensor) -> list[torch.Tensor]:
    """One builder call per kind: ``(rows, gates, ...)`` matrices each."""
    return [
        build_matrix(
            kind.name, [angles[:, kind.columns[:, k]] for k in range(kind.columns.shape[1])]
        )
        for kind in kinds
    ]


def _by_name(
    gates: Sequence[GateRef], angle_id: Callable[[int], int]
) -> tuple[list[tuple[str, np.ndarray]], list[list[int]]]:
    """Parameterised gates grouped by name: ``(name, angle ids (gates, angles per gate))`` per
    name, and the gates' positions for each; ``angle_id`` numbers the angles as met."""
    by_name: dict[str, list[int]] = {}
    for position, gate in enumerate(gates):
        if gate.matrix is None:
            by_name.setdefault(gate.name, []).append(position)
    names, order = [], []
    for name, positions in by_name.items():
        ids = [[angle_id(angle) for angle in gates[p].angles] for p in positions]
        names.append((name, np.asarray(ids, dtype=np.int64)))
        order.append(positions)
    return names, order


class _GeneralRuns:
    """Run products of any single-qubit gates: each kind built by one call, constants and an
    identity stacked after them, then multiplied by a :class:`RunProducts` tree."""

    def __init__(
        self,
        kinds: list[_Kind],
        order: list[list[int]],
        runs: Sequence[Sequence[GateRef]],
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        single = [gate for run in runs for gate in run]
        stacked = [p for positions in order for p in positions]
        constants = [p for p, gate in enumerate(single) if gate.matrix is not None]
        self.kinds = kinds
        self.constants = _constant_stack(single, constants, 2, dtype, device)
        self.identity = torch.eye(2, dtype=dtype, device=device).reshape(1, 1, 2, 2)
        slot_of = np.empty(len(single), dtype=np.int64)
        slot_of[stacked + constants] = np.arange(len(stacked) + len(constants))
        positions, offset = [], 0
        for run in runs:
            positions.append(slot_of[offset : offset + len(run)].tolist())
            offset += len(run)
        self.products = RunProducts(positions, len(stacked) + len(constants), device)

    def __call__(self, angles: torch.Tensor | None, rows: int) -> torch.Tensor:
        parts = _build(self.kinds, angles) if angles is not None else []
        if self.constants is not None:
            parts.append(self.constants.expand(rows, -1, -1, -1))
        parts.append(self.identity.expand(rows, -1, -1, -1))
        return self.products(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


def _constant_stack(
    gates: Sequence[GateRef], positions: Sequence[int], size: int, dtype, device
) -> torch.Tensor | None:
    if not positions:
        return None
    matrices = np.stack([gates[p].matrix for p in positions]).reshape(1, -1, size, size)
    return torch.as_tensor(matrices, dtype=dtype, device=device)


def _inverse(order: Sequence[Sequence[int]], count: int, device) -> torch.Tensor:
    """Where each gate lands when the parts (by kind, then constants) are concatenated."""
    stacked = [p for positions in order for p in positions]
    stacked += [p for p in range(count) if p not in set(stacked)]
    inverse = np.empty(count, dtype=np.int64)
    inverse[stacked] = np.arange(count)
    return torch.as_tensor(inverse, device=device)


def _reorder(parts: Sequence[torch.Tensor], order: torch.Tensor) -> torch.Tensor:
    stacked = torch.cat(list(parts), dim=1) if len(parts) > 1 else parts[0]
    return stacked[:, order]


class _GroupPlan:
    """The operations of one kind of rows, collected while the binder walks the program."""

    def __init__(self) -> None:
        self.runs: list[tuple[GateRef, ...]] = []
        self.two_qubit: list[GateRef] = []
        self.diagonal: list[GateRef] = []

    def add_run(self, gates: Sequence[GateRef]) -> int:
        self.runs.append(tuple(gates))
        return len(self.runs) - 1

    def add_two_qubit(self, gate: GateRef, part: Part) -> int:
        target = self.diagonal if part is Part.DIAGONAL else self.two_qubit
        target.append(gate)
        return len(target) - 1


class _Group:
    """A group's operations compiled for a dtype and device: angle table, builder calls,
    constant stacks and run products."""

    def __init__(
        self,
        plan: _GroupPlan,
        program: CircuitProgram,
        rows: Rows,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.with_inputs = rows is Rows.VARYING
        angle_ids: dict[int, int] = {}

        def angle_id(angle: int) -> int:
            return angle_ids.setdefault(angle, len(angle_ids))

        single = [gate for run in plan.runs for gate in run]
        single_names, single_order = _by_name(single, angle_id)
        two_names, two_order = _by_name(plan.two_qubit, angle_id)
        diagonal_names, diagonal_order = _by_name(plan.diagonal, angle_id)
        real = torch.empty((), dtype=dtype).real.dtype
        self.table = AngleTable(
            [program.angles[angle] for angle in angle_ids],
            program.num_inputs,
            len(program.parameters),
            self.with_inputs,
        ).to(real, device)
        self.has_angles = bool(angle_ids)

        def kinds(names: list[tuple[str, np.ndarray]]) -> list[_Kind]:
            return [
                _Kind(name, torch.as_tensor(self.table.column[ids], device=device))
                for name, ids in names
            ]

        self.two_kinds = kinds(two_names)
        self.diagonal_kinds = kinds(diagonal_names)
        self.products: RotationRuns | _GeneralRuns | None = None
        if single and all(gate.name in ROTATIONS and gate.matrix is None for gate in single):
            column = self.table.column
            self.products = RotationRuns(
                [
                    [(column[angle_ids[gate.angles[0]]], gate.name) for gate in run]
                    for run in plan.runs
                ],
                len(angle_ids),
                dtype,
                device,
            )
        elif plan.runs:
            self.products = _GeneralRuns(
                kinds(single_names), single_order, plan.runs, dtype, device
            )
        self.num_two_qubit = len(plan.two_qubit)
        self.num_diagonal = len(plan.diagonal)
        self.two_order = _inverse(two_order, self.num_two_qubit, device)
        self.two_constants = _constant_stack(
            plan.two_qubit,
            [p for p, g in enumerate(plan.two_qubit) if g.matrix is not None],
            4,
            dtype,
            device,
        )
        self.diagonal_order = _inverse(diagonal_order, self.num_diagonal, device)

    def __call__(self, inputs: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor | None]:
        """The group's parts, in :class:`Part` order; ``None`` for an empty part."""
        rows = inputs.shape[0] if self.with_inputs else weights.shape[0]
        angles = self.table(inputs, weights) if self.has_angles else None
        bound: list[torch.Tensor | None] = [None] * len(Part)
        if isinstance(self.products, RotationRuns):
            bound[Part.RUNS] = self.products(angles)
        elif self.products is not None:
            bound[Part.RUNS] = self.products(angles, rows)
        if self.num_two_qubit:
            parts = _build(self.two_kinds, angles) if self.two_kinds else []
            if self.two_constants is not None:
                parts.append(self.two_constants.expand(rows, -1, -1, -1))
            bound[Part.TWO_QUBIT] = _reorder(parts, self.two_order)
        if self.num_diagonal:
            bound[Part.DIAGONAL] = _reorder(
                _build(self.diagonal_kinds, angles), self.diagonal_order
            )
        return bound


@dataclass(frozen=True)
class Layout:
    """Where each part of a program finds its bound matrix.

    ``initial[q]`` and ``final[q]`` address the fused gates of wire ``q`` before anything
    entangles it and after its last entangling gate (``None``: no gates); ``ops[i]`` addresses
    the matrix of ``program.ops[i]`` (``None`` for parameter-free permutations and dense
    matrices, which the kernels hold).
    """

    initial: tuple[Address | None, ...]
    ops: tuple[Address | None, ...]
    final: tuple[Address | None, ...]


class Binder:
    """Binds inputs and weights to every matrix of a compiled program.

    Parameters
    ----------
    program : CircuitProgram
        The compiled circuit.
    dtype : torch.dtype
        Complex dtype of the matrices.
    device : torch.device
        Where they are built.

    Attributes
    ----------
    layout : Layout
        The address of each part of the program in the list :meth:`__call__` returns.

    Examples
    --------
    >>> import torch
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> from qmnist_qiskit.engines.statevector.compiler import compile_circuit
    >>> qc, x, theta, _ = seed_circuit(3)
    >>> binder = Binder(compile_circuit(qc, x, theta), torch.complex128, torch.device("cpu"))
    >>> inputs, weights = torch.zeros(5, 3), torch.zeros(1, 6)
    >>> bound = binder(inputs.double(), weights.double())
    >>> [None if t is None else tuple(t.shape) for t in bound]
    [(1, 3, 2, 2), None, None, (5, 3, 2, 2), None, None]
    >>> binder.layout.initial, binder.layout.final
    (((3, 0), (3, 1), (3, 2)), ((0, 0), (0, 1), (0, 2)))
    """

    def __init__(self, program: CircuitProgram, dtype: torch.dtype, device: torch.device) -> None:
        self.program = program
        plans = {rows: _GroupPlan() for rows in Rows}

        def rows_of(gates: Sequence[GateRef]) -> Rows:
            return Rows.VARYING if program.varies(gates) else Rows.SHARED

        def run_address(gates: Sequence[GateRef]) -> Address | None:
            if not gates:
                return None
            rows = rows_of(gates)
            return slot(rows, Part.RUNS), plans[rows].add_run(gates)

        initial = tuple(run_address(gates) for gates in program.initial)
        ops: list[Address | None] = []
        for op in program.ops:
            if isinstance(op, MonomialOp | DenseOp):
                ops.append(None)
            elif isinstance(op, UnitaryOp) and len(op.qubits) == 1:
                ops.append(run_address(op.gates))
            else:
                (gate,) = op.gates if isinstance(op, UnitaryOp) else (op.gate,)
                rows = rows_of([gate])
                part = Part.DIAGONAL if isinstance(op, DiagonalOp) else Part.TWO_QUBIT
                ops.append((slot(rows, part), plans[rows].add_two_qubit(gate, part)))
        final = tuple(run_address(gates) for gates in program.final)
        self.layout = Layout(initial, tuple(ops), final)
        self.groups = tuple(_Group(plans[rows], program, rows, dtype, device) for rows in Rows)

    def __call__(self, inputs: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor | None]:
        """The bound matrices, addressed by :attr:`layout`.

        ``inputs`` ``(B, num_inputs)``; ``weights`` ``(1, num_weights)`` (shared by the batch)
        or ``(B, num_weights)``. Slot :func:`slot(rows, part) <slot>` holds the ``part`` of the
        ``rows`` group: ``N`` is the number of weight rows for :attr:`Rows.SHARED`, ``B`` for
        :attr:`Rows.VARYING`. Empty slots are ``None``.
        """
        return [part for group in self.groups for part in group(inputs, weights)]
