"""Figures of qmnist_qiskit.plots: axes, scales and plotted data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.artist import Artist

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.plots import (
    accuracy_vs_depth,
    circuit_figure,
    confusion_matrix_figure,
    engine_speed_chart,
    save_figure,
    search_scores,
    training_curves,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


TIMINGS = {"EstimatorQNN defaults": 1520.0, "aer": 36.0, "statevector": 0.08}


def test_engine_speed_chart_log_scale_and_bar_widths():
    figure = engine_speed_chart(TIMINGS, reference="EstimatorQNN defaults")
    (axis,) = figure.axes
    assert axis.get_xscale() == "log"
    bars = sorted(axis.patches, key=lambda bar: -bar.get_y())
    assert [bar.get_width() for bar in bars] == list(TIMINGS.values())
    labels = [tick.get_text() for tick in axis.get_yticklabels()]
    positions = axis.get_yticks()
    by_position = dict(zip(positions, labels, strict=True))
    assert [by_position[round(bar.get_y() + bar.get_height() / 2)] for bar in bars] == list(TIMINGS)
    texts = [text.get_text() for text in axis.texts]
    assert texts == [" 1,520", " 36  (42x faster)", " 0.08  (19,000x faster)"]
    assert "log scale" in axis.get_xlabel()


def test_engine_speed_chart_slower_than_reference_and_no_reference():
    figure = engine_speed_chart({"a": 1.0, "b": 4.0}, reference="a", unit="s per epoch")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == [" 1", " 4  (4.0x slower)"]
    assert figure.axes[0].get_xlabel() == "s per epoch (log scale)"
    plain = engine_speed_chart({"a": 2.0})
    assert [text.get_text() for text in plain.axes[0].texts] == [" 2"]


@pytest.mark.parametrize(
    ("timings", "reference", "match"),
    [
        ({}, None, "timings is empty"),
        ({"a": 1.0, "b": 0.0}, None, "positive finite"),
        ({"a": float("nan")}, None, "positive finite"),
        ({"a": None}, None, "positive finite"),
        ({"a": 1.0}, "b", "reference 'b' is not one of"),
    ],
)
def test_engine_speed_chart_rejects_bad_input(timings, reference, match):
    with pytest.raises(ValueError, match=match):
        engine_speed_chart(timings, reference=reference)


def test_accuracy_vs_depth_lines_errors_and_baselines():
    figure = accuracy_vs_depth(
        [1, 2, 4],
        {"linear": [0.3, 0.5, 0.7], "full": [0.2, 0.6, 0.65]},
        errors={"linear": [0.01, 0.02, 0.03]},
        baselines={"logistic regression": 0.86},
    )
    (axis,) = figure.axes
    lines = axis.get_lines()
    assert [line.get_label() for line in lines] == ["linear", "full", "logistic regression"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 4])
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.3, 0.5, 0.7])
    np.testing.assert_array_equal(lines[1].get_ydata(), [0.2, 0.6, 0.65])
    np.testing.assert_array_equal(lines[2].get_ydata(), [0.86, 0.86])
    (container,) = axis.containers
    (error_segments,) = container.lines[2]
    heights = [segment[1, 1] - segment[0, 1] for segment in error_segments.get_segments()]
    np.testing.assert_allclose(heights, [0.02, 0.04, 0.06])
    assert axis.get_ylim() == (0, 1)
    assert list(axis.get_xticks()) == [1, 2, 4]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == [
        "linear",
        "full",
        "logistic regression",
    ]


@pytest.mark.parametrize(
    ("accuracies", "errors", "match"),
    [
        ({}, None, "accuracies is empty"),
        ({"linear": [0.1, 0.2]}, None, "linear has 2 values for 3 depths"),
        ({"linear": [0.1, 0.2, 0.3]}, {"linear": [0.1]}, "errors of linear has 1 values"),
    ],
)
def test_accuracy_vs_depth_rejects_mismatched_series(accuracies, errors, match):
    with pytest.raises(ValueError, match=match):
        accuracy_vs_depth([1, 2, 3], accuracies, errors=errors)


def test_training_curves_plots_history():
    history = [
        {"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.1, "val_accuracy": 0.25},
        {"epoch": 2, "loss": 1.5, "accuracy": 0.5, "val_loss": 1.7, "val_accuracy": 0.45},
    ]
    loss_axis, accuracy_axis = training_curves(history).axes
    assert [list(line.get_ydata()) for line in loss_axis.get_lines()] == [[2.0, 1.5], [2.1, 1.7]]
    assert [list(line.get_ydata()) for line in accuracy_axis.get_lines()] == [
        [0.3, 0.5],
        [0.25, 0.45],
    ]
    assert accuracy_axis.get_ylim() == (0, 1)


def test_confusion_matrix_counts_and_accuracy_title():
    figure = confusion_matrix_figure([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1])
    (axis,) = figure.axes
    np.testing.assert_array_equal(axis.images[0].get_array(), [[1, 1], [0, 2]])
    assert axis.get_title() == "Accuracy 75.0%"


def test_circuit_figure_and_save(tmp_path):
    figure = circuit_figure(seed_circuit(2).circuit)
    path = save_figure(figure, tmp_path / "circuit.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(figure.number)


def test_search_scores_one_panel_per_parameter_best_per_value():
    results = {
        "params": [
            {"reps": 1, "encoder": None},
            {"reps": 2, "encoder": None},
            {"reps": 1, "encoder": "pca"},
            {"reps": 2, "encoder": "pca"},
        ],
        "mean_test_score": [0.5, 0.7, 0.6, 0.4],
        "std_test_score": [0.01, 0.02, 0.03, 0.04],
    }
    figure = search_scores(results)
    reps, encoder = figure.axes
    assert [reps.get_xlabel(), encoder.get_xlabel()] == ["reps", "encoder"]
    assert [label.get_text() for label in encoder.get_xticklabels()] == ["None", "pca"]
    # The first line of each panel is the best per value (the others are error-bar caps).
    np.testing.assert_allclose(reps.get_lines()[0].get_ydata(), [0.6, 0.7])
    np.testing.assert_allclose(encoder.get_lines()[0].get_ydata(), [0.7, 0.6])
    assert len(search_scores(results, ["reps"]).axes) == 1
    with pytest.raises(ValueError, match="no candidates"):
        search_scores({"params": [], "mean_test_score": [], "std_test_score": []})


class _CtrlCWhileDrawing(Artist):
    def draw(self, renderer):
        raise KeyboardInterrupt


def _curves():
    return training_curves([{"epoch": 1, "loss": 1.0, "accuracy": 0.5}])


def test_save_figure_is_whole_or_not_at_all(tmp_path):
    target = tmp_path / "curves.png"
    target.write_bytes(b"the previous chart")
    figure = _curves()
    figure.add_artist(_CtrlCWhileDrawing())
    with pytest.raises(KeyboardInterrupt):
        save_figure(figure, target)
    assert target.read_bytes() == b"the previous chart"
    assert [path.name for path in tmp_path.iterdir()] == ["curves.png"]
    assert not plt.fignum_exists(figure.number)


def test_save_figure_to_an_unwritable_path_names_it(tmp_path):
    (tmp_path / "curves.png").mkdir()
    figure = _curves()
    with pytest.raises(QMNISTError, match=f"cannot write {tmp_path / 'curves.png'}: it is a dir"):
        save_figure(figure, tmp_path / "curves.png")
    assert not plt.fignum_exists(figure.number)
    with pytest.raises(QMNISTError, match="the directory .*missing does not exist"):
        save_figure(_curves(), tmp_path / "missing" / "curves.png")
    assert [path.name for path in tmp_path.iterdir()] == ["curves.png"]


def test_save_figure_format_follows_the_suffix(tmp_path):
    assert save_figure(_curves(), tmp_path / "curves.svg").read_text().startswith("<?xml")
    assert save_figure(_curves(), tmp_path / "curves").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_names_the_classes():
    names = ["T-shirt/top", "Trouser", "Pullover"]
    figure = confusion_matrix_figure([0, 1, 2], [0, 1, 1], labels=[0, 1, 2], class_names=names)
    (axis,) = figure.axes
    assert [tick.get_text() for tick in axis.get_xticklabels()] == names
    assert [tick.get_text() for tick in axis.get_yticklabels()] == names


def test_circuit_figure_titles_the_repetitions():
    def titles(figure):
        return [text.get_text() for text in figure.axes[0].texts if text.get_text()[:2] == "x "]

    assert titles(circuit_figure(seed_circuit(3).circuit, repetitions=3)) == [
        "x 3: the circuit repeats this layer 3 times, each time with its own weights"
    ]
    assert titles(circuit_figure(seed_circuit(3).circuit)) == []


def test_circuit_figure_of_a_long_circuit_is_folded_to_the_width_limit(tmp_path):
    from PIL import Image

    from qmnist_qiskit.circuits import preset_circuit

    # One layer of a 3-qubit dense circuit on 12 features: 36 encodings in 12 columns, then
    # the entangler and the rotations; unfolded it is far wider than the limit below.
    layer = preset_circuit("dense", 3, 1, n_features=12).circuit
    path = save_figure(circuit_figure(layer, fold=8, max_pixels=900), tmp_path / "layer.png")
    width, height = Image.open(path).size
    assert width <= 900
    assert height > width / 2  # folded into rows, not squeezed onto one
