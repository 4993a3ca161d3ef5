"""The classifier's fitted state as text fields and tensors, and back, checked.

What :meth:`QuantumMNISTClassifier.get_state` gives and :meth:`~QuantumMNISTClassifier.set_state`
takes: which fitted attributes make up the model, and how each is written and checked. The
file that holds them (checksum, safetensors, the field readers) is
:mod:`qmnist_qiskit.persistence`'s, and knows none of these names.

Fields: ``params`` (the hyperparameters, JSON), ``classes`` and ``classes_dtype``,
``n_features_in``, ``n_circuit_features``, ``fine_tune``, ``history`` and ``encoder`` (its
codec's fields, :mod:`qmnist_qiskit.codecs`). Tensors: ``model.NAME`` (the module's weights
and readout) and ``encoder.NAME`` (the encoder's codec's).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from qmnist_qiskit.codecs import codec_for, codec_named
from qmnist_qiskit.engines.registry import ENGINES, engine_record
from qmnist_qiskit.persistence import (
    FieldError,
    check_fields,
    count_field,
    json_field,
    json_text,
    labels_field,
    tensor_group,
)

MODEL_PREFIX = "model."
ENCODER_PREFIX = "encoder."
FIELDS = (
    "params",
    "classes",
    "classes_dtype",
    "n_features_in",
    "n_circuit_features",
    "fine_tune",
    "history",
    "encoder",
)
_TORCH_OPTIM = "torch.optim."


# -- export -----------------------------------------------------------------------------
def _json_ready(value, what: str):
    return json.loads(json_text(value, what))


def savable_params(params: dict, encoder_kind: str) -> dict:
    """The classifier's parameters as JSON values, or ValueError for one that JSON cannot
    hold."""
    params = dict(params)
    if engine_record(params["engine"]).device:  # the estimator object is never written
        params["engine"], params["engine_options"] = ENGINES[0], None
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
    if isinstance(params.get("checkpoint"), os.PathLike):
        params["checkpoint"] = os.fspath(params["checkpoint"])
    return {name: _json_ready(value, name) for name, value in params.items()}


def export_state(
    params: dict, fitted: dict
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Text fields and tensors of a fitted classifier: ``params`` from ``get_params`` and
    ``fitted`` its fitted attributes by name. ``ValueError`` for what the file cannot hold."""
    encoder = fitted["encoder_"]
    codec = codec_for(encoder)
    encoder_fields, encoder_tensors = codec.encode(encoder)
    tensors = {
        MODEL_PREFIX + name: tensor.detach().cpu().contiguous()
        for name, tensor in fitted["module_"].state_dict().items()
        if not name.startswith(ENCODER_PREFIX)
    } | {ENCODER_PREFIX + name: tensor for name, tensor in encoder_tensors.items()}
    classes = fitted["classes_"]
    fields = {
        "params": json_text(savable_params(params, codec.kind), "params"),
        "classes": json_text(_json_ready(classes.tolist(), "classes_"), "classes_"),
        "classes_dtype": classes.dtype.str,
        "n_features_in": str(int(fitted["n_features_in_"])),
        "n_circuit_features": str(len(fitted["circuit_"].input_params)),
        "fine_tune": json.dumps(bool(fitted["fine_tune_"])),
        "history": json_text(fitted["history_"], "history_"),
        "encoder": json_text(encoder_fields, "encoder_"),
    }
    return fields, tensors


# -- import -----------------------------------------------------------------------------
def _loadable_params(params: dict) -> dict:
    """The saved parameters as the constructor takes them: a ``torch.optim.NAME`` optimiser
    back to its class (only classes of :mod:`torch.optim`; nothing else is imported)."""
    optimizer = params.get("optimizer")
    if isinstance(optimizer, str) and optimizer.startswith(_TORCH_OPTIM):
        name = optimizer[len(_TORCH_OPTIM) :]
        found = getattr(torch.optim, name, None) if name.isidentifier() else None
        if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
            raise FieldError(f"field 'params': optimizer {optimizer!r} is not in torch.optim")
        params = params | {"optimizer": found}
    return params


def state_params(fields: dict[str, str]) -> dict:
    """The constructor's parameters that a state holds (field ``params``)."""
    return _loadable_params(json_field(fields, "params", dict))


def import_state(
    fields: dict[str, str], tensors: dict[str, torch.Tensor], *, version: int
) -> tuple[dict, int]:
    """The fitted attributes a state claims, each field parsed, typed, bounded and held
    against the others and the encoder's tensors; and the circuit's input count. The
    module's weights are checked and loaded by :func:`load_weights` once the classifier has
    built its module."""
    check_fields(fields, FIELDS)
    stray = sorted(n for n in tensors if not n.startswith((MODEL_PREFIX, ENCODER_PREFIX)))
    if stray:
        raise FieldError(f"unexpected tensors {stray}")
    params = state_params(fields)
    history = json_field(fields, "history", list)
    if not all(isinstance(entry, dict) for entry in history):
        raise FieldError("field 'history' must be a list of objects")
    if version == 1 and "fine_tune" not in fields:
        # Version-1 files written before fine_tune="auto" say only what the parameter said.
        fine_tune = params.get("fine_tune") is True
    else:
        fine_tune = json_field(fields, "fine_tune", bool)
    if isinstance(params.get("fine_tune"), bool) and params["fine_tune"] != fine_tune:
        raise FieldError(
            f"field 'fine_tune': {fine_tune}, but params says fine_tune={params['fine_tune']}"
        )
    encoder = json_field(fields, "encoder", dict)
    kind = encoder.get("kind")
    try:
        codec = codec_named(kind)
    except ValueError as exc:
        raise FieldError(str(exc)) from exc
    said = params.get("encoder", "autoencoder")
    if kind != ("identity" if said is None else said):
        raise FieldError(
            f"field 'encoder': an encoder of kind {kind!r}, but params says "
            f"encoder={params.get('encoder')!r}"
        )
    if fine_tune and kind != "autoencoder":
        raise FieldError(f"field 'fine_tune': true, but the encoder is of kind {kind!r}")
    classes = labels_field(fields, "classes", "classes_dtype")
    n_features_in = count_field(fields, "n_features_in")
    n_circuit_features = count_field(fields, "n_circuit_features")
    try:
        encoder_ = codec.decode(
            encoder,
            tensor_group(tensors, ENCODER_PREFIX),
            n_features_in=n_features_in,
            n_outputs=n_circuit_features,
        )
    except ValueError as exc:
        raise FieldError(str(exc)) from exc
    fitted = {
        "encoder_": encoder_,
        "classes_": classes,
        "n_features_in_": n_features_in,
        "fine_tune_": fine_tune,
        "history_": history,
        "n_iter_": len(history),
        "interrupted_": False,
    }
    return fitted, n_circuit_features


def load_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """The saved weights (``model.*``) into ``module``: exactly its names, shapes and dtypes,
    finite."""
    wanted = {
        name: tensor
        for name, tensor in module.state_dict().items()
        if not name.startswith(ENCODER_PREFIX)
    }
    given = tensor_group(tensors, MODEL_PREFIX)
    if set(given) != set(wanted):
        raise FieldError(
            f"the weights do not fit the model the parameters build: missing "
            f"{sorted(set(wanted) - set(given))}, unexpected {sorted(set(given) - set(wanted))}"
        )
    for name, tensor in given.items():
        if tensor.shape != wanted[name].shape or tensor.dtype != wanted[name].dtype:
            raise FieldError(
                f"tensor {MODEL_PREFIX + name!r} is {tensor.dtype} {list(tensor.shape)}, the "
                f"model the parameters build has {wanted[name].dtype} {list(wanted[name].shape)}"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise FieldError(f"tensor {MODEL_PREFIX + name!r} holds NaN or infinite values")
    module.load_state_dict(given, strict=False)
