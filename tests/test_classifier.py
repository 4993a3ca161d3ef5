from __future__ import annotations

import _thread
import pickle
import signal
import threading
import time

import joblib
import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from qmnist_qiskit import MNISTAutoencoder, QuantumMNISTClassifier, load_mnist
from qmnist_qiskit import classifier as classifier_module
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.readout import LinearReadout, ScaleReadout


@pytest.fixture(scope="module")
def digits():
    X, y = load_mnist()
    X_test, y_test = load_mnist(subset="test")
    # The embedded split interleaves classes, so prefixes are balanced.
    return X[:600], y[:600], X_test[:300], y_test[:300]


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.3, 2.8, (3, 4))
    y = rng.integers(0, 3, 150)
    X = np.clip(centers[y] + rng.normal(0, 0.15, (150, 4)), 0, np.pi)
    return X, y


def small(**params):
    defaults = dict(
        encoder=None, n_qubits=4, reps=2, epochs=8, batch_size=16, learning_rate=0.1, random_state=0
    )
    return QuantumMNISTClassifier(**(defaults | params))


def test_end_to_end_on_images_clearly_beats_chance(digits):
    X, y, X_test, y_test = digits
    clf = QuantumMNISTClassifier(
        ansatz="reupload", n_qubits=10, reps=2, epochs=6, batch_size=32, random_state=0
    )
    clf.fit(X, y)
    assert clf.score(X_test, y_test) > 0.25  # chance is 0.10; 600 images, 6 epochs
    proba = clf.predict_proba(X_test[:5])
    assert proba.shape == (5, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert isinstance(clf.module_.readout, ScaleReadout)


def test_expectations_are_the_circuits_own(features):
    X, y = features
    clf = small(ansatz="seed", reps=1, epochs=1).fit(X, y)
    from qiskit.quantum_info import Statevector

    spec = clf.circuit_
    weights = clf.module_.weights.detach().numpy()
    with torch.no_grad():
        expectations = clf.module_.expectations(torch.as_tensor(X[:3])).numpy()
    for row, x in zip(expectations, X[:3], strict=True):
        bound = spec.circuit.assign_parameters(
            dict(zip(spec.input_params, x, strict=True))
            | dict(zip(spec.weight_params, weights, strict=True))
        )
        state = Statevector(bound)
        expected = [state.expectation_value(op).real for op in spec.observables]
        np.testing.assert_allclose(row, expected, atol=1e-10)
    assert [i.operation.name for i in spec.circuit.data] == [
        i.operation.name for i in seed_circuit(4).circuit.data
    ]


def test_history_and_attributes(features):
    X, y = features
    clf = small(epochs=3).fit(X, y)
    assert [r["epoch"] for r in clf.history_] == [1, 2, 3]
    assert set(clf.history_[0]) == {"epoch", "loss", "accuracy", "seconds"}
    assert clf.n_iter_ == 3 and clf.n_features_in_ == 4 and not clf.interrupted_
    assert isinstance(clf.module_.readout, LinearReadout)  # 4 wires, 3 classes
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def test_string_labels(features):
    X, y = features
    labels = np.array(["cat", "dog", "eel"])[y]
    clf = small().fit(X, labels)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    assert set(clf.predict(X)) <= {"cat", "dog", "eel"}
    assert clf.score(X, labels) > 0.8


def test_same_random_state_same_predictions(features):
    X, y = features
    first = small(epochs=2).fit(X, y).predict_proba(X)
    second = small(epochs=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    other = small(epochs=2, random_state=1).fit(X, y).predict_proba(X)
    assert not np.allclose(first, other)


def test_warm_start_continues_and_partial_fit(features):
    X, y = features
    clf = small(epochs=2, warm_start=True).fit(X, y)
    weights = clf.module_.weights.detach().clone()
    clf.fit(X, y)
    assert clf.n_iter_ == 4
    assert not torch.equal(weights, clf.module_.weights.detach())
    cold = small(epochs=2).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 2

    partial = small()
    partial.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    partial.partial_fit(X[50:], y[50:])
    assert partial.n_iter_ == 2 and list(partial.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="not seen"):
        partial.partial_fit(X[:5], np.full(5, 7))


def test_early_stopping_keeps_best_weights(features):
    X, y = features
    clf = small(epochs=40, early_stopping=True, n_iter_no_change=2, validation_fraction=0.2)
    clf.fit(X, y)
    assert clf.n_iter_ < 40
    assert {"val_loss", "val_accuracy"} <= set(clf.history_[0])
    val_losses = [record["val_loss"] for record in clf.history_]
    # The best epoch is the last one that improved on the best so far by more than tol.
    best_loss, best = float("inf"), -1
    for epoch, loss in enumerate(val_losses):
        if loss < best_loss - clf.tol:
            best_loss, best = loss, epoch
    # It stopped after epochs without improvement, so the last weights were not the best...
    assert best < len(val_losses) - 1 and val_losses[-1] != best_loss
    # ...and the model holds the best epoch's weights: on the same held-out split (the one
    # fit draws from random_state), their loss is exactly the best recorded one.
    _, val_index = train_test_split(
        np.arange(len(y)), test_size=0.2, random_state=clf.random_state, stratify=y
    )
    inputs = clf._module_inputs(X[val_index])
    with torch.no_grad():
        logits = clf.module_(inputs)
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y[val_index])).item()
    assert loss == pytest.approx(best_loss, abs=1e-12)


def test_decision_function_shapes(features):
    X, y = features
    clf = small(epochs=1).fit(X, y)
    scores = clf.decision_function(X[:4])
    assert scores.shape == (4, 3)
    np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], clf.predict(X[:4]))
    binary = small(epochs=1).fit(X[y < 2], y[y < 2])
    margin = binary.decision_function(X[:4])
    assert margin.shape == (4,)
    np.testing.assert_array_equal((margin > 0).astype(int), binary.predict(X[:4]))


def test_pca_and_custom_encoders(digits):
    X, y, X_test, y_test = digits
    pca = QuantumMNISTClassifier(encoder="pca", n_qubits=6, epochs=3, random_state=0)
    assert pca.fit(X, y).score(X_test, y_test) > 0.25
    custom = make_pipeline(PCA(5, random_state=0), MinMaxScaler((0, np.pi)))
    clf = QuantumMNISTClassifier(encoder=custom, n_qubits=5, epochs=1, random_state=0)
    clf.fit(X[:100], y[:100])
    assert clf.encoder_ is not custom and clf.circuit_.num_qubits == 5


def test_fine_tuning_moves_the_encoder(digits):
    X, y, _, _ = digits
    clf = QuantumMNISTClassifier(
        n_qubits=4,
        reps=1,
        epochs=1,
        fine_tune=True,
        random_state=0,
    )
    frozen = clf.get_params()
    clf.fit(X[:200], y[:200])
    encoder = clf.encoder_
    reference = clone(encoder).fit(X[:200])
    assert not np.allclose(encoder.transform(X[:20]), reference.transform(X[:20]))
    assert frozen == clf.get_params()
    with pytest.raises(ValueError, match="fine_tune"):
        small(fine_tune=True).fit(X[:20, :4], y[:20])


def test_pickle_joblib_and_clone(features, tmp_path):
    X, y = features
    clf = small(epochs=2).fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(X), expected)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "module_")


def test_pipeline_grid_search_and_cross_val(features):
    X, y = features
    search = GridSearchCV(
        small(epochs=2), {"reps": [1, 2], "entanglement": ["linear", "full"]}, cv=2, n_jobs=2
    )
    search.fit(X, y)
    assert set(search.best_params_) == {"reps", "entanglement"}
    assert search.best_score_ > 0.5
    scores = cross_val_score(
        make_pipeline(MinMaxScaler((0, np.pi)), small(epochs=2)), X, y, cv=3, n_jobs=2
    )
    assert scores.shape == (3,) and scores.mean() > 0.5


def test_ctrl_c_leaves_a_usable_model(features):
    X, y = features
    X = np.repeat(X, 40, axis=0)
    y = np.repeat(y, 40)
    clf = small(epochs=10_000, batch_size=8)
    # Ctrl-C as in a plain Python process: an earlier test in the same pytest worker (the
    # package itself sets no signal handler) was seen to leave SIGINT handled outside Python,
    # and then interrupt_main() does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def interrupt_after_first_epoch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(getattr(clf, "history_", [])) < 1:
            time.sleep(0.01)
        _thread.interrupt_main()

    thread = threading.Thread(target=interrupt_after_first_epoch)
    thread.start()
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            clf.fit(X, y)
    finally:
        # The thread gives up waiting after 120 s; a bounded join all the same.
        thread.join(timeout=180)
        signal.signal(signal.SIGINT, previous)
    assert not thread.is_alive()
    assert clf.interrupted_ and 1 <= clf.n_iter_ < 10_000
    assert clf.predict(X[:5]).shape == (5,)


def test_bad_input(features):
    X, y = features
    with pytest.raises(NotFittedError):
        small().predict(X)
    with pytest.raises(ValueError, match="NaN"):
        small().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="infinity"):
        small().fit(np.where(X > 2, np.inf, X), y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        small().fit(X, np.zeros(len(y), dtype=int))
    with pytest.raises(TypeError, match="[Ss]parse"):
        small().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="Unknown label type"):
        small().fit(X, X[:, 0])
    clf = small(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="3 classes and only 2 qubits"):
        small(n_qubits=2, readout="scale").fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_qubits": 0}, "n_qubits"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"engine": "qasm"}, "engine"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"ansatz": "deep"}, "ansatz"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"encoder": "umap"}, "encoder"),
    ],
)
def test_bad_parameters(features, params, message):
    X, y = features
    with pytest.raises(ValueError, match=message):
        small(**params).fit(X, y)


def test_shots_warn(features):
    X, y = features
    with pytest.warns(UserWarning, match="shot noise"):
        clf = small(
            engine="aer",
            engine_options={"shots": 256, "seed": 1},
            epochs=1,
            n_qubits=2,
            reps=1,
            batch_size=150,
        )
        clf.fit(X[:20, :2], y[:20])
    proba = clf.predict_proba(X[:5, :2])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(proba >= 0)


def test_autoencoder_is_the_default_encoder(digits):
    X, y, _, _ = digits
    clf = QuantumMNISTClassifier(n_qubits=3, reps=1, epochs=1, random_state=0).fit(X[:60], y[:60])
    # The default dense preset encodes two autoencoder codes per wire.
    assert isinstance(clf.encoder_, MNISTAutoencoder) and clf.encoder_.n_components == 6
    assert len(clf.circuit_.input_params) == 6
    assert isinstance(clf.module_.readout, LinearReadout)


def test_verbose_zero_is_silent_and_verbose_shows_both_bars(digits, capfd):
    X, y, _, _ = digits
    params = dict(n_qubits=3, reps=1, epochs=2, batch_size=32, random_state=0)
    QuantumMNISTClassifier(**params).fit(X[:60], y[:60])
    assert capfd.readouterr() == ("", "")
    clf = QuantumMNISTClassifier(**params, verbose=1).fit(X[:60], y[:60])
    assert clf.encoder_.verbose == 1
    err = capfd.readouterr().err
    # The autoencoder's bar, then the training bar over 2 epochs of 60 samples.
    assert "autoencoder" in err and "training" in err and "120/120" in err
    assert err.index("autoencoder") < err.index("training")


def test_n_threads_applies_inside_fit_and_predict_only(features, two_torch_threads):
    X, y = features
    inside = []
    clf = small(epochs=1, n_threads=1).fit(X, y)
    assert torch.get_num_threads() == two_torch_threads
    clf.module_.register_forward_pre_hook(
        lambda module, args: inside.append(torch.get_num_threads())
    )
    clf.predict(X[:3])
    clf.predict_proba(X[:3])
    clf.decision_function(X[:3])
    clf.partial_fit(X, y)
    assert set(inside) == {1} and torch.get_num_threads() == two_torch_threads
    inside.clear()
    clf.set_params(n_threads=None).predict(X[:3])
    assert inside == [two_torch_threads]


def test_n_threads_reaches_the_autoencoder(digits):
    X, y, _, _ = digits
    clf = QuantumMNISTClassifier(n_qubits=3, reps=1, epochs=1, n_threads=None, random_state=0)
    assert clf.fit(X[:40], y[:40]).encoder_.n_threads is None


def test_n_threads_is_restored_when_fit_fails(features, monkeypatch, two_torch_threads):
    X, y = features
    seen = []

    def failing_run_epochs(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("boom")

    monkeypatch.setattr(classifier_module, "run_epochs", failing_run_epochs)
    with pytest.raises(RuntimeError, match="boom"):
        small(n_threads=1).fit(X, y)
    assert seen == [1] and torch.get_num_threads() == two_torch_threads


@pytest.mark.parametrize("n_threads", [0, -2, 1.5, True, "2"])
def test_bad_n_threads(features, n_threads):
    X, y = features
    with pytest.raises(ValueError, match="n_threads must be a positive integer or None"):
        small(n_threads=n_threads).fit(X, y)


def test_max_samples_bounds_the_passes_of_a_fit(features):
    X, y = features
    bounded = small(epochs=8, max_samples=320).fit(X, y)
    assert bounded.n_iter_ == 2  # 320 // 150 samples
    assert small(epochs=3, max_samples=10).fit(X, y).n_iter_ == 1  # at least one pass
    assert small(epochs=3, max_samples=None).fit(X, y).n_iter_ == 3
    with pytest.raises(ValueError, match="max_samples"):
        small(max_samples=0).fit(X, y)


def test_fine_tune_auto_follows_the_training_set_size(digits, monkeypatch, tmp_path):
    X, y, X_test, _ = digits
    settings = dict(n_qubits=3, reps=1, epochs=1, random_state=0)
    frozen = QuantumMNISTClassifier(**settings).fit(X[:120], y[:120])
    assert frozen.fine_tune_ is False and frozen.module_.encoder is None
    monkeypatch.setattr(classifier_module, "FINE_TUNE_FROM", 100)
    tuned = QuantumMNISTClassifier(**settings).fit(X[:120], y[:120])
    assert tuned.fine_tune_ is True and tuned.module_.encoder is not None
    # The encoder learned from the labels: its codes moved away from the frozen ones.
    assert not np.allclose(
        tuned.encoder_.transform(X_test[:5]), frozen.encoder_.transform(X_test[:5])
    )
    # A saved model says which it was, whatever the threshold when it is loaded.
    tuned.save(tmp_path / "tuned.safetensors")
    monkeypatch.setattr(classifier_module, "FINE_TUNE_FROM", 10**9)
    loaded = QuantumMNISTClassifier.load(tmp_path / "tuned.safetensors")
    assert loaded.fine_tune_ is True
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test[:20]), tuned.predict_proba(X_test[:20])
    )
    # Only the built-in autoencoder is fine-tuned, however large the data.
    monkeypatch.setattr(classifier_module, "FINE_TUNE_FROM", 1)
    angles = np.clip(X[:60, :4] * np.pi, 0, np.pi)
    assert small(epochs=1).fit(angles, y[:60]).fine_tune_ is False
    with pytest.raises(ValueError, match="fine_tune must be True, False or 'auto'"):
        small(fine_tune="yes").fit(X[:20, :4], y[:20])
