"""The estimator engine: any Qiskit V2 estimator, the same numbers as the other engines."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.primitives import StatevectorEstimator
from qiskit_ibm_runtime import Batch, EstimatorV2, Session
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qmnist_qiskit import QuantumMNISTClassifier, make_qnn
from qmnist_qiskit.circuits import preset_circuit, seed_circuit
from qmnist_qiskit.engines import check_engine_options
from qmnist_qiskit.engines.estimator import EstimatorEngineOptions, estimator_backend

RNG = np.random.default_rng(3)
X = RNG.uniform(0, np.pi, (12, 3))
Y = np.tile([0, 1, 2], 4)


def _spec():
    return preset_circuit("reupload", 3, 1)


def _classifier(engine="statevector", options=None, **params):
    return QuantumMNISTClassifier(
        encoder=None,
        n_qubits=3,
        reps=1,
        ansatz="reupload",
        epochs=2,
        batch_size=4,
        random_state=0,
        engine=engine,
        engine_options=options,
        **params,
    )


def test_the_reference_estimator_gives_the_default_engines_values_and_gradients():
    spec = _spec()
    reference = make_qnn(*spec)
    plugged = make_qnn(*spec, engine="estimator", estimator=StatevectorEstimator())
    inputs = RNG.uniform(0, np.pi, (4, len(spec.input_params)))
    weights = RNG.uniform(-np.pi, np.pi, len(spec.weight_params))
    np.testing.assert_allclose(
        plugged.forward(inputs, weights), reference.forward(inputs, weights), atol=1e-10
    )
    np.testing.assert_allclose(
        plugged.backward(inputs, weights)[1], reference.backward(inputs, weights)[1], atol=1e-10
    )


def test_the_classifier_on_the_reference_estimator_trains_as_on_the_default_engine():
    default = _classifier().fit(X, Y)
    plugged = _classifier("estimator", {"estimator": StatevectorEstimator()}).fit(X, Y)
    np.testing.assert_allclose(
        plugged.module_.weights.detach().numpy(),
        default.module_.weights.detach().numpy(),
        atol=1e-10,
    )
    np.testing.assert_allclose(plugged.predict_proba(X), default.predict_proba(X), atol=1e-10)
    assert (plugged.predict(X) == default.predict(X)).all()


@pytest.mark.slow
def test_runtime_local_mode_agrees_with_the_aer_engine_on_the_same_fake_backend():
    backend = FakeManilaV2()
    spec = seed_circuit(3)
    inputs = RNG.uniform(0, np.pi, (2, 3))
    weights = RNG.uniform(-np.pi, np.pi, 6)
    runtime_estimator = EstimatorV2(mode=backend, options={"simulator": {"seed_simulator": 11}})
    # the same seed, so the same layout: the same qubits, the same noise
    runtime = make_qnn(*spec, engine="estimator", estimator=runtime_estimator, shots=4000, seed=5)
    aer = make_qnn(*spec, engine="aer", backend=backend, shots=4000, seed=5)
    assert estimator_backend(runtime_estimator) is backend
    assert runtime.circuit.num_qubits == 5  # transpiled to the device's qubits
    values, stds = runtime.forward_with_std(inputs, weights)
    aer_values, aer_stds = aer.forward_with_std(inputs, weights)
    assert np.all(stds > 0) and np.all(aer_stds > 0)
    assert np.all(np.abs(values - aer_values) <= 4 * np.hypot(stds, aer_stds))
    (_, grads), (_, grad_stds) = runtime.backward_with_std(inputs[:1], weights)
    (_, aer_grads), (_, aer_grad_stds) = aer.backward_with_std(inputs[:1], weights)
    assert np.all(np.abs(grads - aer_grads) <= 4 * np.hypot(grad_stds, aer_grad_stds))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [Session, Batch])
def test_session_and_batch_modes_run(mode):
    with mode(backend=FakeManilaV2()) as opened:
        qnn = make_qnn(
            *seed_circuit(2), engine="estimator", estimator=EstimatorV2(mode=opened), shots=200
        )
        values = qnn.forward(np.zeros((1, 2)), np.zeros(4))
    assert values.shape == (1, 2)
    assert np.all(values > 0.5)  # |00> up to the fake device's noise


def test_the_estimators_own_options_are_checked_and_set():
    estimator = EstimatorV2(mode=FakeManilaV2())
    options = check_engine_options(
        "estimator", {"estimator": estimator, "estimator_options": {"default_shots": 300}}
    )
    assert isinstance(options, EstimatorEngineOptions)
    assert estimator.options.default_shots != 300  # checked on a copy, set when built
    make_qnn(*seed_circuit(2), engine="estimator", options=options)
    assert estimator.options.default_shots == 300


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({}, ValueError, "engine 'estimator' needs estimator="),
        ({"estimator": "ibm_torino"}, TypeError, "estimator must be a Qiskit BaseEstimatorV2"),
        (
            {"estimator": StatevectorEstimator(), "shot": 10},
            ValueError,
            "unknown option 'shot' for engine 'estimator'; its options are estimator, shots,",
        ),
        ({"estimator": StatevectorEstimator(), "shots": 0}, ValueError, "shots must be a posit"),
        ({"estimator": StatevectorEstimator(), "max_retries": -1}, ValueError, "max_retries"),
        ({"estimator": StatevectorEstimator(), "timeout": 0}, ValueError, "timeout must be"),
        ({"estimator": StatevectorEstimator(), "gradient": "adjoint"}, ValueError, "gradient"),
        (
            {"estimator": StatevectorEstimator(), "estimator_options": {"resilience_level": 1}},
            ValueError,
            "unknown estimator option.*StatevectorEstimator; its options are none",
        ),
        (
            {
                "estimator": EstimatorV2(mode=FakeManilaV2()),
                "estimator_options": {"resilience": 1, "shots": 3},
            },
            ValueError,
            r"unknown estimator option\(s\) \['shots'\] for EstimatorV2; its options are "
            "max_execution_time, environment, simulator, default_precision, default_shots, ",
        ),
        (
            {
                "estimator": EstimatorV2(mode=FakeManilaV2()),
                "estimator_options": {"resilience_level": 7},
            },
            ValueError,
            "estimator option resilience_level=7 is refused by EstimatorV2",
        ),
        ({"estimator": StatevectorEstimator(), "pass_manager": 3}, TypeError, "pass_manager"),
    ],
)
def test_options_errors(options, error, match):
    with pytest.raises(error, match=match):
        check_engine_options("estimator", options)
    with pytest.raises(error, match=match):
        _classifier("estimator", options).fit(X, Y)
