"""Aer engine: batched parameter-shift Jacobians against qiskit-machine-learning's defaults.

On a batch of random 10-feature inputs in [0, pi] for the 10-qubit seed circuit, times in one
process, side by side:

* ``baseline``: ``EstimatorQNN`` + Aer ``EstimatorV2`` (exact) + the default
  ``ParamShiftEstimatorGradient`` (one PUB per shifted parameter set and observable);
* ``estimatorqnn+batched``: the same ``EstimatorQNN`` with ``BatchedParamShiftGradient``;
* ``aerqnn``: ``make_aer_qnn`` (one broadcast PUB per Jacobian, tuned Aer options);

checks that their exact Jacobians are identical, prints the ratios, then measures Aer's
simulator options that matter for many small circuits on the ``aerqnn`` Jacobian, and what
each mode of the engine costs (shots, matrix product state, SPSA, noise as density matrix or
as trajectories). Other work may share the CPU, so every timing is the minimum over repeats,
the candidates interleaved (the baseline, seconds where the others take tenths, runs in the
first rounds only).

Run: ``python benchmarks/bench_aer.py`` (about 4 minutes on 2 cores); results go to
``benchmarks/results/aer.json`` and ``benchmarks/results/aer.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import qiskit
import qiskit_aer
import qiskit_machine_learning
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_aer.primitives import EstimatorV2
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN
from results_io import RESULTS, write_results

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.aer import BatchedParamShiftGradient, make_aer_qnn
from qmnist_qiskit.engines.aer.estimator import TUNED_BACKEND_OPTIONS

AER_OPTION_CANDIDATES: dict[str, dict] = {
    "Aer defaults": {"runtime_parameter_bind_enable": False},
    "runtime_parameter_bind_enable (chosen)": dict(TUNED_BACKEND_OPTIONS),
    "chosen + max_parallel_threads=1": {**TUNED_BACKEND_OPTIONS, "max_parallel_threads": 1},
    "max_parallel_threads=1": {"runtime_parameter_bind_enable": False, "max_parallel_threads": 1},
    "max_parallel_experiments=0 (all cores)": {
        "runtime_parameter_bind_enable": False,
        "max_parallel_experiments": 0,
    },
    "chosen + fusion_enable=False": {**TUNED_BACKEND_OPTIONS, "fusion_enable": False},
    "chosen + fusion_threshold=5 (fuse at 10 qubits)": {
        **TUNED_BACKEND_OPTIONS,
        "fusion_threshold": 5,
    },
    "chosen + statevector_parallel_threshold=5 (OpenMP at 10 qubits)": {
        **TUNED_BACKEND_OPTIONS,
        "statevector_parallel_threshold": 5,
    },
    "chosen + precision=single": {**TUNED_BACKEND_OPTIONS, "precision": "single"},
}


def _interleaved_minimum(
    candidates: dict[str, Callable[[], object]], repeats: int | dict[str, int]
) -> dict[str, float]:
    """Minimum seconds of each candidate; rounds run every candidate still due once."""
    counts = repeats if isinstance(repeats, dict) else dict.fromkeys(candidates, repeats)
    best = dict.fromkeys(candidates, float("inf"))
    for round_ in range(max(counts.values())):
        for name, function in candidates.items():
            if round_ < counts[name]:
                start = time.perf_counter()
                function()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def _jacobian_comparison(batch: int, repeats: int, baseline_repeats: int) -> dict:
    circuit, inputs, weights, observables = seed_circuit(10)
    rng = np.random.default_rng(2024)
    x = rng.uniform(0, np.pi, (batch, len(inputs)))
    w = rng.uniform(-np.pi, np.pi, len(weights))
    estimator = EstimatorV2(options={"default_precision": 0.0})
    common = dict(
        circuit=circuit,
        estimator=estimator,
        observables=observables,
        input_params=inputs,
        weight_params=weights,
        default_precision=0.0,
    )
    baseline = EstimatorQNN(gradient=ParamShiftEstimatorGradient(estimator), **common)
    drop_in = EstimatorQNN(gradient=BatchedParamShiftGradient(estimator), **common)
    aer_qnn = make_aer_qnn(circuit, inputs, weights, observables)

    jacobians = {
        "baseline": baseline.backward(x, w)[1],
        "estimatorqnn+batched": drop_in.backward(x, w)[1],
        "aerqnn": aer_qnn.backward(x, w)[1],
    }
    differences = {
        name: float(np.max(np.abs(jac - jacobians["baseline"])))
        for name, jac in jacobians.items()
        if name != "baseline"
    }
    forward_difference = float(np.max(np.abs(aer_qnn.forward(x, w) - baseline.forward(x, w))))
    seconds = _interleaved_minimum(
        {
            "baseline": lambda: baseline.backward(x, w),
            "estimatorqnn+batched": lambda: drop_in.backward(x, w),
            "aerqnn": lambda: aer_qnn.backward(x, w),
        },
        {"baseline": baseline_repeats, "estimatorqnn+batched": repeats, "aerqnn": repeats},
    )
    forward_seconds = _interleaved_minimum(
        {
            "baseline forward": lambda: baseline.forward(x, w),
            "aerqnn forward": lambda: aer_qnn.forward(x, w),
        },
        repeats,
    )
    return {
        "batch": batch,
        "jacobian": "weights (20 parameters), input_gradients=False",
        "seconds": seconds,
        "ms_per_image": {name: 1e3 * s / batch for name, s in seconds.items()},
        "speedup_vs_baseline": {
            name: seconds["baseline"] / s for name, s in seconds.items() if name != "baseline"
        },
        "max_abs_jacobian_difference_vs_baseline": differences,
        "max_abs_forward_difference_vs_baseline": forward_difference,
        "forward_seconds": forward_seconds,
        "forward_speedup": forward_seconds["baseline forward"] / forward_seconds["aerqnn forward"],
    }


def _aer_options(batch: int, repeats: int) -> dict:
    circuit, inputs, weights, observables = seed_circuit(10)
    rng = np.random.default_rng(7)
    x = rng.uniform(0, np.pi, (batch, len(inputs)))
    w = rng.uniform(-np.pi, np.pi, len(weights))
    parameter_sets = batch * (1 + 2 * len(weights))
    networks = {
        name: make_aer_qnn(circuit, inputs, weights, observables, backend_options=options)
        for name, options in AER_OPTION_CANDIDATES.items()
    }
    reference = networks["Aer defaults"].backward(x, w)[1]
    for name, network in networks.items():
        difference = np.max(np.abs(network.backward(x, w)[1] - reference))
        tolerance = 1e-4 if "single" in name else 1e-12
        if difference > tolerance:
            raise AssertionError(f"{name}: Jacobian differs by {difference}")
    seconds = _interleaved_minimum(
        {name: (lambda n=network: n.backward(x, w)) for name, network in networks.items()},
        repeats,
    )
    return {
        "parameter_sets_per_jacobian": parameter_sets,
        "options": {name: AER_OPTION_CANDIDATES[name] for name in networks},
        "seconds": seconds,
        "us_per_parameter_set": {name: 1e6 * s / parameter_sets for name, s in seconds.items()},
    }


def _depolarising() -> NoiseModel:
    noise_model = NoiseModel()
    noise_model.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["rx", "ry"])
    noise_model.add_all_qubit_quantum_error(depolarizing_error(0.02, 2), ["cx"])
    return noise_model


def _modes(batch: int, repeats: int) -> list[dict]:
    """Seconds per forward pass and per weight Jacobian in each mode of the engine."""
    noise = _depolarising()
    cases = [
        (10, "exact statevector", {}, True),
        (10, "shots=1000", {"shots": 1000, "seed": 1}, True),
        (10, "matrix_product_state", {"method": "matrix_product_state"}, True),
        (10, "SPSA, shots=1000", {"shots": 1000, "gradient": "spsa", "seed": 1}, True),
        (10, "noise, exact (density matrix)", {"noise_model": noise}, False),
        (4, "noise, exact (density matrix)", {"noise_model": noise}, True),
        (4, "noise, shots=4000, density matrix", {"noise_model": noise, "shots": 4000}, True),
        (
            4,
            "noise, shots=4000, statevector trajectories",
            {"noise_model": noise, "shots": 4000, "method": "statevector"},
            False,
        ),
    ]
    rows = []
    for n_qubits, name, options, with_jacobian in cases:
        circuit, inputs, weights, observables = seed_circuit(n_qubits)
        rng = np.random.default_rng(n_qubits)
        x = rng.uniform(0, np.pi, (batch, n_qubits))
        w = rng.uniform(-np.pi, np.pi, 2 * n_qubits)
        qnn = make_aer_qnn(circuit, inputs, weights, observables, **options)
        candidates = {"forward": lambda q=qnn, x=x, w=w: q.forward(x, w)}
        if with_jacobian:
            candidates["jacobian"] = lambda q=qnn, x=x, w=w: q.backward(x, w)
        seconds = _interleaved_minimum(candidates, repeats)
        rows.append({"qubits": n_qubits, "mode": name, "options": repr(options), **seconds})
    return rows


def _markdown(results: dict) -> str:
    jac = results["jacobian_comparison"]
    lines = [
        "# Aer engine benchmark",
        "",
        f"Machine: {results['machine']}; qiskit {results['versions']['qiskit']}, qiskit-aer "
        f"{results['versions']['qiskit-aer']}, qiskit-machine-learning "
        f"{results['versions']['qiskit-machine-learning']}. Minimum over repeats; other work "
        "shared the CPU.",
        "",
        f"## Weight Jacobian, seed circuit (10 qubits), batch of {jac['batch']} images",
        "",
        "| path | seconds | ms per image | speed-up | max abs difference vs baseline |",
        "|---|---|---|---|---|",
    ]
    for name, seconds in jac["seconds"].items():
        speedup = jac["speedup_vs_baseline"].get(name)
        difference = jac["max_abs_jacobian_difference_vs_baseline"].get(name)
        lines.append(
            f"| {name} | {seconds:.3f} | {jac['ms_per_image'][name]:.1f} | "
            f"{'1' if speedup is None else f'{speedup:.1f}x'} | "
            f"{'-' if difference is None else f'{difference:.1e}'} |"
        )
    lines += [
        "",
        f"Forward pass: baseline {jac['forward_seconds']['baseline forward'] * 1e3:.1f} ms, "
        f"AerQNN {jac['forward_seconds']['aerqnn forward'] * 1e3:.1f} ms "
        f"({jac['forward_speedup']:.1f}x: one PUB for all observables); max abs difference "
        f"{jac['max_abs_forward_difference_vs_baseline']:.1e}.",
        "",
    ]
    opts = results["aer_options"]
    lines += [
        f"## Aer options, AerQNN weight Jacobian ({opts['parameter_sets_per_jacobian']} "
        "parameter sets in one PUB)",
        "",
        "| options | seconds | us per parameter set |",
        "|---|---|---|",
    ]
    for name, seconds in sorted(opts["seconds"].items(), key=lambda item: item[1]):
        lines.append(f"| {name} | {seconds:.3f} | {opts['us_per_parameter_set'][name]:.0f} |")
    lines += [
        "",
        f"## Modes, seed circuit, batch of {jac['batch']} (seconds)",
        "",
        "| qubits | mode | forward | weight Jacobian |",
        "|---|---|---|---|",
    ]
    for row in results["modes"]:
        jacobian = f"{row['jacobian']:.3f}" if "jacobian" in row else "-"
        lines.append(f"| {row['qubits']} | {row['mode']} | {row['forward']:.3f} | {jacobian} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=16, help="images per Jacobian")
    parser.add_argument("--repeats", type=int, default=7, help="repeats of the fast paths")
    parser.add_argument(
        "--baseline-repeats", type=int, default=3, help="repeats of the slow baseline"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS,
        help="where aer.json and aer.md are written",
    )
    args = parser.parse_args()

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "versions": {
            "qiskit": qiskit.__version__,
            "qiskit-aer": qiskit_aer.__version__,
            "qiskit-machine-learning": qiskit_machine_learning.__version__,
        },
        "jacobian_comparison": _jacobian_comparison(
            args.batch, args.repeats, args.baseline_repeats
        ),
        "aer_options": _aer_options(args.batch, args.repeats),
        "modes": _modes(args.batch, repeats=2),
    }
    jac = results["jacobian_comparison"]
    for name, ratio in jac["speedup_vs_baseline"].items():
        print(
            f"{name}: {jac['seconds'][name]:.3f} s vs baseline {jac['seconds']['baseline']:.3f} s"
            f" -> {ratio:.1f}x (max abs difference "
            f"{jac['max_abs_jacobian_difference_vs_baseline'][name]:.1e})"
        )
    for name, us in sorted(
        results["aer_options"]["us_per_parameter_set"].items(), key=lambda item: item[1]
    ):
        print(f"{us:8.0f} us per parameter set  {name}")
    for row in results["modes"]:
        timings = ", ".join(
            f"{key} {row[key]:.3f} s" for key in ("forward", "jacobian") if key in row
        )
        print(f"{row['qubits']:3d} qubits  {row['mode']}: {timings}")
    write_results("aer", results, _markdown(results), directory=args.output_dir)


if __name__ == "__main__":
    main()
