from __future__ import annotations

import pytest

from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.cli import main
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.persistence import MODEL_FILE
from qmnist_qiskit.plots import engine_speed_chart, save_figure
from qmnist_qiskit.report import ENGINE_SPEED_FILE, write_report
from qmnist_qiskit.speed import EngineTiming

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMINGS = [
    EngineTiming("statevector", 0.05, 0.0),
    EngineTiming("aer", 1.5, 1e-15),
    EngineTiming("pennylane/default.qubit", error="ImportError: not installed"),
]


@pytest.fixture(scope="module")
def data():
    X, y = load_mnist(subset="train")
    return X[:120], y[:120]


@pytest.fixture
def model_dir(tmp_path, data):
    X, y = data
    classifier = QuantumMNISTClassifier(encoder="pca", n_qubits=4, reps=1, epochs=1)
    classifier.fit(X, y).save(tmp_path / MODEL_FILE)
    return tmp_path


def test_report_without_a_chart_has_no_engine_speed_section(model_dir, data):
    report = write_report(model_dir, *data).read_text()
    assert "Engine speed" not in report and not (model_dir / ENGINE_SPEED_FILE).exists()


def test_report_embeds_the_chart_that_benchmark_plot_wrote(model_dir, data):
    save_figure(engine_speed_chart({"statevector": 0.05}), model_dir / ENGINE_SPEED_FILE)
    report = write_report(model_dir, *data).read_text()
    assert "## Engine speed" in report and f"]({ENGINE_SPEED_FILE})" in report


def test_report_draws_and_tables_the_timings_it_is_given(model_dir, data):
    report = write_report(model_dir, *data, engine_timings=TIMINGS).read_text()
    assert f"]({ENGINE_SPEED_FILE})" in report
    assert "statevector" in report and "skipped" in report
    assert (model_dir / ENGINE_SPEED_FILE).read_bytes().startswith(PNG_MAGIC)


def test_report_benchmark_option_runs_the_benchmark(model_dir, monkeypatch, capsys):
    import functools

    from qmnist_qiskit import cli

    # With the real signature: the parser reads the benchmark's defaults from it.
    timings = functools.wraps(cli.engine_timings)(lambda **_: TIMINGS)
    monkeypatch.setattr(cli, "engine_timings", timings)
    assert main(["report", str(model_dir), "--n-test", "100", "--benchmark"]) == 0
    assert "## Engine speed" in (model_dir / "report.md").read_text()
    assert (model_dir / ENGINE_SPEED_FILE).read_bytes().startswith(PNG_MAGIC)


def test_report_is_whole_or_not_at_all(model_dir, data):
    (model_dir / "report.md").mkdir()
    with pytest.raises(QMNISTError, match=f"cannot write {model_dir / 'report.md'}: it is a dir"):
        write_report(model_dir, *data)
    assert not [path for path in model_dir.rglob("*") if "partial" in path.name]


def test_report_command_checks_its_outputs_before_loading_data(model_dir, capsys):
    (model_dir / "circuit.png").mkdir()
    missing = model_dir / "no-data"
    assert main(["report", str(model_dir), "--data-dir", str(missing)]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err
        == f"qmnist: error: cannot write {model_dir / 'circuit.png'}: it is a directory\n"
    )
    assert sorted(path.name for path in model_dir.iterdir()) == ["circuit.png", MODEL_FILE]


FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


@pytest.fixture(scope="module")
def layered_model_dir(tmp_path_factory, data):
    """A re-uploading model of 3 layers with a validation split (early stopping)."""
    X, y = data
    path = tmp_path_factory.mktemp("layered")
    classifier = QuantumMNISTClassifier(
        encoder="pca",
        n_qubits=4,
        reps=3,
        ansatz="reupload",
        epochs=2,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    )
    classifier.fit(X, y).save(path / MODEL_FILE)
    return path


def test_report_draws_one_layer_times_the_repetitions_within_the_width(layered_model_dir, data):
    from PIL import Image

    from qmnist_qiskit.report import drawn_layer

    classifier = QuantumMNISTClassifier.load(layered_model_dir / MODEL_FILE)
    layer, repetitions = drawn_layer(classifier)
    assert repetitions == 3
    assert layer.num_qubits == 4
    assert sum(layer.count_ops().values()) * 3 == sum(
        classifier.circuit_.circuit.count_ops().values()
    )
    report = write_report(layered_model_dir, *data).read_text()
    assert "One layer of 3: the circuit repeats it 3 times" in report
    width, _ = Image.open(layered_model_dir / "circuit.png").size
    assert width <= 2000


def test_report_history_is_a_table_with_validation(layered_model_dir, data):
    from PIL import Image

    report = write_report(layered_model_dir, *data).read_text()
    assert "```json" not in report
    header = (
        "| epoch | training loss | training accuracy | validation loss | validation accuracy "
        "| seconds |"
    )
    assert header in report
    assert "\n| 1 | " in report and "\n| 2 | " in report
    assert "Training and validation" in report
    width, height = Image.open(layered_model_dir / "training_curves.png").size
    assert width <= 2000 and height <= 1000


def test_report_without_a_validation_split_says_so(model_dir, data):
    from qmnist_qiskit.report import drawn_layer

    report = write_report(model_dir, *data).read_text()
    assert "held out no validation split" in report
    assert "The whole circuit." in report  # reps=1: nothing repeats
    classifier = QuantumMNISTClassifier.load(model_dir / MODEL_FILE)
    assert drawn_layer(classifier)[1] == 1


def test_report_names_the_classes(model_dir, data):
    from PIL import Image

    report = write_report(model_dir, *data, class_names=FASHION_NAMES).read_text()
    assert "| 1 | Trouser |" in report and "| 9 | Ankle boot |" in report
    width, height = Image.open(model_dir / "confusion_matrix.png").size
    assert width <= 2000 and height <= 2000


def test_report_takes_the_class_names_that_train_kept(model_dir, data):
    import json

    (model_dir / "metrics.json").write_text(json.dumps({"class_names": FASHION_NAMES}))
    assert "| 0 | T-shirt/top |" in write_report(model_dir, *data).read_text()
    (model_dir / "metrics.json").write_text(json.dumps({"class_names": None}))
    assert "| 0 | 0 |" in write_report(model_dir, *data).read_text()


def test_history_table_formats_and_keeps_unknown_keys():
    from qmnist_qiskit.report import history_table

    table = history_table([{"epoch": 1, "loss": 2.0, "accuracy": 0.5, "seconds": 1.25, "lr": 0.1}])
    assert table.splitlines() == [
        "| epoch | training loss | training accuracy | seconds | lr |",
        "|---|---|---|---|---|",
        "| 1 | 2.0000 | 0.5000 | 1.2 | 0.1 |",
    ]
    assert history_table([]) == "No epoch was completed."
