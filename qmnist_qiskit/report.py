"""``qmnist report``: plots and a Markdown report for a model saved by ``qmnist train``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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
) -> Path:
    """Write ``training_curves.png``, ``confusion_matrix.png``, ``circuit.png`` and
    ``report.md`` into ``model_dir``, evaluating the saved model on ``(X, y)``.

    Each file is written whole or not at all (:mod:`qmnist_qiskit.files`); ``report.md``,
    which links the others, comes last.

    The report gets an engine speed section when ``engine_timings`` (rows of
    :func:`qmnist_qiskit.speed.engine_timings`) are given, which are drawn to
    ``engine_speed.png`` and tabled, or else when ``model_dir`` already holds
    ``engine_speed.png`` (``qmnist benchmark --plot``), which is embedded as it is.
    """
    model_dir = Path(model_dir)
    classifier = QuantumMNISTClassifier.load(model_dir / MODEL_FILE)
    predictions = classifier.predict(X)
    accuracy = float(np.mean(predictions == y))
    save_figure(training_curves(classifier.history_), model_dir / "training_curves.png")
    save_figure(
        confusion_matrix_figure(y, predictions, labels=classifier.classes_),
        model_dir / "confusion_matrix.png",
    )
    circuit = classifier.circuit_.circuit
    save_figure(circuit_figure(circuit), model_dir / "circuit.png")
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
![training curves](training_curves.png)

## Confusion matrix
![confusion matrix](confusion_matrix.png)

## Circuit
![circuit](circuit.png)
{_engine_speed_section(model_dir, engine_timings)}
## Settings
| parameter | value |
|---|---|
{settings}

## History
```json
{json.dumps(classifier.history_, indent=1)}
```
"""
    return write_text(model_dir / "report.md", report)
