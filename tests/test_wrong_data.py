"""Predicting on the wrong thing: data of another width, type or class set than the model was
fitted on is a scikit-learn-style error before any engine work, for a fitted estimator, a
loaded model file and ``qmnist evaluate``; other data of the right shape works."""

from __future__ import annotations

import numpy as np
import pytest

from qmnist_qiskit import QuantumMNISTClassifier, classifier, load_mnist
from qmnist_qiskit.cli import main


@pytest.fixture(scope="module")
def angles_model():
    """Fitted on 4 angle features (no encoder), classes 0, 1, 2."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, np.pi, (30, 4))
    y = np.arange(30) % 3
    model = QuantumMNISTClassifier(encoder=None, n_qubits=4, reps=1, epochs=1, random_state=0)
    return model.fit(X, y), X, y


@pytest.fixture
def engine_calls(monkeypatch):
    """The number of times a fitted model has evaluated its circuit (predict_logits)."""
    calls = []
    real = classifier.predict_logits

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "predict_logits", counted)
    return calls


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "score"])
def test_another_feature_count_is_refused_before_the_engine(angles_model, engine_calls, method):
    model, X, y = angles_model
    arguments = (np.hstack([X, X[:, :1]]),) + ((y,) if method == "score" else ())
    with pytest.raises(ValueError, match="X has 5 features, but QuantumMNISTClassifier is expect"):
        getattr(model, method)(*arguments)
    assert engine_calls == []


@pytest.mark.parametrize(
    "X, message",
    [
        (np.full((3, 4), "a"), "could not convert"),
        (np.ones((3, 4)) * 1j, "Complex data not supported"),
        (np.full((3, 4), np.nan), "NaN"),
        (np.ones((0, 4)), "0 sample"),
    ],
    ids=["text", "complex", "nan", "no-rows"],
)
def test_values_of_the_wrong_type_are_refused_before_the_engine(
    angles_model, engine_calls, X, message
):
    model, _, _ = angles_model
    with pytest.raises(ValueError, match=message):
        model.predict(X)
    assert engine_calls == []


@pytest.mark.parametrize(
    "labels, shown",
    [([0, 1, 7], "7"), (["0", "1", "2"], "'0', '1', '2'"), ([0.0, 1.5, 2.0], "1.5")],
    ids=["a-new-class", "text-for-numbers", "a-fraction"],
)
def test_labels_the_model_never_saw_are_refused_in_score(angles_model, engine_calls, labels, shown):
    model, X, _ = angles_model
    # They used to count as wrong predictions in silence (strings failed after predicting).
    with pytest.raises(ValueError, match="y has labels the model was not fitted on") as info:
        model.score(X[:3], labels)
    assert shown in str(info.value) and "its classes_ are 0, 1, 2" in str(info.value)
    assert engine_calls == []


def test_score_with_x_and_y_of_different_lengths_is_refused_first(angles_model, engine_calls):
    model, X, y = angles_model
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.score(X, y[:-1])
    assert engine_calls == []


def test_the_labels_it_was_fitted_on_score_as_before(angles_model):
    model, X, y = angles_model
    expected = float(np.mean(model.predict(X) == y))
    assert model.score(X, y) == expected
    assert model.score(X, y.astype(float)) == expected


def test_a_model_file_checks_the_width_it_was_fitted_on(angles_model, tmp_path, capsys):
    model, _, _ = angles_model
    path = model.save(tmp_path / "model.safetensors")
    loaded = QuantumMNISTClassifier.load(path)
    X, y = load_mnist(subset="test")
    with pytest.raises(ValueError, match="X has 784 features, but .* expecting 4 features"):
        loaded.score(X, y)
    # The command line: one line, before any engine work.
    assert main(["evaluate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "qmnist: error: X has 784 features, but QuantumMNISTClassifier is expecting 4 features "
        "as input.\n"
    )


def test_a_pixel_model_scores_other_images_of_its_shape_but_not_other_classes(tmp_path, capsys):
    X, y = load_mnist()
    model = QuantumMNISTClassifier(encoder="pca", n_qubits=2, reps=1, epochs=1, random_state=0)
    path = model.fit(X[:200], y[:200]).save(tmp_path / "model.safetensors")
    loaded = QuantumMNISTClassifier.load(path)
    # Other 28x28 images in [0, 1] with the same ten labels (as Fashion-MNIST's) score.
    other = np.random.default_rng(1).uniform(0, 1, (50, 784))
    assert 0 <= loaded.score(other, np.arange(50) % 10) <= 1
    few = QuantumMNISTClassifier(encoder="pca", n_qubits=2, reps=1, epochs=1, random_state=0)
    few.fit(X[y < 3][:150], y[y < 3][:150]).save(tmp_path / "three.safetensors")
    assert main(["evaluate", str(tmp_path / "three.safetensors")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(
        "qmnist: error: y has labels the model was not fitted on: 3, 4, 5, 6, 7, 8, 9 ("
    )
    assert "its classes_ are 0, 1, 2" in error


def test_partial_fit_refuses_labels_outside_the_classes_it_was_given():
    # Found by the property tests: an IndexError from inside the training step.
    X = np.random.default_rng(0).uniform(0, np.pi, (3, 2))
    model = QuantumMNISTClassifier(encoder=None, n_qubits=2, reps=1, random_state=0)
    with pytest.raises(ValueError, match="not among the classes given: 'cat', 'dog' "):
        model.partial_fit(X, ["cat", "dog", "cat"], classes=np.arange(10_000))
    assert not hasattr(model, "classes_")
    model.partial_fit(X, [0, 1, 2], classes=np.arange(10_000))
    with pytest.raises(ValueError, match="labels that were not seen in the first fit: '1'"):
        model.partial_fit(X, ["1", "1", "1"])
