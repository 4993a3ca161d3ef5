"""Shot mode and SPSA: estimates within their reported standard errors, reproducible seeds."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.aer import AerSamplingEstimator, make_aer_qnn

SHOTS = 2000


@pytest.fixture(scope="module")
def problem():
    spec = seed_circuit(4)
    rng = np.random.default_rng(11)
    x = rng.uniform(0.3, np.pi - 0.3, (3, 4))
    w = rng.uniform(-1.0, 1.0, 8)
    exact = make_aer_qnn(*spec, input_gradients=True)
    return spec, x, w, exact.forward(x, w), exact.backward(x, w)


def test_values_within_five_standard_errors(problem):
    spec, x, w, exact_values, _ = problem
    qnn = make_aer_qnn(*spec, shots=SHOTS, seed=1)
    values, stds = qnn.forward_with_std(x, w)
    assert qnn.default_precision == pytest.approx(1 / np.sqrt(SHOTS))
    assert np.all(stds > 0)
    assert np.all(np.abs(values - exact_values) <= 5 * stds)
    # a Z estimate from S shots has standard error sqrt((1 - <Z>^2) / S)
    np.testing.assert_allclose(stds, np.sqrt((1 - exact_values**2) / SHOTS), rtol=0.1)


def test_gradients_within_five_standard_errors(problem):
    spec, x, w, _, (exact_input_jac, exact_weight_jac) = problem
    qnn = make_aer_qnn(*spec, shots=SHOTS, seed=2, input_gradients=True)
    (input_jac, weight_jac), (input_std, weight_std) = qnn.backward_with_std(x, w)
    assert input_std.shape == input_jac.shape and weight_std.shape == weight_jac.shape
    assert np.all(input_std > 0) and np.all(weight_std > 0)
    assert np.all(np.abs(input_jac - exact_input_jac) <= 5 * input_std)
    assert np.all(np.abs(weight_jac - exact_weight_jac) <= 5 * weight_std)


def test_seed_makes_results_reproducible(problem):
    spec, x, w, _, _ = problem
    first, second = (make_aer_qnn(*spec, shots=500, seed=5) for _ in range(2))
    np.testing.assert_array_equal(first.forward(x, w), second.forward(x, w))
    np.testing.assert_array_equal(first.backward(x, w)[1], second.backward(x, w)[1])
    # every call draws fresh shots, and another seed draws other shots
    assert not np.array_equal(first.forward(x, w), first.forward(x, w))
    fresh = make_aer_qnn(*spec, shots=500, seed=5).forward(x, w)
    assert not np.array_equal(make_aer_qnn(*spec, shots=500, seed=6).forward(x, w), fresh)


def test_precision_means_shots():
    qnn = make_aer_qnn(*seed_circuit(2), precision=0.05)
    assert isinstance(qnn.estimator, AerSamplingEstimator)
    assert qnn.estimator.shots == 400
    assert make_aer_qnn(*seed_circuit(2), precision=0).default_precision == 0.0


def test_sampling_estimator_groups_non_commuting_terms():
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    observable = SparsePauliOp(["XX", "ZZ", "YY", "ZI"], [0.5, 0.25, 1.0, 2.0])
    estimator = AerSamplingEstimator(AerSimulator(), shots=4000, seed=3)
    data = estimator.run([(circuit, observable)]).result()[0].data
    # Bell state: <XX> = <ZZ> = 1, <YY> = -1, <ZI> = 0, each term measured in its own basis
    assert abs(data.evs - (0.5 + 0.25 - 1.0)) <= 5 * data.stds
    assert 0 < data.stds < 2.0 / np.sqrt(4000) * 1.1
    with pytest.raises(ValueError, match="precision > 0"):
        estimator.run([(circuit, observable)], precision=0.0)


def test_spsa_is_a_central_difference_for_one_parameter():
    a = Parameter("a")
    circuit = QuantumCircuit(1)
    circuit.ry(a, 0)
    qnn = make_aer_qnn(circuit, [], [a], [SparsePauliOp("Z")], gradient="spsa", spsa_epsilon=0.1)
    weight_jac = qnn.backward(None, [0.7])[1]
    expected = (np.cos(0.8) - np.cos(0.6)) / 0.2
    np.testing.assert_allclose(weight_jac, [[[expected]]], rtol=0, atol=1e-12)


def test_spsa_directions_average_to_the_gradient(problem):
    spec, x, w, _, (_, exact_weight_jac) = problem
    single = make_aer_qnn(*spec, gradient="spsa", seed=3)
    weight_jac = single.backward(x, w)[1]
    # one random direction: every entry of a row has the same magnitude |slope|
    magnitudes = np.abs(weight_jac)
    np.testing.assert_allclose(magnitudes, magnitudes[..., :1].repeat(8, axis=-1), atol=1e-12)
    averaged = make_aer_qnn(
        *spec, gradient="spsa", spsa_batch_size=3000, spsa_epsilon=0.01, seed=3
    ).backward(x, w)[1]
    np.testing.assert_allclose(
        averaged, exact_weight_jac, atol=0.1 * np.abs(exact_weight_jac).max()
    )


def test_spsa_with_shots_reports_standard_errors(problem):
    spec, x, w, _, _ = problem
    qnn = make_aer_qnn(*spec, shots=SHOTS, gradient="spsa", spsa_batch_size=4, seed=4)
    (_, weight_jac), (_, weight_std) = qnn.backward_with_std(x, w)
    assert weight_jac.shape == weight_std.shape == (3, 4, 8)
    assert np.all(weight_std > 0) and np.all(np.isfinite(weight_jac))
