from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.cli import build_parser, main


def test_help_documents_every_option():
    parser = build_parser()
    help_text = parser.format_help()
    for command in ("train", "evaluate", "gradcheck", "benchmark", "report"):
        assert command in help_text
    subparsers = parser._subparsers._group_actions[0].choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} --{action.dest} has no help"


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run(
        [sys.executable, "-m", "qmnist_qiskit", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "gradcheck" in result.stdout


def test_train_evaluate_report(tmp_path, capsys):
    output = tmp_path / "run"
    status = main(
        [
            "train",
            "--output",
            str(output),
            "--n-train",
            "300",
            "--n-test",
            "100",
            "--n-qubits",
            "4",
            "--reps",
            "1",
            "--epochs",
            "2",
            "--quiet",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "train accuracy" in printed and "test accuracy" in printed
    for name in ("model.safetensors", "metrics.json", "history.json", "loss_curve.png"):
        assert (output / name).is_file()
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n_train"] == 300 and metrics["n_test"] == 100
    assert 0 <= metrics["test_accuracy"] <= 1
    assert len(json.loads((output / "history.json").read_text())) == 2

    assert main(["evaluate", str(output), "--subset", "test"]) == 0
    accuracy = float(capsys.readouterr().out.split(":")[-1])
    X_test, y_test = load_mnist(subset="test")
    expected = QuantumMNISTClassifier.load(output / "model.safetensors").score(X_test, y_test)
    assert accuracy == pytest.approx(expected, abs=1e-4)

    assert main(["report", str(output), "--n-test", "100"]) == 0
    report = (output / "report.md").read_text()
    assert "Test accuracy" in report
    for name in ("training_curves.png", "confusion_matrix.png", "circuit.png"):
        assert (output / name).stat().st_size > 1000


def test_errors_exit_with_status_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["train", "--output", str(tmp_path), "--epochs", "0"]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    assert main(["train", "--output", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--engine", "qasm"])


def test_benchmark_prints_a_table(capsys):
    assert (
        main(
            [
                "benchmark",
                "--n-qubits",
                "4",
                "--batch-size",
                "8",
                "--repeats",
                "1",
                "--engines",
                "statevector,aer",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ms / image" in out and "skipped" not in out
    # Each engine has a row with a measured time, not a skip or an error.
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    for engine in ("statevector", "aer"):
        assert float(rows[engine][0].replace(",", "")) > 0


@pytest.mark.parametrize(
    "threads, n_threads", [([], 1), (["--threads", "2"], 2), (["--threads", "0"], None)]
)
def test_threads_feed_n_threads_and_leave_torch_alone(
    tmp_path, capsys, monkeypatch, threads, n_threads
):
    import torch

    from qmnist_qiskit import classifier

    seen = {}

    def stop(self, X, y):
        seen.update(n_threads=self.n_threads, inside=torch.get_num_threads())
        raise ValueError("stopped before training")

    monkeypatch.setattr(classifier.QuantumMNISTClassifier, "fit", stop)
    before = torch.get_num_threads()
    assert main([*threads, "train", "--output", str(tmp_path), "--n-train", "40", "--quiet"]) == 2
    assert "stopped before training" in capsys.readouterr().err
    assert seen["n_threads"] == n_threads
    assert seen["inside"] == (before if n_threads is None else n_threads)
    assert torch.get_num_threads() == before


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_benchmark_plot_writes_the_engine_speed_chart(tmp_path, capsys):
    chart = tmp_path / "engine_speed.png"
    options = ["--n-qubits", "4", "--batch-size", "8", "--repeats", "1"]
    status = main(["benchmark", *options, "--engines", "statevector,aer", "--plot", str(chart)])
    assert status == 0
    assert f"wrote {chart}" in capsys.readouterr().out
    assert chart.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--plot", "{tmp}/missing/chart.png"], "no such directory"),
        (["--engines", "qasm", "--plot", "{tmp}/chart.png"], "unknown engines"),
    ],
)
def test_benchmark_plot_errors_are_one_line(tmp_path, capsys, arguments, message):
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    assert main(["benchmark", "--n-qubits", "4", "--repeats", "1", *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not list(tmp_path.rglob("*.png"))


def test_benchmark_plot_without_a_timed_engine_is_one_line(tmp_path, capsys, monkeypatch):
    from qmnist_qiskit import speed

    def nothing_runs(**_):
        return [speed.EngineTiming("aer", error="ImportError: no qiskit_aer")]

    monkeypatch.setattr(speed, "engine_timings", nothing_runs)
    assert main(["benchmark", "--plot", str(tmp_path / "chart.png")]) == 2
    error = capsys.readouterr().err
    assert "no engine ran" in error and error.count("\n") == 1
