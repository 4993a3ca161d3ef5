"""Property-based tests of model files: random byte changes, truncations and insertions of a
saved model either raise :class:`QMNISTError` or load a model with exactly the predictions of
the unchanged file (a change of nothing that matters, such as the header's padding turned into
another blank).

One small fitted model (PCA, 3 qubits, one epoch on 100 embedded images) is saved once; each
example writes a changed copy. Half the changes land in the JSON header, where the format's
structure lives, half anywhere in the file. A last property edits one field on purpose and
recomputes the checksum, so that the checks behind it answer: QMNISTError or a working model,
never another exception.
"""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qmnist_qiskit import QMNISTError, QuantumMNISTClassifier, load_mnist

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The saved file's bytes, the header's end, probe images and the unchanged file's
    probabilities for them."""
    X, y = load_mnist()
    model = QuantumMNISTClassifier(encoder="pca", n_qubits=3, reps=1, epochs=1, random_state=0)
    model.fit(X[:100], y[:100])
    path = model.save(tmp_path_factory.mktemp("fuzz") / "model.safetensors")
    raw = path.read_bytes()
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    probes = X[100:120]
    return raw, header_end, probes, QuantumMNISTClassifier.load(path).predict_proba(probes)


def _load_or_refuse(saved, data: bytes, folder) -> None:
    """The property: ``data`` is refused with QMNISTError, or predicts as the saved model."""
    _, _, probes, expected = saved
    target = folder / "changed.safetensors"
    target.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = QuantumMNISTClassifier.load(target)
    except QMNISTError as exc:
        assert str(target) in str(exc)
        event(str(exc).split(": ", 1)[1].split(" (", 1)[0][:60])
        return
    event("loaded")
    np.testing.assert_array_equal(loaded.predict_proba(probes), expected)


@st.composite
def changes(draw, saved_file):
    raw, header_end, _, _ = saved_file
    count = draw(st.integers(1, 3))
    data = bytearray(raw)
    for _ in range(count):
        end = header_end if draw(st.booleans()) else len(raw)
        at = draw(st.integers(0, end - 1))
        data[at] = draw(st.integers(0, 255).filter(lambda b, old=data[at]: b != old))
    return bytes(data)


def test_changed_bytes_are_refused_or_change_nothing(saved, tmp_path):
    @FUZZ
    @given(data=changes(saved))
    def check(data):
        _load_or_refuse(saved, data, tmp_path)

    check()


def test_single_flipped_bits_are_always_refused(saved, tmp_path):
    raw = saved[0]

    @FUZZ
    @given(at=st.integers(0, len(raw) - 1), bit=st.integers(0, 7))
    def check(at, bit):
        data = raw[:at] + bytes([raw[at] ^ (1 << bit)]) + raw[at + 1 :]
        target = tmp_path / "flipped.safetensors"
        target.write_bytes(data)
        # Even in the header's padding: a blank with one bit flipped is no longer a blank.
        with pytest.raises(QMNISTError, match=str(target)):
            QuantumMNISTClassifier.load(target)

    check()


def test_truncated_or_extended_files_are_refused(saved, tmp_path):
    raw = saved[0]

    @settings(FUZZ, max_examples=60)
    @given(
        length=st.integers(0, len(raw) - 1),
        extra=st.binary(min_size=1, max_size=16),
        append=st.booleans(),
    )
    def check(length, extra, append):
        target = tmp_path / "cut.safetensors"
        target.write_bytes(raw + extra if append else raw[:length])
        with pytest.raises(QMNISTError, match="not a readable safetensors"):
            QuantumMNISTClassifier.load(target)

    check()


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 30),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["pca", "autoencoder", "identity", "torch.optim.SGD", "seed", "<f8", "|O"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
_JSON_FIELDS = ("params", "classes", "fine_tune", "history", "encoder")
_TEXT_FIELDS = ("classes_dtype", "n_features_in", "n_circuit_features")


def test_edited_and_re_signed_fields_are_refused_or_load_a_working_model(saved, tmp_path):
    """Behind the checksum: a file edited on purpose (its checksum recomputed), one field or
    one entry of a JSON object at a time, is refused with QMNISTError naming the file, or
    loads a model that predicts."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from qmnist_qiskit.persistence import CHECKSUM_FIELD, model_checksum

    source = tmp_path / "source.safetensors"
    source.write_bytes(saved[0])
    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118

    @FUZZ
    @given(field=st.sampled_from(_JSON_FIELDS + _TEXT_FIELDS), data=st.data())
    def check(field, data):
        edited = dict(metadata)
        if field in _TEXT_FIELDS:
            edited[field] = data.draw(
                st.one_of(st.text(max_size=6), st.integers(-2, 10**6).map(str), _SCALARS.map(str))
            )
        else:
            value = json.loads(edited[field])
            if isinstance(value, dict) and data.draw(st.booleans()):
                value[data.draw(st.sampled_from(sorted(value)))] = data.draw(_JSON)
            else:
                value = data.draw(_JSON)
            edited[field] = json.dumps(value)
        edited[CHECKSUM_FIELD] = model_checksum(edited, tensors)
        target = tmp_path / "edited.safetensors"
        save_file(tensors, str(target), edited)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = QuantumMNISTClassifier.load(target)
        except QMNISTError as exc:
            assert str(target) in str(exc)
            return
        assert loaded.predict(saved[2]).shape == (len(saved[2]),)

    check()
