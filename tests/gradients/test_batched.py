"""The gradients package on any V2 estimator: requests grouped by circuit (equal copies
included) into one PUB, with numbers checked against finite differences of Statevector."""

from __future__ import annotations

import numpy as np
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer.primitives import EstimatorV2

from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.statevector import StatevectorEstimator, StatevectorEstimatorGradient
from qmnist_qiskit.gradients import BatchedParamShiftGradient, BatchedSPSAGradient

CIRCUIT = layered_circuit(2, reps=2, input_scaling=True).circuit
OBSERVABLES = [SparsePauliOp("IZ"), SparsePauliOp(["XZ", "YY"], [0.5, -1.5])]


class _CountingAer(EstimatorV2):
    """Aer's exact estimator, counting the PUBs of each run."""

    def __init__(self) -> None:
        super().__init__(options={"default_precision": 0.0})
        self.pubs: list[int] = []

    def run(self, pubs, *, precision=None):
        pubs = list(pubs)
        self.pubs.append(len(pubs))
        return super().run(pubs, precision=precision)


class _CountingStatevector(StatevectorEstimator):
    """The statevector estimator, counting its batched simulations."""

    def __init__(self) -> None:
        super().__init__()
        self.simulations = 0

    def evaluate(self, circuit, observables, values):
        self.simulations += 1
        return super().evaluate(circuit, observables, values)


def _value(observable: SparsePauliOp, row: np.ndarray) -> float:
    bound = CIRCUIT.assign_parameters(dict(zip(CIRCUIT.parameters, row, strict=True)))
    return Statevector(bound).expectation_value(observable).real


def _finite_differences(observable: SparsePauliOp, row: np.ndarray, h: float = 1e-3):
    """Five-point central differences: truncation and rounding errors below 1e-11 here."""
    gradient = []
    for index in range(len(row)):
        step = np.eye(len(row))[index] * h
        gradient.append(
            (
                -_value(observable, row + 2 * step)
                + 8 * _value(observable, row + step)
                - 8 * _value(observable, row - step)
                + _value(observable, row - 2 * step)
            )
            / (12 * h)
        )
    return np.array(gradient)


def _requests():
    rows = np.random.default_rng(9).uniform(-np.pi, np.pi, (2, CIRCUIT.num_parameters))
    # One circuit, as the same object and as equal copies; two observables; two rows.
    circuits = [CIRCUIT, CIRCUIT.copy(), CIRCUIT, CIRCUIT.copy()]
    observables = [OBSERVABLES[0], OBSERVABLES[1], OBSERVABLES[1], OBSERVABLES[0]]
    values = rows[[0, 0, 1, 1]]
    expected = np.array(
        [_finite_differences(op, row) for op, row in zip(observables, values, strict=True)]
    )
    return circuits, observables, values, expected


def test_param_shift_sends_one_pub_for_equal_circuits():
    circuits, observables, values, expected = _requests()
    estimator = _CountingAer()
    result = BatchedParamShiftGradient(estimator).run(circuits, observables, values).result()
    assert estimator.pubs == [1]
    np.testing.assert_allclose(np.array(result.gradients), expected, rtol=0, atol=1e-9)
    for meta, observable, row in zip(result.metadata, observables, values, strict=True):
        assert meta["parameters"] == list(CIRCUIT.parameters)
        assert abs(meta["value"] - _value(observable, row)) < 1e-12
        assert meta["value_std"] == 0.0


def test_spsa_sends_one_pub_for_equal_circuits():
    circuits, observables, values, _ = _requests()
    estimator = _CountingAer()
    spsa = BatchedSPSAGradient(estimator, epsilon=1e-3, batch_size=2, seed=1)
    result = spsa.run(circuits, observables, values).result()
    assert estimator.pubs == [1]
    assert np.array(result.gradients).shape == (4, CIRCUIT.num_parameters)


def test_the_statevector_estimator_and_gradient_group_equal_circuits_too():
    circuits, observables, values, expected = _requests()
    estimator = _CountingStatevector()
    result = StatevectorEstimatorGradient(estimator).run(circuits, observables, values).result()
    np.testing.assert_allclose(np.array(result.gradients), expected, rtol=0, atol=1e-9)
    pubs = [(c, o, v) for c, o, v in zip(circuits, observables, values, strict=True)]
    evs = [float(pub.data.evs) for pub in estimator.run(pubs).result()]
    assert estimator.simulations == 1
    exact = [_value(op, row) for op, row in zip(observables, values, strict=True)]
    np.testing.assert_allclose(evs, exact, rtol=0, atol=1e-12)
