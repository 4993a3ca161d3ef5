from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from qmnist_qiskit import QMNISTError, QuantumMNISTClassifier, load_mnist


@pytest.fixture(scope="module")
def digits():
    X, y = load_mnist()
    return X[:200], y[:200]


@pytest.mark.parametrize("encoder", ["autoencoder", "pca", None])
def test_save_load_round_trip_gives_identical_predictions(digits, tmp_path, encoder):
    X, y = digits
    if encoder is None:
        X = X[:, 300:304] * np.pi
    clf = QuantumMNISTClassifier(encoder=encoder, n_qubits=4, reps=2, epochs=2, random_state=0)
    clf.fit(
        X,
        np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[
            y
        ],
    )
    path = clf.save(tmp_path / "model.safetensors")
    loaded = QuantumMNISTClassifier.load(path)
    # Equal up to rounding: a restored PCA basis is contiguous, the fitted one a transposed view.
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.get_params() == clf.get_params()
    assert loaded.history_ == clf.history_
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert not list(tmp_path.glob(".*partial"))


def test_fine_tuned_model_round_trip(digits, tmp_path):
    X, y = digits
    clf = QuantumMNISTClassifier(n_qubits=3, reps=1, epochs=1, fine_tune=True, random_state=0)
    clf.fit(X, y)
    loaded = QuantumMNISTClassifier.load(clf.save(tmp_path / "m.safetensors"))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-12)


def test_loading_a_foreign_or_tampered_file_fails_clearly(digits, tmp_path):
    X, y = digits
    clf = QuantumMNISTClassifier(encoder="pca", n_qubits=3, reps=1, epochs=1, random_state=0)
    path = clf.fit(X, y).save(tmp_path / "model.safetensors")

    with pytest.raises(QMNISTError, match="no such model file"):
        QuantumMNISTClassifier.load(tmp_path / "missing.safetensors")

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04 this is a pickle, not a model")
    with pytest.raises(QMNISTError, match="not a readable safetensors"):
        QuantumMNISTClassifier.load(garbage)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign), {"format": "pt"})
    with pytest.raises(QMNISTError, match="not a qmnist_qiskit classifier"):
        QuantumMNISTClassifier.load(foreign)

    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])

    def rewrite(name, change):
        edited = json.loads(json.dumps(header))
        change(edited)
        text = json.dumps(edited).encode()
        target = tmp_path / name
        target.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + size :])
        return target

    def bad_params(h):
        params = json.loads(h["__metadata__"]["params"])
        params["n_qubits"] = 7
        h["__metadata__"]["params"] = json.dumps(params)

    with pytest.raises(QMNISTError, match="inconsistent model file"):
        QuantumMNISTClassifier.load(rewrite("params.safetensors", bad_params))

    def bad_version(h):
        h["__metadata__"]["format_version"] = "99"

    with pytest.raises(QMNISTError, match="format version"):
        QuantumMNISTClassifier.load(rewrite("version.safetensors", bad_version))

    def bad_json(h):
        h["__metadata__"]["history"] = "{not json"

    with pytest.raises(QMNISTError, match="inconsistent model file"):
        QuantumMNISTClassifier.load(rewrite("json.safetensors", bad_json))

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(raw[: len(raw) - 16])
    with pytest.raises(QMNISTError, match="not a readable safetensors"):
        QuantumMNISTClassifier.load(truncated)


def test_unsavable_settings_are_refused_before_writing(digits, tmp_path):
    X, y = digits
    from sklearn.preprocessing import FunctionTransformer

    clf = QuantumMNISTClassifier(
        encoder=FunctionTransformer(lambda a: a[:, 300:303] * np.pi),
        n_qubits=3,
        reps=1,
        epochs=1,
        random_state=0,
    ).fit(X, y)
    with pytest.raises(ValueError, match="use pickle or joblib"):
        clf.save(tmp_path / "model.safetensors")
    assert not list(tmp_path.iterdir())
