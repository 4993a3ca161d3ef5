"""Training checkpoints: what a fit needs to go on exactly where it stopped.

A checkpoint is one file, ``DIR/checkpoint.safetensors``, replaced atomically each time
(:func:`~qmnist_qiskit.files.atomic_path`: a kill at any moment leaves the previous one or
the new one, whole). It is a state file like a model file (:mod:`qmnist_qiskit.persistence`:
safetensors and JSON, SHA-256 checksum, every field checked, nothing unpickled or run) and
holds:

- the model's own state, as :meth:`QuantumMNISTClassifier.get_state` gives it (parameters,
  fitted encoder, classes, weights, history);
- field ``training``: the position (epoch, mini-batch, the epoch's running loss and
  accuracy), the optimiser's and the learning-rate schedule's state, early stopping's, the
  random states (torch's global generator, numpy's and Python's global ones; the shuffling
  generator's state at the epoch's start is a tensor), and what the fit was (seed, epochs,
  a fingerprint of the training data);
- tensors ``optimizer.state.I.NAME`` (the optimiser's per-weight state),
  ``early_stopping.best.NAME`` (the best weights so far) and ``rng.*``.

:func:`restore_training` checks every part against the optimiser, schedule and module the
fit has just built (names, shapes, dtypes, types, bounds, finite values) before it loads
any of them.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from qmnist_qiskit.persistence import (
    FieldError,
    FileFormat,
    json_field,
    json_text,
    read_state,
    tensor_group,
    write_state,
)
from qmnist_qiskit.training import EarlyStopping, Position

CHECKPOINT_FILE = "checkpoint.safetensors"
CHECKPOINT_FORMAT = FileFormat(
    name="qmnist_qiskit.TrainingCheckpoint",
    version=1,
    readable=(1,),
    kind="checkpoint",
    title="checkpoint",
)
TRAINING_FIELD = "training"
_OPTIMIZER = "optimizer.state."
_BEST = "early_stopping.best."
_RNG = "rng."
_MT_WORDS = 624


@dataclass
class Checkpoint:
    """The training part of a checkpoint, beyond the model's own state."""

    position: Position
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    early_stopping: EarlyStopping | None
    fit: dict
    """``seed``, ``epochs`` and ``data`` (:func:`data_fingerprint`) of the fit."""


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """``"sha256:<hex>"`` of the training data (shapes, dtypes, bytes): a resumed fit must
    train on what the interrupted one did."""
    digest = hashlib.sha256(b"qmnist_qiskit training data\0")
    for array in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return "sha256:" + digest.hexdigest()


# -- writing ----------------------------------------------------------------------------
def _json_value(value, what: str):
    """Optimiser and schedule settings as JSON: numbers, booleans, None, strings, lists."""
    if isinstance(value, tuple | list):
        return [_json_value(item, what) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"cannot checkpoint {what}: {type(value).__name__} {value!r}")


def _optimizer_part(optimizer: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    state_dict = optimizer.state_dict()
    tensors = {}
    state = {}
    for index, values in state_dict["state"].items():
        entry = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIMIZER}{index}.{key}"] = value
            else:
                entry[key] = _json_value(value, f"optimizer state {key!r}")
        state[str(index)] = entry
    groups = [
        {key: _json_value(value, f"optimizer setting {key!r}") for key, value in group.items()}
        for group in state_dict["param_groups"]
    ]
    return {"state": state, "param_groups": groups}, tensors


def write_checkpoint(
    directory: str | os.PathLike,
    model_fields: dict[str, str],
    model_tensors: dict[str, torch.Tensor],
    checkpoint: Checkpoint,
) -> Path:
    """Write ``DIR/checkpoint.safetensors`` atomically: the model's state and the
    training's (see the module's docstring). Returns its path."""
    position = checkpoint.position
    optimizer, tensors = _optimizer_part(checkpoint.optimizer)
    numpy_state = np.random.get_state()
    version, words, gauss = random.getstate()
    training = {
        "position": {
            "epoch": position.epoch,
            "batch": position.batch,
            "loss": position.loss,
            "correct": position.correct,
            "seconds": position.seconds,
        },
        "optimizer": optimizer,
        "scheduler": None,
        "early_stopping": None,
        "rng": {
            "numpy": {
                "pos": int(numpy_state[2]),
                "has_gauss": int(numpy_state[3]),
                "cached_gaussian": float(numpy_state[4]),
            },
            "python": [version, list(words), gauss],
        },
        "fit": checkpoint.fit,
    }
    if checkpoint.scheduler is not None:
        training["scheduler"] = {
            key: _json_value(value, f"schedule setting {key!r}")
            for key, value in checkpoint.scheduler.state_dict().items()
        }
    stopper = checkpoint.early_stopping
    if stopper is not None:
        finite = np.isfinite(stopper.best_loss)
        training["early_stopping"] = {
            "best_loss": float(stopper.best_loss) if finite else None,
            "epochs_without_improvement": stopper.epochs_without_improvement,
            "stopped": stopper.stopped,
            "has_best": stopper.best_state is not None,
        }
        for name, tensor in (stopper.best_state or {}).items():
            tensors[_BEST + name] = tensor
    tensors[_RNG + "torch"] = torch.get_rng_state()
    tensors[_RNG + "epoch"] = position.epoch_rng
    tensors[_RNG + "numpy"] = torch.as_tensor(numpy_state[1].astype(np.int64))
    fields = dict(model_fields) | {TRAINING_FIELD: json_text(training, "the training state")}
    tensors |= model_tensors
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return write_state(directory / CHECKPOINT_FILE, CHECKPOINT_FORMAT, fields, tensors)


# -- reading ----------------------------------------------------------------------------
def read_checkpoint(
    directory: str | os.PathLike,
) -> tuple[dict[str, str], dict[str, torch.Tensor], dict, dict[str, torch.Tensor]] | None:
    """The model's fields and tensors, the training part (parsed JSON) and its tensors of
    ``DIR/checkpoint.safetensors``, checksum verified; None when there is none. Field errors
    are :class:`~qmnist_qiskit.persistence.FieldError`; a damaged file a
    :class:`~qmnist_qiskit.QMNISTError` naming it."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    fields, tensors, _ = read_state(path, CHECKPOINT_FORMAT)
    training = json_field(fields, TRAINING_FIELD, dict)
    model_fields = {name: text for name, text in fields.items() if name != TRAINING_FIELD}
    training_names = [n for n in tensors if n.startswith((_OPTIMIZER, _BEST, _RNG))]
    training_tensors = {name: tensors.pop(name) for name in training_names}
    return model_fields, tensors, training, training_tensors


def _part(parent: dict, name: str, kind, where: str):
    if name not in parent:
        raise FieldError(f"field {where!r}: {name!r} is missing")
    value = parent[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, Real)):
        raise FieldError(f"field {where!r}: {name!r} has the wrong type: {type(value).__name__}")
    return value


def _count(parent: dict, name: str, where: str, high: int | None = None) -> int:
    value = _part(parent, name, Integral, where)
    if value < 0 or (high is not None and value > high):
        raise FieldError(f"field {where!r}: {name!r} out of range: {value}")
    return int(value)


def _like(saved, fresh, where: str):
    """``saved`` (JSON) in the type and shape of ``fresh`` (the value a fresh optimiser or
    schedule holds), or FieldError."""
    if isinstance(fresh, tuple | list):
        if not isinstance(saved, list) or len(saved) != len(fresh):
            raise FieldError(f"field {where!r}: {saved!r} does not match {fresh!r}")
        items = [_like(s, f, where) for s, f in zip(saved, fresh, strict=True)]
        return tuple(items) if isinstance(fresh, tuple) else items
    if isinstance(fresh, bool) or fresh is None or isinstance(fresh, str):
        if type(saved) is not type(fresh) and not (fresh is None and saved is None):
            raise FieldError(f"field {where!r}: {saved!r} where {fresh!r} was expected")
        return saved
    if isinstance(fresh, Real):
        if isinstance(saved, bool) or not isinstance(saved, Real) or not np.isfinite(saved):
            raise FieldError(f"field {where!r}: {saved!r} is not a finite number")
        if isinstance(saved, Integral) != isinstance(fresh, Integral):
            raise FieldError(f"field {where!r}: {saved!r} where {fresh!r} was expected")
        return saved
    raise FieldError(f"field {where!r}: cannot restore {type(fresh).__name__}")


def _tensor(tensors: dict, name: str, like: torch.Tensor, *, shapes=None) -> torch.Tensor:
    tensor = tensors.get(name)
    if tensor is None:
        raise FieldError(f"tensor {name!r} is missing")
    shapes = [tuple(like.shape)] if shapes is None else shapes
    if tuple(tensor.shape) not in shapes or tensor.dtype != like.dtype:
        raise FieldError(
            f"tensor {name!r} is {tensor.dtype} {list(tensor.shape)}, expected {like.dtype} "
            f"{[list(s) for s in shapes]}"
        )
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise FieldError(f"tensor {name!r} holds NaN or infinite values")
    return tensor


def _restore_optimizer(part: dict, tensors: dict, optimizer: torch.optim.Optimizer) -> None:
    fresh = optimizer.state_dict()
    groups = _part(part, "param_groups", list, "training.optimizer")
    if len(groups) != len(fresh["param_groups"]):
        raise FieldError(
            f"field 'training.optimizer': {len(groups)} parameter groups, the optimiser has "
            f"{len(fresh['param_groups'])}"
        )
    restored_groups = []
    for saved, reference in zip(groups, fresh["param_groups"], strict=True):
        if not isinstance(saved, dict) or set(saved) != set(reference):
            raise FieldError(
                "field 'training.optimizer': a parameter group's settings are not the "
                f"optimiser's ({sorted(reference)})"
            )
        restored_groups.append(
            {key: _like(saved[key], reference[key], f"training.optimizer.{key}") for key in saved}
        )
    shapes = {}
    for group, reference in zip(optimizer.param_groups, fresh["param_groups"], strict=True):
        for parameter, index in zip(group["params"], reference["params"], strict=True):
            shapes[index] = parameter
    state = _part(part, "state", dict, "training.optimizer")
    restored_state = {}
    given = tensor_group(tensors, _OPTIMIZER)
    for text, entries in state.items():
        if not (text.isdigit() and int(text) in shapes and isinstance(entries, dict)):
            raise FieldError(f"field 'training.optimizer': no weight {text!r}")
        parameter = shapes[int(text)]
        values = {}
        for key, value in entries.items():
            like = value if isinstance(value, bool | Integral) else 0.0
            values[key] = _like(value, like, f"training.optimizer.state.{text}.{key}")
        prefix = f"{text}."
        for name in [n for n in given if n.startswith(prefix)]:
            key = name[len(prefix) :]
            tensor = given.pop(name)
            like = parameter if tensor.dtype == parameter.dtype else tensor
            full = _OPTIMIZER + name
            values[key] = _tensor(
                {full: tensor}, full, like, shapes=[tuple(parameter.shape), ()]
            ).clone()
        restored_state[int(text)] = values
    if given:
        raise FieldError(f"unexpected tensors {sorted(_OPTIMIZER + n for n in given)}")
    optimizer.load_state_dict({"state": restored_state, "param_groups": restored_groups})


def _restore_rng(part: dict, tensors: dict) -> None:
    torch_state = _tensor(tensors, _RNG + "torch", torch.get_rng_state())
    numpy_part = _part(part, "numpy", dict, "training.rng")
    words = _tensor(
        tensors, _RNG + "numpy", torch.zeros(_MT_WORDS, dtype=torch.int64)
    ).numpy()
    if words.min() < 0 or words.max() >= 2**32:
        raise FieldError("tensor 'rng.numpy' holds values outside 32 bits")
    python = _part(part, "python", list, "training.rng")
    try:
        version, python_words, gauss = python
        python_state = (version, tuple(python_words), gauss)
        numpy_state = (
            "MT19937",
            words.astype(np.uint32),
            _count(numpy_part, "pos", "training.rng.numpy", _MT_WORDS),
            _count(numpy_part, "has_gauss", "training.rng.numpy", 1),
            float(_part(numpy_part, "cached_gaussian", Real, "training.rng.numpy")),
        )
        if not (isinstance(python_words, list) and all(isinstance(w, int) for w in python_words)):
            raise TypeError("the Python state must hold integers")
        # Checked by the setters themselves (sizes, ranges), then set together.
        checked = random.Random()
        checked.setstate(python_state)
        np.random.RandomState().set_state(numpy_state)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FieldError(f"field 'training.rng': not a random state ({exc})") from exc
    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


def restore_training(
    training: dict,
    tensors: dict[str, torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    module: torch.nn.Module,
    early_stopping: EarlyStopping | None,
) -> Position:
    """Load the training part of a checkpoint into the fit's freshly built ``optimizer``,
    ``scheduler`` and ``early_stopping``, and the process's random states; the position to
    resume from. Everything is checked first against what was built (a mismatch is a
    :class:`~qmnist_qiskit.persistence.FieldError` naming it); the random states are set
    last."""
    position = _part(training, "position", dict, "training")
    epoch_rng = _tensor(tensors, _RNG + "epoch", torch.Generator().get_state())
    loss = _part(position, "loss", Real, "training.position")
    seconds = _part(position, "seconds", Real, "training.position")
    if not (np.isfinite(loss) and np.isfinite(seconds)):
        raise FieldError("field 'training.position': loss and seconds must be finite")
    resumed = Position(
        epoch=_count(position, "epoch", "training.position"),
        batch=_count(position, "batch", "training.position"),
        loss=float(loss),
        correct=_count(position, "correct", "training.position"),
        seconds=float(seconds),
        epoch_rng=epoch_rng.clone(),
    )
    schedule = training.get("scheduler")
    if (schedule is None) != (scheduler is None) or not isinstance(schedule, dict | None):
        raise FieldError("field 'training.scheduler' does not match the fit's lr_schedule")
    stopping = training.get("early_stopping")
    if (stopping is None) != (early_stopping is None) or not isinstance(stopping, dict | None):
        raise FieldError("field 'training.early_stopping' does not match the fit's early_stopping")
    best = None
    if stopping is not None:
        best_loss = stopping.get("best_loss")
        if best_loss is not None and not isinstance(best_loss, Real):
            raise FieldError("field 'training.early_stopping': best_loss must be a number")
        waited = _count(stopping, "epochs_without_improvement", "training.early_stopping")
        stopped = _part(stopping, "stopped", bool, "training.early_stopping")
        if _part(stopping, "has_best", bool, "training.early_stopping"):
            best = {
                name: _tensor(tensors, _BEST + name, like).clone()
                for name, like in module.state_dict().items()
            }
    extra = [
        name
        for name in tensors
        if name.startswith(_BEST) and (best is None or name[len(_BEST) :] not in best)
    ]
    if extra:
        raise FieldError(f"unexpected tensors {sorted(extra)}")
    restored_schedule = None
    if scheduler is not None:
        reference = scheduler.state_dict()
        if set(schedule) != set(reference):
            raise FieldError(
                f"field 'training.scheduler': settings {sorted(schedule)}, the schedule has "
                f"{sorted(reference)}"
            )
        restored_schedule = {
            key: _like(schedule[key], reference[key], f"training.scheduler.{key}")
            for key in schedule
        }
    _restore_optimizer(_part(training, "optimizer", dict, "training"), tensors, optimizer)
    if scheduler is not None:
        scheduler.load_state_dict(restored_schedule)
    if early_stopping is not None:
        early_stopping.best_loss = float("inf") if best_loss is None else float(best_loss)
        early_stopping.epochs_without_improvement = waited
        early_stopping.stopped = stopped
        early_stopping.best_state = best
    _restore_rng(_part(training, "rng", dict, "training"), tensors)
    return resumed
