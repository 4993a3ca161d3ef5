"""Safe state files: tensors and JSON text only, checksummed, no code.

One ``.safetensors`` file holds every tensor of a state and, in its string metadata, text
fields (JSON, counts, names) with a SHA-256 checksum over all of it (:func:`model_checksum`).
Reading parses text and tensors and never unpickles, so a file from elsewhere cannot run
code. This module knows the file, not what is in it: a :class:`FileFormat` names a kind of
file (its ``format`` field, its version, the versions still read); the owner of the state
(the classifier's :meth:`~qmnist_qiskit.QuantumMNISTClassifier.get_state`, a training
checkpoint) gives and takes the fields and tensors, and checks them with the field readers
here (:func:`json_field`, :func:`count_field`, :func:`labels_field`), raising
:class:`FieldError`.

1. read (:func:`read_state`): safetensors checks the header against the file's length
   before any tensor is read (a header claiming more than the file holds is refused,
   nothing of that size allocated); then the format, its version and the checksum (a
   changed byte anywhere fails);
2. check and build (the owner, inside :func:`inconsistent_file`): every field parsed,
   typed, bounded and held against the others and the tensors.

Anything wrong is a :class:`QMNISTError` that names the file and the field. Model files of
version 1 (earlier releases, no checksum) still load, with a warning saying to save them
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import atomic_path

CHECKSUM_FIELD = "checksum"
FORMAT_FIELD = "format"
VERSION_FIELD = "format_version"
MAX_CLASSES = 10_000
"""The most class labels a file may claim (MNIST has 10): a readout is sized by them
before the weights are read."""
MAX_LABEL_LENGTH = 1_024
"""The longest string class label (characters) a file's label dtype may claim."""
_LABEL_KINDS = "biufUO"
_COUNT = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class FileFormat:
    """A kind of state file: the name in its ``format`` field, the version written, the
    versions read, and how messages call it (``"model file"``, ``"checkpoint"``)."""

    name: str
    version: int
    readable: tuple[int, ...]
    kind: str
    title: str
    """What a file of another format is not: ``"not a qmnist_qiskit {title}"``."""
    unchecked: tuple[int, ...] = ()
    """Versions written before the checksum: read with a warning, every other check kept."""


MODEL_FORMAT = FileFormat(
    name="qmnist_qiskit.QuantumMNISTClassifier",
    version=2,
    readable=(1, 2),
    kind="model file",
    title="classifier",
    unchecked=(1,),
)
"""Version 2 added the checksum; version 1 files (no checksum) still load, with a warning."""
FORMAT = MODEL_FORMAT.name
FORMAT_VERSION = MODEL_FORMAT.version
READABLE_VERSIONS = MODEL_FORMAT.readable
# The file name `qmnist train` writes in its output directory and `qmnist report` reads.
MODEL_FILE = "model.safetensors"


class FieldError(ValueError):
    """A field of a state file that is malformed or contradicts another."""


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


# -- writing ----------------------------------------------------------------------------
def json_text(value, what: str) -> str:
    """``value`` as JSON text (no NaN), or :class:`ValueError` naming what cannot be stored."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot save {what}={value!r} as JSON ({exc}); save() needs JSON-serialisable "
            "hyperparameters (no noise models or backend objects: use pickle or joblib)"
        ) from exc


def write_state(
    path: str | os.PathLike,
    file_format: FileFormat,
    fields: dict[str, str],
    tensors: dict[str, torch.Tensor],
) -> Path:
    """Write ``fields`` (text) and ``tensors`` to ``path`` as a ``.safetensors`` file of
    ``file_format``, checksummed, whole or not at all (:func:`~qmnist_qiskit.files.atomic_path`);
    a path that cannot be written is a :class:`QMNISTError` naming it."""
    reserved = sorted({FORMAT_FIELD, VERSION_FIELD, CHECKSUM_FIELD} & set(fields))
    if reserved:
        raise ValueError(f"the fields {reserved} belong to the file format")
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    metadata = {FORMAT_FIELD: file_format.name, VERSION_FIELD: str(file_format.version)}
    metadata |= fields
    metadata[CHECKSUM_FIELD] = model_checksum(metadata, tensors)
    content = save(tensors, metadata)
    # Written by Python, not by safetensors' save_file: a full disk or a file-size limit is
    # then an OSError that atomic_path reports naming the file (save_file raised its own
    # SafetensorError), and the file keeps the mode atomic_path gave it.
    with atomic_path(path) as partial:
        partial.write_bytes(content)
    return Path(path)


# -- reading ----------------------------------------------------------------------------
def read_state(
    path: str | os.PathLike, file_format: FileFormat
) -> tuple[dict[str, str], dict[str, torch.Tensor], int]:
    """The text fields (format, version and checksum left out), tensors and format version
    of a ``file_format`` file whose checksum holds; :class:`QMNISTError` naming the file
    otherwise."""
    path = Path(path)
    kind = file_format.kind
    if not path.is_file():
        raise QMNISTError(f"{path}: no such {kind}")
    try:
        # safe_open checks the header (its size, every tensor's dtype, shape and offsets)
        # against the file's length before any tensor is read.
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise QMNISTError(f"{path}: not a readable safetensors {kind} ({exc})") from exc
    if metadata.get(FORMAT_FIELD) != file_format.name:
        raise QMNISTError(
            f"{path}: not a qmnist_qiskit {file_format.title} (format "
            f"{metadata.get(FORMAT_FIELD)!r})"
        )
    version = metadata.get(VERSION_FIELD)
    if version not in [str(v) for v in file_format.readable]:
        raise QMNISTError(
            f"{path}: {kind.split()[0]} format version {version!r}, this qmnist_qiskit reads "
            f"versions {', '.join(str(v) for v in file_format.readable)}"
        )
    version = int(version)
    # A checksum present is always verified: one changed byte cannot turn a checked file
    # into an unchecked older one.
    if version not in file_format.unchecked or CHECKSUM_FIELD in metadata:
        try:
            matches = metadata.get(CHECKSUM_FIELD) == model_checksum(metadata, tensors)
        except (UnicodeError, RuntimeError, TypeError) as exc:
            # Text that is not UTF-8, a dtype without bytes: nothing write_state writes.
            raise QMNISTError(f"{path}: not a readable {kind} ({exc})") from exc
        if not matches:
            raise QMNISTError(
                f"{path}: checksum mismatch: the file was changed or damaged after it was "
                "saved (field 'checksum')"
            )
    else:
        warnings.warn(
            f"{path}: a version-{version} {kind} (written by an earlier qmnist_qiskit) has no "
            f"checksum, so its integrity cannot be verified; save the loaded model again to "
            f"write version {file_format.version}",
            UserWarning,
            stacklevel=3,
        )
    fields = {
        name: text
        for name, text in metadata.items()
        if name not in (FORMAT_FIELD, VERSION_FIELD, CHECKSUM_FIELD)
    }
    return fields, tensors, version


@contextmanager
def inconsistent_file(path: str | os.PathLike, file_format: FileFormat) -> Iterator[None]:
    """A :class:`FieldError` in the block becomes a :class:`QMNISTError` naming the file:
    ``"PATH: inconsistent model file: field 'NAME' ..."``."""
    try:
        yield
    except FieldError as exc:
        raise QMNISTError(f"{path}: inconsistent {file_format.kind}: {exc}") from exc


# -- field readers ----------------------------------------------------------------------
def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def check_fields(fields: dict[str, str], allowed) -> None:
    """:class:`FieldError` naming the fields beyond ``allowed``."""
    unexpected = sorted(set(fields) - set(allowed))
    if unexpected:
        raise FieldError(f"unexpected fields {unexpected}")


def json_field(fields: dict[str, str], name: str, kind: type | tuple[type, ...]):
    """Field ``name`` parsed as JSON (no NaN or infinity) and of type ``kind``."""
    if name not in fields:
        raise FieldError(f"field {name!r} is missing")
    try:
        value = json.loads(fields[name], parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise FieldError(f"field {name!r} is not valid JSON ({exc})") from exc
    if not isinstance(value, kind):
        raise FieldError(f"field {name!r} has the wrong type: {type(value).__name__}")
    return value


def count_field(fields: dict[str, str], name: str) -> int:
    """Field ``name`` as a positive integer written in decimal digits."""
    text = fields.get(name)
    if text is None:
        raise FieldError(f"field {name!r} is missing")
    if not _COUNT.fullmatch(text) or int(text) < 1:
        raise FieldError(f"field {name!r} must be a positive integer, got {text[:40]!r}")
    return int(text)


def labels_field(fields: dict[str, str], name: str, dtype_name: str) -> np.ndarray:
    """Class labels (field ``name``, a JSON list) in the numpy dtype of field ``dtype_name``:
    2 to :data:`MAX_CLASSES` of them, sorted and unique, refused unless labels and dtype
    agree."""
    labels = json_field(fields, name, list)
    if not 2 <= len(labels) <= MAX_CLASSES:
        raise FieldError(
            f"field {name!r} must hold 2 to {MAX_CLASSES:,} labels, got {len(labels):,}"
        )
    if not all(isinstance(label, str | int | float | bool) for label in labels):
        raise FieldError(f"field {name!r} must hold strings or numbers")
    try:
        dtype = np.dtype(fields.get(dtype_name, ""))
    except (TypeError, ValueError) as exc:
        raise FieldError(f"field {dtype_name!r}: not a dtype ({exc})") from exc
    if (
        dtype.kind not in _LABEL_KINDS
        or dtype.shape
        or dtype.fields
        or (dtype.kind == "U" and dtype.itemsize > 4 * MAX_LABEL_LENGTH)
    ):
        raise FieldError(f"field {dtype_name!r}: {dtype.str!r} is not a dtype of labels")
    try:
        classes = np.asarray(labels, dtype=dtype)
        agrees = classes.tolist() == labels and all(
            isinstance(a, str) == isinstance(b, str)
            for a, b in zip(classes.tolist(), labels, strict=True)
        )
        ordered = bool(np.all(classes[1:] > classes[:-1]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise FieldError(f"field {dtype_name!r}: {dtype.str} cannot hold the labels") from exc
    if not agrees:
        raise FieldError(f"field {dtype_name!r}: {dtype.str} does not hold the labels as saved")
    if not ordered:
        raise FieldError(f"field {name!r} must be sorted and without repeats")
    return classes


def tensor_group(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, the prefix removed."""
    return {
        name[len(prefix) :]: tensor for name, tensor in tensors.items() if name.startswith(prefix)
    }
