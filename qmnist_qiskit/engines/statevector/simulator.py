"""The batched, differentiable statevector simulator of a Qiskit circuit: the public face.

A circuit goes through four stages, each in its own module: the compiler
(:mod:`~qmnist_qiskit.engines.statevector.compiler`: fusion, product-state prefix, merged
permutations, final gates for the observables), binding
(:mod:`~qmnist_qiskit.engines.statevector.binding`: every gate matrix of a batch in a few
tensor operations), lowering (:mod:`~qmnist_qiskit.engines.statevector.lowering`: kernels with
the addresses of their matrices) and execution
(:mod:`~qmnist_qiskit.engines.statevector.executor`: chunking, the forward and adjoint sweeps,
handed to the compiled sweeps of :mod:`~qmnist_qiskit.engines.statevector.native` where they
apply). This module checks what users pass and puts the stages together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.engines.statevector.binding import Binder
from qmnist_qiskit.engines.statevector.compiler import CircuitProgram, compile_circuit
from qmnist_qiskit.engines.statevector.executor import (
    Executor,
    PauliExpectations,
    default_memory_budget,
)
from qmnist_qiskit.engines.statevector.lowering import lower
from qmnist_qiskit.engines.statevector.observables import (
    PauliEvaluator,
    coefficient_matrix,
    pauli_rotations,
    plan_observables,
)
from qmnist_qiskit.resources import require_memory
from qmnist_qiskit.torch_utils import resolve_device

__all__ = ["StatevectorSimulator", "default_memory_budget", "resolve_device", "resolve_dtype"]

_DTYPES = {
    "complex128": torch.complex128,
    "complex64": torch.complex64,
    torch.complex128: torch.complex128,
    torch.complex64: torch.complex64,
}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """The complex torch dtype named by ``dtype`` ("complex128" or "complex64")."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'complex128' or 'complex64', got {dtype!r}")
    return _DTYPES[dtype]


def _as_values(
    values, name: str, width: int, real_dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        values = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must be real numbers, got dtype {values.dtype}")
    if values.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D array, got shape {tuple(values.shape)}")
    if values.shape[-1] != width:
        raise ValueError(
            f"{name} has {values.shape[-1]} columns but the circuit has {width} {name} parameters"
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    return values.to(device=device, dtype=real_dtype)


class StatevectorSimulator:
    """Exact, batched, differentiable expectation values of a parameterised Qiskit circuit.

    Parameters
    ----------
    circuit : QuantumCircuit
        A deterministic circuit: no measurements or classical control, and resets (or
        ``initialize``) only on qubits still in |0>. Gates without a torch builder or a
        usable matrix are replaced by their definitions (see
        :mod:`~qmnist_qiskit.engines.statevector.compiler`).
    observables : sequence of SparsePauliOp
        Hermitian observables (real coefficients), one output column each.
    input_params : sequence of Parameter
        Parameters that vary per sample (the columns of ``inputs``).
    weight_params : sequence of Parameter
        Parameters shared by the batch (the entries of ``weights``).
    dtype : {"complex128", "complex64"} or torch.dtype
        Precision of the statevector.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:0"``...
    max_memory_bytes : int, optional
        Memory the simulation may use; batches are split into chunks to stay within it.
        Defaults to half of the memory available when the simulator is built.

    Examples
    --------
    >>> import torch
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, obs = seed_circuit(3)
    >>> simulator = StatevectorSimulator(qc, obs, input_params=x, weight_params=theta)
    >>> weights = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    >>> values = simulator.expectations(torch.zeros(2, 3, dtype=torch.float64), weights)
    >>> values.detach().tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> values.sum().backward()
    >>> weights.grad.shape
    torch.Size([6])
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        observables: Sequence[SparsePauliOp],
        *,
        input_params: Sequence[Parameter] = (),
        weight_params: Sequence[Parameter] = (),
        dtype: str | torch.dtype = "complex128",
        device: str | torch.device = "cpu",
        max_memory_bytes: int | None = None,
    ) -> None:
        self._arguments = {
            "circuit": circuit,
            "observables": list(observables),
            "input_params": list(input_params),
            "weight_params": list(weight_params),
            "dtype": dtype,
            "device": device,
            "max_memory_bytes": max_memory_bytes,
        }
        self._setup(**self._arguments)

    def _setup(
        self,
        circuit: QuantumCircuit,
        observables: Sequence[SparsePauliOp],
        input_params: Sequence[Parameter],
        weight_params: Sequence[Parameter],
        dtype: str | torch.dtype,
        device: str | torch.device,
        max_memory_bytes: int | None,
    ) -> None:
        self.dtype = resolve_dtype(dtype)
        self.device = resolve_device(device)
        if max_memory_bytes is not None and (
            not isinstance(max_memory_bytes, int | np.integer) or max_memory_bytes <= 0
        ):
            raise ValueError(f"max_memory_bytes must be a positive integer, got {max_memory_bytes}")
        self.real_dtype = torch.empty((), dtype=self.dtype).real.dtype
        budget = (
            int(max_memory_bytes)
            if max_memory_bytes is not None
            else default_memory_budget(self.device)
        )
        if isinstance(circuit, QuantumCircuit):
            # Before compiling: the compiler's tables alone grow as 2**n.
            element = torch.empty((), dtype=self.dtype).element_size()
            require_memory(
                "statevector",
                circuit.num_qubits,
                budget,
                remedy="raise max_memory_bytes",
                element_bytes=element,
            )
        self.program: CircuitProgram = compile_circuit(circuit, input_params, weight_params)
        final_wires = tuple(wire for wire, gates in enumerate(self.program.final) if gates)
        self.plan = plan_observables(observables, self.program.num_qubits, final_wires)
        self._binder = Binder(self.program, self.dtype, self.device)
        applied = tuple(
            wire
            for wire in final_wires
            if wire not in self.plan.absorbed and wire not in self.plan.ignored
        )
        evaluator = PauliEvaluator(self.plan, self.real_dtype, self.device)
        # Expectations apply only the final gates the observables do not absorb; states need
        # them all.
        self._executor = self._lowered(applied, evaluator, budget)
        self._state_executor = self._lowered(final_wires, None, budget)

    def _lowered(
        self, final_wires: tuple[int, ...], evaluator: PauliEvaluator | None, budget: int
    ) -> Executor:
        layout = self._binder.layout
        steps = lower(self.program, layout, final_wires, self.dtype, self.device)
        return Executor(
            steps,
            layout.initial,
            evaluator,
            self.program.num_qubits,
            self.dtype,
            budget,
            self.device,
        )

    def __getstate__(self) -> dict:
        return dict(self._arguments)

    def __setstate__(self, state: dict) -> None:
        self._arguments = state
        self._setup(**state)

    def batch_plan(self, batch: int, *, differentiable: bool = True) -> tuple[int, bool]:
        """How :meth:`expectations` processes ``batch`` samples within the memory budget.

        Returns ``(chunk size, whether the final states are kept for the backward pass)``;
        when they are not, the backward pass recomputes each chunk.
        """
        return self._executor.plan(batch, differentiable)

    @property
    def num_qubits(self) -> int:
        """Number of qubits of the (translated) circuit."""
        return self.program.num_qubits

    @property
    def num_inputs(self) -> int:
        return self.program.num_inputs

    @property
    def num_weights(self) -> int:
        return len(self.program.parameters) - self.program.num_inputs

    @property
    def num_observables(self) -> int:
        return self.plan.num_observables

    def _validate(self, inputs, weights) -> tuple[torch.Tensor, torch.Tensor, int]:
        if inputs is None and self.num_inputs == 0:
            inputs = torch.zeros(1, 0)
        if weights is None and self.num_weights == 0:
            weights = torch.zeros(0)
        if inputs is None or weights is None:
            raise ValueError("inputs and weights are required by this circuit")
        inputs = _as_values(inputs, "inputs", self.num_inputs, self.real_dtype, self.device)
        weights = _as_values(weights, "weights", self.num_weights, self.real_dtype, self.device)
        if inputs.ndim != 2:
            raise ValueError(
                f"inputs must have shape (batch, {self.num_inputs}), got {tuple(inputs.shape)}"
            )
        batch = inputs.shape[0]
        if weights.ndim == 2 and weights.shape[0] != batch:
            raise ValueError(
                f"weights of shape {tuple(weights.shape)} do not match a batch of {batch} inputs"
            )
        return inputs, weights, batch

    def _bind(self, inputs: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor | None]:
        return self._binder(inputs, weights if weights.ndim == 2 else weights.unsqueeze(0))

    def expectations(self, inputs, weights) -> torch.Tensor:
        """Expectation values of the observables, differentiable by torch autograd.

        Parameters
        ----------
        inputs : Tensor of shape (B, num_inputs)
            One row of input values per sample.
        weights : Tensor of shape (num_weights,) or (B, num_weights)
            Weights shared by the batch, or one row per sample.

        Returns
        -------
        Tensor of shape (B, num_observables)
            Real (``float64`` for ``complex128``, ``float32`` for ``complex64``), on the
            simulator's device.
        """
        inputs, weights, batch = self._validate(inputs, weights)
        bound = self._bind(inputs, weights)
        paulis = PauliExpectations.apply(self._executor, batch, *self._executor.inputs(bound))
        rotations = None
        if self.plan.absorbed:
            finals = []
            for wire in self.plan.absorbed:
                slot, index = self._binder.layout.final[wire]
                finals.append(bound[slot][:, index])
            shape = torch.broadcast_shapes(*(final.shape for final in finals))
            stacked = torch.stack([final.expand(shape) for final in finals], dim=1)
            rotations = pauli_rotations(stacked)
        coefficients = coefficient_matrix(self.plan, rotations, self.real_dtype, self.device)
        if coefficients.shape[0] == 1:
            values = paulis @ coefficients[0]
        else:
            values = torch.bmm(paulis.unsqueeze(1), coefficients).squeeze(1)
        if not values.requires_grad and (inputs.requires_grad or weights.requires_grad):
            # No parameter reaches the observables: backward() must give zeros, not fail.
            values = values + 0.0 * (inputs.sum() + weights.sum())
        return values

    @torch.no_grad()
    def statevector(self, inputs, weights) -> torch.Tensor:
        """Final statevectors ``(B, 2**n)`` in Qiskit's little-endian order, global phase
        included (equal to ``Statevector(bound_circuit).data``). Not differentiable."""
        inputs, weights, batch = self._validate(inputs, weights)
        bound = self._bind(inputs, weights)
        chunk, _ = self._state_executor.plan(batch, differentiable=False)
        states = torch.empty(batch, 2**self.num_qubits, dtype=self.dtype, device=self.device)
        work = self._state_executor.work
        for start in range(0, batch, chunk):
            stop = min(batch, start + chunk)
            states[start:stop] = self._state_executor.run(bound, start, stop, work).T
        columns = [inputs[:, i] for i in range(inputs.shape[1])]
        rows = weights if weights.ndim == 2 else weights.unsqueeze(0)
        columns += [rows[:, j] for j in range(rows.shape[1])]
        phase = self.program.global_phase(columns, self.real_dtype, self.device)
        return states * torch.polar(torch.ones_like(phase), phase).unsqueeze(1)
