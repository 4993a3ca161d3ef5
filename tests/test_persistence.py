from __future__ import annotations

import copy
import json
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from qmnist_qiskit import MNISTAutoencoder, QMNISTError, QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.codecs import codec_for, codec_named
from qmnist_qiskit.persistence import CHECKSUM_FIELD, MAX_CLASSES, model_checksum


@pytest.fixture(scope="module")
def digits():
    X, y = load_mnist()
    return X[:200], y[:200]


@pytest.fixture(scope="module")
def pca_model(digits):
    X, y = digits
    return QuantumMNISTClassifier(encoder="pca", n_qubits=3, reps=1, epochs=1, random_state=0).fit(
        X[:100], y[:100]
    )


@pytest.fixture(scope="module")
def autoencoder_model(digits):
    X, y = digits
    encoder = MNISTAutoencoder(3, hidden_layer_sizes=(16,), epochs=1, random_state=0)
    return QuantumMNISTClassifier(
        encoder=encoder, n_qubits=3, reps=1, epochs=1, random_state=0
    ).fit(X[:100], y[:100])


def _contents(path):
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata()), {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118


def _rewrite(path, target, *, metadata=None, tensors=None, sign=True):
    """A copy of the model file at ``path`` with its metadata and tensors changed by the
    given functions, re-signed (a correct checksum) unless ``sign`` is false: what someone
    editing a file on purpose writes, so the checks behind the checksum are what answer."""
    meta, arrays = _contents(path)
    if metadata is not None:
        metadata(meta)
    if tensors is not None:
        tensors(arrays)
    if sign:
        meta[CHECKSUM_FIELD] = model_checksum(meta, arrays)
    save_file(arrays, str(target), meta)
    return target


def _edit_json(name, change):
    def edit(meta):
        value = json.loads(meta[name])
        value = change(value) or value
        meta[name] = json.dumps(value)

    return edit


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


def test_autoencoder_instance_round_trip_keeps_its_network(digits, autoencoder_model, tmp_path):
    X, _ = digits
    loaded = QuantumMNISTClassifier.load(autoencoder_model.save(tmp_path / "m.safetensors"))
    assert loaded.encoder == "autoencoder"
    assert loaded.encoder_.hidden_layer_sizes == (16,)
    assert loaded.encoder_.history_ == autoencoder_model.encoder_.history_
    assert loaded.encoder_.n_steps_ == autoencoder_model.encoder_.n_steps_
    np.testing.assert_array_equal(loaded.predict_proba(X), autoencoder_model.predict_proba(X))


def test_torch_optim_classes_and_routed_arguments_round_trip(digits, tmp_path):
    X, y = digits
    clf = QuantumMNISTClassifier(
        encoder="pca",
        n_qubits=3,
        reps=1,
        epochs=1,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        random_state=0,
    ).fit(X[:60], y[:60])
    path = clf.save(tmp_path / "m.safetensors")
    assert json.loads(_contents(path)[0]["params"])["optimizer"] == "torch.optim.SGD"
    loaded = QuantumMNISTClassifier.load(path)
    assert loaded.optimizer is torch.optim.SGD
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "optimizer",
    ["torch.optim.lr_scheduler", "torch.optim.os", "torch.optim.SGD.__base__", "os.system"],
)
def test_only_torch_optim_optimisers_are_loaded(pca_model, tmp_path, optimizer):
    path = pca_model.save(tmp_path / "m.safetensors")
    edited = _rewrite(
        path,
        tmp_path / "edited.safetensors",
        metadata=_edit_json("params", lambda p: p.update(optimizer=optimizer)),
    )
    with pytest.raises(QMNISTError, match="field 'params'.*optimizer"):
        QuantumMNISTClassifier.load(edited)


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

    def rewrite(name, change):
        # Re-signed, so that the checks behind the checksum answer.
        return _rewrite(path, tmp_path / name, metadata=change)

    def bad_params(meta):
        params = json.loads(meta["params"])
        params["n_qubits"] = 7
        meta["params"] = json.dumps(params)

    with pytest.raises(QMNISTError, match="inconsistent model file"):
        QuantumMNISTClassifier.load(rewrite("params.safetensors", bad_params))

    def bad_version(meta):
        meta["format_version"] = "99"

    with pytest.raises(QMNISTError, match="format version"):
        QuantumMNISTClassifier.load(rewrite("version.safetensors", bad_version))

    def bad_json(meta):
        meta["history"] = "{not json"

    with pytest.raises(QMNISTError, match="inconsistent model file"):
        QuantumMNISTClassifier.load(rewrite("json.safetensors", bad_json))

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(raw[: len(raw) - 16])
    with pytest.raises(QMNISTError, match="not a readable safetensors"):
        QuantumMNISTClassifier.load(truncated)


# -- integrity ----------------------------------------------------------------------------
def _header(raw: bytes) -> tuple[int, bytes]:
    size = struct.unpack("<Q", raw[:8])[0]
    return size, raw[8 : 8 + size]


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]


@pytest.mark.parametrize(
    "region",
    ["metadata value", "tensor name", "tensor shape", "version", "checksum", "tensor bytes"],
)
def test_a_flipped_byte_fails_the_checksum(pca_model, tmp_path, region):
    path = pca_model.save(tmp_path / "m.safetensors")
    raw = path.read_bytes()
    size, header = _header(raw)
    text = header.decode()
    if region == "metadata value":
        # A digit of the first epoch's loss, inside the history's JSON.
        at = 8 + text.index('\\"loss\\": ') + len('\\"loss\\": ') + 2
    elif region == "tensor name":
        at = 8 + text.index('"model.weights"') + len('"model.w')
    elif region == "tensor shape":
        # [a, b] and [b, a] hold the same bytes: only the checksum tells them apart.
        shape = json.loads(header)["encoder.pca.components_"]["shape"]
        old = json.dumps(shape).replace(" ", "").encode()
        new = json.dumps(shape[::-1]).replace(" ", "").encode()
        assert len(old) == len(new)
        changed = raw.replace(old, new, 1)
        assert changed != raw
        (tmp_path / "bad.safetensors").write_bytes(changed)
        with pytest.raises(QMNISTError, match="checksum mismatch"):
            QuantumMNISTClassifier.load(tmp_path / "bad.safetensors")
        return
    elif region == "version":
        # "2" -> "3" is an unknown version; "2" -> "1" is refused by the checksum it carries.
        at = 8 + text.index('"format_version":"2"') + len('"format_version":"')
        (tmp_path / "v1.safetensors").write_bytes(raw[:at] + b"1" + raw[at + 1 :])
        with pytest.raises(QMNISTError, match="checksum mismatch"):
            QuantumMNISTClassifier.load(tmp_path / "v1.safetensors")
    elif region == "checksum":
        at = 8 + text.index('"sha256:') + len('"sha256:') + 5
    else:
        at = len(raw) - 3
    (tmp_path / "bad.safetensors").write_bytes(_flip(raw, at))
    with pytest.raises(QMNISTError, match=r"checksum mismatch|format version"):
        QuantumMNISTClassifier.load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("at", [0, 3, 7, 8, 9, "end of header"])
def test_a_broken_header_is_not_readable_and_names_the_path(pca_model, tmp_path, at):
    path = pca_model.save(tmp_path / "m.safetensors")
    raw = path.read_bytes()
    if at == "end of header":
        at = 8 + _header(raw)[0] - 1
        while raw[at] == ord(" "):  # the header's padding
            at -= 1
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(raw[:at] + b"\x7f" + raw[at + 1 :])
    with pytest.raises(QMNISTError, match=f"{bad}: not a readable safetensors"):
        QuantumMNISTClassifier.load(bad)


def test_truncations_and_appended_bytes_are_refused(pca_model, tmp_path):
    raw = pca_model.save(tmp_path / "m.safetensors").read_bytes()
    size = _header(raw)[0]
    bad = tmp_path / "bad.safetensors"
    for length in (0, 4, 8, 9, 8 + size // 2, 8 + size, len(raw) - 1):
        bad.write_bytes(raw[:length])
        with pytest.raises(QMNISTError, match="not a readable safetensors"):
            QuantumMNISTClassifier.load(bad)
    bad.write_bytes(raw + b"\0")
    with pytest.raises(QMNISTError, match="not a readable safetensors"):
        QuantumMNISTClassifier.load(bad)


def test_a_header_claiming_more_than_the_file_holds_is_refused_before_reading(pca_model, tmp_path):
    raw = pca_model.save(tmp_path / "m.safetensors").read_bytes()
    size, header = _header(raw)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**62) + raw[8:])
    with pytest.raises(QMNISTError, match="header too large"):
        QuantumMNISTClassifier.load(bad)
    claims = json.loads(header)
    claims["model.weights"]["shape"] = [100_000, 100_000]
    claims["model.weights"]["data_offsets"][1] = claims["model.weights"]["data_offsets"][0] + (
        8 * 10**10
    )
    text = json.dumps(claims).encode()
    bad.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + size :])
    with pytest.raises(QMNISTError, match="not a readable safetensors"):
        QuantumMNISTClassifier.load(bad)


# -- claims and contradictions ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_edit_json("params", lambda p: p.update(n_qubits=26)), "n_qubits"),
        (_edit_json("params", lambda p: p.update(reps=1_000_000)), "1000000 layers"),
        (_edit_json("params", lambda p: p.update(n_features=100_000)), "n_features"),
        (_edit_json("params", lambda p: p.update(ansatz={"circuit": "x"})), "ansatz"),
        (_edit_json("params", lambda p: p.update(unknown=1)), "'unknown'"),
        (_edit_json("params", lambda p: p.update(encoder="autoencoder")), "field 'encoder'"),
        (_edit_json("params", lambda p: p.update(fine_tune=True)), "field 'fine_tune'"),
        (lambda m: m.update(n_circuit_features="100000"), "n_circuit_features"),
        (lambda m: m.update(n_features_in="9" * 12), "n_features_in"),
        (lambda m: m.update(n_features_in="785"), "field 'encoder.n_features_in'"),
        (lambda m: m.update(classes=json.dumps(list(range(MAX_CLASSES + 1)))), "field 'classes'"),
        (lambda m: m.update(classes="[3, 2, 1, 0, 4, 5, 6, 7, 8, 9]"), "sorted"),
        (
            lambda m: m.update(classes='["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'),
            "classes_dtype",
        ),
        (lambda m: m.update(classes_dtype="<U1"), "classes_dtype"),
        (lambda m: m.update(classes_dtype="(1000000000,)<f8"), "classes_dtype"),
        (lambda m: m.update(classes_dtype="<U100000000"), "classes_dtype"),
        (lambda m: m.update(classes_dtype="not a dtype"), "classes_dtype"),
        (lambda m: m.update(history="[1, 2]"), "field 'history'"),
        (lambda m: m.update(history="[" * 100_000), "field 'history'"),
        (lambda m: m.update(fine_tune="NaN"), "field 'fine_tune'"),
        (lambda m: m.pop("params"), "field 'params' is missing"),
        (lambda m: m.update(code="import os"), "unexpected fields ['code']"),
        (_edit_json("encoder", lambda e: e.update(kind="pickle")), "unknown encoder kind"),
        (_edit_json("encoder", lambda e: e.update(n_components=5)), "encoder.n_components"),
        (_edit_json("encoder", lambda e: e.update(feature_range=[1, 0])), "feature_range"),
    ],
)
def test_claims_beyond_the_limits_or_against_the_file_name_the_field(
    pca_model, tmp_path, change, field
):
    path = pca_model.save(tmp_path / "m.safetensors")
    edited = _rewrite(path, tmp_path / "edited.safetensors", metadata=change)
    with pytest.raises(QMNISTError, match="inconsistent model file") as error:
        QuantumMNISTClassifier.load(edited)
    assert field in str(error.value)
    assert str(edited) in str(error.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t["encoder.pca.mean_"].__setitem__(0, float("nan")), "NaN"),
        (lambda t: t["model.weights"].__setitem__(0, float("inf")), "NaN or infinite"),
        (lambda t: t.update({"encoder.pca.mean_": t["encoder.pca.mean_"][:-1]}), "mean_"),
        (lambda t: t.update({"model.weights": t["model.weights"].float()}), "model.weights"),
        (lambda t: t.update({"model.extra": torch.zeros(1)}), "unexpected"),
        (lambda t: t.pop("encoder.scaler.scale_"), "scale_"),
    ],
)
def test_tensors_that_contradict_the_metadata_name_the_field(pca_model, tmp_path, change, field):
    path = pca_model.save(tmp_path / "m.safetensors")
    edited = _rewrite(path, tmp_path / "edited.safetensors", tensors=change)
    with pytest.raises(QMNISTError, match="inconsistent model file") as error:
        QuantumMNISTClassifier.load(edited)
    assert field in str(error.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["params"].update(hidden_layer_sizes=[10**9]), "hidden_layer_sizes"),
        (lambda e: e["params"].update(hidden_layer_sizes=[16] * 10**6), "hidden_layer_sizes"),
        (lambda e: e["params"].update(n_components=10**9), "n_components"),
        (lambda e: e["params"].update(angle_scale=-1), "angle_scale"),
        (lambda e: e.update(n_features_in=10**9), "encoder.n_features_in"),
        (lambda e: e.update(n_steps="many"), "n_steps"),
    ],
)
def test_autoencoder_claims_are_checked_against_its_tensors(
    autoencoder_model, tmp_path, change, field
):
    path = autoencoder_model.save(tmp_path / "m.safetensors")
    edited = _rewrite(path, tmp_path / "edited.safetensors", metadata=_edit_json("encoder", change))
    with pytest.raises(QMNISTError, match="inconsistent model file") as error:
        QuantumMNISTClassifier.load(edited)
    assert field in str(error.value)


def test_autoencoder_tensor_of_another_shape_is_named(autoencoder_model, tmp_path):
    path = autoencoder_model.save(tmp_path / "m.safetensors")
    edited = _rewrite(
        path,
        tmp_path / "edited.safetensors",
        tensors=lambda t: t.update({"encoder.encoder.0.weight": torch.zeros(17, 784)}),
    )
    with pytest.raises(QMNISTError, match=r"'encoder.0.weight' is torch.float32 \[17, 784\]"):
        QuantumMNISTClassifier.load(edited)


# -- version 1 ------------------------------------------------------------------------------
def _save_version_1(classifier, path):
    """``classifier`` in the layout of format version 1 (earlier releases): the same fields,
    no checksum; torch tensors of the encoder under the same names."""
    encoder_fields, encoder_tensors = codec_for(classifier.encoder_).encode(classifier.encoder_)
    encoder_fields.pop("n_steps", None)
    tensors = {
        f"model.{k}": v.contiguous()
        for k, v in classifier.module_.state_dict().items()
        if not k.startswith("encoder.")
    } | {f"encoder.{k}": v for k, v in encoder_tensors.items()}
    params = classifier.get_params(deep=False)
    metadata = {
        "format": "qmnist_qiskit.QuantumMNISTClassifier",
        "format_version": "1",
        "params": json.dumps(params),
        "classes": json.dumps(classifier.classes_.tolist()),
        "classes_dtype": classifier.classes_.dtype.str,
        "n_features_in": str(classifier.n_features_in_),
        "n_circuit_features": str(len(classifier.circuit_.input_params)),
        "history": json.dumps(classifier.history_),
        "encoder": json.dumps(encoder_fields),
    }
    save_file(tensors, str(path), metadata)
    return path


def test_version_1_files_load_with_a_warning(digits, pca_model, tmp_path):
    X, _ = digits
    path = _save_version_1(pca_model, tmp_path / "old.safetensors")
    with pytest.warns(UserWarning, match="version-1 model file .* save the loaded model again"):
        loaded = QuantumMNISTClassifier.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), pca_model.predict_proba(X), atol=1e-12)
    resaved = loaded.save(tmp_path / "new.safetensors")
    assert _contents(resaved)[0]["format_version"] == "2"


def test_version_1_files_get_every_check_but_the_checksum(pca_model, tmp_path):
    path = _save_version_1(pca_model, tmp_path / "old.safetensors")
    edited = _rewrite(
        path,
        tmp_path / "edited.safetensors",
        metadata=_edit_json("params", lambda p: p.update(n_qubits=26)),
        sign=False,
    )
    with pytest.warns(UserWarning), pytest.raises(QMNISTError, match="n_qubits"):
        QuantumMNISTClassifier.load(edited)


# -- saving -----------------------------------------------------------------------------------
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


@pytest.mark.parametrize("setting", ["whiten", "clip"])
def test_a_pca_pipeline_with_settings_the_file_cannot_hold_is_refused(digits, tmp_path, setting):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X, y = digits
    encoder = make_pipeline(
        PCA(n_components=3, whiten=setting == "whiten"),
        MinMaxScaler((0, np.pi), clip=setting == "clip"),
    )
    clf = QuantumMNISTClassifier(encoder=encoder, n_qubits=3, reps=1, epochs=1, random_state=0)
    with pytest.raises(ValueError, match="use pickle or joblib"):
        clf.fit(X, y).save(tmp_path / "model.safetensors")
    assert not list(tmp_path.iterdir())


class _MyAdam(torch.optim.Adam):
    pass


@pytest.mark.parametrize(
    "params",
    [
        {"ansatz": seed_circuit(3)},
        {"ansatz": lambda n: seed_circuit(n)},
        {"optimizer": _MyAdam},
        {"engine_options": {"seed": object()}},
    ],
)
def test_unsavable_parameters_are_refused_before_writing(pca_model, tmp_path, params):
    clf = copy.copy(pca_model).set_params(**params)
    with pytest.raises(ValueError, match="use pickle or joblib"):
        clf.save(tmp_path / "model.safetensors")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["missing directory", "a directory", "empty name"])
def test_save_errors_name_the_users_path_and_leave_nothing(pca_model, tmp_path, where):
    target = {
        "missing directory": tmp_path / "nowhere" / "m.safetensors",
        "a directory": tmp_path,
        "empty name": "",
    }[where]
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(QMNISTError) as error:
        pca_model.save(target)
    assert f"cannot write {str(target) or repr('')}" in str(error.value)
    assert "partial" not in str(error.value)
    assert sorted(tmp_path.rglob("*")) == before


def test_codecs_are_found_by_kind_and_refuse_unknown_ones():
    assert [codec_named(kind).kind for kind in ("identity", "autoencoder", "pca")] == [
        "identity",
        "autoencoder",
        "pca",
    ]
    with pytest.raises(ValueError, match="unknown encoder kind 'pickle'"):
        codec_named("pickle")
