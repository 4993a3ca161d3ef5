"""``qmnist train`` with the defaults, as a user runs it: the embedded data and full-size data.

Issue 20's end-to-end goals:

* ``qmnist train`` on the embedded 4,000 / 1,000 split, seeds 0, 1, 2: the fit (autoencoder
  included) and the test accuracy (goal: each fit at most 25 s on 2 cores, mean test accuracy
  at least 0.93);
* ``qmnist train --data-dir DIR`` on a full-size 60,000 / 10,000 IDX dataset (Debian's
  ``dataset-fashion-mnist``; ``--data-dir`` to point elsewhere), seed 0 (goal: fit at most
  180 s, test accuracy at least 0.885), reported beside logistic regression and an MLP trained
  on the same codes (the saved model's encoder).

Each run is the real command in a subprocess; its ``metrics.json`` gives the fit seconds and
accuracies, and the child's CPU seconds (the whole command: imports, data, fit, scoring; one
torch thread) bound what its fit would take on an idle machine when others load this one.
Run: ``python benchmarks/bench_full_size.py [--data-dir DIR] [--seeds 0 1 2]``;
results go to ``benchmarks/results/full_size.json`` and ``.md``. The settings that follow the
data size are measured by the same runs with other options: ``--train-args "--fine-tune
false" --skip-embedded --output full_size_frozen`` (the full-size data with a frozen
autoencoder) and ``--train-args "--fine-tune true" --skip-full --output
embedded_fine_tuned``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_io import write_results
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from qmnist_qiskit import QuantumMNISTClassifier, load_mnist

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _fashion_dir() -> Path | None:
    if (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists():
        return DEBIAN_FASHION
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    found = [Path(line).parent for line in listing if line.endswith("train-images-idx3-ubyte.gz")]
    return found[0] if found else None


def _train(arguments: list[str], output: Path, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "qmnist_qiskit", "train", "--quiet", "--output", str(output)]
    start = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command + arguments + extra, check=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    metrics = json.loads((output / "metrics.json").read_text())
    return {
        "command": " ".join(["qmnist train", *arguments, *extra]),
        "wall_seconds": wall,
        "command_cpu_seconds": cpu,
        **metrics,
    }


def _baselines(model_dir: Path, data_dir: Path) -> dict:
    """Logistic regression and an MLP on the trained model's own codes."""
    model = QuantumMNISTClassifier.load(model_dir / "model.safetensors")
    X_train, y_train = load_mnist(data_dir, subset="train")
    X_test, y_test = load_mnist(data_dir, subset="test")
    codes_train = model.encoder_.transform(X_train)
    codes_test = model.encoder_.transform(X_test)
    scores = {}
    for name, estimator in (
        ("logistic_regression", LogisticRegression(max_iter=2000)),
        ("mlp_64", MLPClassifier((64,), max_iter=200, random_state=0)),
    ):
        start = time.perf_counter()
        estimator.fit(codes_train, y_train)
        scores[name] = {
            "test_accuracy": float(estimator.score(codes_test, y_test)),
            "fit_seconds": time.perf_counter() - start,
        }
    return scores


def _markdown(result: dict) -> str:
    lines = [
        "# `qmnist train` with the defaults",
        "",
        f"2-core machine, shared (1-minute load average before / after: "
        f"{result['load_before']:.1f} / {result['load_after']:.1f}); the CLI's default of one "
        "torch thread. Fit seconds are the CLI's own (`metrics.json`), autoencoder included.",
        "",
        "| command | train / test images | fit s | command CPU s | train accuracy "
        "| test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| `{run['command']}` | {run['n_train']:,} / {run['n_test']:,} | "
            f"{run['fit_seconds']:.1f} | {run.get('command_cpu_seconds', float('nan')):.1f} | "
            f"{run['train_accuracy']:.3f} | "
            f"{run['test_accuracy']:.3f} |"
        )
    embedded = result.get("embedded")
    if embedded:
        lines += [
            "",
            f"Embedded data over seeds {embedded['seeds']}: mean test accuracy "
            f"**{embedded['mean_test_accuracy']:.3f}** (goal 0.93), fit "
            f"{embedded['min_fit_seconds']:.1f} to {embedded['max_fit_seconds']:.1f} s "
            f"(goal 25 s each).",
        ]
    baselines = result.get("baselines")
    if baselines:
        lines += ["", "Full-size data, classical models on the same 20 codes:", ""]
        for name, score in baselines.items():
            lines.append(
                f"- {name.replace('_', ' ')}: test accuracy {score['test_accuracy']:.3f} "
                f"(fit {score['fit_seconds']:.1f} s)"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", type=Path, default=None, help="full-size IDX files")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--train-args", default="", help="more options for every qmnist train")
    parser.add_argument("--output", default="full_size", help="results file name")
    args = parser.parse_args()
    extra = shlex.split(args.train_args)
    data_dir = args.data_dir or _fashion_dir()
    load_before = os.getloadavg()[0]
    runs = []
    result: dict = {"load_before": load_before}
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_embedded:
            embedded = []
            for seed in args.seeds:
                run = _train(
                    ["--random-state", str(seed)], Path(scratch) / f"embedded{seed}", extra
                )
                print(json.dumps(run), flush=True)
                embedded.append(run)
            runs += embedded
            result["embedded"] = {
                "seeds": args.seeds,
                "mean_test_accuracy": float(np.mean([r["test_accuracy"] for r in embedded])),
                "min_fit_seconds": min(r["fit_seconds"] for r in embedded),
                "max_fit_seconds": max(r["fit_seconds"] for r in embedded),
            }
        if data_dir is not None and not args.skip_full:
            output = Path(scratch) / "full"
            run = _train(["--data-dir", str(data_dir), "--random-state", "0"], output, extra)
            print(json.dumps(run), flush=True)
            runs.append(run)
            result["baselines"] = _baselines(output, data_dir)
            print(json.dumps(result["baselines"]), flush=True)
        elif data_dir is None:
            print("no full-size IDX files found: install dataset-fashion-mnist or pass --data-dir")
    result["runs"] = runs
    result["load_after"] = os.getloadavg()[0]
    write_results(args.output, result, _markdown(result))


if __name__ == "__main__":
    main()
