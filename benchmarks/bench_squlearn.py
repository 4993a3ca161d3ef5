"""sQUlearn's QNNClassifier trained through StatevectorEstimator against its default executor.

sQUlearn (``pip install squlearn``) takes any Qiskit V2 estimator through
``squlearn.Executor(estimator)``; its default ``Executor()`` simulates with PennyLane's
default.qubit. Both train the same classifier here, in one process on one torch thread:

* data: digits 0 and 1 of the embedded MNIST subset, reduced by PCA to one feature per qubit and
  scaled to [0, pi]; ``--samples`` training images;
* model: ``QiskitEncodingCircuit`` of this project's ``layered`` preset (``--reps`` layers,
  circular CNOTs), a trainable ``SummedPaulis`` Z observable, squared loss, Adam (lr 0.1),
  ``--epochs`` epochs of mini-batches, no shuffling, parameter seed 0;
* rows: the default executor; our estimator in a fresh instance per fit ("cold": every circuit
  compiled during the fit) and reused for a second fit ("warm": compiled circuits cached).

sQUlearn differentiates by parameter shift, one circuit per shifted weight: a training step
makes about ``2P + n + 2`` estimator calls (``P`` weights, ``n`` qubits: the shifted circuits,
then the unshifted one with the whole observable and with each of its ``n + 1`` Pauli terms),
each with one PUB per sample, and polls each job every 10 ms. The estimator is given that
``cache_size``, so that its circuits stay compiled from step to step; a row shows the default
(32), with which each step compiles them all again. Every figure is the minimum over repeats
(the machine is shared); the trained parameters of both executors are compared.

Run: ``python benchmarks/bench_squlearn.py [--repeats N]`` (a few minutes); results go to
``benchmarks/results/squlearn.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import qiskit
import squlearn
import torch
from results_io import machine, write_results
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler
from squlearn import Executor
from squlearn.encoding_circuit import QiskitEncodingCircuit
from squlearn.observables import SummedPaulis
from squlearn.optimizers import Adam
from squlearn.qnn import QNNClassifier, SquaredLoss

import qmnist_qiskit
from qmnist_qiskit import load_mnist
from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.statevector import StatevectorEstimator

CONFIGS = ((6, 32), (10, 64), (12, 64))
"""(qubits, batch size) of each comparison."""
DEFAULT = "sQUlearn default executor (PennyLane default.qubit)"


def _data(n_features: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_mnist()
    keep = np.flatnonzero(y < 2)[:samples]
    features = PCA(n_features, random_state=0).fit_transform(X[keep])
    return MinMaxScaler((0, np.pi)).fit_transform(features), y[keep]


def _fit(
    executor: Executor,
    encoding: QiskitEncodingCircuit,
    args: argparse.Namespace,
    batch: int,
    X: np.ndarray,
    y: np.ndarray,
) -> tuple[QNNClassifier, float]:
    model = QNNClassifier(
        encoding,
        SummedPaulis(encoding.num_qubits, op_str="Z"),
        executor,
        SquaredLoss(),
        Adam({"lr": 0.1}),
        batch_size=batch,
        epochs=args.epochs,
        shuffle=False,
        parameter_seed=0,
        callback=None,
    )
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def _compare(n_qubits: int, batch: int, args: argparse.Namespace) -> list[dict]:
    X, y = _data(n_qubits, args.samples)
    spec = layered_circuit(n_qubits, reps=args.reps, entanglement="circular")
    encoding = QiskitEncodingCircuit(spec.circuit)
    simulations = 2 * len(spec.weight_params) + n_qubits + 2
    best: dict[str, float] = {}
    models = {}

    def record(name: str, executor: Executor) -> None:
        models[name], seconds = _fit(executor, encoding, args, batch, X, y)
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(args.repeats):
        record(DEFAULT, Executor())
        estimator = StatevectorEstimator(cache_size=simulations)
        record("StatevectorEstimator, cold", Executor(estimator))
        record("StatevectorEstimator, warm", Executor(estimator))
        if simulations > 32:
            record(
                "StatevectorEstimator, cold, default cache_size", Executor(StatevectorEstimator())
            )
    rows = []
    for name, seconds in best.items():
        differences = [
            np.abs(models[name]._param - models[DEFAULT]._param).max(),
            np.abs(models[name]._param_op - models[DEFAULT]._param_op).max(),
        ]
        rows.append(
            {
                "qubits": n_qubits,
                "weights": len(spec.weight_params),
                "batch": batch,
                "executor": name,
                "fit_s": seconds,
                "speedup": best[DEFAULT] / seconds,
                "max_parameter_difference": float(max(differences)),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _markdown(result: dict) -> str:
    settings = result["settings"]
    lines = [
        "# sQUlearn training through StatevectorEstimator",
        "",
        f"sQUlearn {result['machine']['squlearn']}, Qiskit {result['machine']['qiskit']}, "
        f"qmnist_qiskit {result['package_version']}; QNNClassifier on MNIST 0 vs 1 "
        f"({settings['samples']} images, PCA), layered preset with {settings['reps']} layers, "
        f"{settings['epochs']} epochs; torch threads: {result['machine']['torch_threads']}; "
        f"repeats: {settings['repeats']} (minimum kept); 1-minute load average before / after: "
        f"{result['load_before']:.1f} / {result['load_after']:.1f}.",
        "",
        "| qubits | weights | batch | executor | fit s | speed-up | max parameter difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["runs"]:
        lines.append(
            f"| {row['qubits']} | {row['weights']} | {row['batch']} | {row['executor']} | "
            f"{row['fit_s']:.2f} | {row['speedup']:.2f}x | "
            f"{row['max_parameter_difference']:.1e} |"
        )
    lines += [
        "",
        "Speed-up: the default executor's fit time over the row's, same configuration. Cold: a "
        "fresh estimator per fit (every circuit compiled during it); warm: the estimator of the "
        "cold fit reused (compiled circuits cached), as over a longer training.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="fits per executor and setting")
    parser.add_argument("--samples", type=int, default=128, help="training images")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each fit")
    parser.add_argument("--reps", type=int, default=2, help="layers of the circuit")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--output", default="squlearn", help="results file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("squlearn").setLevel(logging.WARNING)
    load_before = os.getloadavg()[0]
    runs = [row for qubits, batch in CONFIGS for row in _compare(qubits, batch, args)]
    result = {
        "machine": {
            **machine(),
            "qiskit": qiskit.__version__,
            "squlearn": squlearn.__version__,
        },
        "package_version": qmnist_qiskit.__version__,
        "package_path": str(Path(qmnist_qiskit.__file__).parent.parent),
        "settings": {
            "repeats": args.repeats,
            "samples": args.samples,
            "epochs": args.epochs,
            "reps": args.reps,
        },
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "runs": runs,
    }
    write_results(args.output, result, _markdown(result))


if __name__ == "__main__":
    main()
