"""Safe saving and loading of a fitted classifier: tensors and JSON only, no code.

One ``.safetensors`` file holds every tensor (circuit weights, readout, encoder) and, in
its string metadata, JSON for the hyperparameters, classes, history and encoder. Loading
parses JSON and tensors and never unpickles, so a file from elsewhere cannot run code;
a file that is not ours, or was altered, fails with :class:`QMNISTError`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from qmnist_qiskit.autoencoder import MNISTAutoencoder, _AutoencoderModule
from qmnist_qiskit.exceptions import QMNISTError

if TYPE_CHECKING:
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

FORMAT = "qmnist_qiskit.QuantumMNISTClassifier"
# The file name `qmnist train` writes in its output directory and `qmnist report` reads.
MODEL_FILE = "model.safetensors"
FORMAT_VERSION = 1
_PCA_ARRAYS = ("components_", "mean_", "explained_variance_")
_SCALER_ARRAYS = ("min_", "scale_", "data_min_", "data_max_", "data_range_")


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A contiguous copy (safetensors refuses views such as a transposed PCA basis)."""
    return torch.as_tensor(np.ascontiguousarray(array)).clone()


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _encoder_state(encoder) -> tuple[dict, dict[str, torch.Tensor]]:
    if isinstance(encoder, FunctionTransformer) and encoder.func is None:
        return {"kind": "identity"}, {}
    if isinstance(encoder, MNISTAutoencoder):
        params = encoder.get_params()
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
        tensors = {f"encoder.{k}": v for k, v in encoder.module_.state_dict().items()}
        meta = {"kind": "autoencoder", "params": params, "history": encoder.history_}
        return meta | {"n_features_in": encoder.n_features_in_}, tensors
    if isinstance(encoder, Pipeline) and [type(s) for _, s in encoder.steps] == [PCA, MinMaxScaler]:
        pca, scaler = encoder[0], encoder[1]
        tensors = {f"encoder.pca.{k}": _tensor(getattr(pca, k)) for k in _PCA_ARRAYS}
        tensors |= {f"encoder.scaler.{k}": _tensor(getattr(scaler, k)) for k in _SCALER_ARRAYS}
        meta = {
            "kind": "pca",
            "n_components": int(pca.n_components_),
            "n_features_in": int(pca.n_features_in_),
            "feature_range": list(scaler.feature_range),
        }
        return meta, tensors
    raise ValueError(
        f"save() stores the built-in encoders only ('autoencoder', 'pca', None); "
        f"{type(encoder).__name__} cannot be saved as tensors and JSON: use pickle or joblib"
    )


def _restore_encoder(meta: dict, tensors: dict[str, torch.Tensor]):
    kind = meta["kind"]
    if kind == "identity":
        return FunctionTransformer(validate=False).fit(np.zeros((1, 1)))
    if kind == "autoencoder":
        params = dict(meta["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        encoder = MNISTAutoencoder(**params)
        module = _AutoencoderModule(
            meta["n_features_in"],
            params["hidden_layer_sizes"],
            params["n_components"],
            params["angle_scale"],
        )
        module.load_state_dict(_with_prefix(tensors, "encoder."))
        encoder.module_ = module.eval()
        encoder.n_features_in_ = meta["n_features_in"]
        encoder.history_ = meta["history"]
        return encoder
    if kind == "pca":
        pca = PCA(n_components=meta["n_components"])
        for name in _PCA_ARRAYS:
            setattr(pca, name, tensors[f"encoder.pca.{name}"].numpy())
        pca.n_components_ = meta["n_components"]
        pca.n_features_in_ = meta["n_features_in"]
        pca.n_samples_ = 0
        scaler = MinMaxScaler(feature_range=tuple(meta["feature_range"]))
        for name in _SCALER_ARRAYS:
            setattr(scaler, name, tensors[f"encoder.scaler.{name}"].numpy())
        scaler.n_features_in_ = meta["n_components"]
        scaler.n_samples_seen_ = 0
        return Pipeline([("pca", pca), ("minmaxscaler", scaler)])
    raise QMNISTError(f"unknown encoder kind {kind!r} in the saved model")


def _json_ready(value):
    """``value`` as plain JSON, or ValueError naming what cannot be stored."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot save {value!r} as JSON ({exc}); save() needs JSON-serialisable "
            "hyperparameters (no noise models or backend objects: use pickle or joblib)"
        ) from exc


def save_classifier(classifier: QuantumMNISTClassifier, path: str | os.PathLike) -> Path:
    """Write ``classifier`` to ``path`` (a ``.safetensors`` file), atomically."""
    params = classifier.get_params(deep=False)
    encoder_meta, tensors = _encoder_state(classifier.encoder_)
    if not isinstance(params["encoder"], str | None):
        params["encoder"] = None if encoder_meta["kind"] == "identity" else encoder_meta["kind"]
    if params["random_state"] is not None and not isinstance(params["random_state"], int):
        params["random_state"] = None
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in classifier.module_.state_dict().items()
        if not k.startswith("encoder.")
    }
    classes = classifier.classes_
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "params": json.dumps(_json_ready(params)),
        "classes": json.dumps(_json_ready(classes.tolist())),
        "classes_dtype": classes.dtype.str,
        "n_features_in": str(int(classifier.n_features_in_)),
        "n_circuit_features": str(len(classifier.circuit_.input_params)),
        "fine_tune": json.dumps(bool(classifier.fine_tune_)),
        "history": json.dumps(_json_ready(classifier.history_)),
        "encoder": json.dumps(_json_ready(encoder_meta)),
    }
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    save_file({f"model.{k}": v for k, v in state.items()} | tensors, str(partial), metadata)
    os.replace(partial, target)
    return target


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise QMNISTError(f"{path}: no such model file")
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_size))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise QMNISTError(f"{path}: not a readable safetensors model file ({exc})") from exc
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != FORMAT:
        raise QMNISTError(
            f"{path}: not a qmnist_qiskit classifier (format {metadata.get('format')!r})"
        )
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise QMNISTError(
            f"{path}: model format version {metadata.get('format_version')!r}, "
            f"this qmnist_qiskit reads version {FORMAT_VERSION}"
        )
    return metadata, tensors


def load_classifier(
    cls: type[QuantumMNISTClassifier], path: str | os.PathLike
) -> QuantumMNISTClassifier:
    """Read a classifier written by :func:`save_classifier`; runs no code from the file."""
    path = Path(path)
    metadata, tensors = _read(path)
    try:
        params = json.loads(metadata["params"])
        classes = np.asarray(
            json.loads(metadata["classes"]), dtype=np.dtype(metadata["classes_dtype"])
        )
        encoder_meta = json.loads(metadata["encoder"])
        classifier = cls(**params)
        classifier.classes_ = classes
        classifier.n_features_in_ = int(metadata["n_features_in"])
        classifier.history_ = json.loads(metadata["history"])
        classifier.n_iter_ = len(classifier.history_)
        classifier.interrupted_ = False
        classifier.encoder_ = _restore_encoder(encoder_meta, tensors)
        n_features = int(metadata["n_circuit_features"])
        # Files written before fine_tune="auto" existed say only what the parameter said.
        classifier.fine_tune_ = json.loads(
            metadata.get("fine_tune", json.dumps(params.get("fine_tune") is True))
        )
        if not isinstance(classifier.fine_tune_, bool):
            raise QMNISTError(
                f"{path}: fine_tune must be true or false, got {classifier.fine_tune_!r}"
            )
        classifier.initialize(n_features, len(classes), seed=0)
        state = _with_prefix(tensors, "model.")
        classifier.module_.load_state_dict(state, strict=False)
        missing = set(classifier.module_.state_dict()) - set(state)
        if any(not k.startswith("encoder.") for k in missing):
            raise QMNISTError(f"missing tensors {sorted(missing)}")
        if not all(math.isfinite(float(v.abs().max())) for v in state.values() if v.numel()):
            raise QMNISTError("non-finite weights")
    except QMNISTError as exc:
        raise QMNISTError(f"{path}: inconsistent model file: {exc}") from exc
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise QMNISTError(f"{path}: inconsistent model file ({type(exc).__name__}: {exc})") from exc
    return classifier
