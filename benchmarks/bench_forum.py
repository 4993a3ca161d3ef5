"""The 2019 forum benchmark, redone with today's tools, next to the thread's figures.

In 2019 one evaluation of the 10-qubit seed circuit on PennyLane's default.qubit took 2.35 s
and the loss gradient over a batch of 4 images took 200 s (50 s per image): parameter shift
needs 2 evaluations per weight (20 weights) on top of the forward pass, per image. This
script times, for the same circuit at 10 qubits, on every engine and PennyLane device here:

* one circuit evaluation (one image, all 10 expectations), as the thread's ``%timeit``;
* the gradient of the mean softmax cross-entropy over a batch of 4 images, per image, the
  way each path is used for training (torch autograd through ``torch_forward`` or the
  generic bridge; ``qml.grad`` of the thread's cost for the forum's own code).

Every gradient is also compared with the statevector engine's, so the rows are seen to
compute the same thing (shot rows differ by shot noise). Each timing is the minimum over
repeats (the CPU is shared), within a time budget per path.

Run ``python benchmarks/bench_forum.py`` (about 2 to 4 minutes); it writes
``benchmarks/results/forum.json`` and ``forum.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pennylane as qml
import qiskit
import qiskit_aer
import torch
from pennylane import numpy as pnp
from qiskit_machine_learning.neural_networks import NeuralNetwork
from results_io import RESULTS, write_results

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines import make_qnn, qnn_torch_forward
from qmnist_qiskit.engines.pennylane import original_loss, original_qnode

N_QUBITS = 10
BATCH = 4

# The thread's figures: seconds per evaluation (and per image gradient for default.qubit).
FORUM_2019 = [
    ("PennyLane default.qubit", 2.35, 50.0),
    ("Forest pyQVM NumpyWavefunction", 0.293, None),
    ("Forest Wavefunction", 0.350, None),
    ("Forest QVM (1024 shots)", 5.6, None),
    ("Forest pyQVM (1024 shots)", 0.00671, None),
    ("Qiskit Basic Aer (1024 shots)", 0.179, None),
    ("Qiskit Aer (1024 shots)", 0.162, None),
    ("ProjectQ (1024 shots)", 0.0605, None),
]


@dataclass
class Row:
    """One path: seconds per evaluation and per image of the batch gradient."""

    path: str
    year: int
    evaluation_s: float | None
    gradient_per_image_s: float | None
    max_difference: float | None = None
    note: str = ""


def _best(function: Callable[[], object], repeats: int, budget_s: float) -> float:
    """Minimum wall time of ``function`` over up to ``repeats`` runs within ``budget_s``."""
    best = float("inf")
    spent = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget_s:
            break
    return best


Data = tuple[np.ndarray, np.ndarray, np.ndarray]


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's thread count to ``threads`` for the block (None: leave it)."""
    if threads is None:
        yield
        return
    # lightning's OpenMP calls land in the runtime torch loaded first, so torch's thread
    # count is lightning's too: measured both ways, since on a busy CPU spinning threads
    # can cost more than they give at 1,024 amplitudes.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _engine_gradient(
    qnn: NeuralNetwork, inputs: np.ndarray, weights: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    trainable = torch.tensor(weights, requires_grad=True)
    scores = qnn_torch_forward(qnn, torch.tensor(inputs), trainable)
    torch.nn.functional.cross_entropy(scores.to(torch.float64), torch.as_tensor(labels)).backward()
    return trainable.grad.numpy()


def _engine_row(
    name: str,
    qnn: NeuralNetwork,
    data: Data,
    reference: np.ndarray | None,
    repeats: int,
    budget_s: float,
    *,
    gradient: bool = True,
    note: str = "",
) -> Row:
    inputs, weights, labels = data
    evaluation = _best(lambda: qnn.forward(inputs[:1], weights), repeats, budget_s)
    if not gradient:
        return Row(name, 2026, evaluation, None, None, note)
    result = _engine_gradient(qnn, *data)
    per_batch = _best(lambda: _engine_gradient(qnn, *data), repeats, budget_s)
    difference = None if reference is None else float(np.abs(result - reference).max())
    return Row(name, 2026, evaluation, per_batch / BATCH, difference, note)


def _forum_row(
    name: str,
    diff_method: str,
    data: Data,
    reference: np.ndarray,
    repeats: int,
    budget_s: float,
    note: str,
) -> Row:
    """The thread's own code: a QNode per image, ``qml.grad`` of its cost over the batch."""
    inputs, weights, labels = data
    qnode = original_qnode(N_QUBITS, interface="autograd", diff_method=diff_method)
    x = pnp.array(inputs, requires_grad=False)
    thetas = pnp.array(weights, requires_grad=True)

    def cost(images: pnp.ndarray, true_labels: np.ndarray, angles: pnp.ndarray) -> pnp.ndarray:
        scores = [qml.math.stack(qnode(images[i], angles)) for i in range(len(images))]
        return original_loss(qml.math.stack(scores), true_labels)

    def gradient() -> pnp.ndarray:
        return qml.grad(cost, argnums=2)(x, labels, thetas)

    evaluation = _best(lambda: qnode(x[0], thetas), repeats, budget_s)
    difference = float(np.abs(np.asarray(gradient()) - reference).max())
    per_batch = _best(gradient, repeats, budget_s)
    return Row(name, 2026, evaluation, per_batch / BATCH, difference, note)


def _paths(data: Data, repeats: int, budget_s: float) -> list[Row]:
    spec = seed_circuit(N_QUBITS)
    reference = _engine_gradient(make_qnn(*spec, engine="statevector"), *data)
    rows = [
        _engine_row(
            "qmnist statevector engine (torch)",
            make_qnn(*spec, engine="statevector"),
            data,
            reference,
            repeats,
            budget_s,
            note="reference gradient",
        ),
        _engine_row(
            "qmnist aer engine, exact",
            make_qnn(*spec, engine="aer"),
            data,
            reference,
            repeats,
            budget_s,
            note="batched parameter shift",
        ),
        _engine_row(
            "qmnist aer engine, 1024 shots",
            make_qnn(*spec, engine="aer", shots=1024, seed=0),
            data,
            reference,
            repeats,
            budget_s,
            note="batched parameter shift; differs by shot noise",
        ),
    ]
    for device, threads, note in [
        ("default.qubit", None, "torch, broadcasting, backprop"),
        ("lightning.qubit", None, "adjoint, one image at a time"),
        ("lightning.qubit", 1, "adjoint, one image at a time, torch.set_num_threads(1)"),
        ("qiskit.aer", None, "parameter shift, one image at a time, exact"),
    ]:
        name = f"qmnist pennylane engine, {device}" + (", 1 thread" if threads else "")
        with _torch_threads(threads):
            rows.append(
                _engine_row(
                    name,
                    make_qnn(*spec, engine="pennylane", device=device),
                    data,
                    reference,
                    repeats,
                    budget_s,
                    note=note,
                )
            )
    rows.append(
        _engine_row(
            "qmnist pennylane engine, qiskit.aer, 1024 shots",
            make_qnn(*spec, engine="pennylane", device="qiskit.aer", shots=1024, seed=0),
            data,
            None,
            repeats,
            budget_s,
            gradient=False,
            note="as the thread's Qiskit Aer row",
        )
    )
    rows.append(
        _forum_row(
            "forum code, default.qubit, parameter shift",
            "parameter-shift",
            data,
            reference,
            repeats,
            budget_s,
            "2019's gradient method on today's simulator",
        )
    )
    rows.append(
        _forum_row(
            "forum code, default.qubit, backprop",
            "backprop",
            data,
            reference,
            repeats,
            budget_s,
            "today's default for default.qubit",
        )
    )
    return rows


def _milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    milliseconds = 1000 * seconds
    return f"{milliseconds:,.0f}" if milliseconds >= 100 else f"{milliseconds:.3g}"


def _markdown(rows: list[Row], machine: dict) -> str:
    baseline_evaluation, baseline_gradient = FORUM_2019[0][1], FORUM_2019[0][2]
    lines = [
        "# The forum benchmark, 2019 and today",
        "",
        "Seed circuit, 10 qubits; loss gradient over a batch of 4 images, per image. "
        "Minimum over repeats on a shared CPU "
        f"({machine['cpus']} cores, {machine['torch_threads']} OpenMP threads; "
        f"torch {machine['torch']}, "
        f"PennyLane {machine['pennylane']}, Qiskit {machine['qiskit']}, "
        f"Aer {machine['qiskit_aer']}); 1-minute load average "
        f"{machine['load_average_at_start']:.1f} at the start, "
        f"{machine['load_average_at_end']:.1f} at the end.",
        "",
        "| path | year | ms / evaluation | ms / image gradient | gradient / evaluation "
        "| speed-up vs 2019 gradient | max abs diff to reference | note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = speedup = "-"
        if row.evaluation_s and row.gradient_per_image_s:
            ratio = f"{row.gradient_per_image_s / row.evaluation_s:,.1f}"
        if row.gradient_per_image_s:
            speedup = f"{baseline_gradient / row.gradient_per_image_s:,.0f}x"
        difference = "-" if row.max_difference is None else f"{row.max_difference:.1e}"
        lines.append(
            f"| {row.path} | {row.year} | {_milliseconds(row.evaluation_s)} "
            f"| {_milliseconds(row.gradient_per_image_s)} | {ratio} | {speedup} | {difference} "
            f"| {row.note} |"
        )
    today = {row.path: row for row in rows if row.year == 2026}
    forum_shift = today["forum code, default.qubit, parameter shift"]
    lightning = today["qmnist pennylane engine, lightning.qubit"]
    single = today["qmnist pennylane engine, lightning.qubit, 1 thread"]
    fastest = min(
        (row for row in today.values() if row.gradient_per_image_s),
        key=lambda row: row.gradient_per_image_s,
    )
    lines += [
        "",
        "Where the 50 s per image went: the thread's own code, gradient method unchanged "
        f"(parameter shift), now takes {_milliseconds(forum_shift.gradient_per_image_s)} ms per "
        f"image, {baseline_gradient / forum_shift.gradient_per_image_s:,.0f}x less, because one "
        f"evaluation fell from {_milliseconds(baseline_evaluation)} ms to "
        f"{_milliseconds(forum_shift.evaluation_s)} ms; the cost of a gradient is still about "
        f"{forum_shift.gradient_per_image_s / forum_shift.evaluation_s:,.0f} evaluations (2 per "
        "weight plus the forward pass, and per-call overhead). Reverse-mode methods "
        "(backprop, adjoint) and batching cut that to a few evaluations: the fastest path here, "
        f"{fastest.path}, takes {_milliseconds(fastest.gradient_per_image_s)} ms per image, "
        f"{baseline_gradient / fastest.gradient_per_image_s:,.0f}x less than in 2019.",
        "",
        "lightning.qubit runs its OpenMP loops in the runtime torch loaded, so torch's thread "
        f"count is its own: {_milliseconds(lightning.gradient_per_image_s)} ms per image "
        f"gradient with {machine['torch_threads']} threads, "
        f"{_milliseconds(single.gradient_per_image_s)} ms with 1 (`torch.set_num_threads(1)`). "
        "Which wins depends on the load: on a busy shared CPU spinning threads can cost far "
        "more than they give.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Time every path, print the table, write ``forum.json`` and ``forum.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (minimum kept)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per timing at most")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    rng = np.random.default_rng(0)
    data = (
        rng.uniform(0, np.pi, (BATCH, N_QUBITS)),
        rng.uniform(-np.pi, np.pi, 2 * N_QUBITS),
        rng.integers(0, N_QUBITS, BATCH),
    )
    machine = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg()[0],
        "torch": torch.__version__,
        "pennylane": qml.__version__,
        "qiskit": qiskit.__version__,
        "qiskit_aer": qiskit_aer.__version__,
    }
    start = time.perf_counter()
    rows = [Row(name, 2019, evaluation, gradient) for name, evaluation, gradient in FORUM_2019]
    rows += _paths(data, args.repeats, args.budget)
    machine["load_average_at_end"] = os.getloadavg()[0]
    results = {
        "machine": machine,
        "n_qubits": N_QUBITS,
        "batch_size": BATCH,
        "repeats": args.repeats,
        "wall_s": time.perf_counter() - start,
        "rows": [asdict(row) for row in rows],
    }
    write_results("forum", results, _markdown(rows, machine), directory=args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
