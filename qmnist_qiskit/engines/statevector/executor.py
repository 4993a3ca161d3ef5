"""Run lowered programs on batches of states: chunking, the forward sweep and the adjoint sweep.

The executor receives the bound matrices (see
:mod:`~qmnist_qiskit.engines.statevector.binding`) as a few stacked tensors and addresses each
step's matrix inside them. :class:`PauliExpectations` wraps a whole circuit evaluation in one
torch autograd function whose backward pass returns the gradient of each stacked tensor at
once, by the adjoint method: the gradient with respect to the state is propagated backwards
with ``U^dagger``, and each parameterised step's gradient is contracted from it and the state
that entered the step.

When the states the backward pass needs (the final states, and the state entering each step
whose matrix needs a gradient) fit comfortably in the memory budget, the forward pass keeps
them: the backward pass then costs one sweep of the gradient. Otherwise each chunk is
recomputed in the backward pass and un-computed step by step with ``U^dagger`` beside the
gradient, so no intermediate state is stored.

Where the compiled sweeps apply (:meth:`Executor.compiled`), :class:`PauliExpectations` hands
the whole batch to them instead: they keep no state between the passes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from qmnist_qiskit.engines.statevector.binding import Address
from qmnist_qiskit.engines.statevector.kernels import (
    Kernel,
    Workspace,
    product_state,
    product_state_gradient,
)
from qmnist_qiskit.engines.statevector.native import (
    CompiledProgram,
    compiled_path_enabled,
    compiled_program,
    scratch_bytes,
)
from qmnist_qiskit.engines.statevector.observables import PauliEvaluator
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.resources import available_budget

# Live copies of a chunk's states during the backward pass (state, seed, their spare
# buffers, a conjugated copy, and the temporaries of the observables and gradient
# contractions).
_STATES_PER_SAMPLE = 8
# Chunks of about this many bytes per state keep the sweep in the CPU caches (measured: at
# 16 qubits, 4-sample chunks run 30% faster than 32-sample ones).
_CACHE_BYTES = 2**22
# Kept states up to this many bytes live in buffers the executor reuses from call to call:
# fresh multi-megabyte tensors cost a page fault per page each time they are first written,
# which made a 256-sample training step several times slower than its arithmetic.
_POOL_BYTES = 2**29

Step = tuple[Kernel, Address | None]
"""A kernel and the address of its matrix among the bound tensors (``None``: it has none)."""


def default_memory_budget(device: torch.device) -> int:
    """Half of the memory currently available on ``device`` (see
    :func:`qmnist_qiskit.resources.available_budget` for the CPU)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return available_budget()


def _rows(tensor: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Samples ``start:stop`` of a bound tensor (all of it when it has one shared row)."""
    return tensor if tensor.shape[0] == 1 else tensor[start:stop]


def _accumulate(
    grads: list[torch.Tensor | None],
    bound: Sequence[torch.Tensor | None],
    address: Address,
    gradient: torch.Tensor,
    start: int,
    stop: int,
    vector: bool = False,
) -> None:
    """Add ``gradient`` (samples ``start:stop``) to the gradient of the addressed matrix.

    With ``vector``, the address names a product-state wire: its vector is column 0 of the
    addressed matrix.
    """
    slot, index = address
    if grads[slot] is None:
        grads[slot] = torch.zeros_like(bound[slot])
    target = grads[slot][:, index]
    if vector:
        target = target[..., 0]
    if target.shape[0] == 1:
        target += gradient.sum(0, keepdim=True)
    else:
        target[start:stop] += gradient


class Executor:
    """The runtime side of a lowered program: kernels on a device, chunking, the adjoint sweep.

    Parameters
    ----------
    steps : list of Step
        The operations after the product state, in order.
    vectors : sequence of Address or None
        For each wire, the matrix whose first column is its initial vector (``None``: |0>).
    evaluator : PauliEvaluator or None
        The observables (``None`` when only states are wanted).
    num_qubits : int
    dtype : torch.dtype
        Complex dtype of the states.
    budget : int
        Bytes a call may use.
    device : torch.device
    """

    def __init__(
        self,
        steps: list[Step],
        vectors: Sequence[Address | None],
        evaluator: PauliEvaluator | None,
        num_qubits: int,
        dtype: torch.dtype,
        budget: int,
        device: torch.device,
    ) -> None:
        self.steps = steps
        self.vectors = tuple(vectors)
        self.evaluator = evaluator
        self.num_qubits = num_qubits
        self.dtype = dtype
        self.budget = budget
        self.device = device
        self._ground = torch.tensor([[1.0, 0.0]], dtype=dtype, device=device)
        # Buffers reused from call to call, one set per thread, so that threads sharing a
        # fitted model never share scratch memory.
        self._local = threading.local()
        addresses = [*self.vectors, *(address for _, address in steps)]
        self.slots = frozenset(address[0] for address in addresses if address is not None)
        self._compiled: CompiledProgram | None = None
        self._compiled_tried = False

    def compiled(self) -> CompiledProgram | None:
        """The program and observables for the compiled sweeps
        (:mod:`~qmnist_qiskit.engines.statevector.native`), or ``None`` where the torch
        kernels run them (turned off, not supported here, or beyond the memory budget)."""
        if self.evaluator is None or not compiled_path_enabled():
            return None
        if scratch_bytes(self.num_qubits) + self.evaluator.memory_bytes > self.budget:
            return None
        if not self._compiled_tried:
            self._compiled = compiled_program(
                self.steps,
                self.vectors,
                self.num_qubits,
                self.evaluator.plan.paulis,
                self.dtype,
                self.device,
            )
            self._compiled_tried = True
        return self._compiled

    def inputs(self, bound: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """``bound`` with the slots this executor never reads left out (``None``), so that
        autograd does not run its backward pass for them (final gates that the observables
        absorb, say)."""
        return [tensor if slot in self.slots else None for slot, tensor in enumerate(bound)]

    def _buffers(self) -> threading.local:
        local = self._local
        if not hasattr(local, "work"):
            local.work = Workspace(self.device)
            local.pool = Workspace(self.device)
            local.owner = None
        return local

    @property
    def work(self) -> Workspace:
        """Scratch buffers, reused by every call of this thread."""
        return self._buffers().work

    def claim_pool(self, batch: int) -> tuple[Workspace | None, object | None]:
        """The reusable store for the states one forward pass keeps, and a token that stays
        valid until the next pass claims the store (``(None, None)`` when the states are too
        large to hold on to between calls)."""
        kept = batch * self.state_bytes() * (2 + len(self.steps))
        if kept > _POOL_BYTES:
            return None, None
        token = object()
        buffers = self._buffers()
        buffers.owner = token
        return buffers.pool, token

    def owns_pool(self, token: object | None) -> bool:
        """Whether the states kept under ``token`` are still in the store."""
        return token is None or token is self._buffers().owner

    def state_bytes(self) -> int:
        return 2**self.num_qubits * torch.empty((), dtype=self.dtype).element_size()

    def plan(self, batch: int, differentiable: bool) -> tuple[int, bool]:
        """``(chunk size, keep states)`` for a batch within the memory budget.

        ``keep``: the forward pass keeps the states the backward pass needs (the final ones,
        and those entering the parameterised steps).
        """
        state = self.state_bytes()
        fixed = self.evaluator.memory_bytes if self.evaluator is not None else 0
        available = self.budget - fixed
        per_sample = _STATES_PER_SAMPLE * state
        if available < per_sample:
            raise QMNISTError(
                f"a {self.num_qubits}-qubit sample needs about {per_sample + fixed} bytes but "
                f"the memory budget is {self.budget} bytes; raise max_memory_bytes"
            )
        kept = batch * state * (1 + sum(address is not None for _, address in self.steps))
        keep = differentiable and kept <= available // 2
        if keep:
            available -= kept
        chunk = max(1, min(batch, available // per_sample, max(1, _CACHE_BYTES // state)))
        return chunk, keep

    def _vectors(
        self, bound: Sequence[torch.Tensor | None], start: int, stop: int
    ) -> list[torch.Tensor]:
        return [
            self._ground
            if address is None
            else _rows(bound[address[0]], start, stop)[:, address[1], :, 0]
            for address in self.vectors
        ]

    @staticmethod
    def _matrix(
        bound: Sequence[torch.Tensor | None], address: Address | None, start: int, stop: int
    ) -> torch.Tensor | None:
        if address is None:
            return None
        slot, index = address
        return _rows(bound[slot], start, stop)[:, index]

    def run(
        self,
        bound: Sequence[torch.Tensor | None],
        start: int,
        stop: int,
        work: Workspace,
        kept: dict[int, torch.Tensor] | None = None,
        wanted: Sequence[bool] = (),
        store: Workspace | None = None,
    ) -> torch.Tensor:
        """The final states ``(2**n, stop - start)`` of samples ``start:stop``.

        With ``kept``, the final states get memory of their own (not a scratch buffer), and
        ``kept[position]`` receives the state entering each step whose matrix is in a
        ``wanted`` slot. That memory comes from ``store`` (default: new tensors).
        """
        shape = (2**self.num_qubits, stop - start)
        buffers = iter(range(len(self.steps) + 2))

        def fresh() -> torch.Tensor:
            if store is None:
                return torch.empty(shape, dtype=self.dtype, device=self.device)
            return store.get(f"{start}:{next(buffers)}", shape, self.dtype)

        if kept is None:
            state = work.get("state", shape, self.dtype)
            spare = work.get("spare", shape, self.dtype)
        else:
            state, spare = fresh(), fresh()
        product_state(self._vectors(bound, start, stop), state)
        for position, (kernel, address) in enumerate(self.steps):
            saving = kept is not None and address is not None and wanted[address[0]]
            if saving and kernel.in_place:
                kept[position] = state.clone()
            matrix = self._matrix(bound, address, start, stop)
            state, spare = kernel.apply(matrix, state, spare, work)
            if saving and not kernel.in_place:
                # The step left its input in ``spare``: keep it, and give the next step new
                # memory to write to.
                kept[position] = spare
                spare = fresh()
        return state

    def gradients(
        self,
        bound: Sequence[torch.Tensor | None],
        start: int,
        stop: int,
        kept: dict[int, torch.Tensor],
        seed: torch.Tensor,
        wanted: Sequence[bool],
        grads: list[torch.Tensor | None],
        work: Workspace,
    ) -> None:
        """Accumulate into ``grads`` the gradients of samples ``start:stop`` from the states
        ``kept`` by :meth:`run`; ``seed`` (overwritten) is the gradient with respect to the
        final states."""
        stop_at = self.stop_at(wanted)
        seed_spare = work.get("seed_spare", seed.shape, seed.dtype)
        for position in range(len(self.steps) - 1, stop_at - 1, -1):
            kernel, address = self.steps[position]
            matrix = self._matrix(bound, address, start, stop)
            if position in kept:
                gradient = kernel.gradient(seed, kept[position], matrix.shape[0], work)
                _accumulate(grads, bound, address, gradient, start, stop)
            if position > stop_at or stop_at == 0:
                seed, seed_spare = kernel.undo(matrix, seed, seed_spare, work)
        self._vector_gradients(bound, start, stop, seed, wanted, grads)

    def stop_at(self, wanted: Sequence[bool]) -> int:
        """The first step the backward sweep must reach."""
        if any(address is not None and wanted[address[0]] for address in self.vectors):
            return 0
        needed = [
            position
            for position, (_, address) in enumerate(self.steps)
            if address is not None and wanted[address[0]]
        ]
        return min(needed) if needed else len(self.steps)

    def _vector_gradients(
        self,
        bound: Sequence[torch.Tensor | None],
        start: int,
        stop: int,
        seed: torch.Tensor,
        wanted: Sequence[bool],
        grads: list[torch.Tensor | None],
    ) -> None:
        wanted_vectors = [address is not None and wanted[address[0]] for address in self.vectors]
        if not any(wanted_vectors):
            return
        vectors = self._vectors(bound, start, stop)
        gradients = product_state_gradient(vectors, seed, wanted_vectors)
        for address, gradient in zip(self.vectors, gradients, strict=True):
            if gradient is not None:
                _accumulate(grads, bound, address, gradient, start, stop, vector=True)

    def adjoint(
        self,
        bound: Sequence[torch.Tensor | None],
        start: int,
        stop: int,
        state: torch.Tensor,
        seed: torch.Tensor,
        wanted: Sequence[bool],
        grads: list[torch.Tensor | None],
        work: Workspace,
    ) -> None:
        """Accumulate into ``grads`` (one per bound slot) the gradients of samples
        ``start:stop``. ``state`` (overwritten) holds their final states and ``seed`` the
        gradient with respect to them; ``wanted[slot]`` says which slots need gradients."""
        stop_at = self.stop_at(wanted)
        spare = work.get("spare", state.shape, state.dtype)
        seed_spare = work.get("seed_spare", seed.shape, seed.dtype)
        if state.data_ptr() == spare.data_ptr():
            spare = work.get("state", state.shape, state.dtype)
        for position in range(len(self.steps) - 1, stop_at - 1, -1):
            kernel, address = self.steps[position]
            matrix = self._matrix(bound, address, start, stop)
            state, spare = kernel.undo(matrix, state, spare, work)
            if address is not None and wanted[address[0]]:
                gradient = kernel.gradient(seed, state, matrix.shape[0], work)
                _accumulate(grads, bound, address, gradient, start, stop)
            seed, seed_spare = kernel.undo(matrix, seed, seed_spare, work)
        self._vector_gradients(bound, start, stop, seed, wanted, grads)


class PauliExpectations(torch.autograd.Function):
    """Pauli expectations ``(B, P)`` of a lowered circuit from its bound tensors.

    ``apply(executor, batch, *bound)``; ``None`` entries of ``bound`` are empty slots.
    """

    @staticmethod
    def forward(ctx, executor: Executor, batch: int, *bound: torch.Tensor | None) -> torch.Tensor:
        device = executor.device
        wanted = ctx.needs_input_grad[2:]
        chunk, keep = executor.plan(batch, differentiable=any(wanted))
        ctx.executor, ctx.compiled = executor, executor.compiled()
        ctx.empty = [tensor is None for tensor in bound]
        if ctx.compiled is not None:
            bound = tuple(None if tensor is None else tensor.contiguous() for tensor in bound)
            ctx.save_for_backward(*(tensor for tensor in bound if tensor is not None))
            return ctx.compiled.expectations(bound, batch, executor.work)
        real = torch.empty((), dtype=executor.dtype).real.dtype
        num_paulis = executor.evaluator.plan.num_paulis
        result = torch.empty(batch, num_paulis, dtype=real, device=device)
        work = executor.work
        store, token = executor.claim_pool(batch) if keep else (None, None)
        states = []
        for start in range(0, batch, chunk):
            stop = min(batch, start + chunk)
            kept: dict[int, torch.Tensor] | None = {} if keep else None
            state = executor.run(bound, start, stop, work, kept, wanted, store)
            executor.evaluator.forward(state, result[start:stop], work)
            if keep:
                states.append((state, kept))
        ctx.batch, ctx.chunk, ctx.states = batch, chunk, states
        ctx.token = token
        ctx.save_for_backward(*(tensor for tensor in bound if tensor is not None))
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)
        bound = [None if empty else next(saved) for empty in ctx.empty]
        executor, wanted = ctx.executor, ctx.needs_input_grad[2:]
        work = executor.work
        if ctx.compiled is not None:
            grads = ctx.compiled.gradients(
                bound, grad_output, wanted, executor.stop_at(wanted), work
            )
            return (None, None, *grads)
        grads: list[torch.Tensor | None] = [None] * len(bound)
        # Another forward pass may have reused the store since: then recompute.
        states = ctx.states if executor.owns_pool(ctx.token) else []
        for position, start in enumerate(range(0, ctx.batch, ctx.chunk)):
            stop = min(ctx.batch, start + ctx.chunk)
            if states:
                state, kept = states[position]
                seed = executor.evaluator.backward(state, grad_output[start:stop], work)
                executor.gradients(bound, start, stop, kept, seed, wanted, grads, work)
                continue
            state = executor.run(bound, start, stop, work)
            seed = executor.evaluator.backward(state, grad_output[start:stop], work)
            executor.adjoint(bound, start, stop, state, seed, wanted, grads, work)
        return (None, None, *grads)
