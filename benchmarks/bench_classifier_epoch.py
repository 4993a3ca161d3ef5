"""One training epoch of the seed classifier on 60,000 pre-reduced samples, engine against peers.

Issue 3's second speed goal, measured side by side in one process:

* ``statevector``: ``QuantumMNISTClassifier(encoder=None, ansatz="seed", engine="statevector",
  epochs=1, batch_size=1000, early_stopping=False, random_state=0).fit(F, y)``;
* ``pennylane default.qubit``: the same classifier and epoch with ``engine="pennylane"`` on
  ``default.qubit`` (torch interface, broadcasting over the batch, backprop);
* ``EstimatorQNN defaults``: qiskit-machine-learning's ``EstimatorQNN`` with its defaults
  (reference ``StatevectorEstimator``, ``ParamShiftEstimatorGradient``), its ``backward``
  timed on a few samples and compared per sample (a 60,000-sample epoch would take hours).

``F`` holds 60,000 random 10-feature angle vectors in [0, pi] and ``y`` random labels 0..9:
the cost of an epoch does not depend on what the numbers mean. Goals: statevector at least
8x faster than default.qubit per epoch, and at least 3000x faster per sample than the
EstimatorQNN default gradient.

Every path runs on the same number of torch threads (``--threads``, default 1).

Run: ``python benchmarks/bench_classifier_epoch.py [--samples N] [--peer-samples N]``;
results go to ``benchmarks/results/classifier_epoch.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from qiskit.primitives import StatevectorEstimator
from qiskit_machine_learning.neural_networks import EstimatorQNN
from results_io import machine, write_results

from qmnist_qiskit import QuantumMNISTClassifier
from qmnist_qiskit.circuits import seed_circuit


def _epoch_seconds(engine: str, options: dict, F: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    classifier = QuantumMNISTClassifier(
        encoder=None,
        ansatz="seed",
        engine=engine,
        engine_options=options or None,
        epochs=1,
        batch_size=1000,
        early_stopping=False,
        random_state=0,
    )
    start = time.perf_counter()
    classifier.fit(F, y)
    return time.perf_counter() - start, classifier.history_[-1]


def _estimator_qnn_seconds_per_sample(F: np.ndarray, samples: int) -> float:
    circuit, inputs, weights, observables = seed_circuit(10)
    qnn = EstimatorQNN(
        circuit=circuit,
        estimator=StatevectorEstimator(),
        observables=observables,
        input_params=inputs,
        weight_params=weights,
    )
    weight_values = np.random.default_rng(0).uniform(-np.pi, np.pi, len(weights))
    start = time.perf_counter()
    qnn.forward(F[:samples], weight_values)
    qnn.backward(F[:samples], weight_values)
    return (time.perf_counter() - start) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60_000, help="epoch size")
    parser.add_argument(
        "--peer-samples", type=int, default=4, help="samples timed on EstimatorQNN defaults"
    )
    parser.add_argument("--repeats", type=int, default=2, help="statevector epochs (min kept)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for every path (on a busy 2-core machine 1 is faster and steadier)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    F = rng.uniform(0, np.pi, (args.samples, 10))
    y = rng.integers(0, 10, args.samples)

    statevector = min(_epoch_seconds("statevector", {}, F, y)[0] for _ in range(args.repeats))
    print(f"statevector epoch on {args.samples} samples: {statevector:.2f} s", flush=True)
    pennylane, _ = _epoch_seconds("pennylane", {"device": "default.qubit"}, F, y)
    print(f"pennylane default.qubit epoch: {pennylane:.2f} s", flush=True)
    qnn_per_sample = _estimator_qnn_seconds_per_sample(F, args.peer_samples)
    print(f"EstimatorQNN defaults: {1000 * qnn_per_sample:.1f} ms per sample", flush=True)

    per_sample = statevector / args.samples
    result = {
        "machine": machine(),
        "samples": args.samples,
        "statevector_epoch_s": statevector,
        "pennylane_default_qubit_epoch_s": pennylane,
        "estimator_qnn_default_s_per_sample": qnn_per_sample,
        "statevector_ms_per_sample": 1000 * per_sample,
        "ratio_vs_default_qubit": pennylane / statevector,
        "ratio_vs_estimator_qnn_per_sample": qnn_per_sample / per_sample,
    }
    table = f"""# One epoch of the seed classifier, {args.samples} samples, batch 1000

torch threads: {args.threads}; 1-minute load average at the end: {os.getloadavg()[0]:.1f}.

| path | seconds per epoch | ms per sample | statevector is faster by |
|---|---|---|---|
| statevector (this project) | {statevector:.2f} | {1000 * per_sample:.4f} | 1x |
| PennyLane default.qubit, torch, broadcasting, backprop | {pennylane:.2f} | \
{1000 * pennylane / args.samples:.4f} | {pennylane / statevector:.1f}x (goal 8x) |
| EstimatorQNN defaults (param shift), per sample on {args.peer_samples} samples | \
{qnn_per_sample * args.samples:.0f} (extrapolated) | {1000 * qnn_per_sample:.1f} | \
{qnn_per_sample / per_sample:.0f}x (goal 3000x) |
"""
    write_results("classifier_epoch", result, table)


if __name__ == "__main__":
    main()
