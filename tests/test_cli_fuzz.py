"""Property-based tests of the command line: random option values (numbers, 0, negatives, huge
values, NaN and infinity, random text) end in exit status 0, or in status 2 with exactly one
error line on stderr, warnings aside, and never a traceback. Status 1, the CLI's "internal
error" (an exception it did not expect), fails the test.

Each example changes one option of a tiny, valid command (40 images, 2 qubits, 1 epoch), so
that most values are refused by the parser or the estimator's checks and the rest run real
work in well under a second. Valid values that only mean long work (hundreds of layers, a
process pool, a 20-qubit circuit, the PennyLane engine) are left out: they would test patience,
not error handling.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.cli import main
from qmnist_qiskit.persistence import MODEL_FILE

NUMBERS = [
    "0", "-1", "1", "2", "3", "-0", "0.5", "1e3", "1_000", "0x10", " 7 ", "nan", "NaN", "inf",
    "-inf", "none", "None", "true", "", " ", "9" * 30, "9" * 5000, str(2**31), str(2**32),
    str(2**63), str(2**64), str(-(2**63)),
]  # fmt: skip
values = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(-5, 5).map(str),
    st.integers().map(str),
    st.floats().map(repr),
    st.text(max_size=12),
)


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _above(limit: int):
    """Valid but long: integers above ``limit``."""
    return lambda text: (_integer(text) or 0) > limit


def _never(text: str) -> bool:
    return False


def _options(table: dict):
    """``(option, value)`` with a value from ``values`` or the option's own words, leaving
    out the values that would only mean long work."""
    return st.sampled_from(sorted(table)).flatmap(
        lambda option: st.tuples(
            st.just(option),
            st.one_of(values, st.sampled_from(table[option][1])).filter(
                lambda value: not table[option][0](value)
            ),
        )
    )


def _ends_well(status: int, err: str, *, disagreement: bool = False) -> str:
    """Exit 0, or exit 2 with one error line of ours after any warnings; never a traceback
    and never exit 1, the CLI's "internal error" for an exception it did not expect (only
    ``disagreement=True``, for gradcheck, lets exit 1 say that the engines' gradients
    differ)."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    lines = err.splitlines()
    assert all(line.startswith("qmnist") for line in lines), err
    warnings = [line for line in lines if line.startswith("qmnist: warning: ")]
    errors = [line for line in lines if line not in warnings]
    if status == 0:
        assert errors == [], err
        return "exit 0"
    if status == 1:
        assert disagreement and "gradients disagree" in err, err
    else:
        assert status == 2, (status, err)
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert ": error: " in errors[0], err
    # The kind of error, without the values, for the statistics.
    return f"exit {status}: " + re.sub(r"'.*|\d+|/\S*", "", errors[0])[:60]


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The global --threads now and then (one example in four), so that it does not drown the rest.
THREADS = st.one_of(
    st.just([]), st.just([]), st.just([]), values.map(lambda value: ["--threads", value])
)

TRAIN = {
    "--n-train": (_never, ["40", "4000"]),
    "--n-test": (_never, ["1000"]),
    "--epochs": (_never, ["2"]),
    "--max-samples": (_never, ["40"]),
    "--n-qubits": (lambda text: 5 <= (_integer(text) or 0) <= 20, ["3"]),
    # Up to 50,000 gates are built (about 3,800 layers here), beyond that refused at once.
    "--reps": (lambda text: 4 < (_integer(text) or 0) <= 4000, ["2", "5000"]),
    "--n-features": (_never, ["40"]),
    "--batch-size": (_never, ["7"]),
    "--learning-rate": (_never, ["1e300", "1e-300", "5e-324"]),
    "--random-state": (_never, ["4294967295"]),
    "--shots": (_never, ["100"]),
    "--engine-seed": (_never, ["7"]),
    "--device": (_never, ["cpu", "cuda", "meta", "cpu:1"]),
    "--output": (_never, [".", "out/../out", "-", "a\nb"]),
    "--data-dir": (_never, [".", "/"]),
    "--encoder": (_never, ["autoencoder", "pca", "none"]),
    # The PennyLane engine is valid but slow: seconds per fit.
    "--engine": (lambda text: text == "pennylane", ["aer", "statevector"]),
    "--ansatz": (_never, ["seed", "layered", "reupload", "dense"]),
    "--entanglement": (_never, ["circular", "full"]),
    "--readout": (_never, ["scale", "linear"]),
    "--fine-tune": (_never, ["true", "false"]),
    "--lr-schedule": (_never, ["constant"]),
    "--optimizer": (_never, ["sgd", "rmsprop"]),
}
TINY_TRAIN = ["--n-train", "40", "--n-test", "20", "--epochs", "1", "--max-samples", "80"]
TINY_TRAIN += ["--encoder", "pca", "--n-qubits", "2", "--reps", "1", "--quiet"]


@settings(SETTINGS, max_examples=60)
@given(option=_options(TRAIN), threads=THREADS)
def test_train_options(tmp_path, monkeypatch, capsys, option, threads):
    monkeypatch.chdir(tmp_path)
    status = main([*threads, "train", "--output", "run", *TINY_TRAIN, *option])
    event(_ends_well(status, capsys.readouterr().err))


SEARCH = {
    "--cv": (_never, ["2", "4", "5"]),
    # Other values start a process pool: seconds of start-up, not error handling.
    "--n-jobs": (lambda text: _integer(text) not in (None, 0, 1), ["1"]),
    "--param": (
        _never,
        ["learning_rate=0.1,0.2", "reps=0", "nope=1", "reps=", "=1", "reps=1,,2", "reps=x"],
    ),
}


@settings(SETTINGS, max_examples=25)
@given(option=_options(SEARCH))
def test_search_options(tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    tiny = ["--n-train", "40", "--epochs", "1", "--encoder", "pca", "--n-qubits", "2", "--quiet"]
    arguments = ["search", "--output", "search", *tiny, "--cv", "2"]
    if option[0] != "--param":
        arguments += ["--param", "reps=1"]
    status = main([*arguments, *option])
    event(_ends_well(status, capsys.readouterr().err))


GRADCHECK = {
    "--n-qubits": (_above(3), ["3"]),
    "--reps": (_above(2), ["2"]),
    "--batch-size": (_above(8), ["8"]),
    "--seed": (_never, ["4294967295"]),
    "--shots": (_above(10_000), ["1", "2"]),
    "--preset": (_never, ["seed", "layered", "reupload", "dense"]),
}


@settings(SETTINGS, max_examples=15)
@given(option=_options(GRADCHECK))
def test_gradcheck_options(capsys, option):
    tiny = ["--n-qubits", "2", "--reps", "1", "--batch-size", "2", "--shots", "256"]
    status = main(["gradcheck", *tiny, *option])
    event(_ends_well(status, capsys.readouterr().err, disagreement=True))


BENCHMARK = {
    "--n-qubits": (_above(6), ["6"]),
    "--batch-size": (_above(256), ["256"]),
    "--repeats": (_above(3), ["3"]),
    "--seed": (_never, ["4294967295"]),
    "--engines": (_never, ["aer", "statevector,aer", ",", "statevector,statevector"]),
    "--plot": (_never, ["chart.png", "chart.svg", "chart.xyz", ".", "missing/chart.png"]),
}


@settings(SETTINGS, max_examples=30)
@given(option=_options(BENCHMARK))
def test_benchmark_options(tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    tiny = ["--n-qubits", "2", "--batch-size", "2", "--repeats", "1", "--engines", "statevector"]
    status = main(["benchmark", *tiny, *option])
    event(_ends_well(status, capsys.readouterr().err))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    X, y = load_mnist()
    folder = tmp_path_factory.mktemp("model")
    classifier = QuantumMNISTClassifier(encoder="pca", n_qubits=2, reps=1, epochs=1)
    classifier.fit(X[:100], y[:100]).save(folder / MODEL_FILE)
    return folder


EVALUATE = {
    "model": (_never, ["{model}", "{model}/model.safetensors", "{model}/metrics.json", "/"]),
    "--subset": (_never, ["train", "test"]),
    "--data-dir": (_never, ["{model}", "."]),
}


@settings(SETTINGS, max_examples=25)
@given(option=_options(EVALUATE))
def test_evaluate_options(model_dir, tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    name, value = option
    value = value.replace("{model}", str(model_dir))
    arguments = [value] if name == "model" else [str(model_dir), name, value]
    status = main(["evaluate", *arguments])
    event(_ends_well(status, capsys.readouterr().err))


REPORT = {
    "model_dir": (_never, ["{model}", "{model}/model.safetensors", "."]),
    "--n-test": (_never, ["10", "1000"]),
    "--data-dir": (_never, ["{model}"]),
}


@settings(SETTINGS, max_examples=10)
@given(option=_options(REPORT))
def test_report_options(model_dir, tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    name, value = option
    value = value.replace("{model}", str(model_dir))
    arguments = [value, "--n-test", "20"] if name == "model_dir" else [str(model_dir), name, value]
    status = main(["report", *arguments])
    event(_ends_well(status, capsys.readouterr().err))
