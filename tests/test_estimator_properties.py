"""Property-based tests of the estimator's public methods: random valid and invalid parameter
combinations (``set_params`` too) on random small data (NaN, infinities, constant features,
one class, 10,000 classes, no rows, no columns), driven through ``fit``, ``partial_fit``,
``predict``, ``predict_proba`` and ``score``.

Every call returns, or raises one of the documented exceptions (``ValueError``, of which
scikit-learn's ``NotFittedError`` and ``InvalidParameterError`` are kinds, or
:class:`~qmnist_qiskit.QMNISTError`): never another exception, and never a fitted model
holding NaN. Tiny circuits (at most 3 qubits, no encoder) keep an example well under a second;
a hang would fail the test by the suite's bounded time, not stall it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qmnist_qiskit import QuantumMNISTClassifier
from qmnist_qiskit.exceptions import QMNISTError

DOCUMENTED = (ValueError, QMNISTError)
ODD_NUMBERS = [0, -1, math.nan, math.inf, -math.inf, 1e3, 1e-12, 10**30, True, "1", None]


def _either(valid, odd=ODD_NUMBERS, *, odd_ones: bool = True):
    """Mostly valid values, now and then (``odd_ones``) an odd one."""
    if not odd_ones:
        return valid
    return st.one_of(valid, valid, valid, st.sampled_from(odd))


def _parameters(odd_ones: bool):
    def either(valid, odd=ODD_NUMBERS):
        return _either(valid, odd, odd_ones=odd_ones)

    return st.fixed_dictionaries(
        {},
        optional={
            "n_qubits": either(st.integers(1, 3)),
            "reps": either(st.integers(1, 2)),
            "ansatz": either(st.sampled_from(["dense", "reupload", "layered", "seed"]), ["x", 3]),
            "entanglement": either(st.sampled_from(["linear", "circular", "full"]), ["ring"]),
            "readout": either(st.sampled_from(["auto", "scale", "linear"]), ["none"]),
            "optimizer": either(st.sampled_from(["adam", "sgd", "rmsprop"]), ["lbfgs", 0]),
            "learning_rate": either(st.floats(1e-3, 1e3)),
            "lr_schedule": either(st.sampled_from(["constant", "cosine"]), ["linear"]),
            "batch_size": either(st.integers(1, 16)),
            "epochs": either(st.integers(1, 2)),
            "max_samples": either(st.integers(1, 50) | st.none()),
            "early_stopping": either(st.booleans(), ["yes", 2]),
            "validation_fraction": either(st.floats(0.05, 0.5)),
            "n_iter_no_change": either(st.integers(1, 3)),
            "tol": either(st.floats(0, 1)),
            "warm_start": either(st.booleans()),
            "random_state": either(st.integers(0, 2**32 - 1) | st.none(), [-1, 2**32, "0"]),
            "fine_tune": either(st.just(False), ["auto", True, "maybe"]),
        },
    )


# Half the examples valid throughout, so that training, not only refusing, is exercised.
PARAMETERS = st.one_of(_parameters(odd_ones=False), _parameters(odd_ones=True))


@st.composite
def data(draw):
    """``(X, y, classes)``: small, often odd, data; ``classes`` for partial_fit (sometimes
    10,000 of them)."""
    odd = draw(st.booleans())
    n_samples = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 12] if odd else [6, 9, 12]))
    n_features = draw(st.sampled_from([0, 1, 2, 3] if odd else [1, 2, 3]))
    values = st.floats(0, math.pi)
    if odd:
        values |= st.sampled_from([0.0, math.nan, math.inf, -1e9, 1e300])
    X = np.array(
        draw(
            st.lists(
                st.lists(values, min_size=n_features, max_size=n_features),
                min_size=n_samples,
                max_size=n_samples,
            )
        ),
        dtype=float,
    ).reshape(n_samples, n_features)
    if n_features and draw(st.booleans()):
        X[:, draw(st.integers(0, n_features - 1))] = 1.0  # a constant feature
    kind = draw(st.sampled_from(["few", "few", "one", "distinct", "text"] if odd else ["few"]))
    if kind == "one":
        y = np.zeros(n_samples, dtype=int)
    elif kind == "distinct":
        y = np.arange(n_samples)
    elif kind == "text":
        y = np.array(["cat", "dog", "eel"] * 4)[:n_samples]
    else:
        y = np.arange(n_samples) % draw(st.integers(2, 3))
    classes = draw(st.sampled_from([None, "seen", "ten-thousand"]))
    if classes == "seen":
        classes = np.unique(y)
    elif classes == "ten-thousand":
        classes = np.arange(10_000)
    return X, y, classes


def _finite_state(model: QuantumMNISTClassifier) -> bool:
    return all(bool(torch.isfinite(value).all()) for value in model.module_.state_dict().values())


def _call(method, *arguments, **keywords):
    """``method(...)``'s result, or None after a documented exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = method(*arguments, **keywords)
    except DOCUMENTED as error:
        event(f"{method.__name__}: {type(error).__name__}")
        return None
    event(f"{method.__name__}: returned")
    return result


def _check_fitted(model: QuantumMNISTClassifier, X: np.ndarray) -> None:
    if not hasattr(model, "module_") or not hasattr(model, "classes_"):
        return
    assert _finite_state(model), "a fitted model holds NaN or infinite weights"
    if len(X) and X.shape[1] == model.n_features_in_ and np.isfinite(X).all():
        probabilities = _call(model.predict_proba, X)
        if probabilities is not None:
            assert probabilities.shape == (len(X), len(model.classes_))
            assert np.isfinite(probabilities).all()
            np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-9)
        predicted = _call(model.predict, X)
        if predicted is not None:
            assert set(predicted.tolist()) <= set(model.classes_.tolist())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(params=PARAMETERS, first=data(), second=data(), changed=PARAMETERS, partial=st.booleans())
def test_public_methods_end_in_a_model_or_a_documented_error(
    params, first, second, changed, partial
):
    model = QuantumMNISTClassifier(encoder=None, verbose=0, **params)
    X, y, classes = first
    if partial:
        _call(model.partial_fit, X, y, classes=classes)
    else:
        _call(model.fit, X, y)
    _check_fitted(model, X)
    X2, y2, classes2 = second
    _call(model.predict, X2)
    _call(model.score, X2, y2)
    _call(model.set_params, **changed)
    _call(model.partial_fit, X2, y2, classes=classes2)
    _check_fitted(model, X2)
    _call(model.fit, X2, y2)
    _check_fitted(model, X2)
