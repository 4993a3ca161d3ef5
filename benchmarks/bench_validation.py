"""Choosing defaults on a validation split: the test set is never read.

Issue 20 asks that every default be chosen on data carved from the training set. Each run
here fits ``QuantumMNISTClassifier(random_state=SEED, **CONFIG)`` on a stratified part of the
training data and scores it on the rest: the embedded split's 4,000 training images as
3,200 / 800, or a full-size dataset's 60,000 as 50,000 / 10,000 (the split's seed is
``100 + SEED``, apart from the model's). It records validation and training accuracy, the
fit's wall and CPU seconds (its own process time: on a machine that others load, CPU
seconds are the better guide to an idle machine's wall time, though still above it) and the
1-minute load average. ``--autoencoder JSON`` makes the encoder
``MNISTAutoencoder(random_state=SEED, **JSON)`` instead of the default ``"autoencoder"``
(so its pretraining can be varied; ``fine_tune="auto"`` still fine-tunes it), and the log's
``params`` then carry it under ``"autoencoder"``.

Run one configuration per process (several can run side by side; timings then share the
CPU)::

    python benchmarks/bench_validation.py run --name ft --config '{"fine_tune": true}' \\
        --seeds 0 1 [--data-dir DIR] [--autoencoder '{"epochs": 15}'] --log runs.jsonl
    python benchmarks/bench_validation.py collect runs.jsonl --output validation

``collect`` writes the logged runs, grouped by configuration, to
``benchmarks/results/<output>.json`` and ``.md`` through ``results_io``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from results_io import write_results
from sklearn.model_selection import train_test_split

from qmnist_qiskit import MNISTAutoencoder, QuantumMNISTClassifier, load_mnist

FULL_SIZE_VALIDATION = 10_000


def _split(data_dir: Path | None, seed: int):
    X, y = load_mnist(data_dir, subset="train")
    test_size = 0.2 if data_dir is None else FULL_SIZE_VALIDATION / len(y)
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=100 + seed)


def run(
    name: str,
    config: dict,
    seeds: list[int],
    data_dir: Path | None,
    log: Path,
    autoencoder: dict | None = None,
) -> None:
    params = config if autoencoder is None else {**config, "autoencoder": autoencoder}
    for seed in seeds:
        X_train, X_val, y_train, y_val = _split(data_dir, seed)
        options = dict(config)
        if autoencoder is not None:
            options["encoder"] = MNISTAutoencoder(random_state=seed, **autoencoder)
        classifier = QuantumMNISTClassifier(random_state=seed, **options)
        wall, cpu = time.perf_counter(), time.process_time()
        classifier.fit(X_train, y_train)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        record = {
            "name": name,
            "params": params,
            "data": "embedded" if data_dir is None else str(data_dir),
            "seed": seed,
            "n_train": len(y_train),
            "n_validation": len(y_val),
            "val": float(classifier.score(X_val, y_val)),
            "train": float(classifier.score(X_train, y_train)),
            "fit_s": wall,
            "cpu_s": cpu,
            "epochs": classifier.n_iter_,
            "fine_tune": bool(classifier.fine_tune_),
            "load": os.getloadavg()[0],
        }
        print(json.dumps(record), flush=True)
        with log.open("a") as stream:
            stream.write(json.dumps(record) + "\n")


def _markdown(result: dict) -> str:
    lines = [
        "# Validation runs (the test set unread)",
        "",
        "Each row: `QuantumMNISTClassifier(random_state=seed, **config)` fitted on a stratified "
        "part of the training data and scored on the held-out rest (embedded: 3,200 / 800 of "
        "the 4,000 training images; full size: 50,000 / 10,000 of the 60,000). 2-core machine, "
        "shared by other work (load average per run below): wall seconds are inflated many "
        "times; CPU seconds are the fit's own process time, inflated less.",
        "",
    ]
    if result.get("note"):
        lines += [result["note"], ""]
    lines += [
        "| data | configuration | seeds | validation accuracy | mean | train accuracy | epochs "
        "| fit CPU s | fit wall s | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in result["groups"]:
        runs = group["runs"]
        config = ", ".join(f"{k}={v!r}" for k, v in group["params"].items()) or "defaults"

        def column(key, template, runs=runs):
            return ", ".join(template.format(float(run[key])) for run in runs)

        lines.append(
            f"| {group['data']} | `{group['name']}`: {config} | {column('seed', '{:.0f}')} | "
            f"{column('val', '{:.3f}')} | **{group['mean_val']:.3f}** | "
            f"{column('train', '{:.3f}')} | {runs[0]['epochs']} | {column('cpu_s', '{:.0f}')} | "
            f"{column('fit_s', '{:.0f}')} | {column('load', '{:.1f}')} |"
        )
    return "\n".join(lines) + "\n"


def collect(log: Path, output: str, note: str | None) -> None:
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    groups: dict = {}
    for record in records:
        data = record.get("data", "embedded")
        key = (data, record["name"])
        groups.setdefault(key, {"data": data, "name": record["name"], "params": record["params"]})
        groups[key].setdefault("runs", []).append(record)
    for group in groups.values():
        group["runs"].sort(key=lambda r: r["seed"])
        group["mean_val"] = float(np.mean([r["val"] for r in group["runs"]]))
    result = {"groups": list(groups.values()), "note": note}
    write_results(output, result, _markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="fit one configuration and log its validation scores")
    one.add_argument("--name", required=True)
    one.add_argument("--config", default="{}", help="classifier parameters as JSON")
    one.add_argument("--seeds", type=int, nargs="+", default=[0])
    one.add_argument("--data-dir", type=Path, default=None)
    one.add_argument("--log", type=Path, required=True)
    one.add_argument(
        "--autoencoder",
        default=None,
        help="MNISTAutoencoder parameters as JSON: the encoder becomes "
        "MNISTAutoencoder(random_state=SEED, **JSON)",
    )
    gather = commands.add_parser("collect", help="write the logged runs as a results file")
    gather.add_argument("log", type=Path)
    gather.add_argument("--output", default="validation")
    gather.add_argument("--note", default=None, help="a line on how the runs were made")
    args = parser.parse_args()
    if args.command == "run":
        autoencoder = None if args.autoencoder is None else json.loads(args.autoencoder)
        run(args.name, json.loads(args.config), args.seeds, args.data_dir, args.log, autoencoder)
    else:
        collect(args.log, args.output, args.note)


if __name__ == "__main__":
    main()
