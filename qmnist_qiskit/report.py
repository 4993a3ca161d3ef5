"""``qmnist report``: plots and a Markdown report for a model saved by ``qmnist train``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qmnist_qiskit.circuits import get_preset, preset_circuit
from qmnist_qiskit.classifier import QuantumMNISTClassifier
from qmnist_qiskit.files import write_text
from qmnist_qiskit.persistence import MODEL_FILE
from qmnist_qiskit.plots import (
    circuit_figure,
    confusion_matrix_figure,
    save_figure,
    training_curves,
)
from qmnist_qiskit.speed import EngineTiming, timings_chart, timings_table

ENGINE_SPEED_FILE = "engine_speed.png"
METRICS_FILE = "metrics.json"
"""What ``qmnist train`` writes beside the model; the report reads its ``class_names``."""
_HISTORY_COLUMNS = (
    ("epoch", "epoch", "{:d}"),
    ("loss", "training loss", "{:.4f}"),
    ("accuracy", "training accuracy", "{:.4f}"),
    ("val_loss", "validation loss", "{:.4f}"),
    ("val_accuracy", "validation accuracy", "{:.4f}"),
    ("seconds", "seconds", "{:.1f}"),
)


def drawn_layer(classifier: QuantumMNISTClassifier):
    """What the report draws: ``(circuit, repetitions)``. For a preset that re-uploads the
    data in every layer (``"reupload"``, ``"dense"``), one layer of the model's circuit and
    its ``reps``; for anything else (the seed circuit, ``"layered"``, whose layers differ, a
    user's circuit), the whole circuit once."""
    circuit = classifier.circuit_.circuit
    ansatz, reps = classifier.ansatz, int(classifier.reps)
    if not isinstance(ansatz, str) or reps == 1:
        return circuit, 1
    preset = get_preset(ansatz)
    if not (preset.uses_reps and preset.options.get("reupload")):
        return circuit, 1
    layer = preset_circuit(
        ansatz,
        int(classifier.n_qubits),
        1,
        n_features=len(classifier.circuit_.input_params),
        entanglement=classifier.entanglement,
    ).circuit
    return layer, reps


def _cell(value, template: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return template.format(int(value) if template == "{:d}" else value)


def history_table(history: Sequence[dict]) -> str:
    """The training history as a Markdown table: one row per epoch, the columns that the
    history holds (training and, with a validation split, validation loss and accuracy,
    seconds), any other keys after them."""
    if not history:
        return "No epoch was completed."
    keys = list(dict.fromkeys(key for record in history for key in record))
    known = [column for column in _HISTORY_COLUMNS if column[0] in keys]
    known_keys = {key for key, _, _ in known}
    columns = known + [(key, key, "{}") for key in keys if key not in known_keys]
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for record in history:
        cells = [_cell(record.get(key), template) for key, _, template in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class_table(y, predictions, classes, class_names: Sequence[str] | None) -> str:
    """Accuracy (recall) per class as a Markdown table, with the class names when known."""
    y, predictions = np.asarray(y), np.asarray(predictions)
    lines = ["| label | class | test images | accuracy |", "|---|---|---|---|"]
    for index, label in enumerate(classes):
        mask = y == label
        name = class_names[index] if class_names is not None else str(label)
        accuracy = f"{np.mean(predictions[mask] == label):.3f}" if mask.any() else "-"
        lines.append(f"| {label} | {name} | {int(mask.sum())} | {accuracy} |")
    return "\n".join(lines)


def _class_names(model_dir: Path, given, n_classes: int) -> list[str] | None:
    """``given``, else the ``class_names`` that ``qmnist train`` kept in ``metrics.json``;
    ignored unless one name per class."""
    names = given
    if names is None and (model_dir / METRICS_FILE).is_file():
        try:
            names = json.loads((model_dir / METRICS_FILE).read_text()).get("class_names")
        except (OSError, ValueError, AttributeError):
            names = None
    if names is None or len(names) != n_classes:
        return None
    return [str(name) for name in names]


def _engine_speed_section(model_dir: Path, timings: Sequence[EngineTiming] | None) -> str:
    if timings is not None:
        save_figure(timings_chart(timings), model_dir / ENGINE_SPEED_FILE)
        table = f"\n```\n{timings_table(timings)}\n```\n"
    elif (model_dir / ENGINE_SPEED_FILE).is_file():
        table = ""
    else:
        return ""
    return f"""
## Engine speed
Loss gradient of the seed circuit per image on each engine (`qmnist benchmark`).
{table}
![engine speed]({ENGINE_SPEED_FILE})
"""


def write_report(
    model_dir: str | Path,
    X: np.ndarray,
    y: np.ndarray,
    *,
    engine_timings: Sequence[EngineTiming] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write ``training_curves.png``, ``confusion_matrix.png``, ``circuit.png`` and
    ``report.md`` into ``model_dir``, evaluating the saved model on ``(X, y)``.

    Each file is written whole or not at all (:mod:`qmnist_qiskit.files`); ``report.md``,
    which links the others, comes last.

    The report gets an engine speed section when ``engine_timings`` (rows of
    :func:`qmnist_qiskit.speed.engine_timings`) are given, which are drawn to
    ``engine_speed.png`` and tabled, or else when ``model_dir`` already holds
    ``engine_speed.png`` (``qmnist benchmark --plot``), which is embedded as it is.

    ``class_names`` (one per class, label order; default: the ``class_names`` that
    ``qmnist train`` kept in ``metrics.json``, if any) name the classes in the confusion
    matrix and the per-class table. The circuit is drawn as one layer with "x reps" for a
    re-uploading preset (:func:`drawn_layer`), folded to at most 2,000 pixels wide; the
    history is a table (:func:`history_table`).
    """
    model_dir = Path(model_dir)
    classifier = QuantumMNISTClassifier.load(model_dir / MODEL_FILE)
    predictions = classifier.predict(X)
    accuracy = float(np.mean(predictions == y))
    names = _class_names(model_dir, class_names, len(classifier.classes_))
    save_figure(training_curves(classifier.history_), model_dir / "training_curves.png")
    save_figure(
        confusion_matrix_figure(
            y, predictions, labels=classifier.classes_, class_names=names
        ),
        model_dir / "confusion_matrix.png",
    )
    circuit = classifier.circuit_.circuit
    layer, repetitions = drawn_layer(classifier)
    save_figure(circuit_figure(layer, repetitions=repetitions), model_dir / "circuit.png")
    drawn = (
        f"One layer of {repetitions}: the circuit repeats it {repetitions} times, each time "
        "with its own weights."
        if repetitions > 1
        else "The whole circuit."
    )
    validation = (
        "Training and validation (the split held out for early stopping)."
        if any("val_loss" in record for record in classifier.history_)
        else "Training only: this fit held out no validation split (`early_stopping=False`)."
    )
    params = classifier.get_params(deep=False)
    settings = "\n".join(f"| `{key}` | `{value!r}` |" for key, value in sorted(params.items()))
    last = classifier.history_[-1] if classifier.history_ else {}
    report = f"""# qmnist_qiskit model report

- Test accuracy: **{accuracy:.2%}** on {len(y)} images
- Final training loss: {last.get("loss", float("nan")):.4f}; epochs: {len(classifier.history_)}
- Circuit: {circuit.num_qubits} qubits, depth {circuit.depth()}, \
{len(classifier.circuit_.weight_params)} trainable angles, \
{sum(circuit.count_ops().values())} gates; engine `{classifier.engine}`

## Training curves
{validation}

![training curves](training_curves.png)

## Confusion matrix
![confusion matrix](confusion_matrix.png)

{per_class_table(y, predictions, classifier.classes_, names)}

## Circuit
{drawn}

![circuit](circuit.png)
{_engine_speed_section(model_dir, engine_timings)}
## Settings
| parameter | value |
|---|---|
{settings}

## History
{history_table(classifier.history_)}
"""
    return write_text(model_dir / "report.md", report)
