"""The exact reference for every engine's tests, computed on Qiskit's side only, with
``qiskit.quantum_info.Statevector``: one implementation, :class:`QiskitReference`, behind the
``reference``, ``exact_outputs`` and ``exact_jacobians`` fixtures.

Gradients of a :class:`~qmnist_qiskit.circuits.CircuitSpec` use the two-term shift rule on each
rotation gate (exact for RX/RY/RZ) and the chain rule through the gate's angle expression
(``θ * x`` with trainable input scaling); circuits with other gates have central differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from qmnist_qiskit.circuits import CircuitSpec

_PAULI_ROTATIONS = {"rx", "ry", "rz"}


def _number(expression: ParameterExpression | float, values: dict) -> float:
    if isinstance(expression, ParameterExpression):
        return float(expression.bind(values, allow_unknown_parameters=True))
    return float(expression)


def _shifted(bound: QuantumCircuit, index: int, angle: float) -> QuantumCircuit:
    circuit = bound.copy()
    instruction = circuit.data[index]
    circuit.data[index] = instruction.replace(operation=type(instruction.operation)(angle))
    return circuit


def _expectations(bound: QuantumCircuit, observables: Sequence[SparsePauliOp]) -> np.ndarray:
    state = Statevector(bound)
    return np.array([state.expectation_value(op).real for op in observables])


class QiskitReference:
    """States, expectation values and Jacobians from ``Statevector``, one row at a time."""

    def bind(
        self, circuit: QuantumCircuit, parameters: Sequence[Parameter], row: Sequence[float]
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
        return np.array(
            [_expectations(self.bind(circuit, parameters, row), observables) for row in rows]
        )

    def jacobian(self, circuit, parameters, rows, observables, step: float = 1e-5) -> np.ndarray:
        """Central differences ``(len(rows), len(observables), len(parameters))``, any gates."""
        rows = np.asarray(rows, dtype=float)
        columns = []
        for index in range(rows.shape[1]):
            shift = np.zeros(rows.shape[1])
            shift[index] = step
            plus = self.values(circuit, parameters, rows + shift, observables)
            minus = self.values(circuit, parameters, rows - shift, observables)
            columns.append((plus - minus) / (2 * step))
        return np.stack(columns, axis=-1)

    def outputs(self, spec: CircuitSpec, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``(B, n_obs)`` expectations of a spec for inputs ``(B, n_in)`` and one weight vector."""
        inputs = np.asarray(inputs, dtype=float)
        rows = np.concatenate([inputs, np.broadcast_to(weights, (len(inputs), len(weights)))], 1)
        parameters = [*spec.input_params, *spec.weight_params]
        return self.values(spec.circuit, parameters, rows, spec.observables)

    def _sample_jacobians(
        self, spec: CircuitSpec, sample: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        parameters = [*spec.input_params, *spec.weight_params]
        values = dict(zip(parameters, [*sample, *weights], strict=True))
        bound = spec.circuit.assign_parameters(values)
        columns = {p: (0, j) for j, p in enumerate(spec.input_params)}
        columns |= {p: (1, k) for k, p in enumerate(spec.weight_params)}
        jacobians = (
            np.zeros((len(spec.observables), len(spec.input_params))),
            np.zeros((len(spec.observables), len(spec.weight_params))),
        )
        for index, instruction in enumerate(spec.circuit.data):
            for expression in instruction.operation.params:
                if not isinstance(expression, ParameterExpression) or not expression.parameters:
                    continue
                assert instruction.operation.name in _PAULI_ROTATIONS
                angle = _number(expression, values)
                d_angle = 0.5 * (
                    _expectations(_shifted(bound, index, angle + np.pi / 2), spec.observables)
                    - _expectations(_shifted(bound, index, angle - np.pi / 2), spec.observables)
                )
                for parameter in expression.parameters:
                    source, column = columns[parameter]
                    jacobians[source][:, column] += (
                        _number(expression.gradient(parameter), values) * d_angle
                    )
        return jacobians

    def jacobians(
        self, spec: CircuitSpec, inputs: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(B, n_obs, n_in)`` input and ``(B, n_obs, n_w)`` weight Jacobians of a spec
        whose parameterised gates are Pauli rotations."""
        per_sample = [self._sample_jacobians(spec, sample, weights) for sample in inputs]
        return np.stack([j[0] for j in per_sample]), np.stack([j[1] for j in per_sample])


REFERENCE = QiskitReference()


@pytest.fixture(scope="session")
def reference() -> QiskitReference:
    return REFERENCE


@pytest.fixture
def exact_outputs() -> Callable[[CircuitSpec, np.ndarray, np.ndarray], np.ndarray]:
    """``(spec, inputs (B, n_in), weights) -> (B, n_obs)`` expectations from Statevector."""
    return REFERENCE.outputs


@pytest.fixture
def exact_jacobians() -> Callable[[CircuitSpec, np.ndarray, np.ndarray], tuple]:
    """``(spec, inputs, weights) -> (input_jac (B, n_obs, n_in), weight_jac (B, n_obs, n_w))``."""
    return REFERENCE.jacobians
