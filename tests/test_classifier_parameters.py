"""The classifier's parameters: one table checked before any work, skorch-style optimiser
routing, a user's own circuit as the ansatz, pixel and angle ranges, ``initialize``."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import FunctionTransformer

from qmnist_qiskit import MNISTAutoencoder, QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.circuits import CircuitSpec, layered_circuit, preset_circuit
from qmnist_qiskit.readout import LinearReadout, ScaleReadout


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(1)
    centers = rng.uniform(0.3, 2.8, (3, 4))
    y = rng.integers(0, 3, 90)
    X = np.clip(centers[y] + rng.normal(0, 0.15, (90, 4)), 0, np.pi)
    return X, y


@pytest.fixture(scope="module")
def images():
    X, y = load_mnist()
    return X[:120], y[:120]


def small(**params):
    defaults = dict(
        encoder=None, n_qubits=4, reps=1, epochs=2, batch_size=30, learning_rate=0.1, random_state=0
    )
    return QuantumMNISTClassifier(**(defaults | params))


class _RecordingEncoder(FunctionTransformer):
    """An identity transformer that records its fits (a user's transformer)."""

    fits: list = []

    def fit(self, X, y=None):
        type(self).fits.append(len(X))
        return super().fit(X, y)


# -- the table ------------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", [QuantumMNISTClassifier, MNISTAutoencoder])
def test_every_parameter_has_a_rule_and_every_rule_a_parameter(estimator):
    named = [
        name
        for name, parameter in inspect.signature(estimator.__init__).parameters.items()
        if name != "self" and parameter.kind is not parameter.VAR_KEYWORD
    ]
    assert sorted(estimator._parameter_constraints) == sorted(named)


@pytest.mark.parametrize("estimator", [QuantumMNISTClassifier(), MNISTAutoencoder()])
def test_the_defaults_pass_their_own_table(estimator):
    estimator._check_params()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_qubits": 25}, "n_qubits must be an integer in [1, 24], got 25"),
        ({"n_qubits": True}, "n_qubits must be an integer in [1, 24], got True"),
        ({"n_qubits": 4.0}, "n_qubits must be an integer in [1, 24], got 4.0"),
        ({"n_features": 300}, "n_features must be an integer in [1, 256] or None, got 300"),
        ({"reps": 0}, "reps must be a positive integer, got 0"),
        ({"learning_rate": math.nan}, "learning_rate must be a positive number, got nan"),
        ({"learning_rate": math.inf}, "learning_rate must be a positive number, got inf"),
        ({"tol": -1.0}, "tol must be a number >= 0, got -1.0"),
        ({"verbose": -1}, "verbose must be an integer >= 0 or True, False, got -1"),
        ({"validation_fraction": 1.0}, "validation_fraction must be a number in (0, 1)"),
        ({"early_stopping": "no"}, "early_stopping must be True, False, got 'no'"),
        ({"fine_tune": "yes"}, "fine_tune must be True, False or 'auto', got 'yes'"),
        ({"random_state": -1}, "random_state must be None, an integer in [0, 4294967295]"),
        ({"engine_options": []}, "engine_options must be None or a dict, got []"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of 'adam', 'sgd', 'rmsprop' or a torch"),
        ({"optimizer": torch.nn.Linear}, "optimizer must be one of"),
        ({"ansatz": 42}, "ansatz must be one of 'seed', 'layered', 'reupload', 'dense', a Circ"),
        ({"encoder": 42}, "encoder must be one of 'autoencoder', 'pca', None or a scikit-learn"),
        ({"engine": "qasm"}, "engine must be one of 'statevector', 'aer', 'pennylane', 'estim"),
    ],
)
def test_each_bad_value_is_named_with_what_is_allowed(features, params, message):
    X, y = features
    clf = small(**params)
    with pytest.raises(ValueError, match="QuantumMNISTClassifier: ") as info:
        clf.fit(X, y)
    assert message in str(info.value)
    assert not hasattr(clf, "encoder_")


def test_parameters_are_checked_before_the_encoder_trains(features):
    X, y = features
    _RecordingEncoder.fits.clear()
    with pytest.raises(ValueError, match="ansatz"):
        small(encoder=_RecordingEncoder(), ansatz="deep").fit(X, y)
    with pytest.raises(ValueError, match="unknown option 'shots' for engine 'statevector'"):
        small(encoder=_RecordingEncoder(), engine_options={"shots": 100}).fit(X, y)
    with pytest.raises(ValueError, match="takes no argument 'nesterov_'"):
        small(encoder=_RecordingEncoder(), optimizer__nesterov_=True).fit(X, y)
    assert _RecordingEncoder.fits == []


def test_a_circuit_that_cannot_work_fails_before_the_autoencoder_trains(images):
    X, y = images
    clf = QuantumMNISTClassifier(n_qubits=2, readout="scale", epochs=1, random_state=0)
    with pytest.raises(ValueError, match="10 classes and only 2 qubits"):
        clf.fit(X, y)
    assert not hasattr(clf, "encoder_")


def test_invalid_engine_options_are_refused_before_the_shot_noise_warning(features):
    X, y = features
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="shots"):
            small(engine="aer", engine_options={"shots": 0}).fit(X, y)
    assert [str(w.message) for w in caught] == []


def test_unknown_keyword_is_refused_in_fit_not_in_init(features):
    X, y = features
    clf = small(learnign_rate=0.1)  # scikit-learn asks __init__ not to raise
    with pytest.raises(ValueError, match="unexpected keyword argument 'learnign_rate'"):
        clf.fit(X, y)


def test_raw_pixels_without_an_encoder_are_refused_at_once(images):
    X, y = images
    clf = QuantumMNISTClassifier(encoder=None, random_state=0)
    with pytest.raises(ValueError, match="784 features per sample would reach the circuit"):
        clf.fit(X, y)
    assert not hasattr(clf, "circuit_")


# -- optimiser as a class, arguments routed as optimizer__* -----------------------------------
def test_optimizer_class_with_routed_arguments(features):
    X, y = features
    clf = small(optimizer=torch.optim.SGD, optimizer__momentum=0.9, optimizer__nesterov=True)
    assert clf.get_params()["optimizer__momentum"] == 0.9
    clf.fit(X, y)
    assert type(clf.optimizer_) is torch.optim.SGD
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
    assert clf.optimizer_.param_groups[0]["nesterov"] is True
    twin = clone(clf)
    assert twin.get_params()["optimizer__momentum"] == 0.9
    twin.set_params(optimizer__momentum=0.5).fit(X, y)
    assert twin.optimizer_.param_groups[0]["momentum"] == 0.5


def test_optimizer_by_name_and_by_class_train_alike(features):
    X, y = features
    by_name = small(optimizer="sgd", optimizer__momentum=0.8).fit(X, y)
    by_class = small(optimizer=torch.optim.SGD, optimizer__momentum=0.8).fit(X, y)
    torch.testing.assert_close(by_name.module_.weights, by_class.module_.weights, rtol=0, atol=0)
    plain = small(optimizer="sgd").fit(X, y)
    assert not torch.allclose(plain.module_.weights, by_name.module_.weights)


def test_routed_optimizer_arguments_in_a_grid_search(features):
    X, y = features
    search = GridSearchCV(
        small(optimizer="sgd", epochs=1), {"optimizer__momentum": [0.0, 0.9]}, cv=2
    ).fit(X, y)
    assert [p["optimizer__momentum"] for p in search.cv_results_["params"]] == [0.0, 0.9]
    assert search.best_estimator_.optimizer_.param_groups[0]["momentum"] in (0.0, 0.9)


# -- the ansatz: a preset, a CircuitSpec or a callable ----------------------------------------
def test_a_circuitspec_ansatz_trains_exactly_as_its_preset(features):
    X, y = features
    by_name = small(ansatz="reupload", reps=2).fit(X, y)
    spec = preset_circuit("reupload", 4, 2, n_features=4)
    by_spec = small(ansatz=spec, n_qubits=7, reps=5).fit(X, y)  # n_qubits, reps unused
    torch.testing.assert_close(by_name.module_.weights, by_spec.module_.weights, rtol=0, atol=0)
    np.testing.assert_array_equal(by_name.predict_proba(X), by_spec.predict_proba(X))


def test_a_callable_ansatz_gets_the_feature_count_and_sets_the_readout(features):
    X, y = features
    calls = []

    def ansatz(n_features):
        calls.append(n_features)
        return layered_circuit(3, reps=2, n_features=n_features)

    clf = small(ansatz=ansatz).fit(X, y)
    assert calls == [4]
    assert clf.circuit_.num_qubits == 3
    assert isinstance(clf.module_.readout, ScaleReadout)  # 3 observables, 3 classes
    # The scores are the circuit's own expectations, checked against Qiskit.
    weights = clf.module_.weights.detach().numpy()
    values = dict(zip(clf.circuit_.input_params, X[0], strict=True))
    values |= dict(zip(clf.circuit_.weight_params, weights, strict=True))
    state = Statevector(clf.circuit_.circuit.assign_parameters(values))
    expected = [state.expectation_value(o).real for o in clf.circuit_.observables]
    got = clf.module_.expectations(torch.as_tensor(X[:1])).detach().numpy()[0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_custom_circuit_outputs_choose_the_readout(features):
    X, y = features
    spec = layered_circuit(4, reps=1, n_features=4)
    spec = CircuitSpec(spec.circuit, spec.input_params, spec.weight_params, spec.observables[:2])
    clf = small(ansatz=spec).fit(X, y)
    assert isinstance(clf.module_.readout, LinearReadout)
    assert clf.module_.readout.linear.in_features == 2


@pytest.mark.parametrize(
    ("ansatz", "message"),
    [
        (layered_circuit(4, reps=1, n_features=5), "takes 5 input parameters, but there are 4"),
        (lambda n: "not a circuit", "ansatz must return a CircuitSpec"),
    ],
)
def test_a_custom_ansatz_that_does_not_fit_is_refused_before_training(features, ansatz, message):
    X, y = features
    clf = small(ansatz=ansatz)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "encoder_")


def test_a_circuitspec_ansatz_sets_the_encoder_features(images):
    X, y = images
    spec = layered_circuit(10, reps=1, n_features=6)
    clf = QuantumMNISTClassifier(encoder="pca", ansatz=spec, epochs=1, random_state=0).fit(X, y)
    assert clf.encoder_.transform(X[:2]).shape == (2, 6)


def test_an_autoencoder_instance_gives_its_own_code_size(images):
    X, y = images
    encoder = MNISTAutoencoder(n_components=3, hidden_layer_sizes=(16,), epochs=1, random_state=0)
    clf = QuantumMNISTClassifier(encoder=encoder, n_qubits=4, ansatz="seed", epochs=1)
    with pytest.raises(ValueError, match="one feature per wire: n_features=3 != n_qubits=4"):
        clf.fit(X, y)
    assert not hasattr(clf, "encoder_")
    clf.set_params(n_qubits=3, random_state=0).fit(X, y)
    assert len(clf.circuit_.input_params) == 3


# -- input ranges ------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["pca", "autoencoder"])
def test_0_to_255_images_are_refused_in_fit_with_how_to_scale(images, encoder):
    X, y = images
    clf = QuantumMNISTClassifier(encoder=encoder, n_qubits=4, epochs=1, random_state=0)
    for raw in (X * 255, (X * 255).astype(np.uint8)):
        with pytest.raises(ValueError, match=r"takes pixels in \[0, 1\].*X / 255\.0"):
            clf.fit(raw, y)
    assert not hasattr(clf, "encoder_")


def test_0_to_255_images_are_refused_in_predict(images):
    X, y = images
    clf = QuantumMNISTClassifier(encoder="pca", n_qubits=4, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"encoder='pca' takes pixels in \[0, 1\]"):
        clf.predict(X * 255)
    assert clf.predict(X).shape == (len(X),)


def test_features_far_outside_the_angle_range_warn(features):
    X, y = features
    with pytest.warns(UserWarning, match="beyond 4 pi"):
        small(epochs=1).fit(X * 100, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small(epochs=1).fit(X, y)


def test_the_autoencoder_alone_warns_about_0_to_255_images(images):
    X, _ = images
    with pytest.warns(UserWarning, match=r"MNISTAutoencoder expects pixels in \[0, 1\]"):
        MNISTAutoencoder(n_components=2, epochs=1, random_state=0).fit(X[:20] * 255)


# -- initialize ------------------------------------------------------------------------------
def test_initialize_builds_what_fit_builds(features):
    X, y = features
    fitted = small(epochs=1, random_state=3).fit(X, y)
    fresh = small(random_state=3).initialize(n_features=4, n_classes=3)
    assert str(fresh.circuit_.circuit.draw("text")) == str(fitted.circuit_.circuit.draw("text"))
    assert fresh.module_.weights.shape == fitted.module_.weights.shape
    again = small(random_state=3).initialize(n_features=4, n_classes=3)
    torch.testing.assert_close(fresh.module_.weights, again.module_.weights, rtol=0, atol=0)
    assert fresh.module_(torch.as_tensor(X[:5])).shape == (5, 3)


def test_initialize_checks_the_parameters():
    with pytest.raises(ValueError, match="n_qubits must be an integer in"):
        small(n_qubits=30).initialize(n_features=4, n_classes=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(
    ("engine", "options", "message"),
    [
        ("statevector", {"device": "cuda"}, "torch sees no CUDA GPU"),
        ("aer", {"device": "GPU"}, "needs Aer's GPU build"),
    ],
)
def test_a_missing_gpu_is_refused_before_the_encoder_trains(features, engine, options, message):
    from qmnist_qiskit import QMNISTError
    from qmnist_qiskit.engines.aer.estimator import available_devices

    if engine == "aer" and "GPU" in available_devices():
        pytest.skip("this Aer has a GPU")
    X, y = features
    _RecordingEncoder.fits.clear()
    clf = small(encoder=_RecordingEncoder(), engine=engine, engine_options=options)
    with pytest.raises(QMNISTError, match=message):
        clf.fit(X, y)
    assert _RecordingEncoder.fits == []


# -- what a review found ----------------------------------------------------------------------
def test_a_misspelt_name_in_set_params_is_refused_at_once():
    with pytest.raises(ValueError, match="Invalid parameter 'n_qubit'"):
        small().set_params(n_qubit=3)


def test_an_unknown_keyword_survives_clone_and_is_refused_by_the_clones_fit(features):
    X, y = features
    twin = clone(small(learnign_rate=0.1))
    with pytest.raises(ValueError, match="unexpected keyword argument 'learnign_rate'"):
        twin.fit(X, y)


def test_a_keyword_named_like_a_method_cannot_replace_it(features):
    X, y = features
    clf = small(_check_params=0, predict=1)
    assert callable(clf._check_params) and callable(clf.predict)
    with pytest.raises(ValueError, match="unexpected keyword argument '_check_params'"):
        clf.fit(X, y)


def test_huge_integers_are_refused_as_values_not_overflows(features):
    X, y = features
    with pytest.raises(ValueError, match="n_qubits must be an integer in"):
        small(n_qubits=10**400).fit(X, y)
    with pytest.raises(ValueError, match="at most 50,000 are built"):
        small(reps=10**400).fit(X, y)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"optimizer": "sgd", "optimizer__momentum": -1}, "Invalid momentum value"),
        ({"optimizer": "sgd", "optimizer__nesterov": True}, "Nesterov momentum requires"),
        ({"optimizer": torch.optim.LBFGS}, "missing 1 required positional argument: 'closure'"),
        ({"optimizer": torch.optim.SparseAdam}, "does not support dense gradients"),
        ({"optimizer__lr": 0.1}, "takes no argument 'lr'"),
    ],
)
def test_optimizers_that_cannot_train_are_refused_before_the_encoder(features, params, message):
    X, y = features
    _RecordingEncoder.fits.clear()
    with pytest.raises(ValueError, match=message):
        small(encoder=_RecordingEncoder(), **params).fit(X, y)
    assert _RecordingEncoder.fits == []


def test_a_circuit_with_measurements_is_refused_before_the_encoder(features):
    X, y = features
    spec = layered_circuit(4, reps=1, n_features=4)
    measured = spec.circuit.copy()
    measured.measure_all()
    _RecordingEncoder.fits.clear()
    clf = small(
        encoder=_RecordingEncoder(),
        ansatz=CircuitSpec(measured, spec.input_params, spec.weight_params, spec.observables),
    )
    with pytest.raises(ValueError, match="no measurements"):
        clf.fit(X, y)
    assert _RecordingEncoder.fits == []


def test_initialize_alone_is_not_a_fitted_model(features):
    from sklearn.exceptions import NotFittedError

    X, y = features
    clf = small().initialize(n_features=4, n_classes=3)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.partial_fit(X, y)  # starts afresh: encoder and classes from these data
    assert list(clf.classes_) == [0, 1, 2] and clf.predict(X).shape == (len(X),)
    with pytest.raises(ValueError, match="needs the fitted encoder"):
        QuantumMNISTClassifier(fine_tune=True).initialize(n_features=20, n_classes=10)


def test_an_encoder_class_instead_of_an_instance_is_refused(features):
    from sklearn.decomposition import PCA

    X, y = features
    with pytest.raises(ValueError, match="encoder must be one of .* a scikit-learn transformer"):
        small(encoder=PCA).fit(X, y)


def test_the_autoencoder_takes_a_torch_device():
    MNISTAutoencoder(device=torch.device("cpu"))._check_params()


def test_a_failed_refit_keeps_the_previous_model(features):
    X, y = features
    clf = small(epochs=1).fit(X, y)
    before = clf.predict_proba(X)
    weights = clf.module_.weights.detach().clone()
    # A transformer whose output no longer fits the circuit: the refit fails after the
    # encoder is fitted, which used to leave the new encoder beside the old weights.
    clf.set_params(encoder=FunctionTransformer(lambda a: np.hstack([a, a])), n_qubits=4)
    with pytest.raises(ValueError):
        clf.set_params(ansatz=preset_circuit("seed", 4)).fit(X, y)
    clf.set_params(encoder=None, ansatz="dense")
    torch.testing.assert_close(clf.module_.weights, weights, rtol=0, atol=0)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_a_failed_first_fit_leaves_an_unfitted_estimator(features):
    from sklearn.exceptions import NotFittedError

    X, y = features
    clf = small(
        encoder=FunctionTransformer(lambda a: np.hstack([a, a])), ansatz=preset_circuit("seed", 4)
    )
    with pytest.raises(ValueError):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert not [name for name in vars(clf) if name.endswith("_") and not name.startswith("_")]
