"""The cost before any job, budgets that refuse before any work, and model files that never
hold the estimator."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit_ibm_runtime import EstimatorV2
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.cost import BudgetExceededError, seconds_per_shot, shifted_gates

RNG = np.random.default_rng(4)
X = RNG.uniform(0, np.pi, (10, 3))
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def _classifier(estimator, shots=1000, **params):
    defaults = dict(encoder=None, n_qubits=3, ansatz="seed", epochs=2, batch_size=4)
    return QuantumMNISTClassifier(
        engine="estimator",
        engine_options={"estimator": estimator} | ({} if shots is None else {"shots": shots}),
        random_state=0,
        **(defaults | params),
    )


def test_the_cost_on_a_fake_device_follows_the_formula_and_sends_nothing():
    backend = FakeManilaV2()
    estimator = EstimatorV2(mode=backend)
    clf = _classifier(estimator)
    cost = clf.estimate_cost(X)
    isa = clf.qnn_.circuit if hasattr(clf, "qnn_") else None
    assert isa is None  # nothing was built
    steps, epochs = 3, 2
    ps = cost.methods["param_shift"]
    spsa = cost.methods["spsa"]
    assert cost.backend == "fake_manila" and cost.shots_per_set == 1000
    assert cost.measurement_groups == 1
    assert ps.per_epoch.pubs == steps and ps.total.pubs == steps * epochs
    assert spsa.points_per_sample == 3
    assert spsa.total.parameter_sets == 10 * 3 * epochs
    assert spsa.total.shots == 10 * 3 * epochs * 1000
    assert ps.points_per_sample > 1 + 2 * 6 - 1  # every weight's gates shifted both ways
    per_shot = cost.seconds_per_shot
    assert 250e-6 < per_shot < 300e-6  # the 250 us repetition delay dominates
    assert ps.total.qpu_seconds == pytest.approx(ps.total.shots * per_shot)
    assert "param_shift *" in cost.table() and "spsa" in cost.table()


def test_a_fitted_model_costs_what_an_unfitted_one_does(counting_estimator):
    """The transpiled circuit is kept per circuit object: a fitted model's fresh circuit of the
    same content (new Parameter objects) is not matched against the fitted one's copy, whose
    parameters are not its own (parameter shift then counted no shifted gate at all)."""
    backend = FakeManilaV2()
    unfitted = _classifier(EstimatorV2(mode=backend)).estimate_cost(X)
    fitted = _classifier(counting_estimator, epochs=1).fit(X, Y)
    fitted.set_params(engine_options={"estimator": EstimatorV2(mode=backend), "shots": 1000})
    fitted.set_params(epochs=2)
    again = fitted.estimate_cost(X)
    for method in ("param_shift", "spsa"):
        assert again.methods[method].total == unfitted.methods[method].total


def test_shifted_gates_count_the_weights_only():
    from qmnist_qiskit.circuits import seed_circuit

    qc, x, theta, _ = seed_circuit(4)
    assert shifted_gates(qc, theta) == 8
    assert shifted_gates(qc, x) == 4
    assert seconds_per_shot(qc, None) is None


def test_a_budget_refuses_before_the_encoder_trains_and_before_any_job(counting_estimator):
    X_images, y_images = load_mnist()
    clf = _classifier(
        counting_estimator, encoder="pca", n_qubits=3, ansatz="seed", max_shots=1_000_000
    )
    with pytest.raises(BudgetExceededError) as refused:
        clf.fit(X_images[:200], y_images[:200])
    message = str(refused.value)
    assert "more than max_shots=1,000,000" in message and "nothing was sent" in message
    assert f"{clf.estimate_cost(X_images[:200]).total.shots:,} shots" in message
    assert not hasattr(clf, "encoder_")
    assert counting_estimator.jobs == 0


def test_a_qpu_time_budget_refuses_with_the_figures():
    clf = _classifier(EstimatorV2(mode=FakeManilaV2()), max_qpu_seconds=1.0)
    with pytest.raises(BudgetExceededError, match=r"about [\d,.]+ QPU seconds .* us each"):
        clf.fit(X, Y)


def test_a_run_within_budget_trains(counting_estimator):
    clf = _classifier(counting_estimator, max_shots=10**9, max_qpu_seconds=10.0)
    clf.fit(X, Y)
    assert counting_estimator.jobs == clf.estimate_cost(X).total.pubs


def test_a_model_trained_on_an_estimator_loads_on_the_default_engine(tmp_path, counting_estimator):
    clf = _classifier(counting_estimator, shots=None).fit(X, Y)  # exact: comparable
    path = clf.save(tmp_path / "model.safetensors")
    assert b"StatevectorEstimator" not in path.read_bytes()
    loaded = QuantumMNISTClassifier.load(path)
    assert loaded.engine == "statevector" and loaded.engine_options is None
    jobs = counting_estimator.jobs
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-10)
    assert (loaded.predict(X) == clf.predict(X)).all()
    assert counting_estimator.jobs == jobs + 2  # clf's two predictions; loaded sent none
