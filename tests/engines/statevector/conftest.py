"""Independent references for the statevector engine: Qiskit's ``Statevector``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector


class QiskitReference:
    """Statevectors, expectation values and finite-difference Jacobians, one row at a time."""

    def bind(
        self,
        circuit: QuantumCircuit,
        parameters: Sequence[Parameter],
        row: Sequence[float],
    ) -> QuantumCircuit:
        return circuit.assign_parameters(dict(zip(parameters, row, strict=True)))

    def states(self, circuit, parameters, rows) -> np.ndarray:
        return np.array([Statevector(self.bind(circuit, parameters, row)).data for row in rows])

    def values(
        self,
        circuit: QuantumCircuit,
        parameters: Sequence[Parameter],
        rows: np.ndarray,
        observables: Sequence[SparsePauliOp],
    ) -> np.ndarray:
        """``(len(rows), len(observables))`` expectation values."""
        states = [Statevector(self.bind(circuit, parameters, row)) for row in rows]
        return np.array(
            [[state.expectation_value(op).real for op in observables] for state in states]
        )

    def jacobian(self, circuit, parameters, rows, observables, step: float = 1e-5) -> np.ndarray:
        """Central differences ``(len(rows), len(observables), len(parameters))``."""
        rows = np.asarray(rows, dtype=float)
        columns = []
        for index in range(rows.shape[1]):
            shift = np.zeros(rows.shape[1])
            shift[index] = step
            plus = self.values(circuit, parameters, rows + shift, observables)
            minus = self.values(circuit, parameters, rows - shift, observables)
            columns.append((plus - minus) / (2 * step))
        return np.stack(columns, axis=-1)


@pytest.fixture(scope="session")
def reference() -> QiskitReference:
    return QiskitReference()
