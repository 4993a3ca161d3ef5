from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from qmnist_qiskit import QuantumMNISTClassifier, cli, cli_options, load_mnist
from qmnist_qiskit.cli import build_parser, main
from qmnist_qiskit.data.source import stratified_subset
from qmnist_qiskit.train_run import TRAIN_OUTPUTS


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


def test_python_dash_m_runs_the_same_cli(children):
    status, out, _ = children.run([sys.executable, "-m", "qmnist_qiskit", "--help"], text=True)
    assert status == 0 and "gradcheck" in out


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


def _one_error_line(captured) -> str:
    """The only line on stderr, which must be an error of ours (no traceback)."""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.err.endswith("\n"), captured.err
    assert lines[0].startswith("qmnist") and ": error: " in lines[0], lines[0]
    return lines[0]


def test_errors_exit_with_status_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no such model file" in _one_error_line(capsys.readouterr())
    assert main(["train", "--output", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert "train-images-idx3-ubyte" in _one_error_line(capsys.readouterr())
    assert main(["train", "--engine", "qasm"]) == 2
    assert "invalid choice: 'qasm'" in _one_error_line(capsys.readouterr())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["train", "--n-train", "0"], "argument --n-train: expected a positive integer"),
        (["train", "--n-test", "-1"], "argument --n-test: expected a positive integer"),
        (["train", "--n-qubits", "1e3"], "argument --n-qubits: expected a positive integer"),
        (["train", "--batch-size", "-8"], "argument --batch-size: expected a positive integer"),
        (["train", "--max-samples", "0"], "--max-samples: expected a positive integer or 'none'"),
        (["train", "--learning-rate", "nan"], "--learning-rate: expected a positive finite"),
        (["train", "--learning-rate=-inf"], "--learning-rate: expected a positive finite"),
        (["train", "--learning-rate", "0"], "--learning-rate: expected a positive finite"),
        (["train", "--random-state", "-1"], "--random-state: expected an integer from 0 to"),
        (["train", "--random-state", str(2**32)], "--random-state: expected an integer from 0"),
        (["train", "--shots", "0"], "argument --shots: expected a positive integer"),
        (["train", "--engine-seed", "x"], "argument --engine-seed: expected an integer"),
        (["train", "--n-train", "9" * 5000], "argument --n-train: expected a positive integer"),
        (["train", "--n-train", "1\n2"], "got '1\\n2'"),
        (["train", "--encoder", "qasm"], "argument --encoder: invalid choice: 'qasm'"),
        (["search", "--cv", "1"], "argument --cv: expected an integer >= 2, got '1'"),
        (["search", "--n-jobs", "0"], "argument --n-jobs: expected a non-zero integer"),
        (["benchmark", "--batch-size", "0"], "argument --batch-size: expected a positive"),
        (["benchmark", "--repeats", "0"], "argument --repeats: expected a positive integer"),
        (["benchmark", "--n-qubits", "-2"], "argument --n-qubits: expected a positive integer"),
        (["gradcheck", "--shots", "0"], "argument --shots: expected an integer >= 2"),
        (["gradcheck", "--shots", "1"], "argument --shots: expected an integer >= 2, got '1'"),
        (["gradcheck", "--seed", "-3"], "argument --seed: expected an integer from 0 to"),
        (["report", "x", "--n-test", "0"], "argument --n-test: expected a positive integer"),
        (["--threads", "-1", "train"], "argument --threads: expected an integer from 0 to"),
        (["--threads", "100000", "train"], "argument --threads: expected an integer from 0 to"),
        (["train", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_option_values_are_one_line_before_any_work(tmp_path, capsys, arguments, message):
    status = main(arguments)
    captured = capsys.readouterr()
    assert status == 2
    assert message in _one_error_line(captured)
    # Nothing ran: train and search print before they load data.
    assert captured.out == ""


def test_help_exits_0(capsys):
    assert main(["train", "--help"]) == 0
    assert "--n-qubits" in capsys.readouterr().out


def test_cli_defaults_are_the_estimators():
    for command in ("train", "search"):
        args = build_parser().parse_args([command])
        built = cli_options.classifier_from_args(args).get_params(deep=False)
        expected = QuantumMNISTClassifier().get_params(deep=False)
        # On purpose: a seeded run that repeats, and progress bars unless --quiet.
        assert built == expected | {"random_state": cli_options.DEFAULT_RANDOM_STATE, "verbose": 1}
    args = build_parser().parse_args(["train"])
    assert args.threads == QuantumMNISTClassifier().n_threads


def _spy(calls: list, returns, **defaults):
    """A stand-in that records its keyword arguments and shows ``defaults`` as its signature."""
    import inspect

    def spy(*args, **kwargs):
        assert not args, "called with positional arguments"
        calls.append(kwargs)
        return returns

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    spy.__signature__ = inspect.Signature(
        [inspect.Parameter(name, keyword, default=value) for name, value in defaults.items()]
    )
    return spy


def test_gradcheck_and_benchmark_run_with_their_functions_defaults(monkeypatch, capsys):
    import qmnist_qiskit.gradcheck
    import qmnist_qiskit.speed

    # Stand-ins with defaults no real function has: the commands must pass exactly these.
    checked = {"preset": "reupload", "n_qubits": 3, "reps": 5, "batch_size": 7, "seed": 11}
    checked["shots"] = 13
    timed = {"n_qubits": 4, "batch_size": 6, "engines": None, "repeats": 8, "seed": 12}
    calls = {"gradcheck": [], "benchmark": []}
    report = type("Report", (), {"ok": True, "to_text": lambda self: "gradcheck table"})()
    gradcheck = _spy(calls["gradcheck"], report, **checked)
    timings = _spy(calls["benchmark"], [], **timed, shots=17)
    for module, name, spy in (
        (cli, "gradcheck", gradcheck),
        (qmnist_qiskit.gradcheck, "gradcheck", gradcheck),
        (cli, "engine_timings", timings),
        (qmnist_qiskit.speed, "engine_timings", timings),
    ):
        monkeypatch.setattr(module, name, spy)
    assert main(["gradcheck"]) == 0
    assert main(["benchmark"]) == 0
    assert calls == {"gradcheck": [checked | {"backend": None}], "benchmark": [timed]}
    assert "gradcheck table" in capsys.readouterr().out


def test_changing_an_estimator_default_changes_the_cli(monkeypatch):
    changed = {
        "n_qubits": 6,
        "reps": 5,
        "learning_rate": 0.3,
        "max_samples": None,
        "fine_tune": False,
        "early_stopping": True,
        "optimizer": "sgd",
        "engine": "aer",
        "batch_size": 32,
    }
    init = QuantumMNISTClassifier.__init__
    monkeypatch.setattr(init, "__kwdefaults__", init.__kwdefaults__ | changed)
    monkeypatch.setattr(init, "__defaults__", ("pca",))
    params = cli_options.classifier_from_args(build_parser().parse_args(["train"])).get_params(
        deep=False
    )
    assert {name: params[name] for name in changed} == changed
    assert params["encoder"] == "pca"
    args = build_parser().parse_args(["train", "--no-early-stopping", "--encoder", "none"])
    params = cli_options.classifier_from_args(args).get_params(deep=False)
    assert params["early_stopping"] is False and params["encoder"] is None


def test_cli_choices_are_the_packages():
    from qmnist_qiskit.circuits import ENTANGLEMENTS, PRESETS
    from qmnist_qiskit.engines import ENGINES
    from qmnist_qiskit.readout import READOUTS
    from qmnist_qiskit.training import LR_SCHEDULES, OPTIMIZERS

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: action.choices for action in train._actions if action.choices}
    assert choices["ansatz"] == PRESETS and choices["entanglement"] == ENTANGLEMENTS
    assert choices["readout"] == READOUTS and choices["lr_schedule"] == LR_SCHEDULES
    assert choices["optimizer"] == tuple(OPTIMIZERS) and choices["engine"] == ENGINES
    assert choices["encoder"] == ("autoencoder", "pca", "none")
    assert choices["fine_tune"] == ("auto", "true", "false")


TINY = ["--n-train", "40", "--n-test", "20", "--epochs", "1", "--encoder", "pca"]
TINY += ["--n-qubits", "2", "--reps", "1", "--quiet"]


def test_engine_options_are_checked_before_loading_data(tmp_path, capsys):
    missing = tmp_path / "no-data"
    status = main(
        ["train", "--output", str(tmp_path / "run"), "--shots", "100"]
        + ["--data-dir", str(missing), *TINY]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert "unknown option 'shots' for engine 'statevector'" in _one_error_line(captured)
    assert captured.out == "" and not (tmp_path / "run").exists()


def test_an_oversized_circuit_is_reported_before_loading_data(tmp_path, capsys):
    missing = tmp_path / "no-data"
    status = main(
        ["train", "--output", str(tmp_path / "run"), "--reps", "5000", "--data-dir", str(missing)]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert "gates" in _one_error_line(captured) and "at most 50,000" in captured.err
    assert captured.out == "" and not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_reported_before_loading_data(tmp_path, capsys):
    missing = tmp_path / "no-data"
    status = main(
        ["train", "--output", str(tmp_path / "run"), "--device", "cuda"]
        + ["--data-dir", str(missing), *TINY]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert "torch sees no CUDA GPU" in _one_error_line(captured)
    assert captured.out == "" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["file", "under-a-file", "model-is-a-directory"])
def test_output_is_checked_before_loading_data(tmp_path, capsys, where):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    output = {"file": a_file, "under-a-file": a_file / "run", "model-is-a-directory": tmp_path}
    output = output[where]
    (tmp_path / "model.safetensors").mkdir()
    before = sorted(tmp_path.rglob("*"))
    # A missing data directory: had the data been loaded first, that would be the error.
    status = main(["train", "--output", str(output), "--data-dir", str(tmp_path / "no-data")])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    line = _one_error_line(captured)
    assert {
        "file": f"cannot write to {a_file}: it is a file",
        "under-a-file": f"cannot create {a_file / 'run'}: {a_file} is not a directory",
        "model-is-a-directory": f"{tmp_path / 'model.safetensors'}: it is a directory",
    }[where] in line
    assert sorted(tmp_path.rglob("*")) == before and a_file.read_text() == "keep me"


def test_output_directory_is_created_only_with_results(tmp_path, capsys):
    output = tmp_path / "new" / "run"
    assert main(["train", "--output", str(output), "--n-train", "0x10"]) == 2
    assert not (tmp_path / "new").exists()
    assert main(["train", "--output", str(output), *TINY]) == 0
    assert sorted(path.name for path in output.iterdir()) == sorted(TRAIN_OUTPUTS)
    assert capsys.readouterr().err.count("\n") == 1


def test_an_internal_error_is_one_line_with_status_1_or_a_traceback_with_debug(capsys, monkeypatch):
    from qmnist_qiskit import speed

    def divide(rows):
        return 1 / 0

    # The failure is injected after the timing: the parser reads engine_timings' defaults.
    monkeypatch.setattr(speed, "timings_table", divide)
    quick = ["benchmark", "--engines", "statevector", "--n-qubits", "2", "--repeats", "1"]
    assert main(quick) == 1
    line = _one_error_line(capsys.readouterr())
    assert line == "qmnist: error: internal error (ZeroDivisionError): division by zero"
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *quick])
    monkeypatch.setenv("QMNIST_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(quick)


def test_warnings_are_one_line(tmp_path, capsys):
    status = main(["train", "--output", str(tmp_path), *TINY, "--engine", "aer", "--shots", "64"])
    assert status == 0
    err = capsys.readouterr().err
    assert err.startswith("qmnist: warning: engine 'aer' runs with shots=64")
    assert err.count("\n") == 1


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
        (["--plot", "{tmp}/missing/chart.png"], "missing does not exist"),
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
    import functools

    from qmnist_qiskit import speed

    # With the real signature: the parser reads the benchmark's defaults from it.
    @functools.wraps(speed.engine_timings)
    def nothing_runs(**_):
        return [speed.EngineTiming("aer", error="ImportError: no qiskit_aer")]

    monkeypatch.setattr(cli, "engine_timings", nothing_runs)
    assert main(["benchmark", "--plot", str(tmp_path / "chart.png")]) == 2
    error = capsys.readouterr().err
    assert "no engine ran" in error and error.count("\n") == 1


# -- a model that cannot be written, and Ctrl-C at every stage ----------------------------------
@pytest.fixture
def fitted(monkeypatch):
    """The classifiers that `fit` is called on, in order, kept for the test to compare."""
    seen = []
    fit = QuantumMNISTClassifier.fit

    def recording_fit(self, X, y):
        seen.append(self)
        return fit(self, X, y)

    monkeypatch.setattr(QuantumMNISTClassifier, "fit", recording_fit)
    return seen


def _leftovers(folder) -> list:
    """Temporary files of an interrupted or failed write."""
    return [path for path in folder.rglob("*") if "partial" in path.name]


def test_a_model_that_cannot_be_written_is_saved_elsewhere(tmp_path, capsys, monkeypatch, fitted):
    output = tmp_path / "run"
    spare = tmp_path / "system-temp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    fit = QuantumMNISTClassifier.fit

    def fit_then_block_the_model_path(self, X, y):
        # After the output check passed: the model's path becomes a directory.
        (output / "model.safetensors").mkdir(parents=True)
        return fit(self, X, y)

    monkeypatch.setattr(QuantumMNISTClassifier, "fit", fit_then_block_the_model_path)
    status = main(["train", "--output", str(output), *TINY])
    captured = capsys.readouterr()
    assert status == 2
    line = _one_error_line(captured)
    assert f"cannot save the trained model to {output / 'model.safetensors'}" in line
    rescued = Path(re.search(r"the trained model was saved to (\S+) instead$", line)[1])
    assert rescued.parent.parent == spare and rescued.name == "model.safetensors"
    X_test, _ = load_mnist(subset="test")
    (classifier,) = fitted
    np.testing.assert_array_equal(
        QuantumMNISTClassifier.load(rescued).predict(X_test), classifier.predict(X_test)
    )
    assert (output / "model.safetensors").is_dir() and not list(output.glob("*.json"))
    assert not _leftovers(tmp_path)


@pytest.fixture
def python_sigint():
    """Ctrl-C handled as in a plain Python process, for the test (an earlier test in the same
    worker may have left SIGINT ignored; see test_classifier's Ctrl-C test)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _ctrl_c_in(monkeypatch, owner, name: str, *, after: int = 0, when=lambda *a, **k: True):
    """Ctrl-C (a real SIGINT) on the first call of ``owner.name`` after ``after`` calls for
    which ``when(*args)`` holds; the real function runs otherwise."""
    real = getattr(owner, name)
    calls = []

    def interrupted(*args, **kwargs):
        if when(*args, **kwargs):
            calls.append(args)
            if len(calls) == after + 1:
                signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)


def _interrupted_line(captured) -> None:
    assert captured.err == "qmnist: interrupted\n", captured.err


@pytest.mark.parametrize("stage", ["loading", "building the circuit"])
def test_ctrl_c_before_training_writes_nothing(tmp_path, capsys, monkeypatch, python_sigint, stage):
    from qmnist_qiskit import classifier, data

    if stage == "loading":
        _ctrl_c_in(monkeypatch, data, "load_mnist")
    else:
        _ctrl_c_in(monkeypatch, classifier, "make_qnn")
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), *TINY]) == 130
    captured = capsys.readouterr()
    _interrupted_line(captured)
    assert captured.out == ("" if stage == "loading" else "training on 40 images, testing on 20\n")
    assert not output.exists()


def test_ctrl_c_in_training_writes_the_model_as_trained_so_far(
    tmp_path, capsys, monkeypatch, python_sigint, fitted
):
    from qmnist_qiskit import training

    # Ctrl-C at the 7th mini-batch of 8 images: in the second epoch of 5 batches.
    _ctrl_c_in(monkeypatch, training, "_step", after=6)
    output = tmp_path / "run"
    status = main(["train", "--output", str(output), *TINY, "--batch-size", "8", "--epochs", "50"])
    captured = capsys.readouterr()
    assert status == 130
    _interrupted_line(captured)
    assert (
        "training interrupted after 1 epoch(s): saving the model as trained so far" in captured.out
    )
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs"] == 1
    assert len(json.loads((output / "history.json").read_text())) == 1
    assert (output / "loss_curve.png").read_bytes().startswith(PNG_MAGIC)
    (classifier,) = fitted
    assert classifier.interrupted_
    X_test, y_test = load_mnist(subset="test")
    saved = QuantumMNISTClassifier.load(output / "model.safetensors")
    np.testing.assert_array_equal(saved.predict(X_test), classifier.predict(X_test))
    assert not _leftovers(tmp_path)


def _complete(path) -> bool:
    if path.name.endswith(".json"):
        json.loads(path.read_text())
    elif path.suffix == ".png":
        import matplotlib.image

        matplotlib.image.imread(path)
    else:
        QuantumMNISTClassifier.load(path)
    return True


@pytest.mark.parametrize("stage", range(len(TRAIN_OUTPUTS)), ids=TRAIN_OUTPUTS)
def test_a_second_ctrl_c_while_writing_leaves_outputs_complete_or_absent(
    tmp_path, capsys, monkeypatch, python_sigint, stage
):
    import os

    from qmnist_qiskit import training

    output = tmp_path / "run"
    _ctrl_c_in(monkeypatch, training, "_step", after=6)
    name = TRAIN_OUTPUTS[stage]
    # The moment a complete temporary file would be renamed onto the output.
    _ctrl_c_in(monkeypatch, os, "replace", when=lambda source, target: Path(target).name == name)
    args = ["train", "--output", str(output), *TINY, "--batch-size", "8", "--epochs", "50"]
    assert main(args) == 130
    captured = capsys.readouterr()
    _interrupted_line(captured)
    assert "training interrupted after 1 epoch(s)" in captured.out
    for before in TRAIN_OUTPUTS[:stage]:
        assert _complete(output / before)
    for after in TRAIN_OUTPUTS[stage:]:
        assert not (output / after).exists()
    assert not _leftovers(tmp_path)


def test_ctrl_c_stops_a_whole_search(tmp_path, capsys, monkeypatch, python_sigint):
    from qmnist_qiskit import training

    # In the first fit: without more, the fit would take it as "stop training" and the
    # search would go on with the next.
    _ctrl_c_in(monkeypatch, training, "_step")
    output = tmp_path / "search"
    arguments = ["search", "--output", str(output), "--n-train", "40", "--epochs", "1"]
    arguments += ["--encoder", "pca", "--n-qubits", "2", "--cv", "2", "--param", "reps=1,2"]
    assert main(arguments) == 130
    captured = capsys.readouterr()
    _interrupted_line(captured)
    assert "candidates" in captured.out and "best parameters" not in captured.out
    assert not output.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _run_until(children, arguments, cwd, ready: str, timeout: float = 120):
    """Run ``python -m qmnist_qiskit ARGUMENTS``, send it SIGINT once ``ready`` shows on its
    stderr (a progress bar), and return what it wrote. Every wait is bounded by ``timeout``
    seconds: a child that never gets ready, or does not end after the SIGINT, is killed and
    the test fails."""
    process = children.start(
        [sys.executable, "-m", "qmnist_qiskit", *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = {"out": bytearray(), "err": bytearray()}

    def read(stream, into: bytearray) -> None:
        while chunk := stream.read1(4096):
            into.extend(chunk)

    readers = [
        threading.Thread(target=read, args=(process.stdout, seen["out"]), daemon=True),
        threading.Thread(target=read, args=(process.stderr, seen["err"]), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    while ready.encode() not in seen["err"] and process.poll() is None:
        if time.monotonic() > deadline:
            children.kill(process)
            pytest.fail(f"{ready!r} not on stderr after {timeout} s: {bytes(seen['err'][-1500:])}")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        children.kill(process)
        pytest.fail(f"still running {timeout} s after SIGINT: {bytes(seen['err'][-1500:])}")
    for reader in readers:
        # The pipes close when the child exits (its process group is ours to kill).
        reader.join(timeout=30)
        assert not reader.is_alive(), "a pipe stayed open after the child exited"
    return subprocess.CompletedProcess(
        arguments, process.returncode, seen["out"].decode(), seen["err"].decode()
    )


def _last_line(stderr: str) -> str:
    """The last line of stderr, progress bars (redrawn with carriage returns) aside."""
    return re.split(r"[\r\n]+", stderr.strip())[-1]


# With SIGINT ignored here, as when pytest runs in the background: the child must still take
# Ctrl-C (it used to inherit "ignore", and the test waited on it for as long as it trained).
@pytest.mark.usefixtures("sigint_ignored")
def test_ctrl_c_in_a_real_process_during_training(tmp_path, children):
    output = tmp_path / "run"
    arguments = ["train", "--output", str(output), "--n-train", "400", "--n-test", "100"]
    arguments += ["--encoder", "pca", "--n-qubits", "4", "--reps", "1", "--batch-size", "8"]
    arguments += ["--epochs", "10000", "--max-samples", "none"]
    # The bar's postfix shows from the first mini-batch on: training has begun.
    result = _run_until(children, arguments, tmp_path, "epoch=")
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("qmnist:") == 1
    assert _last_line(result.stderr) == "qmnist: interrupted"
    assert "training interrupted after" in result.stdout
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert len(json.loads((output / "history.json").read_text())) == metrics["epochs"]
    # The model saved is usable, and the one that was scored (same stratified 100 images).
    X_test, y_test = stratified_subset(*load_mnist(subset="test"), 100, 0)
    saved = QuantumMNISTClassifier.load(output / "model.safetensors")
    assert saved.score(X_test, y_test) == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert not _leftovers(tmp_path)


@pytest.mark.usefixtures("sigint_ignored")
def test_ctrl_c_in_a_real_process_while_the_autoencoder_trains(tmp_path, children):
    output = tmp_path / "run"
    arguments = ["train", "--output", str(output), "--encoder", "autoencoder"]
    arguments += ["--n-qubits", "4", "--reps", "1", "--epochs", "1"]
    result = _run_until(children, arguments, tmp_path, "autoencoder:")
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("qmnist:") == 1
    assert _last_line(result.stderr) == "qmnist: interrupted"
    assert result.stdout == "training on 4000 images, testing on 1000\n"
    assert not output.exists()
