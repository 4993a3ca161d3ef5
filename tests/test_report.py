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
    from qmnist_qiskit import speed

    monkeypatch.setattr(speed, "engine_timings", lambda: TIMINGS)
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
