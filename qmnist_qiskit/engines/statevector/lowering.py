"""Lower a compiled program to kernels: one step per operation, each addressing its matrix.

The compiler decides *what* runs (fused operations, merged permutations, absorbed final
gates); the binder decides *where* each operation's matrix lives among the bound tensors;
lowering pairs each operation with the kernel that applies it and the address of its matrix.
"""

from __future__ import annotations

import torch

from qmnist_qiskit.engines.statevector.binding import Layout
from qmnist_qiskit.engines.statevector.compiler import (
    CircuitProgram,
    DenseOp,
    DiagonalOp,
    MonomialOp,
)
from qmnist_qiskit.engines.statevector.executor import Step
from qmnist_qiskit.engines.statevector.kernels import (
    DenseKernel,
    DiagonalKernel,
    MonomialKernel,
    UnitaryKernel,
)


def lower(
    program: CircuitProgram,
    layout: Layout,
    final_wires: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
) -> list[Step]:
    """Kernels for ``program.ops`` followed by the final gates of ``final_wires``.

    Parameters
    ----------
    program : CircuitProgram
    layout : Layout
        Addresses of the bound matrices (:attr:`Binder.layout`).
    final_wires : tuple of int
        Wires whose final gates act on the state (the others are absorbed by the
        observables, or cannot change them).
    dtype : torch.dtype
        Complex dtype of the states (for the phases of permutations).
    device : torch.device

    Returns
    -------
    list of Step
    """
    n = program.num_qubits
    steps: list[Step] = []
    for op, address in zip(program.ops, layout.ops, strict=True):
        if isinstance(op, MonomialOp):
            source = None if op.source is None else torch.as_tensor(op.source).to(device)
            phase = (
                None if op.phase is None else torch.as_tensor(op.phase, dtype=dtype, device=device)
            )
            steps.append((MonomialKernel(source, phase), None))
        elif isinstance(op, DenseOp):
            matrix = torch.as_tensor(op.matrix, dtype=dtype, device=device)
            steps.append((DenseKernel(matrix, op.qubits, n), None))
        elif isinstance(op, DiagonalOp):
            steps.append((DiagonalKernel(op.qubits, n), address))
        else:
            steps.append((UnitaryKernel(op.qubits, n), address))
    for wire in final_wires:
        steps.append((UnitaryKernel((wire,), n), layout.final[wire]))
    return steps
