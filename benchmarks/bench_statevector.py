"""Statevector engine: speed against peers, cost against qubits and batch size, peak memory.

Part (a), in one process, the forward pass plus the exact gradient of the softmax
cross-entropy over the 10 Z expectations with respect to the 20 weights of the 10-qubit seed
circuit (``seed_circuit(10)``), complex128:

* ``statevector``: ``StatevectorSimulator.expectations`` + torch autograd on 60,000 samples
  (issue 3's goal: <= 5 s on 2 cores, 0.08 ms per sample); also with torch's default thread
  count, and with the gradient with respect to the inputs too (which runs the adjoint sweep:
  the weight gradient alone does not need it, the seed circuit's final layer being folded
  into the observables);
* ``pennylane default.qubit``: a QNode on ``default.qubit``, ``interface="torch"``,
  ``diff_method="backprop"``, broadcasting over the batch, in chunks of 1,000, on a subset;
* ``EstimatorQNN defaults``: qiskit-machine-learning's ``EstimatorQNN`` with the reference
  ``StatevectorEstimator`` and its default ``ParamShiftEstimatorGradient``, on a few samples.

Every path's loss and gradient are checked against ours on the samples it ran; ratios are
per sample.

Part (b), each configuration in a fresh subprocess so that its peak resident memory
(``VmHWM``, which sees torch's allocations, unlike tracemalloc) is its own: forward + loss
gradient of ``seed_circuit(n)`` against the qubit count (4 to 20) and the batch size (1 to
60,000), and the memory bound at 16 qubits (issue 3: a 60,000-sample epoch within 8 GB):
60,000 samples with the weight gradient, 3,000 with the input gradient too (the adjoint
sweep, recomputing the final states when they are not kept).

Other work shares this machine's two cores: every timing is the minimum over repeats and
still noisy. Every path runs on ``--threads`` torch threads (default 1); one row also times
torch's default thread count, so the results say what a second thread gives in that run.

Run: ``python benchmarks/bench_statevector.py`` (about 10 minutes) or ``--quick`` (about 2);
results go to ``benchmarks/results/statevector.json``, ``statevector.md`` and
``statevector_scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from results_io import RESULTS, write_results

GOAL_SECONDS = 5.0
GOAL_SAMPLES = 60_000


def _problem(samples: int, qubits: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0, np.pi, (samples, qubits))
    labels = rng.integers(0, qubits, samples)
    weights = rng.uniform(-np.pi, np.pi, 2 * qubits)
    return inputs, labels, weights


def _simulator(qubits: int, **options):
    from qmnist_qiskit.circuits import seed_circuit
    from qmnist_qiskit.engines.statevector import StatevectorSimulator

    spec = seed_circuit(qubits)
    return StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
        **options,
    )


def _ours(
    simulator, inputs, labels, weights, input_gradients: bool = False
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy loss and its weight gradient from the statevector engine.

    The seed circuit ends in weight-only single-qubit gates, which the engine folds into
    the observables, so its weight gradient needs no adjoint sweep; ``input_gradients``
    also differentiates with respect to the inputs, which runs the sweep.
    """
    w = torch.tensor(weights, requires_grad=True)
    x = torch.tensor(inputs, requires_grad=input_gradients)
    scores = simulator.expectations(x, w)
    loss = torch.nn.functional.cross_entropy(scores, torch.as_tensor(labels))
    loss.backward()
    return loss.item(), w.grad.numpy()


def _pennylane_qnode(qubits: int):
    import pennylane as qml

    device = qml.device("default.qubit", wires=qubits)

    @qml.qnode(device, interface="torch", diff_method="backprop")
    def circuit(x, w):
        for wire in range(qubits):
            qml.RX(x[:, wire], wires=wire)
        for wire in range(qubits - 1):
            qml.CNOT(wires=[wire, wire + 1])
        for wire in range(qubits):
            qml.RX(w[wire], wires=wire)
        for wire in range(qubits):
            qml.RY(w[qubits + wire], wires=wire)
        return [qml.expval(qml.PauliZ(wire)) for wire in range(qubits)]

    return circuit


def _pennylane(qnode, inputs, labels, weights, chunk: int = 1000) -> tuple[float, np.ndarray]:
    """The same loss and gradient from PennyLane, accumulated over chunks of the batch."""
    w = torch.tensor(weights, requires_grad=True)
    total = 0.0
    for start in range(0, len(inputs), chunk):
        x = torch.as_tensor(inputs[start : start + chunk])
        scores = torch.stack(qnode(x, w), dim=1)
        target = torch.as_tensor(labels[start : start + chunk])
        loss = torch.nn.functional.cross_entropy(scores, target, reduction="sum") / len(inputs)
        loss.backward()
        total += loss.item()
    return total, w.grad.numpy()


def _estimator_qnn(inputs, labels, weights) -> tuple[float, np.ndarray]:
    """The same loss and gradient from EstimatorQNN's forward and Jacobian."""
    from qiskit.primitives import StatevectorEstimator
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    from qmnist_qiskit.circuits import seed_circuit

    circuit, x, theta, observables = seed_circuit(inputs.shape[1])
    qnn = EstimatorQNN(
        circuit=circuit,
        estimator=StatevectorEstimator(),
        observables=observables,
        input_params=x,
        weight_params=theta,
        default_precision=0.0,
    )
    scores = qnn.forward(inputs, weights)
    _, jacobian = qnn.backward(inputs, weights)
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = -np.mean(np.log(probabilities[rows, labels]))
    dscores = probabilities.copy()
    dscores[rows, labels] -= 1
    return float(loss), np.einsum("bo,bow->w", dscores / len(labels), jacobian)


def _minimum_seconds(function, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` starts afresh in a new program, where
    ``ru_maxrss`` inherits the parent's peak across fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peers(quick: bool, threads: int) -> dict:
    samples = 6_000 if quick else GOAL_SAMPLES
    pennylane_samples = 1_000 if quick else 5_000
    qnn_samples = 4
    inputs, labels, weights = _problem(samples)
    simulator = _simulator(10)
    _ours(simulator, inputs[:1000], labels[:1000], weights)

    default_threads = torch.get_num_threads()
    other, _ = _minimum_seconds(lambda: _ours(simulator, inputs, labels, weights), 3)
    torch.set_num_threads(threads)
    seconds, (loss, grad) = _minimum_seconds(lambda: _ours(simulator, inputs, labels, weights), 3)
    with_inputs, _ = _minimum_seconds(
        lambda: _ours(simulator, inputs, labels, weights, input_gradients=True), 2
    )
    ours_per_sample = seconds / samples
    print(
        f"statevector: {samples} samples in {seconds:.3f} s "
        f"({1e3 * ours_per_sample:.4f} ms/sample, {threads} torch threads); "
        f"{other:.3f} s with torch's default {default_threads} threads",
        flush=True,
    )

    subset = slice(0, pennylane_samples)
    qnode = _pennylane_qnode(10)
    _pennylane(qnode, inputs[:100], labels[:100], weights)
    pl_seconds, (pl_loss, pl_grad) = _minimum_seconds(
        lambda: _pennylane(qnode, inputs[subset], labels[subset], weights), 2
    )
    ref_loss, ref_grad = _ours(simulator, inputs[subset], labels[subset], weights)
    pl_per_sample = pl_seconds / pennylane_samples
    print(
        f"pennylane default.qubit: {pennylane_samples} samples in {pl_seconds:.3f} s "
        f"({1e3 * pl_per_sample:.4f} ms/sample): {pl_per_sample / ours_per_sample:.1f}x slower",
        flush=True,
    )

    few = slice(0, qnn_samples)
    qnn_seconds, (qnn_loss, qnn_grad) = _minimum_seconds(
        lambda: _estimator_qnn(inputs[few], labels[few], weights), 1
    )
    few_loss, few_grad = _ours(simulator, inputs[few], labels[few], weights)
    qnn_per_sample = qnn_seconds / qnn_samples
    print(
        f"EstimatorQNN defaults: {qnn_samples} samples in {qnn_seconds:.2f} s "
        f"({1e3 * qnn_per_sample:.1f} ms/sample): {qnn_per_sample / ours_per_sample:,.0f}x slower",
        flush=True,
    )
    return {
        "circuit": "seed_circuit(10), complex128, softmax cross-entropy over 10 Z expectations",
        "statevector": {
            "samples": samples,
            "seconds": seconds,
            "ms_per_sample": 1e3 * ours_per_sample,
            "torch_threads": threads,
            "default_torch_threads": default_threads,
            "seconds_default_threads": other,
            "seconds_with_input_gradients": with_inputs,
            "goal_seconds_for_60000": GOAL_SECONDS,
            "loss": loss,
        },
        "pennylane_default_qubit": {
            "samples": pennylane_samples,
            "seconds": pl_seconds,
            "ms_per_sample": 1e3 * pl_per_sample,
            "ratio_per_sample": pl_per_sample / ours_per_sample,
            "max_abs_loss_difference": abs(pl_loss - ref_loss),
            "max_abs_gradient_difference": float(np.abs(pl_grad - ref_grad).max()),
        },
        "estimator_qnn_defaults": {
            "samples": qnn_samples,
            "seconds": qnn_seconds,
            "ms_per_sample": 1e3 * qnn_per_sample,
            "ratio_per_sample": qnn_per_sample / ours_per_sample,
            "max_abs_loss_difference": abs(qnn_loss - few_loss),
            "max_abs_gradient_difference": float(np.abs(qnn_grad - few_grad).max()),
        },
        "gradient_norm": float(np.linalg.norm(grad)),
    }


def _worker(config: dict) -> dict:
    """One scaling configuration, run in this (fresh) process."""
    qubits, batch, repeats = config["qubits"], config["batch"], config["repeats"]
    inputs, labels, weights = _problem(batch, qubits)
    torch.set_num_threads(config["threads"])
    simulator = _simulator(qubits)
    baseline = _peak_rss_mb()
    input_gradients = config.get("input_gradients", False)
    seconds, _ = _minimum_seconds(
        lambda: _ours(simulator, inputs, labels, weights, input_gradients), repeats
    )
    chunk, keep = simulator.batch_plan(batch, differentiable=input_gradients)
    return {
        **config,
        "seconds": seconds,
        "ms_per_sample": 1e3 * seconds / batch,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": baseline,
        "chunk": chunk,
        "final_states_kept": keep,
    }


def _run_worker(config: dict) -> dict:
    command = [sys.executable, __file__, "--worker", json.dumps(config)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(
        f"  {result['qubits']:2d} qubits, batch {result['batch']:6d}: "
        f"{result['seconds']:8.3f} s, {result['ms_per_sample']:9.4f} ms/sample, "
        f"peak RSS {result['peak_rss_mb']:7.0f} MB",
        flush=True,
    )
    return result


def _scaling(quick: bool, threads: int) -> dict:
    if quick:
        qubit_batches = {4: 1000, 8: 1000, 12: 200, 16: 8}
        batches = [1, 100, 10_000]
        memory = [
            {"qubits": 16, "batch": 600},
            {"qubits": 16, "batch": 200, "input_gradients": True},
        ]
    else:
        qubit_batches = {4: 1000, 6: 1000, 8: 1000, 10: 1000, 12: 1000, 14: 200, 16: 50}
        qubit_batches.update({18: 8, 20: 2})
        batches = [1, 10, 100, 1000, 10_000, 60_000]
        memory = [
            {"qubits": 16, "batch": 60_000},
            {"qubits": 16, "batch": 3_000, "input_gradients": True},
        ]
    print("cost against qubits:", flush=True)
    qubits = [
        _run_worker({"qubits": n, "batch": b, "repeats": 3 if n <= 16 else 1, "threads": threads})
        for n, b in qubit_batches.items()
    ]
    print("cost against batch size (10 qubits):", flush=True)
    sizes = [
        _run_worker(
            {"qubits": 10, "batch": b, "repeats": 5 if b <= 1000 else 2, "threads": threads}
        )
        for b in batches
    ]
    print("memory bound:", flush=True)
    memory = [_run_worker({**config, "repeats": 1, "threads": threads}) for config in memory]
    return {"qubits": qubits, "batch_sizes": sizes, "memory": memory}


def _plot(scaling: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = scaling["qubits"]
    left.semilogy([r["qubits"] for r in rows], [r["ms_per_sample"] for r in rows], "o-")
    left.set_xlabel("qubits (seed circuit)")
    left.set_ylabel("ms per sample, forward + loss gradient")
    memory_axis = left.twinx()
    memory_axis.plot(
        [r["qubits"] for r in rows], [r["peak_rss_mb"] for r in rows], "s--", color="tab:red"
    )
    memory_axis.set_ylabel("peak resident memory (MB)", color="tab:red")
    memory_axis.set_ylim(bottom=0)
    left.set_title("cost against qubit count")
    rows = scaling["batch_sizes"]
    right.loglog([r["batch"] for r in rows], [r["ms_per_sample"] for r in rows], "o-")
    right.set_xlabel("batch size (10 qubits)")
    right.set_ylabel("ms per sample, forward + loss gradient")
    right.set_title("cost against batch size")
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _markdown(result: dict) -> str:
    peers = result["peers"]
    ours, pl, qnn = (
        peers["statevector"],
        peers["pennylane_default_qubit"],
        peers["estimator_qnn_defaults"],
    )
    extrapolated = ours["seconds"] * GOAL_SAMPLES / ours["samples"]
    lines = [
        "# Statevector engine benchmark",
        "",
        f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, "
        f"torch {result['versions']['torch']}, every path on {ours['torch_threads']} torch "
        "thread(s). Minimum over repeats; other work shared the CPU, so timings are noisy.",
        "",
        "## Forward + exact loss gradient, seed circuit (10 qubits), complex128",
        "",
        "| path | samples timed | seconds | ms per sample | slower than statevector |",
        "|---|---|---|---|---|",
        f"| statevector | {ours['samples']:,} | "
        f"{ours['seconds']:.3f} | {ours['ms_per_sample']:.4f} | 1x |",
        f"| statevector, torch's default {ours['default_torch_threads']} threads | "
        f"{ours['samples']:,} | {ours['seconds_default_threads']:.3f} | "
        f"{1e3 * ours['seconds_default_threads'] / ours['samples']:.4f} | "
        f"{ours['seconds_default_threads'] / ours['seconds']:.2f}x |",
        f"| statevector, gradient also with respect to the inputs (adjoint sweep) | "
        f"{ours['samples']:,} | {ours['seconds_with_input_gradients']:.3f} | "
        f"{1e3 * ours['seconds_with_input_gradients'] / ours['samples']:.4f} | "
        f"{ours['seconds_with_input_gradients'] / ours['seconds']:.2f}x |",
        f"| PennyLane default.qubit, torch, broadcasting, backprop | {pl['samples']:,} | "
        f"{pl['seconds']:.3f} | {pl['ms_per_sample']:.4f} | {pl['ratio_per_sample']:.1f}x |",
        f"| EstimatorQNN defaults (reference estimator, parameter shift) | {qnn['samples']} | "
        f"{qnn['seconds']:.2f} | {qnn['ms_per_sample']:.1f} | {qnn['ratio_per_sample']:,.0f}x |",
        "",
        f"60,000 samples: {extrapolated:.2f} s (goal <= {GOAL_SECONDS:.0f} s, "
        f"{1e3 * GOAL_SECONDS / GOAL_SAMPLES:.3f} ms per sample). Same numbers: PennyLane "
        f"loss/gradient differ by {pl['max_abs_loss_difference']:.1e} / "
        f"{pl['max_abs_gradient_difference']:.1e}, EstimatorQNN by "
        f"{qnn['max_abs_loss_difference']:.1e} / {qnn['max_abs_gradient_difference']:.1e}.",
        "",
        "## Cost against qubit count (seed circuit, each row a fresh process)",
        "",
        "| qubits | batch | seconds | ms per sample | chunk | peak RSS (MB) | RSS before (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    scaling = result["scaling"]
    for row in scaling["qubits"]:
        lines.append(
            f"| {row['qubits']} | {row['batch']:,} | {row['seconds']:.3f} | "
            f"{row['ms_per_sample']:.4f} | {row['chunk']} | {row['peak_rss_mb']:.0f} | "
            f"{row['rss_before_mb']:.0f} |"
        )
    lines += [
        "",
        "## Cost against batch size (10 qubits)",
        "",
        "| batch | seconds | ms per sample | chunk | peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for row in scaling["batch_sizes"]:
        lines.append(
            f"| {row['batch']:,} | {row['seconds']:.4f} | {row['ms_per_sample']:.4f} | "
            f"{row['chunk']} | {row['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "## Memory bound (16 qubits, each row a fresh process)",
        "",
        "The seed circuit's final layer is folded into the observables, so its weight gradient "
        "needs no adjoint sweep; the second row also differentiates with respect to the "
        "inputs, which runs the sweep (final states recomputed when they are not kept).",
        "",
        "| samples | gradient | seconds | ms per sample | chunk | final states kept "
        "| peak RSS (MB) | RSS before (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in scaling["memory"]:
        inputs = row.get("input_gradients", False)
        lines.append(
            f"| {row['batch']:,} | {'weights and inputs' if inputs else 'weights'} | "
            f"{row['seconds']:.1f} | {row['ms_per_sample']:.3f} | {row['chunk']} | "
            f"{row['final_states_kept'] if inputs else '-'} | **{row['peak_rss_mb']:.0f}** | "
            f"{row['rss_before_mb']:.0f} |"
        )
    lines += [
        "",
        "Goal: a 60,000-sample epoch at 16 qubits within 8 GB.",
        "",
        "![cost against qubits and batch size](statevector_scaling.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches (about 2 minutes)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for every timed path (default 1)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    import pennylane
    import qiskit
    import qiskit_machine_learning

    result = {
        "quick": args.quick,
        "machine": {
            "platform": f"{platform.machine()} {platform.system()}",
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {
            "torch": torch.__version__,
            "qiskit": qiskit.__version__,
            "qiskit_machine_learning": qiskit_machine_learning.__version__,
            "pennylane": pennylane.__version__,
        },
        "peers": _peers(args.quick, args.threads),
        "scaling": _scaling(args.quick, args.threads),
    }
    RESULTS.mkdir(exist_ok=True)
    _plot(result["scaling"], RESULTS / "statevector_scaling.png")
    write_results("statevector", result, _markdown(result))


if __name__ == "__main__":
    main()
