"""Per-sample training-step cost of the statevector engine on a CUDA GPU against the CPU.

What is measured, in one process:

* one training step per sample (``qnn.torch_forward(inputs, weights)`` with ``weights`` a
  float64 tensor on the device that requires grad, loss = sum of squares of the outputs,
  backward) of the default circuit (``dense``: 10 qubits, 20 features, 3 layers) and of the
  original ``seed`` circuit (10 qubits), built with
  ``make_qnn(..., engine="statevector", device=DEVICE)``;
* on ``cuda`` at batch 256, 4096 and 60000 (the last skipped, and said so, when it does not
  fit in GPU memory), with ``torch.cuda.synchronize()`` around every timed region;
* on ``cpu`` with 16 torch threads (or as many cores as there are, if fewer) at batch 256 and
  4096, for the CPU / GPU ratio;
* the seed circuit on 16 and 20 qubits at batch 256 on ``cuda`` (states of 1 and 16 MiB);
* exactness on the GPU: the dense circuit's outputs (and weight gradients) on ``cuda`` against
  those on ``cpu`` for a batch of 64, max abs difference, tolerance 1e-10.

Every figure is the minimum over 5 timed steps after 2 warm-up steps. A time budget
(``--time-budget``, seconds) bounds the whole run: a slow row gets fewer timed steps, and rows
not started when the budget is spent are recorded as skipped. Without CUDA the cuda rows and
the exactness check are skipped (and said so); the CPU rows still run.

Run: ``python benchmarks/bench_gpu.py [--output-dir DIR] [--quick]``; results go to
``DIR/gpu.json`` and ``DIR/gpu.md`` (``benchmarks/results`` by default), rewritten after every
row so that an interrupted run still leaves its finished rows. ``--quick`` is a smoke test:
batch 32 and one timed step after one warm-up.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from results_io import RESULTS, run_record, write_results

import qmnist_qiskit
from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import input_scale_mask, preset_circuit, seed_circuit
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.model import initial_weights

TOLERANCE = 1e-10
EXACT_BATCH = 64


def _spec(name: str):
    """``(spec, number of features)`` of a named benchmark circuit."""
    if name == "dense":
        spec = preset_circuit("dense", 10, 3, n_features=20)
    elif name.startswith("seed"):
        spec = seed_circuit(int(name[4:] or 10))
    else:
        raise ValueError(name)
    return spec, len(spec.input_params)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def _data(spec, features: int, batch: int, device: str, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, features, generator=generator, dtype=torch.float64) * torch.pi
    weights = initial_weights(input_scale_mask(spec), torch.Generator().manual_seed(0))
    return inputs.to(device), weights.to(device).requires_grad_(True)


def _step_seconds(
    name: str, device: str, batch: int, repeats: int, warmups: int, seconds_left: float
) -> dict:
    """Minimum seconds of a training step, of its forward and of its backward pass."""
    spec, features = _spec(name)
    qnn = make_qnn(*spec, engine="statevector", device=device)
    inputs, weights = _data(spec, features, batch, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    best = {"step": float("inf"), "forward": float("inf"), "backward": float("inf")}
    done = 0
    planned = warmups + repeats
    step = 0
    row_start = time.perf_counter()
    while step < planned:
        weights.grad = None
        _sync(device)
        start = time.perf_counter()
        loss = qnn.torch_forward(inputs, weights).square().sum()
        _sync(device)
        middle = time.perf_counter()
        loss.backward()
        _sync(device)
        end = time.perf_counter()
        del loss
        step += 1
        if step > warmups:
            done += 1
            best["step"] = min(best["step"], end - start)
            best["forward"] = min(best["forward"], middle - start)
            best["backward"] = min(best["backward"], end - middle)
        elif step == warmups:
            # A slow row gets as many timed steps as the budget leaves (at least one).
            spent = time.perf_counter() - row_start
            per_step = max(end - start, 1e-9)
            affordable = int((seconds_left - spent) / per_step)
            planned = warmups + max(1, min(repeats, affordable))
    row = {
        "circuit": name,
        "num_qubits": spec.circuit.num_qubits,
        "num_weights": len(spec.weight_params),
        "device": device,
        "batch": batch,
        "status": "ok",
        "timed_steps": done,
        "step_s": best["step"],
        "forward_s": best["forward"],
        "backward_s": best["backward"],
        "ms_per_sample": 1000 * best["step"] / batch,
    }
    if device == "cuda":
        row["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    del qnn, inputs, weights
    return row


def _exactness() -> dict:
    """Outputs and weight gradients of the dense circuit on cuda against cpu, batch 64."""
    spec, features = _spec("dense")
    results = {}
    for device in ("cpu", "cuda"):
        qnn = make_qnn(*spec, engine="statevector", device=device)
        inputs, weights = _data(spec, features, EXACT_BATCH, device, seed=7)
        outputs = qnn.torch_forward(inputs, weights)
        outputs.square().sum().backward()
        results[device] = (outputs.detach().cpu(), weights.grad.detach().cpu())
    output_diff = (results["cuda"][0] - results["cpu"][0]).abs().max().item()
    grad_diff = (results["cuda"][1] - results["cpu"][1]).abs().max().item()
    return {
        "circuit": "dense",
        "batch": EXACT_BATCH,
        "tolerance": TOLERANCE,
        "max_abs_diff_outputs": output_diff,
        "max_abs_diff_weight_grad": grad_diff,
        "outputs_pass": output_diff <= TOLERANCE,
        "weight_grad_pass": grad_diff <= TOLERANCE,
    }


def _plan(quick: bool, cuda: bool) -> list[tuple[str, str, int]]:
    """``(circuit, device, batch)`` rows, cuda first (the point of the run)."""
    gpu_batches = [32] if quick else [256, 4096, 60000]
    cpu_batches = [32] if quick else [256, 4096]
    small = 32 if quick else 256
    rows = [(name, "cuda", batch) for name in ("seed", "dense") for batch in gpu_batches]
    rows += [("seed16", "cuda", small), ("seed20", "cuda", small)]
    rows += [(name, "cpu", batch) for name in ("seed", "dense") for batch in cpu_batches]
    return rows


def _ratios(runs: list[dict]) -> dict[tuple[str, int], float]:
    """CPU ms per sample / GPU ms per sample, for every (circuit, batch) timed on both."""
    ok = {(r["circuit"], r["device"], r["batch"]): r for r in runs if r["status"] == "ok"}
    return {
        (name, batch): ok[(name, "cpu", batch)]["ms_per_sample"] / run["ms_per_sample"]
        for (name, device, batch), run in ok.items()
        if device == "cuda" and (name, "cpu", batch) in ok
    }


def _markdown(result: dict) -> str:
    machine = result["machine"]
    lines = [
        "# Statevector engine on the GPU: training step per sample",
        "",
        f"GPU: **{machine['gpu'] or 'none (CUDA absent: cuda rows skipped)'}**; torch "
        f"{machine['torch']} (CUDA {machine['torch_cuda']}); CPU rows on "
        f"{machine['torch_threads']} torch threads of {machine['cpu_count']} cores; "
        f"qmnist_qiskit {result['package_version']} from `{result['package_path']}`; "
        f"minimum of {result['repeats']} timed steps after {result['warmups']} warm-ups "
        f"(fewer where the time budget of {result['time_budget_s']:.0f} s required); "
        f"step = `torch_forward`, sum of squares, backward.",
        "",
        "| circuit | qubits | device | batch | ms per sample | step ms | CPU / GPU |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = _ratios(result["runs"])
    for run in result["runs"]:
        if run["status"] != "ok":
            continue
        ratio = ratios.get((run["circuit"], run["batch"])) if run["device"] == "cuda" else None
        lines.append(
            f"| {run['circuit']} | {run['num_qubits']} | {run['device']} | {run['batch']} | "
            f"{run['ms_per_sample']:.5f} | {1000 * run['step_s']:.2f} | "
            f"{f'{ratio:.1f}x' if ratio is not None else ''} |"
        )
    skipped = [run for run in result["runs"] if run["status"] != "ok"]
    if skipped:
        lines += ["", "Skipped:", ""]
        lines += [
            f"- {run['circuit']} on {run['device']} at batch {run['batch']}: {run['reason']}"
            for run in skipped
        ]
    exact = result["exactness"]
    lines += ["", "Exactness (dense circuit, cuda against cpu):", ""]
    if "skipped" in exact:
        lines.append(f"- skipped: {exact['skipped']}")
    elif "error" in exact:
        lines.append(f"- failed to run: {exact['error']}")
    else:
        lines.append(
            f"- batch {exact['batch']}: max abs difference of the outputs "
            f"**{exact['max_abs_diff_outputs']:.3g}**, of the weight gradients "
            f"{exact['max_abs_diff_weight_grad']:.3g} (tolerance {exact['tolerance']:g}): "
            f"{'PASS' if exact['outputs_pass'] and exact['weight_grad_pass'] else 'FAIL'}"
        )
    return "\n".join(lines) + "\n"


def _write(result: dict, output_dir: Path, run: dict) -> None:
    write_results("gpu", result, _markdown(result), directory=output_dir, run=run, echo=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per row")
    parser.add_argument("--warmups", type=int, default=2, help="untimed steps per row")
    parser.add_argument("--threads", type=int, default=16, help="torch threads for cpu rows")
    parser.add_argument(
        "--time-budget", type=float, default=150.0, help="seconds for all rows together"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: batch 32, 1 warm-up, 1 timed step"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmups = 1, 1
    began = time.perf_counter()
    cuda = torch.cuda.is_available()
    threads = max(1, min(args.threads, os.cpu_count() or 1))
    torch.set_num_threads(threads)
    if not cuda:
        print("CUDA is not available: cuda rows and the exactness check are skipped", flush=True)
    result = {
        "machine": {
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
        },
        "package_version": qmnist_qiskit.__version__,
        "package_path": str(Path(qmnist_qiskit.__file__).parent.parent),
        "quick": args.quick,
        "repeats": args.repeats,
        "warmups": args.warmups,
        "time_budget_s": args.time_budget,
        "exactness": {},
        "runs": [],
    }
    if cuda:
        try:
            result["exactness"] = _exactness()
        except Exception as error:  # noqa: BLE001 - recorded, and the timings still run
            result["exactness"] = {"error": f"{type(error).__name__}: {error}"[:500]}
        _free("cuda")
    else:
        result["exactness"] = {"skipped": "CUDA is not available"}
    print(json.dumps({"exactness": result["exactness"]}), flush=True)
    run = run_record()
    _write(result, args.output_dir, run)
    for name, device, batch in _plan(args.quick, cuda):
        seconds_left = args.time_budget - (time.perf_counter() - began)
        skip = None
        if device == "cuda" and not cuda:
            skip = "CUDA is not available"
        elif seconds_left <= 0:
            skip = "time budget spent"
        if skip is None:
            try:
                run = _step_seconds(name, device, batch, args.repeats, args.warmups, seconds_left)
            except (torch.cuda.OutOfMemoryError, QMNISTError, MemoryError) as error:
                skip = f"does not fit: {type(error).__name__}: {str(error)[:300]}"
            except Exception as error:  # noqa: BLE001 - one failing row must not stop the rest
                skip = f"failed: {type(error).__name__}: {str(error)[:300]}"
            _free(device)
        if skip is not None:
            spec, _ = _spec(name)
            run = {
                "circuit": name,
                "num_qubits": spec.circuit.num_qubits,
                "device": device,
                "batch": batch,
                "status": "skipped",
                "reason": skip,
            }
        print(json.dumps(run), flush=True)
        result["runs"].append(run)
        result["elapsed_s"] = time.perf_counter() - began
        _write(result, args.output_dir, run)
    result["ratios_cpu_over_gpu"] = {
        f"{name}@{batch}": ratio for (name, batch), ratio in _ratios(result["runs"]).items()
    }
    result["elapsed_s"] = time.perf_counter() - began
    write_results("gpu", result, _markdown(result), directory=args.output_dir, run=run)
    exact = result["exactness"]
    return 1 if "error" in exact or exact.get("outputs_pass") is False else 0


if __name__ == "__main__":
    sys.exit(main())
