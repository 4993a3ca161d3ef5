"""Issue 22's goals for the compiled sweeps, measured in one run on one thread.

* The default model's training step (``dense``: 10 qubits, 20 features, 660 weights; forward,
  softmax cross-entropy, backward, Adam) at batch 256 and 1,000, per sample, forward and
  backward apart, three ways: the compiled sweeps; the torch kernels in the same process
  (``QMNIST_QISKIT_COMPILED=0``); and the code before the compiled path, a checkout of
  ``--base`` (``git worktree add``) timed by its own ``bench_default_speed.py`` in a child
  process. Goal: at least 2x faster per sample than that checkout.
* The first-call overhead: a child process with an empty cache directory builds the library
  (what the first forward pass inside ``qmnist train`` pays once per machine), a second one
  finds it. Goal: at most 10 s.
* Width: the ``layered`` preset (RX encoding, CNOT chain, RX and RY), 2 layers, a linear
  readout, at 14 and 18 qubits: the compiled sweeps, the torch kernels and PennyLane
  ``lightning.qubit`` with the adjoint method (``OMP_NUM_THREADS=1``, set before anything
  loads). Goal: at least 10x faster than lightning.qubit per sample.

Every figure is the minimum over repeats, after a warm-up step (the machine is shared).

Run: ``python benchmarks/bench_compiled.py [--base COMMIT] [--repeats N]``; results go to
``benchmarks/results/compiled_speed.json`` and ``.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from bench_default_speed import CIRCUITS, _module, step_seconds, time_steps  # noqa: E402
from results_io import ROOT, machine, write_results  # noqa: E402

from qmnist_qiskit import make_qnn  # noqa: E402
from qmnist_qiskit.circuits import input_scale_mask, preset_circuit  # noqa: E402
from qmnist_qiskit.engines.statevector import native  # noqa: E402
from qmnist_qiskit.model import QuantumClassifierModule, initial_weights  # noqa: E402
from qmnist_qiskit.readout import make_readout  # noqa: E402

LIGHTNING = {"device": "lightning.qubit", "diff_method": "adjoint"}
WIDTHS = {
    14: {"batch": 32, "repeats": 3, "peer_batch": 4},
    18: {"batch": 8, "repeats": 2, "peer_batch": 2},
}
"""Batch sizes and repeats per width (lightning.qubit takes about a second per sample at 18)."""
SMOKE_WIDTH = {"batch": 8, "repeats": 1, "peer_batch": 2}

_BASE_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    base = sys.argv[1]
    sys.path[:0] = [base, base + "/benchmarks"]
    torch.set_num_threads(1)
    import qmnist_qiskit
    from bench_default_speed import _step_seconds
    assert qmnist_qiskit.__file__.startswith(base), qmnist_qiskit.__file__
    for batch, repeats in json.loads(sys.argv[2]):
        print(json.dumps(_step_seconds("dense", batch, repeats)), flush=True)
    """
)

_LIBRARY_CHILD = textwrap.dedent(
    """
    import json
    from qmnist_qiskit.engines.statevector import native
    status = native.library_status()
    print(json.dumps({"compiled": status.compiled, "seconds": status.seconds,
                      "reason": status.reason}))
    """
)


def _with_compiled(enabled: bool, measure, *arguments, **keywords):
    previous = os.environ.get(native.DISABLE_VARIABLE)
    os.environ[native.DISABLE_VARIABLE] = "1" if enabled else "0"
    try:
        return measure(*arguments, **keywords)
    finally:
        if previous is None:
            del os.environ[native.DISABLE_VARIABLE]
        else:
            os.environ[native.DISABLE_VARIABLE] = previous


def _base_checkout(commit: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"qmnist-base-{commit[:12]}"
    if not folder.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(folder), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return folder


def _base_runs(commit: str, plan: list[tuple[int, int]]) -> list[dict]:
    folder = _base_checkout(commit)
    completed = subprocess.run(
        [sys.executable, "-c", _BASE_CHILD, str(folder), json.dumps(plan)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    runs = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    for run in runs:
        run["engine"] = f"statevector at {commit[:7]}"
    return runs


def _first_call() -> dict:
    """Library build in a process with an empty cache, then the lookup in a second one."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        env.pop(native.DISABLE_VARIABLE, None)
        results = []
        for _ in range(2):
            completed = subprocess.run(
                [sys.executable, "-c", _LIBRARY_CHILD],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                timeout=600,
            )
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return {"cold": results[0], "warm": results[1]}


def _width_step(qubits: int, batch: int, repeats: int, engine: str, options: dict) -> dict:
    spec = preset_circuit("layered", qubits, 2, n_features=qubits)
    qnn = make_qnn(*spec, engine=engine, **options)
    weights = initial_weights(input_scale_mask(spec), torch.Generator().manual_seed(0))
    module = QuantumClassifierModule(qnn, weights, make_readout("linear", qubits, 10))
    return {"qubits": qubits, "batch": batch, **time_steps(module, qubits, batch, repeats)}


def _width(widths: dict) -> list[dict]:
    rows = []
    for qubits, plan in widths.items():
        row = {"qubits": qubits}
        for key, enabled in (("compiled", True), ("torch", False)):
            run = _with_compiled(
                enabled, _width_step, qubits, plan["batch"], plan["repeats"], "statevector", {}
            )
            row[key] = run
            print(json.dumps({key: run}), flush=True)
        row["lightning"] = _width_step(qubits, plan["peer_batch"], 1, "pennylane", LIGHTNING)
        print(json.dumps({"lightning": row["lightning"]}), flush=True)
        compiled = row["compiled"]["ms_per_sample"]
        row["lightning_over_compiled"] = row["lightning"]["ms_per_sample"] / compiled
        row["torch_over_compiled"] = row["torch"]["ms_per_sample"] / compiled
        rows.append(row)
    return rows


BREAKDOWN = {
    "compiled sweeps (gates, observables, adjoint pass)": (
        "PauliExpectations",
        "PauliExpectationsBackward",
    ),
    "binding: rotation runs (C)": (
        "_CompiledRotationProducts",
        "_CompiledRotationProductsBackward",
    ),
    "binding: polynomial angles (C)": ("_CompiledTerms", "_CompiledTermsBackward"),
}
"""Parts of the compiled step, by the autograd functions that run them (self CPU time)."""


def _breakdown(batch: int = 256, steps: int = 5) -> dict:
    """Where the compiled step's time goes: ``torch.profiler`` self CPU time over ``steps``
    steps of the default model, by :data:`BREAKDOWN`; everything else (readout, loss, Adam,
    torch glue between the calls) is "other". The profiler's own cost per operation falls
    mostly on "other", so it is an upper bound there."""
    from torch.profiler import ProfilerActivity, profile

    module, _ = _module("dense", "statevector", {})
    time_steps(module, CIRCUITS["dense"]["n_features"], batch, 1)  # builds and warms up
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(2)
    inputs = torch.rand(batch, CIRCUITS["dense"]["n_features"], generator=generator).double()
    targets = torch.randint(0, 10, (batch,), generator=generator)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(module(inputs * math.pi), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    self_us = {event.key: event.self_cpu_time_total for event in profiler.key_averages()}
    total = sum(self_us.values())
    parts = {name: sum(self_us.get(key, 0.0) for key in keys) for name, keys in BREAKDOWN.items()}
    parts["other (readout, loss, Adam, torch glue; profiler overhead)"] = total - sum(
        parts.values()
    )
    return {
        "batch": batch,
        "steps": steps,
        "ms_per_step": {name: value / 1000 / steps for name, value in parts.items()},
        "share": {name: value / total for name, value in parts.items()},
    }


def _markdown(result: dict) -> str:
    lines = [
        "# Compiled sweeps: the default model's training step, first call and width",
        "",
        f"One torch thread, `OMP_NUM_THREADS={result['omp_threads']}`; minimum over repeats; "
        f"1-minute load average before / after: {result['load_before']:.2f} / "
        f"{result['load_after']:.2f}. 'before' is commit `{result['base'][:7]}` (the code "
        "before the compiled path), timed in a child process from a `git worktree` checkout, "
        "before and after this process's runs (the faster of the two kept).",
        "",
        "## Training step of the default model (`dense`, 10 qubits, 660 weights)",
        "",
        "| path | batch | repeats | ms per sample | forward ms | backward ms "
        "| backward / forward |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["steps"]:
        lines.append(
            f"| {run['engine']} | {run['batch']} | {run['repeats']} | "
            f"{run['ms_per_sample']:.4f} | {1000 * run['forward_s']:.1f} | "
            f"{1000 * run['backward_s']:.1f} | {run['backward_over_forward']:.2f} |"
        )
    lines += ["", "Ratios per sample, same run:", ""]
    for batch, ratio in result["ratios"].items():
        lines.append(
            f"- batch {batch}: before / compiled **{ratio['base_over_compiled']:.2f}x** "
            f"(goal at least 2x); torch kernels / compiled {ratio['torch_over_compiled']:.2f}x"
        )
    breakdown = result.get("breakdown")
    if breakdown:
        lines += [
            "",
            f"Where the compiled step goes (batch {breakdown['batch']}, `torch.profiler` self "
            f"CPU time over {breakdown['steps']} steps, which the profiler itself slows):",
            "",
            "| part | ms per step | share |",
            "|---|---|---|",
        ]
        for name, share in breakdown["share"].items():
            lines.append(f"| {name} | {breakdown['ms_per_step'][name]:.1f} | {100 * share:.0f}% |")
    first = result["first_call"]
    lines += [
        "",
        "## First-call overhead",
        "",
        f"- Empty cache (the compiler runs): **{first['cold']['seconds']:.2f} s** "
        f"(compiled: {first['cold']['compiled']}); goal at most 10 s.",
        f"- Second process, cached library: {first['warm']['seconds']:.3f} s "
        f"(compiled: {first['warm']['compiled']}).",
        "",
        "## Width: `layered`, 2 layers, linear readout (ms per sample per training step)",
        "",
        "| qubits | compiled | torch kernels | lightning.qubit adjoint | lightning / compiled |",
        "|---|---|---|---|---|",
    ]
    for row in result["width"]:
        lines.append(
            f"| {row['qubits']} | {row['compiled']['ms_per_sample']:.3f} "
            f"(batch {row['compiled']['batch']}) | {row['torch']['ms_per_sample']:.3f} | "
            f"{row['lightning']['ms_per_sample']:.1f} (batch {row['lightning']['batch']}) | "
            f"**{row['lightning_over_compiled']:.1f}x** (goal at least 10x) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base",
        default="00cf393372f1c05c486140ff4eb62c0bdb3a4fcf",
        help="commit of the code before the compiled path",
    )
    parser.add_argument(
        "--widths", default="14,18", help="qubit counts of the width table (others: a smoke run)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed steps at batch 256")
    parser.add_argument("--output", default="compiled_speed", help="results file name")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    plan = [(256, args.repeats), (1000, max(2, args.repeats // 3))]
    # The checkout is timed before and after this process's runs, and the faster of its two
    # runs kept, so that a change in the machine's load does not favour either side.
    base_first = _base_runs(args.base, plan)
    steps = []
    for batch, repeats in plan:
        for engine, enabled in (("compiled", True), ("torch kernels", False)):
            run = _with_compiled(enabled, step_seconds, "dense", batch, repeats)
            run.update(engine=engine, repeats=repeats)
            steps.append(run)
            print(json.dumps(run), flush=True)
    base_second = _base_runs(args.base, plan)
    for first, second, (_, repeats) in zip(base_first, base_second, plan, strict=True):
        run = min(first, second, key=lambda run: run["ms_per_sample"])
        run["repeats"] = repeats
        run["runs_ms_per_sample"] = [first["ms_per_sample"], second["ms_per_sample"]]
        steps.append(run)
        print(json.dumps(run), flush=True)
    by_key = {(run["engine"].split(" at ")[0], run["batch"]): run for run in steps}
    ratios = {
        batch: {
            "base_over_compiled": by_key[("statevector", batch)]["ms_per_sample"]
            / by_key[("compiled", batch)]["ms_per_sample"],
            "torch_over_compiled": by_key[("torch kernels", batch)]["ms_per_sample"]
            / by_key[("compiled", batch)]["ms_per_sample"],
        }
        for batch, _ in plan
    }
    breakdown = _breakdown()
    print(json.dumps(breakdown), flush=True)
    first_call = _first_call()
    print(json.dumps(first_call), flush=True)
    width = _width(
        {qubits: WIDTHS.get(qubits, SMOKE_WIDTH) for qubits in map(int, args.widths.split(","))}
    )
    result = {
        "machine": machine(),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "base": args.base,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "steps": steps,
        "ratios": ratios,
        "breakdown": breakdown,
        "first_call": first_call,
        "width": width,
    }
    write_results(args.output, result, _markdown(result))


if __name__ == "__main__":
    main()
