"""Encoder codecs: a fitted built-in encoder to JSON fields and tensors, and back, checked.

A model file stores the classifier's fitted encoder through the codec of its kind:
``"identity"`` (``encoder=None``), ``"autoencoder"`` (:class:`MNISTAutoencoder`) and ``"pca"``
(PCA, then min-max scaling). :meth:`EncoderCodec.decode` checks the fields against the
tensors, and both against the sizes the rest of the file claims (features in, features out),
before it builds anything: a claim that the tensors do not back is a :class:`ValueError`
naming the field, never an allocation of the claimed size. Tensor names are the codec's
own; the file adds its prefix.

Examples
--------
>>> import numpy as np
>>> X = np.random.default_rng(0).random((20, 6))
>>> from qmnist_qiskit.encoders import make_encoder
>>> pca = make_encoder("pca", 2, 0).fit(X)
>>> codec = codec_for(pca)
>>> fields, tensors = codec.encode(pca)
>>> copy = codec.decode(fields, tensors, n_features_in=6, n_outputs=2)
>>> bool(np.allclose(copy.transform(X), pca.transform(X)))
True
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from qmnist_qiskit.autoencoder import MNISTAutoencoder

_PCA_ARRAYS = ("components_", "mean_", "explained_variance_")
_SCALER_ARRAYS = ("min_", "scale_", "data_min_", "data_max_", "data_range_")


def _is_count(value, low: int = 1) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= low


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A contiguous copy (safetensors refuses views such as a transposed PCA basis)."""
    return torch.as_tensor(np.ascontiguousarray(array)).clone()


def _check_tensors(
    field: str, tensors: dict[str, torch.Tensor], wanted: dict[str, tuple[int, ...]], dtype
) -> None:
    """Exactly the ``wanted`` names, each of that shape and ``dtype``, all values finite."""
    unexpected = sorted(set(tensors) - set(wanted))
    if unexpected:
        raise ValueError(f"field {field!r}: unexpected tensors {unexpected}")
    for name, shape in wanted.items():
        if name not in tensors:
            raise ValueError(f"field {field!r}: tensor {name!r} is missing")
        given = tensors[name]
        if tuple(given.shape) != shape or given.dtype != dtype:
            raise ValueError(
                f"field {field!r}: tensor {name!r} is {given.dtype} {list(given.shape)}, "
                f"the field's sizes make it {dtype} {list(shape)}"
            )
        if not bool(torch.isfinite(given).all()):
            raise ValueError(f"field {field!r}: tensor {name!r} holds NaN or infinite values")


class EncoderCodec:
    """How one kind of fitted encoder is stored: :meth:`encode` gives JSON-ready ``fields``
    (with ``"kind"``) and tensors; :meth:`decode` checks them and rebuilds the encoder.

    ``n_features_in`` and ``n_outputs`` passed to :meth:`decode` are the classifier's claims
    (features of ``X``, circuit inputs); the encoder's own fields must agree with them.
    """

    kind: str = ""

    def handles(self, encoder) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, encoder) -> tuple[dict, dict[str, torch.Tensor]]:  # pragma: no cover
        raise NotImplementedError

    def decode(
        self, fields: dict, tensors: dict[str, torch.Tensor], *, n_features_in: int, n_outputs: int
    ):  # pragma: no cover - abstract
        raise NotImplementedError


class IdentityCodec(EncoderCodec):
    """``encoder=None``: the features pass through (no fields, no tensors)."""

    kind = "identity"

    def handles(self, encoder) -> bool:
        return isinstance(encoder, FunctionTransformer) and encoder.func is None

    def encode(self, encoder) -> tuple[dict, dict[str, torch.Tensor]]:
        return {"kind": self.kind}, {}

    def decode(self, fields, tensors, *, n_features_in: int, n_outputs: int):
        if tensors:
            raise ValueError(f"field 'encoder': unexpected tensors {sorted(tensors)}")
        if n_features_in != n_outputs:
            raise ValueError(
                f"field 'n_features_in': encoder=None passes the {n_features_in} features of X "
                f"to the circuit, but n_circuit_features says {n_outputs}"
            )
        # A zero-stride view: fitting reads only the shape, so nothing of that size is made.
        return FunctionTransformer(validate=False).fit(np.broadcast_to(0.0, (1, n_features_in)))


class AutoencoderCodec(EncoderCodec):
    """:class:`MNISTAutoencoder`: its parameters, ``n_features_in``, ``history`` and the
    network's tensors (see :meth:`MNISTAutoencoder.get_state`)."""

    kind = "autoencoder"

    def handles(self, encoder) -> bool:
        return isinstance(encoder, MNISTAutoencoder)

    def encode(self, encoder) -> tuple[dict, dict[str, torch.Tensor]]:
        params = encoder.get_params()
        params["hidden_layer_sizes"] = [int(w) for w in params["hidden_layer_sizes"]]
        state, tensors = encoder.get_state()
        return {"kind": self.kind, "params": params} | state, tensors

    def decode(self, fields, tensors, *, n_features_in: int, n_outputs: int):
        params = fields.get("params")
        if not isinstance(params, dict):
            raise ValueError(f"field 'encoder.params' must be an object, got {params!r}")
        params = dict(params)
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        if params.get("n_components") != n_outputs:
            raise ValueError(
                f"field 'encoder.params': n_components={params.get('n_components')!r}, but "
                f"n_circuit_features says {n_outputs}"
            )
        if fields.get("n_features_in") != n_features_in:
            raise ValueError(
                f"field 'encoder.n_features_in': {fields.get('n_features_in')!r}, but "
                f"n_features_in says {n_features_in}"
            )
        state = {k: v for k, v in fields.items() if k not in ("kind", "params")}
        try:
            return MNISTAutoencoder.from_state(params, state, tensors)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"field 'encoder': {exc}") from exc


class PCACodec(EncoderCodec):
    """``encoder="pca"``: PCA's basis and mean, the scaler's affine map into
    ``feature_range``."""

    kind = "pca"

    def handles(self, encoder) -> bool:
        # Only the settings the file stores: a whitened PCA or a clipping scaler would come
        # back without them and predict otherwise, so such pipelines are not "pca".
        return (
            isinstance(encoder, Pipeline)
            and [type(s) for _, s in encoder.steps] == [PCA, MinMaxScaler]
            and not encoder[0].whiten
            and not encoder[1].clip
        )

    def encode(self, encoder) -> tuple[dict, dict[str, torch.Tensor]]:
        pca, scaler = encoder[0], encoder[1]
        tensors = {f"pca.{k}": _tensor(getattr(pca, k)) for k in _PCA_ARRAYS}
        tensors |= {f"scaler.{k}": _tensor(getattr(scaler, k)) for k in _SCALER_ARRAYS}
        fields = {
            "kind": self.kind,
            "n_components": int(pca.n_components_),
            "n_features_in": int(pca.n_features_in_),
            "feature_range": [float(v) for v in scaler.feature_range],
        }
        return fields, tensors

    def decode(self, fields, tensors, *, n_features_in: int, n_outputs: int):
        n_components, n_in = fields.get("n_components"), fields.get("n_features_in")
        if not _is_count(n_components) or n_components != n_outputs:
            raise ValueError(
                f"field 'encoder.n_components': {n_components!r}, but n_circuit_features "
                f"says {n_outputs}"
            )
        if not _is_count(n_in) or n_in != n_features_in:
            raise ValueError(
                f"field 'encoder.n_features_in': {n_in!r}, but n_features_in says {n_features_in}"
            )
        feature_range = fields.get("feature_range")
        if not (
            isinstance(feature_range, list)
            and len(feature_range) == 2
            and all(isinstance(v, Real) and math.isfinite(v) for v in feature_range)
            and feature_range[0] < feature_range[1]
        ):
            raise ValueError(
                f"field 'encoder.feature_range' must be two finite numbers, low < high, got "
                f"{feature_range!r}"
            )
        wanted = {
            "pca.components_": (n_components, n_in),
            "pca.mean_": (n_in,),
            "pca.explained_variance_": (n_components,),
        } | {f"scaler.{name}": (n_components,) for name in _SCALER_ARRAYS}
        _check_tensors("encoder", tensors, wanted, torch.float64)
        pca = PCA(n_components=n_components)
        for name in _PCA_ARRAYS:
            setattr(pca, name, tensors[f"pca.{name}"].numpy())
        pca.n_components_ = n_components
        pca.n_features_in_ = n_in
        pca.n_samples_ = 0
        scaler = MinMaxScaler(feature_range=tuple(feature_range))
        for name in _SCALER_ARRAYS:
            setattr(scaler, name, tensors[f"scaler.{name}"].numpy())
        scaler.n_features_in_ = n_components
        scaler.n_samples_seen_ = 0
        return Pipeline([("pca", pca), ("minmaxscaler", scaler)])


CODECS: tuple[EncoderCodec, ...] = (IdentityCodec(), AutoencoderCodec(), PCACodec())
"""The codec of every encoder kind a model file can hold."""


def codec_for(encoder) -> EncoderCodec:
    """The codec that stores ``encoder``, or :class:`ValueError` for an encoder none
    stores (a transformer of the user's: pickle or joblib save those)."""
    for codec in CODECS:
        if codec.handles(encoder):
            return codec
    raise ValueError(
        "save() stores the built-in encoders only ('autoencoder', 'pca', None); "
        f"{type(encoder).__name__} cannot be saved as tensors and JSON: use pickle or joblib"
    )


def stored_layout(encoder):
    """``encoder``, its arrays laid out as :meth:`EncoderCodec.decode` lays them out (a
    fitted PCA's basis is a strided view; a restored one is contiguous), so that a saved and
    restored encoder computes bit for bit what the fitted one does: what makes a resumed fit
    equal an uninterrupted one. Encoders no codec stores are returned as they are."""
    if PCACodec().handles(encoder):
        encoder[0].components_ = np.ascontiguousarray(encoder[0].components_)
    return encoder


def codec_named(kind) -> EncoderCodec:
    """The codec of ``kind`` (``"identity"``, ``"autoencoder"``, ``"pca"``), or
    :class:`ValueError` naming the kinds."""
    for codec in CODECS:
        if codec.kind == kind:
            return codec
    raise ValueError(
        f"field 'encoder': unknown encoder kind {kind!r}; the kinds are "
        f"{[codec.kind for codec in CODECS]}"
    )
