"""Per-sample training cost of the default circuit against the seed circuit and PennyLane.

Issue 10's speed goals, measured side by side in one process on one torch thread:

* one training step (forward, softmax cross-entropy, backward, Adam step) of the classifier's
  torch module at batch 256, per sample, for the default circuit (``dense``: 10 qubits, 20
  features, 3 layers, 660 weights), ``reupload`` (10 features, 3 layers) and the original
  ``seed`` circuit; the forward and the backward pass timed apart (the backward of circuits with
  per-sample gates in the middle);
* the seed circuit at batch 1000 as well (what is paid per batch rather than per sample);
* the default circuit on PennyLane ``default.qubit`` (torch interface, broadcasting over the
  batch, backprop), the same module and step.

Every figure is the minimum over repeats (the machine is shared). Goals: default at most 4x
the seed circuit per sample at batch 256; at least 200x faster than default.qubit per sample.

Run: ``python benchmarks/bench_default_speed.py [--repeats N] [--output NAME]``; results go to
``benchmarks/results/NAME.json`` and ``.md`` (``default_speed`` by default). ``--no-peer``
skips PennyLane (for timing an older checkout of the package with ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from results_io import machine, write_results

import qmnist_qiskit
from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import input_scale_mask, preset_circuit
from qmnist_qiskit.model import QuantumClassifierModule, initial_weights
from qmnist_qiskit.readout import make_readout

CIRCUITS = {
    "dense": {"reps": 3, "n_features": 20},
    "reupload": {"reps": 3, "n_features": 10},
    "seed": {"reps": 1, "n_features": 10},
}


def _module(name: str, engine: str, options: dict) -> tuple[QuantumClassifierModule, int]:
    settings = CIRCUITS[name]
    spec = preset_circuit(name, 10, settings["reps"], n_features=settings["n_features"])
    qnn = make_qnn(*spec, engine=engine, **options)
    weights = initial_weights(input_scale_mask(spec), torch.Generator().manual_seed(0))
    return QuantumClassifierModule(qnn, weights, make_readout("auto", 10, 10)), len(
        spec.weight_params
    )


def time_steps(module: torch.nn.Module, features: int, batch: int, repeats: int) -> dict:
    """Minimum seconds of a whole training step of ``module`` (cross-entropy over 10 classes,
    Adam), of its forward and of its backward pass, on ``batch`` random inputs in [0, pi]."""
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(batch, features, generator=generator, dtype=torch.float64) * np.pi
    targets = torch.randint(0, 10, (batch,), generator=generator)
    best = {"step": float("inf"), "forward": float("inf"), "backward": float("inf")}
    for _ in range(repeats + 1):  # the first step warms up
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(module(inputs), targets)
        middle = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        after_backward = time.perf_counter()
        optimizer.step()
        end = time.perf_counter()
        best["step"] = min(best["step"], end - start)
        best["forward"] = min(best["forward"], middle - start)
        best["backward"] = min(best["backward"], after_backward - middle)
    return {
        "step_s": best["step"],
        "forward_s": best["forward"],
        "backward_s": best["backward"],
        "ms_per_sample": 1000 * best["step"] / batch,
        "backward_over_forward": best["backward"] / best["forward"],
    }


def step_seconds(
    name: str, batch: int, repeats: int, engine: str = "statevector", options: dict | None = None
) -> dict:
    """Minimum seconds of a whole training step, of its forward and of its backward pass."""
    module, num_weights = _module(name, engine, options or {})
    times = time_steps(module, CIRCUITS[name]["n_features"], batch, repeats)
    return {
        "circuit": name,
        "engine": engine,
        "batch": batch,
        "num_weights": num_weights,
        **times,
    }


def _markdown(result: dict) -> str:
    rows = result["runs"]
    lines = [
        "# Training-step cost of the default circuit",
        "",
        f"qmnist_qiskit {result['package_version']} from `{result['package_path']}`; "
        f"torch threads: {result['machine']['torch_threads']}; repeats: {result['repeats']} "
        f"(minimum kept); 1-minute load average before / after: "
        f"{result['load_before']:.1f} / {result['load_after']:.1f}.",
        "",
        "| circuit | engine | batch | ms per sample | forward ms | backward ms | "
        "backward / forward |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in rows:
        lines.append(
            f"| {run['circuit']} | {run['engine']} | {run['batch']} | "
            f"{run['ms_per_sample']:.4f} | {1000 * run['forward_s']:.1f} | "
            f"{1000 * run['backward_s']:.1f} | {run['backward_over_forward']:.2f} |"
        )
    ratios = result["ratios"]
    lines += ["", "Ratios, same process:", ""]
    lines.append(
        f"- default (dense) per sample / seed per sample, batch 256: "
        f"**{ratios['dense_over_seed']:.2f}x** (goal at most 4x)"
    )
    if "default_qubit_over_dense" in ratios:
        lines.append(
            f"- PennyLane default.qubit / statevector on the default circuit, per sample: "
            f"**{ratios['default_qubit_over_dense']:.0f}x** (goal at least 200x)"
        )
    lines.append(
        f"- seed at batch 256 / seed at batch 1000, per sample: "
        f"{ratios['seed_256_over_1000']:.2f}x (what is paid per batch)"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per run")
    parser.add_argument("--peer-repeats", type=int, default=2, help="timed default.qubit steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every path")
    parser.add_argument("--output", default="default_speed", help="results file name")
    parser.add_argument("--no-peer", action="store_true", help="skip PennyLane default.qubit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    runs = [step_seconds(name, 256, args.repeats) for name in ("seed", "dense", "reupload")]
    runs.append(step_seconds("seed", 1000, args.repeats))
    for run in runs:
        print(json.dumps(run), flush=True)
    by_key = {(run["circuit"], run["engine"], run["batch"]): run for run in runs}
    ratios = {
        "dense_over_seed": by_key[("dense", "statevector", 256)]["ms_per_sample"]
        / by_key[("seed", "statevector", 256)]["ms_per_sample"],
        "seed_256_over_1000": by_key[("seed", "statevector", 256)]["ms_per_sample"]
        / by_key[("seed", "statevector", 1000)]["ms_per_sample"],
    }
    if not args.no_peer:
        peer = step_seconds(
            "dense", 256, args.peer_repeats, engine="pennylane", options={"device": "default.qubit"}
        )
        print(json.dumps(peer), flush=True)
        runs.append(peer)
        ratios["default_qubit_over_dense"] = (
            peer["ms_per_sample"] / by_key[("dense", "statevector", 256)]["ms_per_sample"]
        )
    result = {
        "machine": machine(),
        "package_version": qmnist_qiskit.__version__,
        "package_path": str(Path(qmnist_qiskit.__file__).parent.parent),
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "runs": runs,
        "ratios": ratios,
    }
    write_results(args.output, result, _markdown(result))


if __name__ == "__main__":
    main()
