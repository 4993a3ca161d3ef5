"""Plots people expect: training curves, confusion matrix, circuit diagram, engine speed on a
log scale, accuracy against circuit depth, and a search's score against each parameter.

Figures come from pyplot, so a notebook shows them inline; without a display, matplotlib picks
its non-interactive Agg backend by itself, so scripts and ``qmnist report`` work headless.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from qiskit.circuit import QuantumCircuit
from sklearn.metrics import ConfusionMatrixDisplay

_MARKERS = ("o", "s", "^", "D", "v")
_LINESTYLES = ("-", "--", ":", "-.")
_BASELINE_COLORS = ("dimgray", "black", "darkgray")


def _positive(value: float) -> bool:
    return isinstance(value, int | float | np.floating) and math.isfinite(value) and value > 0


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


def confusion_matrix_figure(y_true, y_pred, labels=None, *, class_names=None) -> Figure:
    """The confusion matrix of ``y_pred`` against ``y_true``; ``class_names`` (one per label
    of ``labels``, e.g. Fashion-MNIST's) name the rows and columns instead of the labels."""
    named = class_names is not None
    figure, axis = plt.subplots(figsize=(8, 7) if named else (6, 5))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        display_labels=None if class_names is None else list(class_names),
        ax=axis,
        colorbar=False,
        xticks_rotation=45 if named else "horizontal",
    )
    if named:
        for tick in axis.get_xticklabels():
            tick.set_horizontalalignment("right")
    axis.set_title(f"Accuracy {np.mean(np.asarray(y_true) == np.asarray(y_pred)):.1%}")
    figure.tight_layout()
    return figure


SAVE_DPI = 110
"""Resolution :func:`save_figure` writes at."""
CIRCUIT_MAX_PIXELS = 2000
"""The widest :func:`circuit_figure` draws at :data:`SAVE_DPI`."""
CIRCUIT_FOLD = 24
"""Qiskit's ``fold`` (drawing columns per row) of :func:`circuit_figure`: one layer of the
default 10-qubit circuit (229 gates) comes out about 1,800 pixels wide in 3 rows."""


def _titled_drawing(circuit: QuantumCircuit, fold: int, scale: float, repetitions: int):
    figure = circuit.draw("mpl", fold=fold, scale=scale)
    if repetitions > 1:
        # Above the first wire's label, in the drawing's own coordinates: Qiskit's canvas is
        # larger than the drawing, so a figure title would float far from it.
        (axis,) = figure.axes
        x, y = zip(*(text.get_position() for text in axis.texts), strict=True)
        axis.text(
            min(x),
            max(y) + 0.9,
            f"x {repetitions}: the circuit repeats this layer {repetitions} times, "
            "each time with its own weights",
            fontsize=16 * scale,
            horizontalalignment="left",
            verticalalignment="bottom",
        )
    return figure


def circuit_figure(
    circuit: QuantumCircuit,
    *,
    repetitions: int = 1,
    fold: int = CIRCUIT_FOLD,
    max_pixels: int = CIRCUIT_MAX_PIXELS,
) -> Figure:
    """Qiskit's matplotlib drawing of ``circuit``, folded into rows so that it stays at most
    ``max_pixels`` wide when saved by :func:`save_figure`.

    Parameters
    ----------
    circuit : QuantumCircuit
        What to draw: for a layered circuit, one layer of it (see ``repetitions``).
    repetitions : int
        How many times the drawn layer repeats in the model's circuit (each repetition with its
        own weights); above 1 the figure is titled "x N".
    fold : int
        Qiskit's ``fold``: drawing columns per row.
    max_pixels : int
        The widest the saved image may be; a drawing that would be wider is redrawn smaller.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> figure = circuit_figure(seed_circuit(3).circuit, repetitions=3)
    >>> figure.axes[0].texts[-1].get_text()[:4]
    'x 3:'
    """
    figure = _titled_drawing(circuit, fold, 1.0, repetitions)
    # What save_figure keeps (bbox_inches="tight"), not the figure's larger canvas.
    width = figure.get_tightbbox().width * SAVE_DPI
    if width > 0.95 * max_pixels:  # the estimate is within a few per cent of the file's
        plt.close(figure)
        figure = _titled_drawing(circuit, fold, 0.9 * max_pixels / width, repetitions)
    return figure


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _ratio_text(reference: float, value: float) -> str:
    ratio = reference / value
    if ratio >= 1:
        return f"{ratio:,.{0 if ratio >= 10 else 1}f}x faster"
    return f"{1 / ratio:,.{0 if ratio <= 0.1 else 1}f}x slower"


def _check_series(name: str, values: Sequence[float], length: int) -> None:
    if len(values) != length:
        raise ValueError(f"{name} has {len(values)} values for {length} depths")


def engine_speed_chart(
    timings: Mapping[str, float],
    *,
    unit: str = "ms per image",
    reference: str | None = None,
    title: str = "Loss gradient, seed circuit",
) -> Figure:
    """Horizontal bars of each engine's time on a logarithmic axis, in the given order.

    Times that differ by factors of thousands only stay readable on a log scale. Each bar is
    labelled with its value and, given a ``reference`` engine, with how many times faster (or
    slower) than the reference it is.

    Parameters
    ----------
    timings : mapping of str to float
        Engine name to time (positive), in ``unit``; bars keep this order, top to bottom.
    unit : str
        Label of the time axis.
    reference : str, optional
        An engine of ``timings`` whose time the others are compared with.
    title : str
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
        One axis, x on a log scale; bar ``i`` (counting from the top) has width
        ``list(timings.values())[i]``.

    Raises
    ------
    ValueError
        When ``timings`` is empty, a time is not a positive finite number, or
        ``reference`` is not one of the engines.

    Examples
    --------
    >>> from qmnist_qiskit.plots import engine_speed_chart
    >>> figure = engine_speed_chart(
    ...     {"EstimatorQNN defaults": 500.0, "statevector": 0.1}, reference="EstimatorQNN defaults"
    ... )
    >>> figure.axes[0].get_xscale()
    'log'
    """
    if not timings:
        raise ValueError("timings is empty: give at least one engine and its time")
    bad = {name: value for name, value in timings.items() if not _positive(value)}
    if bad:
        raise ValueError(f"times must be positive finite numbers for a log scale, got {bad}")
    if reference is not None and reference not in timings:
        raise ValueError(f"reference {reference!r} is not one of {list(timings)}")
    names = list(timings)
    values = [float(timings[name]) for name in names]
    figure, axis = plt.subplots(figsize=(9, 0.55 * len(names) + 1.4))
    positions = np.arange(len(names))[::-1]
    axis.barh(positions, values, color="tab:blue", alpha=0.8)
    axis.set_yticks(positions, names)
    axis.set_xscale("log")
    axis.set_xlim(min(values) / 3, max(values) * 30)
    for position, name, value in zip(positions, names, values, strict=True):
        label = f" {_number(value)}"
        if reference is not None and name != reference:
            label += f"  ({_ratio_text(timings[reference], value)})"
        axis.text(value, position, label, va="center", fontsize=9)
    axis.set(xlabel=f"{unit} (log scale)", title=title)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def accuracy_vs_depth(
    depths: Sequence[int],
    accuracies: Mapping[str, Sequence[float]],
    *,
    errors: Mapping[str, Sequence[float]] | None = None,
    baselines: Mapping[str, float] | None = None,
    xlabel: str = "circuit layers (reps)",
) -> Figure:
    """Accuracy against circuit depth, one line per series, with optional error bars and
    horizontal lines for classical baselines.

    Parameters
    ----------
    depths : sequence of int
        The depths (x values) shared by every series.
    accuracies : mapping of str to sequence of float
        Series name (e.g. an engine option or an entanglement) to one accuracy per depth.
    errors : mapping of str to sequence of float, optional
        Error bar half-widths (e.g. the standard deviation over cross-validation folds) for
        some of the series.
    baselines : mapping of str to float, optional
        Accuracies of reference models, drawn as dashed horizontal lines.
    xlabel : str
        Label of the depth axis.

    Returns
    -------
    matplotlib.figure.Figure
        One axis: a line per series (in order), then one per baseline; y from 0 to 1.

    Raises
    ------
    ValueError
        When ``accuracies`` is empty or a series does not have one value per depth.

    Examples
    --------
    >>> from qmnist_qiskit.plots import accuracy_vs_depth
    >>> figure = accuracy_vs_depth([1, 2, 3], {"linear": [0.4, 0.6, 0.7]}, baselines={"MLP": 0.9})
    >>> [line.get_label() for line in figure.axes[0].get_lines()]
    ['linear', 'MLP']
    """
    if not accuracies:
        raise ValueError("accuracies is empty: give at least one series")
    depths = list(depths)
    errors = errors or {}
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for index, (name, values) in enumerate(accuracies.items()):
        _check_series(name, values, len(depths))
        if name in errors:
            _check_series(f"errors of {name}", errors[name], len(depths))
        # Series that coincide (e.g. two precisions) stay visible by marker and dash.
        (line,) = axis.plot(
            depths,
            list(values),
            marker=_MARKERS[index % len(_MARKERS)],
            linestyle=_LINESTYLES[index % len(_LINESTYLES)],
            label=name,
        )
        if name in errors:
            axis.errorbar(
                depths, list(values), yerr=list(errors[name]), fmt="none", ecolor=line.get_color()
            )
    for index, (name, value) in enumerate((baselines or {}).items()):
        axis.axhline(
            value,
            linestyle=_LINESTYLES[1 + index % (len(_LINESTYLES) - 1)],
            color=_BASELINE_COLORS[index % len(_BASELINE_COLORS)],
            label=name,
        )
    axis.set(xlabel=xlabel, ylabel="accuracy", ylim=(0, 1), xticks=depths)
    axis.set_title("Accuracy against circuit depth")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


def search_scores(cv_results: Mapping[str, Sequence], names: Sequence[str] | None = None) -> Figure:
    """Mean test score against each searched parameter, one panel per parameter.

    In each panel every candidate is a grey dot over its value of the parameter, and a line
    joins, value by value, the best candidate (with its standard deviation over the folds as
    an error bar): the best score that value reached, whatever the other parameters. Values
    keep the order of the grid (text for ``None``, strings, dicts).

    Parameters
    ----------
    cv_results : mapping
        ``cv_results_`` of a scikit-learn search (``params``, ``mean_test_score``,
        ``std_test_score``).
    names : sequence of str, optional
        The parameters to plot; default every parameter that takes two or more values (every
        parameter when none does).

    Returns
    -------
    matplotlib.figure.Figure
        One axis per parameter; y is the mean test score.

    Examples
    --------
    >>> from qmnist_qiskit.plots import search_scores
    >>> results = {
    ...     "params": [{"reps": 1, "lr": 0.1}, {"reps": 2, "lr": 0.1}, {"reps": 1, "lr": 0.2}],
    ...     "mean_test_score": [0.5, 0.7, 0.6],
    ...     "std_test_score": [0.05, 0.02, 0.04],
    ... }
    >>> [axis.get_xlabel() for axis in search_scores(results).axes]
    ['reps', 'lr']
    """
    candidates = list(cv_results["params"])
    means = np.asarray(cv_results["mean_test_score"], dtype=float)
    stds = np.asarray(cv_results["std_test_score"], dtype=float)
    if not candidates:
        raise ValueError("cv_results has no candidates")
    if names is None:
        every = list(dict.fromkeys(name for candidate in candidates for name in candidate))
        varied = [name for name in every if len({repr(c.get(name)) for c in candidates}) > 1]
        names = varied or every
    names = list(names)
    if not names:
        raise ValueError("no parameters to plot")
    figure, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names), 4), sharey=True, squeeze=False
    )
    for axis, name in zip(axes[0], names, strict=True):
        # Keyed by repr: dicts are not hashable, and as keys 1 and True would merge.
        values = {repr(c.get(name)): c.get(name) for c in candidates}
        keys = list(dict.fromkeys(repr(c.get(name)) for c in candidates))
        texts = [str(values[key]) for key in keys]
        x = np.array([keys.index(repr(c.get(name))) for c in candidates])
        axis.scatter(x, means, color="lightgray", zorder=2, label="every candidate")
        best = [
            int(np.flatnonzero(x == index)[np.nanargmax(means[x == index])])
            for index in range(len(keys))
        ]
        axis.errorbar(
            range(len(keys)),
            means[best],
            yerr=stds[best],
            marker="o",
            capsize=3,
            zorder=3,
            label="best with this value",
        )
        axis.set(xlabel=name, xticks=range(len(keys)), xlim=(-0.5, len(keys) - 0.5))
        axis.set_xticklabels(texts, rotation=30 if max(map(len, texts)) > 6 else 0)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean test score (cross-validated)")
    axes[0][0].legend(loc="best")
    figure.suptitle("Score against each searched parameter")
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save ``figure`` at ``path`` (PNG, or the format its suffix names) and close it.

    The file is written whole or not at all (:func:`qmnist_qiskit.files.atomic_path`): a
    failure or Ctrl-C while drawing leaves the old file or none. An unwritable ``path`` is a
    :class:`~qmnist_qiskit.QMNISTError` naming it; the figure is closed either way.
    """
    from qmnist_qiskit.files import atomic_path

    path = Path(path)
    # The temporary file's name ends in .partial, so the format comes from the target's.
    image_format = path.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_path(path) as partial:
            figure.savefig(partial, dpi=SAVE_DPI, bbox_inches="tight", format=image_format)
    finally:
        plt.close(figure)
    return path
