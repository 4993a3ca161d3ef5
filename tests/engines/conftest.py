"""Exact references for every engine's tests, computed on Qiskit's side only, with
``qiskit.quantum_info.Statevector``.

Gradients use the two-term shift rule on each rotation gate (exact for RX/RY/RZ) and the chain
rule through the gate's angle expression (``θ * x`` with trainable input scaling).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.quantum_info import Statevector

from qmnist_qiskit.circuits import CircuitSpec

_PAULI_ROTATIONS = {"rx", "ry", "rz"}


def _values(spec: CircuitSpec, sample: np.ndarray, weights: np.ndarray) -> dict:
    inputs = dict(zip(spec.input_params, sample, strict=True))
    return inputs | dict(zip(spec.weight_params, weights, strict=True))


def _expectations(spec: CircuitSpec, bound: QuantumCircuit) -> np.ndarray:
    state = Statevector(bound)
    return np.array([state.expectation_value(op).real for op in spec.observables])


def _exact_outputs(spec: CircuitSpec, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.array(
        [
            _expectations(spec, spec.circuit.assign_parameters(_values(spec, sample, weights)))
            for sample in inputs
        ]
    )


def _number(expression: ParameterExpression | float, values: dict) -> float:
    if isinstance(expression, ParameterExpression):
        return float(expression.bind(values, allow_unknown_parameters=True))
    return float(expression)


def _shifted(bound: QuantumCircuit, index: int, angle: float) -> QuantumCircuit:
    circuit = bound.copy()
    instruction = circuit.data[index]
    circuit.data[index] = instruction.replace(operation=type(instruction.operation)(angle))
    return circuit


def _sample_jacobians(
    spec: CircuitSpec, sample: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    values = _values(spec, sample, weights)
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
                _expectations(spec, _shifted(bound, index, angle + np.pi / 2))
                - _expectations(spec, _shifted(bound, index, angle - np.pi / 2))
            )
            for parameter in expression.parameters:
                source, column = columns[parameter]
                jacobians[source][:, column] += (
                    _number(expression.gradient(parameter), values) * d_angle
                )
    return jacobians


def _exact_jacobians(
    spec: CircuitSpec, inputs: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    per_sample = [_sample_jacobians(spec, sample, weights) for sample in inputs]
    return np.stack([j[0] for j in per_sample]), np.stack([j[1] for j in per_sample])


@pytest.fixture
def exact_outputs() -> Callable[[CircuitSpec, np.ndarray, np.ndarray], np.ndarray]:
    """``(spec, inputs (B, n_in), weights) -> (B, n_obs)`` expectations from Statevector."""
    return _exact_outputs


@pytest.fixture
def exact_jacobians() -> Callable[[CircuitSpec, np.ndarray, np.ndarray], tuple]:
    """``(spec, inputs, weights) -> (input_jac (B, n_obs, n_in), weight_jac (B, n_obs, n_w))``."""
    return _exact_jacobians
