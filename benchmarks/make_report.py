"""Write ``BENCHMARKS.md`` from every result file the benchmark scripts left in ``results/``.

The report states the machine it was generated on (CPU model, cores, RAM, Python and the
versions of the libraries that matter), then, for each benchmark whose ``<name>.json`` exists,
its headline numbers (ratios against peers measured in the same run, as the script recorded
them) and the script's own Markdown table; for each one that is missing, the command that
produces it. It also draws the engine speed bar chart (log scale) from the forum benchmark's
rows, where every engine was timed in one run, into ``results/engine_speed.png``, and the
accuracy against circuit depth from the accuracy benchmark's runs (its full run varies
``reps``) into ``results/accuracy_depth.png``.

Run the benchmark scripts first (each writes ``results/<name>.json`` and ``.md``), then::

    python benchmarks/make_report.py            # writes BENCHMARKS.md at the repository root

Numbers are copied from the result files, never measured here: the script takes a second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results_io import RESULTS, ROOT, machine

from qmnist_qiskit.plots import accuracy_vs_depth, engine_speed_chart, save_figure

CHART = "engine_speed.png"
DEPTH_CHART = "accuracy_depth.png"
FORUM_2019_MS = 50_000.0


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _get(data: dict, *keys: str) -> Any:
    """``data[k1][k2]...``, or None where any level is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _forum_gradient_rows(data: dict) -> dict[str, float]:
    """Milliseconds per image gradient of every path timed today in the forum run."""
    return {
        row["path"]: 1000 * row["gradient_per_image_s"]
        for row in data.get("rows", [])
        if row.get("year") != 2019 and row.get("gradient_per_image_s")
    }


def _forum_headlines(data: dict) -> list[str]:
    rows = _forum_gradient_rows(data)
    if not rows:
        return []
    batch = data.get("batch_size", "?")
    fastest = min(rows, key=rows.get)
    lines = [
        f"Loss gradient of the 10-qubit seed circuit over a batch of {batch} images: fastest "
        f"path **{fastest}**, {_number(rows[fastest])} ms per image, "
        f"{FORUM_2019_MS / rows[fastest]:,.0f}x less than the 2019 thread's 50 s."
    ]
    ours = next((name for name in rows if "statevector" in name), None)
    if ours is not None:
        peers = "; ".join(
            f"{name}: {rows[name] / rows[ours]:,.1f}x" for name in rows if name != ours
        )
        lines.append(
            f"{ours}, {_number(rows[ours])} ms per image; each peer's time over it, same run: "
            f"{peers}."
        )
    return lines


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _statevector_headlines(data: dict) -> list[str]:
    lines = []
    if data.get("quick"):
        lines.append("A quick run (`--quick`): fewer samples and sizes than the full benchmark.")
    ours = _get(data, "peers", "statevector", "ms_per_sample")
    if ours is not None:
        peers = [
            (label, _get(data, "peers", key, "ratio_per_sample"))
            for key, label in (
                ("pennylane_default_qubit", "PennyLane default.qubit (torch, broadcasting)"),
                ("estimator_qnn_defaults", "EstimatorQNN defaults (parameter shift)"),
            )
        ]
        faster = "; ".join(
            f"**{_times(ratio)}** faster than {label}" for label, ratio in peers if ratio
        )
        lines.append(
            f"Forward + exact loss gradient of the 10-qubit seed circuit: {ours:.3f} ms per "
            f"sample ({60 * ours:.1f} s per 60,000 samples; goal 5 s)"
            + (f"; same run: {faster}." if faster else ".")
        )
    scaling = [
        f"{row['qubits']} qubits {_number(row['ms_per_sample'])} ms"
        for row in _get(data, "scaling", "qubits") or []
        if {"qubits", "ms_per_sample"} <= row.keys()
    ]
    if scaling:
        lines.append("Per sample against qubit count: " + ", ".join(scaling) + ".")
    memory = _get(data, "scaling", "memory") or []
    runs = [
        f"{run['batch']:,} samples at {run['qubits']} qubits"
        + (" with input gradients" if run.get("input_gradients") else "")
        + f" peaked at {run['peak_rss_mb']:,.0f} MB resident"
        for run in (memory if isinstance(memory, list) else [memory])
        if {"qubits", "batch", "peak_rss_mb"} <= run.keys()
    ]
    if runs:
        lines.append("Memory: " + "; ".join(runs) + " (goal: within 8 GB).")
    return lines


def _aer_headlines(data: dict) -> list[str]:
    jacobian = data.get("jacobian_comparison", {})
    speedups = jacobian.get("speedup_vs_baseline", {})
    if not speedups:
        return []
    parts = "; ".join(f"{name}: {ratio:,.0f}x" for name, ratio in speedups.items())
    return [
        f"Weight Jacobian of {jacobian.get('batch', '?')} images on Aer against EstimatorQNN + "
        f"Aer EstimatorV2 + the default ParamShiftEstimatorGradient, same run: {parts} faster."
    ]


def _epoch_headlines(data: dict) -> list[str]:
    lines = []
    versus_pennylane = data.get("ratio_vs_default_qubit")
    versus_qnn = data.get("ratio_vs_estimator_qnn_per_sample")
    if versus_pennylane is not None and data.get("statevector_epoch_s") is not None:
        lines.append(
            f"One epoch of {data.get('samples', '?'):,} samples (seed classifier, batch 1000): "
            f"statevector {data['statevector_epoch_s']:.2f} s, **{versus_pennylane:.1f}x** "
            "faster than PennyLane default.qubit (torch, broadcasting, backprop); goal 8x."
        )
    if versus_qnn is not None:
        lines.append(
            f"Per sample, **{versus_qnn:,.0f}x** faster than qiskit-machine-learning's "
            "EstimatorQNN with its default gradient; goal 3000x."
        )
    return lines


def _default_speed_headlines(data: dict) -> list[str]:
    ratios = data.get("ratios", {})
    runs = {(run["circuit"], run["engine"], run["batch"]): run for run in data.get("runs", [])}
    dense = runs.get(("dense", "statevector", 256))
    if dense is None or "dense_over_seed" not in ratios:
        return []
    lines = [
        f"Default circuit (dense, 660 weights), one training step at batch 256: "
        f"{dense['ms_per_sample']:.3f} ms per sample, **{ratios['dense_over_seed']:.1f}x** the "
        f"seed circuit's in the same run (goal at most 4x); backward / forward "
        f"{dense['backward_over_forward']:.2f}."
    ]
    if "default_qubit_over_dense" in ratios:
        lines.append(
            f"**{ratios['default_qubit_over_dense']:.0f}x** faster per sample than PennyLane "
            "default.qubit (torch, broadcasting, backprop) on the same circuit (goal 200x)."
        )
    return lines


def _compiled_speed_headlines(data: dict) -> list[str]:
    lines = [
        f"Default model, batch {batch}: the code before the compiled sweeps takes "
        f"**{ratio['base_over_compiled']:.2f}x** as long per training step (goal at least 2x)."
        for batch, ratio in data.get("ratios", {}).items()
    ]
    first = data.get("first_call")
    if first:
        lines.append(
            f"First call with an empty cache: {first['cold']['seconds']:.1f} s (goal at most 10 s)."
        )
    for row in data.get("width", []):
        lines.append(
            f"{row['qubits']} qubits: **{row['lightning_over_compiled']:.1f}x** faster than "
            "lightning.qubit adjoint (goal at least 10x)."
        )
    return lines


def _full_size_headlines(data: dict) -> list[str]:
    lines = []
    for run in data.get("runs", []):
        lines.append(
            f"`{run['command']}` ({run['n_train']:,} / {run['n_test']:,} images): fit "
            f"**{run['fit_seconds']:.1f} s**, test accuracy **{run['test_accuracy']:.3f}**."
        )
    return lines


def _met(flag: object) -> str:
    return "met" if flag else "**not met**"


def _accuracy_headlines(data: dict) -> list[str]:
    lines = []
    if _get(data, "meta", "quick"):
        lines.append("A quick run (`--quick`): one seed, no levers, no fine-tuning.")
    summary = data.get("default_summary")
    if summary:
        lines.append(
            f"Default preset `QuantumMNISTClassifier()` on {_get(data, 'meta', 'test_samples')} "
            f"test images, seeds {summary['seeds']}: test accuracy mean "
            f"**{summary['test_accuracy_mean']:.1%}** (min {summary['test_accuracy_min']:.1%}, "
            f"max {summary['test_accuracy_max']:.1%}), "
            f"goal 85% {_met(summary['meets_accuracy_goal'])}; "
            f"fit {summary['fit_seconds_mean']} s mean, {summary['fit_seconds_max']} s max "
            f"(autoencoder included), goal 90 s {_met(summary['meets_time_goal'])}."
        )
    by_features: dict[str, list[str]] = {}
    for row in data.get("rows", []):
        if row["group"] == "same features":
            by_features.setdefault(row["features"], []).append(
                f"{row['configuration']} {row['test_accuracy']:.1%}"
            )
    lines += [
        f"Same features ({features}): " + "; ".join(entries) + "."
        for features, entries in by_features.items()
    ]
    lines += [
        f"{row['configuration']}: {row['test_accuracy']:.1%}."
        for row in data.get("rows", [])
        if row["group"] == "fine-tune"
    ]
    return lines


def accuracy_by_depth(data: dict) -> tuple[str, dict[int, float], dict[str, float]] | None:
    """The default circuit's test accuracy against ``reps`` on one set of codes, with the
    classical baselines on the same codes: ``(features, {reps: accuracy}, baselines)``, or
    None when the run holds fewer than two depths (a ``--quick`` run)."""
    default_reps = _get(data, "default_params", "reps")
    rows = data.get("rows", [])
    depths = {
        row["params"]["reps"]: (row["features"], row["test_accuracy"])
        for row in rows
        if row["group"] == "levers" and set(row.get("params", {})) == {"reps"}
    }
    if not depths or default_reps is None:
        return None
    features = next(iter(depths.values()))[0]
    for row in rows:
        if row["group"] == "same features" and row.get("params") == {}:
            if row["features"] == features:
                depths[default_reps] = (features, row["test_accuracy"])
    baselines = {
        row["configuration"]: row["test_accuracy"]
        for row in rows
        if row["group"] == "same features" and row["features"] == features and "params" not in row
    }
    accuracies = {reps: accuracy for reps, (_, accuracy) in sorted(depths.items())}
    return (features, accuracies, baselines) if len(accuracies) > 1 else None


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script and the result file it writes (``results/<name>.json`` and ``.md``)."""

    name: str
    script: str
    title: str
    headlines: Callable[[dict], list[str]] = lambda data: []


BENCHMARKS = (
    Benchmark(
        "default_speed",
        "bench_default_speed.py",
        "The default circuit's training step against the seed circuit and PennyLane",
        _default_speed_headlines,
    ),
    Benchmark(
        "compiled_speed",
        "bench_compiled.py",
        "Compiled sweeps: against the code before them, first call, width",
        _compiled_speed_headlines,
    ),
    Benchmark(
        "full_size",
        "bench_full_size.py",
        "`qmnist train` with the defaults, embedded and full-size data",
        _full_size_headlines,
    ),
    Benchmark(
        "classifier_epoch",
        "bench_classifier_epoch.py",
        "Training epoch against peers",
        _epoch_headlines,
    ),
    Benchmark(
        "statevector",
        "bench_statevector.py",
        "Statevector engine: speed, scaling, memory",
        _statevector_headlines,
    ),
    Benchmark("forum", "bench_forum.py", "The 2019 forum benchmark, redone", _forum_headlines),
    Benchmark("aer", "bench_aer.py", "Aer engine", _aer_headlines),
    Benchmark(
        "accuracy",
        "bench_accuracy.py",
        "Accuracy against classical baselines",
        _accuracy_headlines,
    ),
)
"""The benchmarks the report knows, in report order; other result files are listed after."""


def load_results(results_dir: Path) -> dict[str, dict]:
    """Every ``*.json`` in ``results_dir`` by file stem.

    Raises
    ------
    ValueError
        Naming the file, when one is not a JSON object.
    """
    results = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object")
        results[path.stem] = data
    return results


def _relink(markdown: str, prefix: str) -> str:
    """Point relative image and link targets of a results Markdown file at ``prefix``."""

    def relink(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"[a-z]+:|/|#", target):
            return match.group(0)
        return f"{match.group(1)}({prefix}/{target})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", relink, markdown)


def _demote(markdown: str, levels: int) -> str:
    """Push every heading down by ``levels`` so a script's report nests under a section."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown, flags=re.M)


def _recorded_machine(data: dict) -> str | None:
    machine = data.get("machine")
    if isinstance(machine, dict):
        return ", ".join(f"{key} {value}" for key, value in machine.items())
    return None if machine is None else str(machine)


def _machine_section(machine: dict[str, Any]) -> list[str]:
    ram = "?" if machine["memory_gib"] is None else f"{machine['memory_gib']:.1f} GiB"
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return [
        "## Machine",
        "",
        f"- CPU: {machine['cpu'] or '?'}, {machine['cpu_count']} cores; RAM {ram}",
        f"- {machine['platform']}, Python {machine['python']}",
        f"- {packages}",
        "",
        "This is the machine that generated the report; each benchmark below also states the "
        "commit, date and machine it ran on (its `Run:` line). Every ratio compares paths timed "
        "side by side in one run of one script, so it holds on that machine whatever else was "
        "running; absolute times depend on the load (the CPU may be shared).",
        "",
    ]


def _speed_chart(forum: dict, path: Path) -> Path | None:
    rows = _forum_gradient_rows(forum)
    if not rows:
        return None
    reference = "2019 thread: default.qubit, parameter shift"
    slowest_first = sorted(rows.items(), key=lambda item: -item[1])
    figure = engine_speed_chart(
        {reference: FORUM_2019_MS, **dict(slowest_first)},
        unit="ms per image",
        reference=reference,
        title=f"Loss gradient, seed circuit, 10 qubits, batch of {forum.get('batch_size', '?')}",
    )
    return save_figure(figure, path)


def _depth_chart(accuracy: dict, path: Path) -> Path | None:
    found = accuracy_by_depth(accuracy)
    if found is None:
        return None
    features, accuracies, baselines = found
    figure = accuracy_vs_depth(
        list(accuracies),
        {f"default circuit on {features}": list(accuracies.values())},
        baselines={f"{name} on the same codes": value for name, value in baselines.items()},
    )
    return save_figure(figure, path)


def write_charts(results: dict[str, dict], results_dir: Path) -> dict[str, Path]:
    """Draw what the results allow, by benchmark name: ``"forum"``, the engine speed bar
    chart (log scale, ``engine_speed.png``); ``"accuracy"``, accuracy against circuit depth
    (``accuracy_depth.png``)."""
    charts = {
        "forum": _speed_chart(results.get("forum", {}), results_dir / CHART),
        "accuracy": _depth_chart(results.get("accuracy", {}), results_dir / DEPTH_CHART),
    }
    return {name: path for name, path in charts.items() if path is not None}


def _benchmark_section(
    benchmark: Benchmark,
    results: dict[str, dict],
    results_dir: Path,
    link_prefix: str,
    chart: Path | None = None,
) -> list[str]:
    lines = [f"## {benchmark.title}", ""]
    command = f"`python benchmarks/{benchmark.script}`"
    if benchmark.name not in results:
        return lines + [f"*No `{benchmark.name}.json` yet: run {command}.*", ""]
    data = results[benchmark.name]
    recorded_command = _get(data, "run", "command")
    if recorded_command:
        command = f"`{recorded_command}`"
    elif not (Path(__file__).resolve().parent / benchmark.script).exists():
        command = "a command it did not record"
    try:
        headlines = benchmark.headlines(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # The scripts own their layouts; a changed one must not hide the rest of the report.
        headlines = [
            f"No headline numbers: `{benchmark.name}.json` has a layout this report does not "
            f"know ({type(exc).__name__}: {exc}); its own table follows."
        ]
    lines += [f"- {headline}" for headline in headlines]
    recorded = _recorded_machine(data)
    if recorded and not _get(data, "run", "machine"):
        lines.append(f"- Recorded by the run: {recorded}")
    lines += [f"- Produced by {command}; raw numbers in `{link_prefix}/{benchmark.name}.json`.", ""]
    if chart is not None:
        lines += [f"![{benchmark.title}]({link_prefix}/{chart.name})", ""]
    table = results_dir / f"{benchmark.name}.md"
    if table.exists():
        lines += [_demote(_relink(table.read_text().strip(), link_prefix), 2), ""]
    return lines


def render(
    results: dict[str, dict],
    machine: dict[str, Any],
    results_dir: Path,
    charts: dict[str, Path],
    output: Path,
) -> str:
    """The Markdown of ``BENCHMARKS.md``, with links relative to ``output``'s folder."""
    link_prefix = Path(os.path.relpath(results_dir, output.parent)).as_posix()
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/make_report.py` from the result files of the scripts in "
        "`benchmarks/` (rerun a script, then this, to refresh). Speed is measured only by those "
        "scripts, never by the tests.",
        "",
        *_machine_section(machine),
        "## Engine speed at a glance",
        "",
    ]
    if "forum" not in charts:
        lines += ["*No engine timings yet: run `python benchmarks/bench_forum.py`.*", ""]
    else:
        lines += [f"![engine speed, log scale]({link_prefix}/{charts['forum'].name})", ""]
    for benchmark in BENCHMARKS:
        chart = charts.get(benchmark.name) if benchmark.name != "forum" else None
        lines += _benchmark_section(benchmark, results, results_dir, link_prefix, chart)
    known = {benchmark.name for benchmark in BENCHMARKS}
    for name in sorted(set(results) - known):
        other = Benchmark(name, f"bench_{name}.py", f"Other results: {name}")
        lines += _benchmark_section(other, results, results_dir, link_prefix)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where the benchmark scripts wrote"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "BENCHMARKS.md", help="the Markdown file to write"
    )
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        parser.error(f"{args.results_dir} is not a directory")
    results = load_results(args.results_dir)
    charts = write_charts(results, args.results_dir)
    report = render(results, machine(), args.results_dir, charts, args.output)
    args.output.write_text(report)
    missing = [b.script for b in BENCHMARKS if b.name not in results]
    print(f"wrote {args.output} from {len(results)} result files", end="")
    print(f"; missing: {', '.join(missing)}" if missing else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
