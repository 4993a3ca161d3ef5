"""The adjoint estimator gradient against ``ParamShiftEstimatorGradient`` and as a drop-in
for ``EstimatorQNN``."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.primitives import StatevectorEstimator as ReferenceEstimator
from qiskit.quantum_info import Operator, Pauli, SparsePauliOp
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.gradients.utils import DerivativeType
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.statevector import (
    StatevectorEstimator,
    StatevectorEstimatorGradient,
)


def _circuit() -> QuantumCircuit:
    a = ParameterVector("a", 3)
    qc = QuantumCircuit(3)
    qc.h([0, 1])
    qc.rx(2 * a[0], 0)
    qc.cx(0, 2)
    qc.ry(a[1] * a[0], 1)
    qc.rzz(np.pi - a[2], 1, 2)
    qc.cry(a[1], 2, 0)
    qc.u(a[0], a[1], a[2], 2)
    return qc


def test_matches_parameter_shift_on_batches_of_circuits_and_observables():
    qc = _circuit()
    other = layered_circuit(2, reps=1).circuit
    rng = np.random.default_rng(0)
    circuits = [qc, qc, qc, other]
    observables = [
        SparsePauliOp(["ZZI", "XIY"], [1.0, 0.5]),
        Pauli("IXI"),
        SparsePauliOp("ZZZ"),
        SparsePauliOp("ZX"),
    ]
    values = [rng.uniform(-np.pi, np.pi, c.num_parameters) for c in circuits]
    values[2] = values[0]
    parameters = [None, [qc.parameters[2], qc.parameters[0]], None, [other.parameters[1]]]
    ours = StatevectorEstimatorGradient().run(circuits, observables, values, parameters).result()
    reference = ParamShiftEstimatorGradient(ReferenceEstimator())
    expected = reference.run(circuits, observables, values, parameters).result()
    for mine, theirs in zip(ours.gradients, expected.gradients, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-10)
    assert [m["parameters"] for m in ours.metadata] == [m["parameters"] for m in expected.metadata]


@pytest.mark.parametrize("input_gradients", [False, True])
def test_is_a_drop_in_for_estimator_qnn(input_gradients):
    spec = layered_circuit(4, reps=2, input_scaling=True, entanglement="circular")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, np.pi, (5, 4))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    common = {
        "circuit": spec.circuit,
        "observables": spec.observables,
        "input_params": spec.input_params,
        "weight_params": spec.weight_params,
        "input_gradients": input_gradients,
    }
    ours = EstimatorQNN(
        estimator=StatevectorEstimator(), gradient=StatevectorEstimatorGradient(), **common
    )
    reference = EstimatorQNN(
        estimator=ReferenceEstimator(),
        gradient=ParamShiftEstimatorGradient(ReferenceEstimator()),
        default_precision=0.0,
        **common,
    )
    np.testing.assert_allclose(ours.forward(x, w), reference.forward(x, w), atol=1e-10)
    for mine, theirs in zip(ours.backward(x, w), reference.backward(x, w), strict=True):
        if input_gradients:
            np.testing.assert_allclose(mine, theirs, atol=1e-10)
        else:
            assert (mine is None) == (theirs is None)
            if mine is not None:
                np.testing.assert_allclose(mine, theirs, atol=1e-10)


def test_shares_the_estimators_compiled_circuits():
    estimator = StatevectorEstimator()
    gradient = StatevectorEstimatorGradient(estimator)
    theta = Parameter("θ")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    result = gradient.run([qc, qc], [Pauli("Z"), Pauli("X")], [[0.3], [0.3]]).result()
    np.testing.assert_allclose(np.concatenate(result.gradients), [-np.sin(0.3), np.cos(0.3)])
    assert len(estimator._cache) == 1


def test_only_statevector_estimators_and_real_derivatives():
    with pytest.raises(TypeError, match="needs a StatevectorEstimator"):
        StatevectorEstimatorGradient(ReferenceEstimator())
    with pytest.raises(ValueError, match="DerivativeType.REAL"):
        StatevectorEstimatorGradient(derivative_type=DerivativeType.COMPLEX)


def test_bad_values_and_observables_are_refused():
    theta = Parameter("θ")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    gradient = StatevectorEstimatorGradient()
    with pytest.raises(ValueError, match="NaN or infinite"):
        gradient.run([qc], [Pauli("Z")], [[np.nan]]).result()
    with pytest.raises(TypeError, match="SparsePauliOp or Pauli"):
        gradient.run([qc], [Operator(Pauli("Z"))], [[0.1]]).result()


def test_a_parameter_only_in_the_global_phase_has_gradient_zero():
    phase, theta = Parameter("φ"), Parameter("θ")
    qc = QuantumCircuit(1, global_phase=2 * phase)
    qc.ry(theta, 0)
    request = ([qc], [SparsePauliOp("Z")], [[0.3, 0.7]])
    with pytest.raises(KeyError):  # qiskit-machine-learning 0.9.1 cannot shift it
        ParamShiftEstimatorGradient(ReferenceEstimator()).run(*request).result()
    (gradient,) = StatevectorEstimatorGradient().run(*request).result().gradients
    assert list(qc.parameters) == [theta, phase]
    np.testing.assert_allclose(gradient, [-np.sin(0.3), 0.0], atol=1e-12)


def test_repeated_pauli_labels_are_one_observable():
    theta = Parameter("θ")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    repeated = SparsePauliOp(["Z", "X", "Z"], [1.0, 0.5, -0.25])
    ours = StatevectorEstimatorGradient().run([qc], [repeated], [[0.3]]).result()
    expected = ParamShiftEstimatorGradient(ReferenceEstimator()).run([qc], [repeated], [[0.3]])
    np.testing.assert_allclose(ours.gradients[0], expected.result().gradients[0], atol=1e-12)
