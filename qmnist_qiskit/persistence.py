"""Safe saving and loading of a fitted classifier: tensors and JSON only, no code.

One ``.safetensors`` file holds every tensor (circuit weights, readout, encoder) and, in its
string metadata, JSON for the hyperparameters, classes, history and encoder, with a SHA-256
checksum over all of it (:func:`model_checksum`). Loading parses JSON and tensors and never
unpickles, so a file from elsewhere cannot run code. It is read, checked, initialized, then
given its state:

1. read: safetensors checks the header against the file's length before any tensor is read
   (a header claiming more than the file holds is refused, nothing of that size allocated);
   then the format, its version and the checksum (a changed byte anywhere fails);
2. check: every field is parsed and typed; the parameters go through the classifier's
   parameter table (``n_qubits`` at most 24, ``n_features`` at most 256, ...); the classes
   (at most :data:`MAX_CLASSES`) must agree with their dtype; the encoder's claims (its
   sizes) must agree with the rest of the file and with its tensors' shapes (its codec,
   :mod:`qmnist_qiskit.codecs`);
3. initialize: the classifier's public ``initialize`` plans the circuit (refusing circuits
   over ``circuits.MAX_GATES`` gates before building them) and builds the module;
4. load state: the weights must have exactly the module's names, shapes and dtypes, and be
   finite.

Anything wrong is a :class:`QMNISTError` that names the file and the field. Files of
version 1 (earlier releases, no checksum) still load, with a warning saying to save them
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from qmnist_qiskit.codecs import codec_for, codec_named
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import atomic_path
from qmnist_qiskit.parameters import check_estimator_parameters

if TYPE_CHECKING:
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

FORMAT = "qmnist_qiskit.QuantumMNISTClassifier"
# The file name `qmnist train` writes in its output directory and `qmnist report` reads.
MODEL_FILE = "model.safetensors"
FORMAT_VERSION = 2
"""Version 2 added the checksum; version 1 files (no checksum) still load, with a warning."""
READABLE_VERSIONS = (1, 2)
CHECKSUM_FIELD = "checksum"
MAX_CLASSES = 10_000
"""The most classes a model file may claim (MNIST has 10): the readout is sized by them
before the weights are read."""
MAX_LABEL_LENGTH = 1_024
"""The longest string class label (characters) a model file's class dtype may claim."""
_MODEL_PREFIX = "model."
_ENCODER_PREFIX = "encoder."
_TORCH_OPTIM = "torch.optim."
_CLASS_KINDS = "biufUO"
_COUNT = re.compile(r"[0-9]{1,10}")
_FIELDS = {
    "format",
    "format_version",
    CHECKSUM_FIELD,
    "params",
    "classes",
    "classes_dtype",
    "n_features_in",
    "n_circuit_features",
    "fine_tune",
    "history",
    "encoder",
}


def model_checksum(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """``"sha256:<hex>"`` over every metadata field but the checksum itself (name and value)
    and every tensor (name, dtype, shape, bytes), in sorted order, each length-prefixed so
    that no two different contents hash the same stream.

    Examples
    --------
    >>> a = model_checksum({"format": "x"}, {"w": torch.zeros(2)})
    >>> a == model_checksum({"format": "x", "checksum": a}, {"w": torch.zeros(2)})
    True
    >>> a == model_checksum({"format": "x"}, {"w": torch.zeros(1, 2)})
    False
    """
    digest = hashlib.sha256(b"qmnist_qiskit model checksum\0")

    def field(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    names = sorted(key for key in metadata if key != CHECKSUM_FIELD)
    field(str(len(names)).encode())
    for key in names:
        field(key.encode("utf-8"))
        field(metadata[key].encode("utf-8"))
    field(str(len(tensors)).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        field(name.encode("utf-8"))
        field(str(tensor.dtype).encode())
        field(json.dumps(list(tensor.shape)).encode())
        field(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


# -- saving -----------------------------------------------------------------------------
def _json_ready(value, what: str):
    """``value`` as plain JSON, or ValueError naming what cannot be stored."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot save {what}={value!r} as JSON ({exc}); save() needs JSON-serialisable "
            "hyperparameters (no noise models or backend objects: use pickle or joblib)"
        ) from exc


def _savable_params(params: dict, encoder_kind: str) -> dict:
    """The classifier's parameters as JSON, or ValueError for one that JSON cannot hold."""
    params = dict(params)
    if not isinstance(params["encoder"], str | None):
        params["encoder"] = None if encoder_kind == "identity" else encoder_kind
    if not isinstance(params["ansatz"], str):
        raise ValueError(
            f"save() stores the preset ansatzes only (by name); ansatz="
            f"{type(params['ansatz']).__name__} cannot be saved as tensors and JSON: use "
            "pickle or joblib"
        )
    optimizer = params["optimizer"]
    if isinstance(optimizer, type):
        if getattr(torch.optim, optimizer.__name__, None) is not optimizer:
            raise ValueError(
                f"save() stores torch.optim's optimisers only; {optimizer.__module__}."
                f"{optimizer.__qualname__} cannot be saved as JSON: use pickle or joblib"
            )
        params["optimizer"] = _TORCH_OPTIM + optimizer.__name__
    if isinstance(params["random_state"], np.integer):
        params["random_state"] = int(params["random_state"])
    elif params["random_state"] is not None and not isinstance(params["random_state"], int):
        params["random_state"] = None
    return {name: _json_ready(value, name) for name, value in params.items()}


def save_classifier(classifier: QuantumMNISTClassifier, path: str | os.PathLike) -> Path:
    """Write a fitted ``classifier`` to ``path`` (a ``.safetensors`` file), whole or not at
    all. Everything that cannot be stored is refused (:class:`ValueError`) before anything
    is written; a path that cannot be written is a :class:`QMNISTError` naming it."""
    codec = codec_for(classifier.encoder_)
    encoder_fields, encoder_tensors = codec.encode(classifier.encoder_)
    params = _savable_params(classifier.get_params(deep=False), codec.kind)
    tensors = {
        _MODEL_PREFIX + k: v.detach().cpu().contiguous()
        for k, v in classifier.module_.state_dict().items()
        if not k.startswith(_ENCODER_PREFIX)
    } | {_ENCODER_PREFIX + k: v for k, v in encoder_tensors.items()}
    classes = classifier.classes_
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "params": json.dumps(params),
        "classes": json.dumps(_json_ready(classes.tolist(), "classes_")),
        "classes_dtype": classes.dtype.str,
        "n_features_in": str(int(classifier.n_features_in_)),
        "n_circuit_features": str(len(classifier.circuit_.input_params)),
        "fine_tune": json.dumps(bool(classifier.fine_tune_)),
        "history": json.dumps(_json_ready(classifier.history_, "history_")),
        "encoder": json.dumps(_json_ready(encoder_fields, "encoder_")),
    }
    metadata[CHECKSUM_FIELD] = model_checksum(metadata, tensors)
    with atomic_path(path) as partial:
        save_file(tensors, str(partial), metadata)
    return Path(path)


# -- loading ----------------------------------------------------------------------------
class _FieldError(ValueError):
    """A field of the file that is malformed or contradicts another."""


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor], int]:
    """Metadata, tensors and format version of a model file whose checksum holds."""
    if not path.is_file():
        raise QMNISTError(f"{path}: no such model file")
    try:
        # safe_open checks the header (its size, every tensor's dtype, shape and offsets)
        # against the file's length before any tensor is read.
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise QMNISTError(f"{path}: not a readable safetensors model file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise QMNISTError(
            f"{path}: not a qmnist_qiskit classifier (format {metadata.get('format')!r})"
        )
    version = metadata.get("format_version")
    if version not in [str(v) for v in READABLE_VERSIONS]:
        raise QMNISTError(
            f"{path}: model format version {version!r}, this qmnist_qiskit reads versions "
            f"{', '.join(str(v) for v in READABLE_VERSIONS)}"
        )
    version = int(version)
    # A checksum present is always verified: one changed byte cannot turn a version-2 file
    # into an unchecked version-1 one.
    if version >= 2 or CHECKSUM_FIELD in metadata:
        try:
            matches = metadata.get(CHECKSUM_FIELD) == model_checksum(metadata, tensors)
        except (UnicodeError, RuntimeError, TypeError) as exc:
            # Text that is not UTF-8, a dtype without bytes: nothing save_classifier writes.
            raise QMNISTError(f"{path}: not a readable model file ({exc})") from exc
        if not matches:
            raise QMNISTError(
                f"{path}: checksum mismatch: the file was changed or damaged after it was "
                "saved (field 'checksum')"
            )
    else:
        warnings.warn(
            f"{path}: a version-1 model file (written by an earlier qmnist_qiskit) has no "
            "checksum, so its integrity cannot be verified; save the loaded model again to "
            f"write version {FORMAT_VERSION}",
            UserWarning,
            stacklevel=4,
        )
    return metadata, tensors, version


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _json_field(metadata: dict[str, str], name: str, kind: type | tuple[type, ...]):
    if name not in metadata:
        raise _FieldError(f"field {name!r} is missing")
    try:
        value = json.loads(metadata[name], parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise _FieldError(f"field {name!r} is not valid JSON ({exc})") from exc
    if not isinstance(value, kind):
        raise _FieldError(f"field {name!r} has the wrong type: {type(value).__name__}")
    return value


def _count_field(metadata: dict[str, str], name: str) -> int:
    text = metadata.get(name)
    if text is None:
        raise _FieldError(f"field {name!r} is missing")
    if not _COUNT.fullmatch(text) or int(text) < 1:
        raise _FieldError(f"field {name!r} must be a positive integer, got {text[:40]!r}")
    return int(text)


def _classes(metadata: dict[str, str]) -> np.ndarray:
    """The class labels, refused unless they and their dtype agree, sorted and unique."""
    labels = _json_field(metadata, "classes", list)
    if not 2 <= len(labels) <= MAX_CLASSES:
        raise _FieldError(
            f"field 'classes' must hold 2 to {MAX_CLASSES:,} labels, got {len(labels):,}"
        )
    if not all(isinstance(label, str | int | float | bool) for label in labels):
        raise _FieldError("field 'classes' must hold strings or numbers")
    try:
        dtype = np.dtype(metadata.get("classes_dtype", ""))
    except (TypeError, ValueError) as exc:
        raise _FieldError(f"field 'classes_dtype': not a dtype ({exc})") from exc
    if (
        dtype.kind not in _CLASS_KINDS
        or dtype.shape
        or dtype.fields
        or (dtype.kind == "U" and dtype.itemsize > 4 * MAX_LABEL_LENGTH)
    ):
        raise _FieldError(f"field 'classes_dtype': {dtype.str!r} is not a dtype of labels")
    try:
        classes = np.asarray(labels, dtype=dtype)
        agrees = classes.tolist() == labels and all(
            isinstance(a, str) == isinstance(b, str)
            for a, b in zip(classes.tolist(), labels, strict=True)
        )
        ordered = bool(np.all(classes[1:] > classes[:-1]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise _FieldError(f"field 'classes_dtype': {dtype.str} cannot hold the classes") from exc
    if not agrees:
        raise _FieldError(f"field 'classes_dtype': {dtype.str} does not hold the classes as saved")
    if not ordered:
        raise _FieldError("field 'classes' must be sorted and without repeats")
    return classes


def _loadable_params(params: dict) -> dict:
    """The saved parameters as the constructor takes them: a ``torch.optim.NAME`` optimiser
    back to its class (only classes of :mod:`torch.optim`; nothing else is imported)."""
    optimizer = params.get("optimizer")
    if isinstance(optimizer, str) and optimizer.startswith(_TORCH_OPTIM):
        name = optimizer[len(_TORCH_OPTIM) :]
        found = getattr(torch.optim, name, None) if name.isidentifier() else None
        if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
            raise _FieldError(f"field 'params': optimizer {optimizer!r} is not in torch.optim")
        params = params | {"optimizer": found}
    return params


@dataclass(frozen=True)
class _Claims:
    """What the metadata says, each field parsed, typed and bounded."""

    params: dict
    classes: np.ndarray
    n_features_in: int
    n_circuit_features: int
    fine_tune: bool
    history: list
    encoder: dict


def _claims(metadata: dict[str, str], version: int) -> _Claims:
    unexpected = sorted(set(metadata) - _FIELDS)
    if unexpected:
        raise _FieldError(f"unexpected fields {unexpected}")
    params = _loadable_params(_json_field(metadata, "params", dict))
    history = _json_field(metadata, "history", list)
    if not all(isinstance(entry, dict) for entry in history):
        raise _FieldError("field 'history' must be a list of objects")
    if version == 1 and "fine_tune" not in metadata:
        # Version-1 files written before fine_tune="auto" say only what the parameter said.
        fine_tune = params.get("fine_tune") is True
    else:
        fine_tune = _json_field(metadata, "fine_tune", bool)
    if isinstance(params.get("fine_tune"), bool) and params["fine_tune"] != fine_tune:
        raise _FieldError(
            f"field 'fine_tune': {fine_tune}, but params says fine_tune={params['fine_tune']}"
        )
    encoder = _json_field(metadata, "encoder", dict)
    kind = encoder.get("kind")
    try:
        codec_named(kind)
    except ValueError as exc:
        raise _FieldError(str(exc)) from exc
    said = params.get("encoder", "autoencoder")
    if kind != ("identity" if said is None else said):
        raise _FieldError(
            f"field 'encoder': an encoder of kind {kind!r}, but params says "
            f"encoder={params.get('encoder')!r}"
        )
    if fine_tune and kind != "autoencoder":
        raise _FieldError(f"field 'fine_tune': true, but the encoder is of kind {kind!r}")
    return _Claims(
        params=params,
        classes=_classes(metadata),
        n_features_in=_count_field(metadata, "n_features_in"),
        n_circuit_features=_count_field(metadata, "n_circuit_features"),
        fine_tune=fine_tune,
        history=history,
        encoder=encoder,
    )


def _load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """The saved weights into ``module``: exactly its names, shapes and dtypes, finite."""
    wanted = {
        name: tensor
        for name, tensor in module.state_dict().items()
        if not name.startswith(_ENCODER_PREFIX)
    }
    given = {
        name[len(_MODEL_PREFIX) :]: tensor
        for name, tensor in tensors.items()
        if name.startswith(_MODEL_PREFIX)
    }
    if set(given) != set(wanted):
        raise _FieldError(
            f"the weights do not fit the model the parameters build: missing "
            f"{sorted(set(wanted) - set(given))}, unexpected {sorted(set(given) - set(wanted))}"
        )
    for name, tensor in given.items():
        if tensor.shape != wanted[name].shape or tensor.dtype != wanted[name].dtype:
            raise _FieldError(
                f"tensor {_MODEL_PREFIX + name!r} is {tensor.dtype} {list(tensor.shape)}, the "
                f"model the parameters build has {wanted[name].dtype} {list(wanted[name].shape)}"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise _FieldError(f"tensor {_MODEL_PREFIX + name!r} holds NaN or infinite values")
    module.load_state_dict(given, strict=False)


def load_classifier(
    cls: type[QuantumMNISTClassifier], path: str | os.PathLike
) -> QuantumMNISTClassifier:
    """Read a classifier written by :func:`save_classifier`: read, check, initialize, load
    state (see the module's docstring). Runs no code from the file."""
    path = Path(path)
    metadata, tensors, version = _read(path)
    try:
        claims = _claims(metadata, version)
        try:
            classifier = cls(**claims.params)
            check_estimator_parameters(classifier)
        except (TypeError, ValueError) as exc:
            raise _FieldError(f"field 'params': {exc}") from exc
        encoder_tensors = {
            name[len(_ENCODER_PREFIX) :]: tensor
            for name, tensor in tensors.items()
            if name.startswith(_ENCODER_PREFIX)
        }
        try:
            classifier.encoder_ = codec_named(claims.encoder["kind"]).decode(
                claims.encoder,
                encoder_tensors,
                n_features_in=claims.n_features_in,
                n_outputs=claims.n_circuit_features,
            )
        except ValueError as exc:
            raise _FieldError(str(exc)) from exc
        classifier.classes_ = claims.classes
        classifier.n_features_in_ = claims.n_features_in
        classifier.fine_tune_ = claims.fine_tune
        classifier.history_ = claims.history
        classifier.n_iter_ = len(claims.history)
        classifier.interrupted_ = False
        try:
            classifier.initialize(claims.n_circuit_features, len(claims.classes), seed=0)
        except ValueError as exc:
            raise _FieldError(
                f"field 'params': the saved parameters do not build a model: {exc}"
            ) from exc
        _load_state(classifier.module_, tensors)
    except _FieldError as exc:
        raise QMNISTError(f"{path}: inconsistent model file: {exc}") from exc
    return classifier
