"""An output directory: checked before a run writes anything, and the trained model saved into
it, or into a fresh temporary directory when that fails, so that training is never lost."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from qmnist_qiskit.console import one_line
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import check_writable, write_text
from qmnist_qiskit.persistence import MODEL_FILE


def check_output_dir(output: Path, names: Sequence[str]) -> None:
    """:class:`QMNISTError` unless ``output`` is a directory where ``names`` can be written,
    or one that can be created; nothing is created here."""
    if str(output) == "":
        raise QMNISTError("cannot write to '': the output directory name is empty")
    if output.exists() and not output.is_dir():
        raise QMNISTError(f"cannot write to {output}: it is a file, not a directory")
    if output.is_dir():
        for name in names:
            check_writable(output / name)
        return
    ancestor = output.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise QMNISTError(f"cannot create {output}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise QMNISTError(f"cannot create {output}: no permission to write in {ancestor}")


def save_model(classifier, output: Path) -> Path:
    """Save the trained model as ``output/model.safetensors``; if that fails, in a fresh
    directory ``qmnist-model-*`` of the system's temporary directory, and raise a
    :class:`QMNISTError` that says where it went."""
    target = output / MODEL_FILE
    try:
        output.mkdir(parents=True, exist_ok=True)
        return classifier.save(check_writable(target))
    except Exception as exc:  # the model must survive any failure to write it
        failure = f"cannot save the trained model to {target}: {one_line(exc)}"
    rescue = None
    try:
        rescue = Path(tempfile.mkdtemp(prefix="qmnist-model-")) / MODEL_FILE
        classifier.save(rescue)
    except Exception as exc:
        if rescue is not None:
            shutil.rmtree(rescue.parent, ignore_errors=True)
        where = "in the temporary directory" if rescue is None else f"to {rescue}"
        raise QMNISTError(f"{failure}; saving it {where} failed too: {one_line(exc)}") from exc
    raise QMNISTError(f"{failure}; the trained model was saved to {rescue} instead")


def write_json(path: Path, value) -> None:
    """``value`` as indented JSON, written whole or not at all."""
    write_text(path, json.dumps(value, indent=2) + "\n")
