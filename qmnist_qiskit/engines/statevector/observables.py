"""Expectation values of ``SparsePauliOp`` observables on batches of statevectors.

Pauli strings are grouped by their X mask ``m`` (the qubits they flip). For a group,
``<psi|P|psi> = 2 Re sum_k conj(psi[k ^ m]) w(k) psi[k]`` over the half of the basis states
whose top bit of ``m`` is 0, with ``w(k) = i^{#Y} (-1)^{popcount(k & z)}``; Z-type strings
(``m = 0``) are probabilities times a sign matrix, one matrix product for all of them.

Single-qubit gates at the end of the circuit can be absorbed into the observables
(Heisenberg picture): ``V^dagger sigma V`` is a real rotation of the Pauli vector, so each
Pauli string becomes a short sum of Pauli strings whose coefficients are differentiable
functions of the gates' angles, and those gates never touch the statevector.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.engines.checks import observable_terms
from qmnist_qiskit.engines.statevector.kernels import Workspace

_LETTERS = "IXYZ"
_PAULI_MATRICES = np.array(
    [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex
)


@dataclass(frozen=True)
class PauliGroup:
    """Pauli strings sharing one X mask, evaluated together.

    ``columns`` are positions in the plan's Pauli list; ``phases`` their ``i^{#Y}``;
    ``constant`` marks strings whose sign pattern is constant on the group's domain (their
    value is a plain sum); ``signs`` holds the others' sign patterns, one column each.
    """

    mask: int
    top: int
    flips: tuple[int, ...]
    columns: np.ndarray
    phases: np.ndarray
    constant: np.ndarray
    signs: np.ndarray | None


@dataclass(frozen=True)
class ObservablePlan:
    """Which Pauli strings to evaluate, and how they combine into the observables.

    Observable ``o`` is ``sum_p C[p, o] <P_p>``, where ``C`` is constant unless some wires'
    final gates are ``absorbed``: then ``C`` is computed by :func:`coefficient_matrix` from
    those gates' rotations. Final gates on ``ignored`` wires cannot change any observable.
    """

    num_qubits: int
    num_observables: int
    paulis: tuple[str, ...]
    groups: tuple[PauliGroup, ...]
    absorbed: tuple[int, ...]
    ignored: tuple[int, ...]
    entry_target: np.ndarray
    entry_coefficient: np.ndarray
    entry_factors: np.ndarray

    @property
    def num_paulis(self) -> int:
        return len(self.paulis)


def _terms(observable, num_qubits: int, position: int) -> list[tuple[str, float]]:
    terms = observable_terms(observable, num_qubits, position)
    return [(label[::-1], value) for label, value in terms.items()]


def _parity(states: np.ndarray, mask: int) -> np.ndarray:
    parity = np.zeros_like(states)
    bit = 0
    while mask >> bit:
        if (mask >> bit) & 1:
            parity ^= (states >> bit) & 1
        bit += 1
    return parity


def _group(mask: int, members: list[tuple[int, str]], num_qubits: int, dtype) -> PauliGroup:
    top = mask.bit_length() - 1
    half = 2 ** (num_qubits - 1)
    if mask:
        domain = np.arange(half)
        low = (1 << top) - 1
        domain = ((domain >> top) << (top + 1)) | (domain & low)
    else:
        domain = np.arange(2**num_qubits)
    columns, phases, constant, sign_columns = [], [], [], []
    for column, letters in members:
        z_mask = sum(1 << qubit for qubit, letter in enumerate(letters) if letter in "YZ")
        z_mask &= ~(1 << top) if mask else z_mask
        columns.append(column)
        phases.append(1j ** letters.count("Y"))
        constant.append(z_mask == 0)
        if z_mask:
            sign_columns.append(1.0 - 2.0 * _parity(domain, z_mask))
    flips = tuple(qubit for qubit in range(top) if (mask >> qubit) & 1)
    signs = np.stack(sign_columns, axis=1).astype(dtype) if sign_columns else None
    return PauliGroup(
        mask=mask,
        top=top,
        flips=flips,
        columns=np.array(columns, dtype=np.int64),
        phases=np.array(phases, dtype=complex),
        constant=np.array(constant, dtype=bool),
        signs=signs,
    )


def _expansion_size(terms: Sequence[Sequence[tuple[str, float]]], wires: Sequence[int]) -> int:
    return sum(
        3 ** sum(letters[wire] != "I" for wire in wires) for obs in terms for letters, _ in obs
    )


def plan_observables(
    observables: Sequence[SparsePauliOp],
    num_qubits: int,
    final_wires: Sequence[int] = (),
    *,
    max_expansion: int = 4096,
) -> ObservablePlan:
    """Plan the evaluation of ``observables`` on ``num_qubits`` qubits.

    Parameters
    ----------
    observables : sequence of SparsePauliOp
        Hermitian observables (real coefficients).
    num_qubits : int
        Number of qubits of the circuit.
    final_wires : sequence of int
        Wires that end with single-qubit gates. Those gates are absorbed into the
        observables when that expands them to at most ``max_expansion`` Pauli terms.
    max_expansion : int
        Bound on the number of absorbed terms (each absorbed wire in a term's support
        multiplies that term by 3).

    Returns
    -------
    ObservablePlan

    Examples
    --------
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> plan = plan_observables([SparsePauliOp(["IZ", "XX"], [0.5, 2.0])], 2)
    >>> plan.paulis, [group.mask for group in plan.groups]
    (('IZ', 'XX'), [0, 3])
    """
    if not observables:
        raise ValueError("at least one observable is needed")
    terms = [_terms(observable, num_qubits, i) for i, observable in enumerate(observables)]
    touched = {
        wire
        for obs in terms
        for letters, _ in obs
        for wire in range(num_qubits)
        if letters[wire] != "I"
    }
    candidates = [wire for wire in final_wires if wire in touched]
    ignored = tuple(wire for wire in final_wires if wire not in touched)
    absorbed = tuple(candidates) if _expansion_size(terms, candidates) <= max_expansion else ()
    slot = {wire: position for position, wire in enumerate(absorbed)}
    padding = 9 * len(absorbed)

    pauli_index: dict[str, int] = {}
    targets, coefficients, factors = [], [], []
    width = max([0, *(sum(letters[w] != "I" for w in absorbed) for o in terms for letters, _ in o)])
    for obs_position, obs in enumerate(terms):
        for letters, coefficient in obs:
            support = [wire for wire in absorbed if letters[wire] != "I"]
            for choice in itertools.product("XYZ", repeat=len(support)):
                expanded = list(letters)
                factor = []
                for wire, letter in zip(support, choice, strict=True):
                    expanded[wire] = letter
                    before, after = "XYZ".index(letters[wire]), "XYZ".index(letter)
                    factor.append(9 * slot[wire] + 3 * before + after)
                key = "".join(expanded)
                column = pauli_index.setdefault(key, len(pauli_index))
                targets.append(column * len(observables) + obs_position)
                coefficients.append(coefficient)
                factors.append(factor + [padding] * (width - len(factor)))

    by_mask: dict[int, list[tuple[int, str]]] = {}
    for letters, column in pauli_index.items():
        mask = sum(1 << qubit for qubit, letter in enumerate(letters) if letter in "XY")
        by_mask.setdefault(mask, []).append((column, letters))
    groups = tuple(
        _group(mask, members, num_qubits, np.float64) for mask, members in sorted(by_mask.items())
    )
    return ObservablePlan(
        num_qubits=num_qubits,
        num_observables=len(observables),
        paulis=tuple(letters[::-1] for letters in pauli_index),
        groups=groups,
        absorbed=absorbed,
        ignored=ignored,
        entry_target=np.array(targets, dtype=np.int64),
        entry_coefficient=np.array(coefficients, dtype=np.float64),
        entry_factors=np.array(factors, dtype=np.int64).reshape(len(targets), width),
    )


def pauli_rotations(unitaries: torch.Tensor) -> torch.Tensor:
    """``R[..., a, b] = Tr(sigma_b U^dagger sigma_a U) / 2`` for unitaries ``(..., 2, 2)``.

    ``U^dagger sigma_a U = sum_b R[a, b] sigma_b`` with ``sigma = (X, Y, Z)``; ``R`` is real.
    """
    paulis = torch.as_tensor(_PAULI_MATRICES, dtype=unitaries.dtype, device=unitaries.device)
    adjoint = unitaries.conj().transpose(-1, -2)
    conjugated = adjoint.unsqueeze(-3) @ paulis @ unitaries.unsqueeze(-3)
    return 0.5 * torch.einsum("bij,...aji->...ab", paulis, conjugated).real


def coefficient_matrix(
    plan: ObservablePlan, rotations: torch.Tensor | None, dtype: torch.dtype, device
) -> torch.Tensor:
    """The matrix ``C`` of shape ``(N, num_paulis, num_observables)``.

    ``rotations`` has shape ``(N, len(plan.absorbed), 3, 3)`` (see :func:`pauli_rotations`),
    or is ``None`` when nothing is absorbed (then ``N = 1``).
    """
    size = plan.num_paulis * plan.num_observables
    coefficient = torch.as_tensor(plan.entry_coefficient, dtype=dtype, device=device)
    target = torch.as_tensor(plan.entry_target, device=device)
    if rotations is None or not plan.absorbed:
        matrix = torch.zeros(1, size, dtype=dtype, device=device)
        matrix.index_add_(1, target, coefficient.unsqueeze(0))
        return matrix.reshape(1, plan.num_paulis, plan.num_observables)
    batch = rotations.shape[0]
    flat = torch.cat(
        [rotations.reshape(batch, -1), torch.ones(batch, 1, dtype=dtype, device=device)], dim=1
    )
    factors = torch.as_tensor(plan.entry_factors, device=device)
    products = flat[:, factors].prod(dim=-1) * coefficient
    matrix = torch.zeros(batch, size, dtype=dtype, device=device).index_add(1, target, products)
    return matrix.reshape(batch, plan.num_paulis, plan.num_observables)


def _halves(state: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    view = state.view(-1, 2, 2**top, state.shape[1])
    return view[:, 0], view[:, 1]


class PauliEvaluator:
    """Evaluates a plan's Pauli expectations on statevector chunks, and their adjoint.

    States have shape ``(2**n, b)`` (see :mod:`~qmnist_qiskit.engines.statevector.kernels`).

    Parameters
    ----------
    plan : ObservablePlan
    real_dtype : torch.dtype
        ``float64`` for ``complex128`` states, ``float32`` for ``complex64``.
    device : torch.device
    """

    def __init__(self, plan: ObservablePlan, real_dtype: torch.dtype, device) -> None:
        self.plan = plan
        self.num_qubits = plan.num_qubits
        complex_dtype = torch.complex128 if real_dtype == torch.float64 else torch.complex64
        self._groups = []
        for group in plan.groups:
            signs = None
            if group.signs is not None:
                signs = torch.as_tensor(
                    group.signs, dtype=real_dtype if group.mask == 0 else complex_dtype
                ).to(device)
            phases = torch.as_tensor(group.phases, dtype=complex_dtype, device=device)
            constant = torch.as_tensor(group.constant, device=device)
            self._groups.append(
                (
                    group,
                    torch.as_tensor(group.columns[group.constant], device=device),
                    torch.as_tensor(group.columns[~group.constant], device=device),
                    phases[constant].unsqueeze(1),
                    phases[~constant].unsqueeze(1),
                    signs,
                )
            )

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the sign matrices."""
        return sum(
            signs.numel() * signs.element_size() for *_, signs in self._groups if signs is not None
        )

    def _flip(self, half: torch.Tensor, group: PauliGroup) -> torch.Tensor:
        """``half`` (states with the top mask bit fixed) with the other mask bits flipped."""
        if not group.flips:
            return half
        # In the half, qubit q < top is bit q; the batch is the last axis.
        axes = [self.num_qubits - 2 - qubit for qubit in group.flips]
        shaped = half.reshape(*([2] * (self.num_qubits - 1)), half.shape[-1])
        return torch.flip(shaped, axes).reshape(half.shape)

    def forward(self, state: torch.Tensor, result: torch.Tensor, work: Workspace) -> None:
        """Write the Pauli expectations of ``state`` ``(2**n, b)`` into ``result`` ``(b, P)``."""
        size, batch = state.shape
        conjugate = None
        for group, constant_cols, sign_cols, constant_phases, sign_phases, signs in self._groups:
            if group.mask == 0:
                weight = work.get("weight", state.shape, state.real.dtype)
                torch.mul(state.real, state.real, out=weight)
                weight.addcmul_(state.imag, state.imag)
                if len(constant_cols):
                    norm = weight.sum(0)
                    result[:, constant_cols] = norm.unsqueeze(1).expand(batch, len(constant_cols))
                if signs is not None:
                    result[:, sign_cols] = (signs.T @ weight).T
                continue
            if conjugate is None:
                # One conjugated copy serves every group (a conjugated view would be
                # materialised again by each product).
                conjugate = work.get("conj", state.shape, state.dtype)
                torch.conj_physical(state, out=conjugate)
            low, _ = _halves(state, group.top)
            _, conjugate_high = _halves(conjugate, group.top)
            product = work.get("pauli", low.shape, state.dtype)
            torch.mul(self._flip(conjugate_high, group), low, out=product)
            if len(constant_cols):
                total = product.view(-1, batch).sum(0)
                result[:, constant_cols] = 2 * (constant_phases * total).real.T
            if signs is not None:
                values = signs.T @ product.view(-1, batch)
                result[:, sign_cols] = 2 * (sign_phases * values).real.T

    def backward(self, state: torch.Tensor, grad: torch.Tensor, work: Workspace) -> torch.Tensor:
        """The adjoint seed ``(2**n, b)``: torch's gradient of ``sum(grad * forward(state))``
        with respect to ``state``, for ``grad`` of shape ``(b, P)``."""
        size, batch = state.shape
        seed = work.get("seed", state.shape, state.dtype).zero_()
        grad = grad.to(state.real.dtype).T
        for group, constant_cols, sign_cols, constant_phases, sign_phases, signs in self._groups:
            if group.mask == 0:
                factor = 2 * grad[constant_cols].sum(0)
                if signs is not None:
                    factor = factor + 2 * (signs @ grad[sign_cols])
                seed.addcmul_(state, factor)
                continue
            weight = 2 * (constant_phases * grad[constant_cols]).sum(0)
            low, high = _halves(state, group.top)
            if signs is not None:
                weight = weight + 2 * (signs @ (sign_phases * grad[sign_cols])).view(low.shape)
            seed_low, seed_high = _halves(seed, group.top)
            if group.flips:
                product = work.get("pauli", low.shape, state.dtype)
                torch.mul(low, weight, out=product)
                seed_high.add_(self._flip(product, group))
            else:
                seed_high.addcmul_(low, weight)
            seed_low.addcmul_(self._flip(high, group), weight.conj())
        return seed
