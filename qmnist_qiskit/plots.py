"""Plots of a trained classifier: training curves, confusion matrix, circuit diagram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from qiskit.circuit import QuantumCircuit  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def training_curves(history: Sequence[dict]) -> Figure:
    """Loss and accuracy per epoch (validation too, when recorded)."""
    epochs = [record["epoch"] for record in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, axis, label in (
        ("loss", loss_axis, "train"),
        ("val_loss", loss_axis, "validation"),
        ("accuracy", accuracy_axis, "train"),
        ("val_accuracy", accuracy_axis, "validation"),
    ):
        if history and key in history[0]:
            axis.plot(epochs, [record[key] for record in history], marker="o", label=label)
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1))
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def confusion_matrix_figure(y_true, y_pred, labels=None) -> Figure:
    """The confusion matrix of ``y_pred`` against ``y_true``."""
    figure, axis = plt.subplots(figsize=(6, 5))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=axis, colorbar=False)
    axis.set_title(f"Accuracy {np.mean(np.asarray(y_true) == np.asarray(y_pred)):.1%}")
    figure.tight_layout()
    return figure


def circuit_figure(circuit: QuantumCircuit) -> Figure:
    """Qiskit's matplotlib drawing of ``circuit``."""
    return circuit.draw("mpl", fold=-1)


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save ``figure`` as a PNG at ``path`` and close it."""
    path = Path(path)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
