"""Batched statevector kernels: apply an operation, undo it, and contract its gradient.

States are complex tensors of shape ``(2**n, b)``: amplitude-major, the batch innermost, in
Qiskit's little-endian order (qubit ``q`` is bit ``q`` of the amplitude index). With the
batch innermost, a gate's sub-blocks are long contiguous runs, a permutation is a gather of
whole rows, and per-sample scalars broadcast along the last axis. Operation parameters carry
a leading dimension ``N``: 1 when one matrix serves the whole batch, ``b`` when each sample
has its own.

Gradients follow torch's convention for complex tensors: for ``out = U @ psi`` with
incoming gradient ``lam = dL/d(out)``, ``dL/dU = lam @ psi^H`` and ``dL/dpsi = U^H @ lam``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

Buffers = tuple[torch.Tensor, torch.Tensor]
"""``(result, free buffer)``: where an operation left the state, and the buffer it freed."""


class Kernel(Protocol):
    """An operation on states: apply, undo (apply the adjoint), both into a spare buffer.

    ``in_place``: whether ``apply`` overwrites its input state (otherwise it writes to the
    spare buffer and leaves the input as it was).
    """

    in_place: bool

    def apply(
        self, param: torch.Tensor | None, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers: ...

    def undo(
        self, param: torch.Tensor | None, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers: ...


class Workspace:
    """Scratch buffers reused across chunks and operations.

    Allocating a fresh multi-megabyte tensor for every operation costs a page fault per
    page; these buffers are allocated once per pass and handed out as views.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """A contiguous tensor of ``shape`` backed by the buffer ``name`` (uninitialised)."""
        size = 1
        for extent in shape:
            size *= extent
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = torch.empty(size, dtype=dtype, device=self.device)
            self._buffers[name] = buffer
        return buffer[:size].view(*shape)


def sub_views(state: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> list:
    """Views of ``state`` with the bits of ``qubits`` fixed, indexed by ``sum bit_i << i``."""
    batch = state.shape[1]
    if len(qubits) == 1:
        (qubit,) = qubits
        view = state.view(-1, 2, 2**qubit, batch)
        return [view[:, 0], view[:, 1]]
    low, high = sorted(qubits)
    view = state.view(2 ** (num_qubits - 1 - high), 2, 2 ** (high - low - 1), 2, 2**low, batch)
    views = [None] * 4
    for bit_high in (0, 1):
        for bit_low in (0, 1):
            bits = {high: bit_high, low: bit_low}
            views[bits[qubits[0]] + 2 * bits[qubits[1]]] = view[:, bit_high, :, bit_low]
    return views


def _contract(
    left: torch.Tensor, right: torch.Tensor, samples: int, work: Workspace
) -> torch.Tensor:
    """``sum(left * right)`` over amplitudes: per sample ``(b,)``, or in total ``(1,)``."""
    product = work.get("product", left.shape, left.dtype)
    torch.mul(left, right, out=product)
    if samples == 1:
        return product.sum().reshape(1)
    return product.view(-1, product.shape[-1]).sum(0)


class UnitaryKernel:
    """A dense ``K x K`` matrix on one or two qubits; parameters ``(N, K, K)``."""

    in_place = False

    def __init__(self, qubits: Sequence[int], num_qubits: int) -> None:
        self.qubits = tuple(qubits)
        self.num_qubits = num_qubits
        self.size = 2 ** len(self.qubits)

    def _multiply(
        self, matrix: torch.Tensor, source: torch.Tensor, target: torch.Tensor
    ) -> Buffers:
        inputs = sub_views(source, self.qubits, self.num_qubits)
        outputs = sub_views(target, self.qubits, self.num_qubits)
        # Entries as contiguous per-sample vectors: broadcasting a strided one along the
        # batch axis was measured 30% slower.
        entries = matrix.permute(1, 2, 0).contiguous() if matrix.shape[0] > 1 else matrix[0]
        for row, output in enumerate(outputs):
            torch.mul(inputs[0], entries[row, 0], out=output)
            for column in range(1, self.size):
                output.addcmul_(inputs[column], entries[row, column])
        return target, source

    def apply(
        self, matrix: torch.Tensor, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers:
        """``matrix @ state`` into ``spare``; returns ``(result, free buffer)``."""
        return self._multiply(matrix, state, spare)

    def undo(
        self, matrix: torch.Tensor, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers:
        """``matrix^H @ state`` into ``spare``; returns ``(result, free buffer)``."""
        return self._multiply(matrix.conj().transpose(-1, -2), state, spare)

    def gradient(
        self, seed: torch.Tensor, state: torch.Tensor, samples: int, work: Workspace
    ) -> torch.Tensor:
        """``seed @ state^H`` on the gate's qubits: ``(b, K, K)`` per sample or ``(1, K, K)``."""
        if len(self.qubits) == 1 and samples == 1:
            # One 2 x (R b) @ (R b) x 2 product per block of the leading bits, summed.
            blocks = 2 ** self.qubits[0] * seed.shape[1]
            left = seed.view(-1, 2, blocks)
            right = state.view(-1, 2, blocks)
            return torch.bmm(left, right.mH).sum(0, keepdim=True)
        seeds = sub_views(seed, self.qubits, self.num_qubits)
        # One conjugated copy serves all K * K products.
        conjugate = torch.conj_physical(state, out=work.get("conj", state.shape, state.dtype))
        states = sub_views(conjugate, self.qubits, self.num_qubits)
        rows = [
            torch.stack([_contract(left, right, samples, work) for right in states], -1)
            for left in seeds
        ]
        return torch.stack(rows, -2)


class DiagonalKernel:
    """A diagonal two-qubit gate applied in place; parameters ``(N, 4)``."""

    in_place = True

    def __init__(self, qubits: Sequence[int], num_qubits: int) -> None:
        self.qubits = tuple(qubits)
        self.num_qubits = num_qubits

    def _scale(self, diagonal: torch.Tensor, state: torch.Tensor, spare: torch.Tensor) -> Buffers:
        for index, view in enumerate(sub_views(state, self.qubits, self.num_qubits)):
            view.mul_(diagonal[:, index])
        return state, spare

    def apply(
        self, diagonal: torch.Tensor, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers:
        return self._scale(diagonal, state, spare)

    def undo(
        self, diagonal: torch.Tensor, state: torch.Tensor, spare: torch.Tensor, work: Workspace
    ) -> Buffers:
        return self._scale(diagonal.conj(), state, spare)

    def gradient(
        self, seed: torch.Tensor, state: torch.Tensor, samples: int, work: Workspace
    ) -> torch.Tensor:
        seeds = sub_views(seed, self.qubits, self.num_qubits)
        conjugate = torch.conj_physical(state, out=work.get("conj", state.shape, state.dtype))
        states = sub_views(conjugate, self.qubits, self.num_qubits)
        pairs = zip(seeds, states, strict=True)
        return torch.stack([_contract(left, right, samples, work) for left, right in pairs], -1)


class DenseKernel:
    """A fixed ``K x K`` matrix on any qubits (``K = 2**k``), indexed as ``Gate.to_matrix()``
    indexes it: one matrix product after moving the gate's qubits to the leading axes."""

    in_place = False

    def __init__(self, matrix: torch.Tensor, qubits: Sequence[int], num_qubits: int) -> None:
        self.matrix = matrix
        self.adjoint = matrix.conj().T.contiguous()
        self.num_qubits = num_qubits
        # Viewed as (2,) * n + (b,), axis a holds qubit n - 1 - a; the gate's last qubit is
        # the most significant bit of the matrix's index, so it comes first.
        leading = [num_qubits - 1 - qubit for qubit in reversed(tuple(qubits))]
        others = [axis for axis in range(num_qubits + 1) if axis not in leading]
        self.order = (*leading, *others)

    def _multiply(
        self, matrix: torch.Tensor, source: torch.Tensor, target: torch.Tensor
    ) -> Buffers:
        shape = (2,) * self.num_qubits + (source.shape[1],)
        moved = source.view(shape).permute(self.order)
        product = matrix @ moved.reshape(matrix.shape[0], -1)
        target.view(shape).permute(self.order).copy_(product.view(moved.shape))
        return target, source

    def apply(self, _: None, state: torch.Tensor, spare: torch.Tensor, work: Workspace) -> Buffers:
        return self._multiply(self.matrix, state, spare)

    def undo(self, _: None, state: torch.Tensor, spare: torch.Tensor, work: Workspace) -> Buffers:
        return self._multiply(self.adjoint, state, spare)


class MonomialKernel:
    """A fixed permutation with phases: ``out[k] = phase[k] * in[source[k]]``."""

    def __init__(self, source: torch.Tensor | None, phase: torch.Tensor | None) -> None:
        self.source = source
        self.phase = None if phase is None else phase.unsqueeze(1)
        self.inverse = None if source is None else torch.argsort(source)
        self.in_place = source is None

    def apply(self, _: None, state: torch.Tensor, spare: torch.Tensor, work: Workspace) -> Buffers:
        if self.source is not None:
            torch.index_select(state, 0, self.source, out=spare)
            state, spare = spare, state
        if self.phase is not None:
            state.mul_(self.phase)
        return state, spare

    def undo(self, _: None, state: torch.Tensor, spare: torch.Tensor, work: Workspace) -> Buffers:
        if self.phase is not None:
            state.mul_(self.phase.conj())
        if self.source is not None:
            torch.index_select(state, 0, self.inverse, out=spare)
            state, spare = spare, state
        return state, spare


def product_state(vectors: Sequence[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
    """Fill ``out`` ``(2**n, b)`` with the Kronecker product of one 2-vector per wire.

    ``vectors[q]`` has shape ``(N, 2)`` (amplitudes of wire ``q``); wire 0 is the least
    significant bit.
    """
    batch = out.shape[1]
    partial = vectors[0].T.expand(2, batch)
    for wire in range(1, len(vectors)):
        factor = vectors[wire].T.unsqueeze(1)
        if wire == len(vectors) - 1:
            torch.mul(factor, partial.unsqueeze(0), out=out.view(2, -1, batch))
            return out
        partial = (factor * partial.unsqueeze(0)).reshape(-1, batch)
    out.copy_(partial)
    return out


def product_state_gradient(
    vectors: Sequence[torch.Tensor], seed: torch.Tensor, wanted: Sequence[bool]
) -> list[torch.Tensor | None]:
    """Gradients ``(N, 2)`` of the product state's wires, given ``seed = dL/d(state)``.

    Entries of ``wanted`` that are ``False`` get ``None``.
    """
    batch = seed.shape[1]
    grads: list[torch.Tensor | None] = [None] * len(vectors)
    if not any(wanted):
        return grads
    lowest = min(wire for wire, flag in enumerate(wanted) if flag)
    partials = [torch.ones(1, batch, dtype=seed.dtype, device=seed.device)]
    for wire in range(1, len(vectors)):
        factor = vectors[wire - 1].T.unsqueeze(1)
        partials.append((factor * partials[-1].unsqueeze(0)).reshape(-1, batch))
    remaining = seed
    for wire in range(len(vectors) - 1, lowest - 1, -1):
        shaped = remaining.view(2, -1, batch)
        if wanted[wire]:
            grad = (shaped * partials[wire].conj().unsqueeze(0)).sum(1).T
            grads[wire] = grad if vectors[wire].shape[0] > 1 else grad.sum(0, keepdim=True)
        if wire > lowest:
            remaining = (shaped * vectors[wire].conj().T.unsqueeze(1)).sum(0)
    return grads
