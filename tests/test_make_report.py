"""benchmarks/make_report.py on small, well-formed result files written here."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

import pytest
import qiskit

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "make_report.py"


@pytest.fixture(scope="module")
def make_report():
    # The script imports results_io from its own folder, as `python benchmarks/...` allows.
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("make_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the script is executed.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]
        sys.path.remove(str(SCRIPT.parent))


FORUM = {
    "machine": {"cpus": 2, "torch": "2.13.0+cpu"},
    "batch_size": 4,
    "rows": [
        {"path": "PennyLane default.qubit", "year": 2019, "gradient_per_image_s": 50.0},
        {"path": "Forest Wavefunction", "year": 2019, "gradient_per_image_s": None},
        {"path": "qmnist statevector engine (torch)", "year": 2026, "gradient_per_image_s": 0.02},
        {"path": "qmnist aer engine, exact", "year": 2026, "gradient_per_image_s": 0.05},
        {"path": "forum code, parameter shift", "year": 2026, "gradient_per_image_s": 0.4},
        {"path": "qiskit.aer, 1024 shots", "year": 2026, "gradient_per_image_s": None},
    ],
}
FORUM_MD = """# The forum benchmark

![gradient plot](forum_plot.png) and [the data](forum.json), [docs](https://example.org/x).

## Details
| path | ms |
|---|---|
"""
EPOCH = {
    "machine": {"cpu_count": 2},
    "samples": 60000,
    "statevector_epoch_s": 3.5,
    "ratio_vs_default_qubit": 9.31,
    "ratio_vs_estimator_qnn_per_sample": 5120.0,
}
STATEVECTOR = {
    "quick": True,
    "peers": {
        "statevector": {"ms_per_sample": 0.05},
        "pennylane_default_qubit": {"ratio_per_sample": 12.4},
        "estimator_qnn_defaults": {"ratio_per_sample": 6543.2},
    },
    "scaling": {
        "qubits": [{"qubits": 4, "ms_per_sample": 0.0123}, {"qubits": 20, "ms_per_sample": 812.0}],
        "memory": [
            {"qubits": 16, "batch": 60000, "peak_rss_mb": 2345.6},
            {"qubits": 16, "batch": 3000, "input_gradients": True, "peak_rss_mb": 3491.8},
        ],
    },
}
SUMMARY = {
    "seeds": [0, 1],
    "test_accuracy_mean": 0.8612,
    "test_accuracy_min": 0.855,
    "test_accuracy_max": 0.8674,
    "fit_seconds_mean": 61.5,
    "fit_seconds_max": 70.2,
    "meets_accuracy_goal": True,
    "meets_time_goal": False,
}


def _accuracy_row(group, configuration, features, accuracy, **extra):
    return {
        "group": group,
        "configuration": configuration,
        "features": features,
        "test_accuracy": accuracy,
        "fit_seconds": 1.0,
    } | extra


ACCURACY = {
    "meta": {"quick": False, "test_samples": 1000},
    "default_params": {"reps": 3},
    "default_summary": SUMMARY,
    "rows": [
        _accuracy_row("default", "QuantumMNISTClassifier(random_state=0)", "pixels", 0.855),
        _accuracy_row("same features", "logistic regression", "20 codes", 0.88),
        _accuracy_row("same features", "MLP(64)", "20 codes", 0.91),
        _accuracy_row("same features", "circuit: dense (default)", "20 codes", 0.86, params={}),
        _accuracy_row("same features", "logistic regression", "10 codes", 0.84),
        _accuracy_row("same features", "circuit: dense (default)", "10 codes", 0.7, params={}),
        _accuracy_row("levers", "reps=4", "20 codes", 0.87, params={"reps": 4}),
        _accuracy_row("levers", "reps=2", "20 codes", 0.8, params={"reps": 2}),
        _accuracy_row("levers", "epochs=4", "20 codes", 0.83, params={"epochs": 4}),
        _accuracy_row("fine-tune", "fine_tune=True (not the default)", "pixels", 0.89),
    ],
}
AER = {
    "machine": "x86_64, 2 CPUs",
    "jacobian_comparison": {"batch": 16, "speedup_vs_baseline": {"aerqnn": 71.2}},
}


DEFAULT_SPEED = {
    "runs": [
        {
            "circuit": "dense",
            "engine": "statevector",
            "batch": 256,
            "ms_per_sample": 0.2567,
            "backward_over_forward": 2.07,
        },
    ],
    "ratios": {"dense_over_seed": 8.75, "default_qubit_over_dense": 30.9},
}
COMPILED_SPEED = {
    "ratios": {"256": {"base_over_compiled": 3.14, "torch_over_compiled": 2.5}},
    "first_call": {"cold": {"seconds": 1.25, "compiled": True}, "warm": {"seconds": 0.01}},
    "width": [{"qubits": 14, "lightning_over_compiled": 12.34}],
}
FULL_SIZE = {
    "runs": [
        {
            "command": "qmnist train --data-dir D",
            "n_train": 60000,
            "n_test": 10000,
            "fit_seconds": 140.25,
            "test_accuracy": 0.8512,
        },
    ],
}


def _write(directory: Path, name: str, data: dict, markdown: str | None = None) -> None:
    (directory / f"{name}.json").write_text(json.dumps(data))
    if markdown is not None:
        (directory / f"{name}.md").write_text(markdown)


def _run(make_report, results: Path, output: Path) -> str:
    assert make_report.main(["--results-dir", str(results), "--output", str(output)]) == 0
    return output.read_text()


def test_report_from_results(make_report, tmp_path, capsys):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    _write(results, "forum", FORUM, FORUM_MD)
    _write(results, "classifier_epoch", EPOCH, "# One epoch\n\n| a | b |\n|---|---|\n")
    _write(results, "aer", AER)
    _write(results, "statevector", STATEVECTOR)
    _write(results, "accuracy", ACCURACY, "# Accuracy benchmark\n")
    _write(results, "extra", {"value": 1}, "# Extra study\n")
    _write(results, "default_speed", DEFAULT_SPEED)
    _write(results, "full_size", FULL_SIZE)
    _write(results, "compiled_speed", COMPILED_SPEED)
    report = _run(make_report, results, tmp_path / "BENCHMARKS.md")

    assert f"{os.cpu_count()} cores" in report
    assert f"Python {platform.python_version()}" in report
    assert f"qiskit {qiskit.__version__}," in report
    assert "RAM " in report and "GiB" in report

    assert "**9.3x** faster than PennyLane default.qubit" in report
    assert "**5,120x** faster than qiskit-machine-learning's EstimatorQNN" in report
    assert "60,000 samples" in report
    assert (
        "fastest path **qmnist statevector engine (torch)**, 20 ms per image, 2,500x less" in report
    )
    assert "qmnist aer engine, exact: 2.5x; forum code, parameter shift: 20.0x." in report
    assert "aerqnn: 71x faster" in report
    assert "0.257 ms per sample, **8.8x** the seed circuit's in the same run" in report
    assert "**31x** faster per sample than PennyLane default.qubit" in report
    assert "(60,000 / 10,000 images): fit **140.2 s**, test accuracy **0.851**" in report
    assert "batch 256: the code before the compiled sweeps takes **3.14x** as long" in report
    assert "First call with an empty cache: 1.2 s (goal at most 10 s)." in report
    assert "14 qubits: **12.3x** faster than lightning.qubit adjoint" in report
    assert "Recorded by the run: cpus 2, torch 2.13.0+cpu" in report
    assert "Recorded by the run: x86_64, 2 CPUs" in report

    assert "### The forum benchmark" in report
    assert "#### Details" in report
    assert "![gradient plot](benchmarks/results/forum_plot.png)" in report
    assert "[the data](benchmarks/results/forum.json)" in report
    assert "[docs](https://example.org/x)" in report
    assert "## Other results: extra" in report and "### Extra study" in report

    assert "![engine speed, log scale](benchmarks/results/engine_speed.png)" in report
    assert (results / "engine_speed.png").read_bytes()[:4] == b"\x89PNG"

    assert "A quick run (`--quick`)" in report
    assert (
        "0.050 ms per sample (3.0 s per 60,000 samples; goal 5 s); same run: **12x** faster than "
        "PennyLane default.qubit (torch, broadcasting); **6,543x** faster than EstimatorQNN"
    ) in report
    assert "Per sample against qubit count: 4 qubits 0.0123 ms, 20 qubits 812 ms." in report
    assert (
        "Memory: 60,000 samples at 16 qubits peaked at 2,346 MB resident; 3,000 samples at 16 "
        "qubits with input gradients peaked at 3,492 MB resident (goal: within 8 GB)."
    ) in report

    assert (
        "on 1000 test images, seeds [0, 1]: test accuracy mean **86.1%** (min 85.5%, max 86.7%), "
        "goal 85% met; fit 61.5 s mean, 70.2 s max (autoencoder included), goal 90 s "
        "**not met**."
    ) in report
    assert (
        "Same features (20 codes): logistic regression 88.0%; MLP(64) 91.0%; "
        "circuit: dense (default) 86.0%."
    ) in report
    assert "Same features (10 codes): logistic regression 84.0%; circuit: dense" in report
    assert "- fine_tune=True (not the default): 89.0%." in report
    assert "![Accuracy against classical baselines](benchmarks/results/accuracy_depth.png)" in (
        report
    )
    assert (results / "accuracy_depth.png").read_bytes()[:4] == b"\x89PNG"
    assert "missing" not in capsys.readouterr().out
    assert report.index("## Training epoch") < report.index("## The 2019 forum")


def test_charts_from_forum_rows_and_accuracy_depths(make_report, tmp_path):
    charts = make_report.write_charts({"forum": FORUM, "accuracy": ACCURACY}, tmp_path)
    assert charts == {
        "forum": tmp_path / "engine_speed.png",
        "accuracy": tmp_path / "accuracy_depth.png",
    }
    assert make_report.accuracy_by_depth(ACCURACY) == (
        "20 codes",
        {2: 0.8, 3: 0.86, 4: 0.87},
        {"logistic regression": 0.88, "MLP(64)": 0.91},
    )
    quick = ACCURACY | {"rows": [row for row in ACCURACY["rows"] if row["group"] != "levers"]}
    assert make_report.accuracy_by_depth(quick) is None
    assert make_report.write_charts({"accuracy": quick}, tmp_path / "none") == {}
    assert make_report._forum_gradient_rows(FORUM) == {
        "qmnist statevector engine (torch)": 20.0,
        "qmnist aer engine, exact": 50.0,
        "forum code, parameter shift": 400.0,
    }


def test_report_without_results_names_every_script(make_report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    report = _run(make_report, results, tmp_path / "BENCHMARKS.md")
    for benchmark in make_report.BENCHMARKS:
        assert f"*No `{benchmark.name}.json` yet: run `python benchmarks/{benchmark.script}`.*" in (
            report
        )
    assert "*No engine timings yet: run `python benchmarks/bench_forum.py`.*" in report
    assert not (results / "engine_speed.png").exists()


def test_result_files_missing_keys_still_report(make_report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results, "forum", {"rows": []})
    _write(results, "classifier_epoch", {"samples": 10})
    report = _run(make_report, results, tmp_path / "BENCHMARKS.md")
    assert "## Training epoch against peers" in report
    assert "Produced by `python benchmarks/bench_classifier_epoch.py`" in report
    assert "faster than" not in report


def test_unknown_layout_keeps_the_table(make_report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results, "statevector", {"peers": {"statevector": {"ms_per_sample": "fast"}}}, "# T\n")
    report = _run(make_report, results, tmp_path / "BENCHMARKS.md")
    assert "No headline numbers: `statevector.json` has a layout this report does not know" in (
        report
    )
    assert "### T" in report


@pytest.mark.parametrize(
    ("content", "match"),
    [("{not json", r"bad\.json is not valid JSON"), ("[1, 2]", r"bad\.json holds a JSON list")],
)
def test_malformed_result_file_is_named(make_report, tmp_path, content, match):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        make_report.load_results(tmp_path)


def test_missing_results_directory_is_an_error(make_report, tmp_path, capsys):
    with pytest.raises(SystemExit):
        make_report.main(["--results-dir", str(tmp_path / "absent")])
    assert "is not a directory" in capsys.readouterr().err


def test_each_result_names_the_command_that_made_it(make_report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    run = {
        "commit": "a" * 40,
        "dirty": False,
        "date": "2026-11-30T02:50:46+00:00",
        "command": "python benchmarks/bench_default_speed.py --output before",
        "machine": None,
    }
    _write(results, "before", {"run": run, "machine": {"cpu_count": 2}}, "# Before\n")
    _write(results, "orphan", {"value": 1}, "# Orphan\n")
    report = _run(make_report, results, tmp_path / "BENCHMARKS.md")
    assert "Produced by `python benchmarks/bench_default_speed.py --output before`" in report
    # A run record without its machine keeps the machine the file recorded itself.
    assert "Recorded by the run: cpu_count 2" in report
    assert "Produced by a command it did not record; raw numbers in" in report
    assert "bench_before.py" not in report and "bench_orphan.py" not in report
