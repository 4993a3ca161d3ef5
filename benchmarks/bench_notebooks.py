"""Run time of each tutorial notebook at its full settings, as a reader runs it.

Each notebook in ``notebooks/`` is executed top to bottom with nbclient, one at a time, without
``QMNIST_NOTEBOOK_FAST`` (the tests' small settings) and with ``MPLBACKEND=Agg``, in a
temporary working directory. Recorded per notebook: the wall-clock seconds of the whole run
(kernel start included), the seconds of each code cell, whether it raised, and whether any
output still carries tqdm's "IProgress not found" warning. The goal (issue 14): at most 3
minutes each on this 2-core machine.

Runs are kept under a label (``before`` / ``after`` a change) so the results file holds both;
a rerun under a label replaces only that label's runs.

Run: ``python benchmarks/bench_notebooks.py --label after [NOTEBOOK_STEM ...]``; results go to
``benchmarks/results/notebooks.json`` and ``.md``; ``--executed DIR`` keeps the executed
notebooks, outputs and all, for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from results_io import RESULTS, run_record, write_results

import qmnist_qiskit

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GOAL_S = 180
CELL_TIMEOUT_S = 1800


def _cell_seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _run(path: Path, executed: Path | None) -> dict:
    notebook = nbformat.read(path, as_version=4)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="qmnist-notebook-") as workdir:
        start = time.perf_counter()
        error = None
        try:
            NotebookClient(
                notebook,
                timeout=CELL_TIMEOUT_S,
                kernel_name="python3",
                record_timing=True,
                resources={"metadata": {"path": workdir}},
            ).execute()
        except Exception as exc:  # noqa: BLE001 - a failed notebook is a result to record
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        seconds = time.perf_counter() - start
    if executed is not None:
        executed.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, executed / path.name)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = json.dumps([cell.get("outputs", []) for cell in code_cells])
    return {
        "notebook": path.stem,
        "seconds": seconds,
        "cell_seconds": [round(_cell_seconds(cell), 2) for cell in code_cells],
        "error": error,
        "iprogress_warning": "IProgress not found" in outputs,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def _markdown(result: dict) -> str:
    labels = list(result["labels"])
    lines = [
        "# Tutorial notebooks at their full settings",
        "",
        "Each notebook executed top to bottom with nbclient, without `QMNIST_NOTEBOOK_FAST`, one "
        f"at a time, on {result['machine']['cpu_count']} cores. Goal: at most "
        f"{GOAL_S // 60} minutes each.",
        "",
    ]
    for label in labels:
        run = result["labels"][label]
        lines.append(
            f"- **{label}**: qmnist_qiskit {run['package_version']}, commit {run['commit']}; "
            f"{run['note']}"
        )
    header = " | ".join(f"{label} (min)" for label in labels)
    lines += ["", f"| notebook | {header} | 1-min load before / after ({labels[-1]}) |"]
    lines.append("|---" * (len(labels) + 2) + "|")
    stems = sorted({run["notebook"] for label in labels for run in result["labels"][label]["runs"]})
    for stem in stems:
        cells = []
        for label in labels:
            run = next((r for r in result["labels"][label]["runs"] if r["notebook"] == stem), None)
            if run is None:
                cells.append("")
                continue
            text = f"{run['seconds'] / 60:.1f}"
            if run["error"]:
                text += f" (failed: {run['error']})"
            if run["iprogress_warning"]:
                text += " (IProgress warning)"
            cells.append(text)
        latest = next(
            (r for r in result["labels"][labels[-1]]["runs"] if r["notebook"] == stem), None
        )
        load = f"{latest['load_before']:.1f} / {latest['load_after']:.1f}" if latest else ""
        lines.append(f"| {stem} | " + " | ".join(cells) + f" | {load} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook stems to run (default: all)")
    parser.add_argument("--label", default="after", help="name of this set of runs")
    parser.add_argument("--note", default="", help="what this set of runs measured")
    parser.add_argument(
        "--executed", type=Path, help="also save the executed notebooks (with outputs) here"
    )
    args = parser.parse_args()
    os.environ.pop("QMNIST_NOTEBOOK_FAST", None)
    os.environ["MPLBACKEND"] = "Agg"
    paths = [path for path in NOTEBOOKS if not args.notebooks or path.stem in args.notebooks]
    results_path = RESULTS / "notebooks.json"
    result = (
        json.loads(results_path.read_text())
        if results_path.exists()
        else {"machine": {"cpu_count": os.cpu_count()}, "labels": {}}
    )
    record = run_record()
    entry = result["labels"].setdefault(label := args.label, {"runs": []})
    entry.update(
        package_version=qmnist_qiskit.__version__,
        commit=(record["commit"] or "unknown")[:7] + (" (dirty)" if record["dirty"] else ""),
        note=args.note or entry.get("note", ""),
    )
    for path in paths:
        run = _run(path, args.executed)
        print(json.dumps(run), flush=True)
        entry["runs"] = [r for r in entry["runs"] if r["notebook"] != run["notebook"]] + [run]
        entry["runs"].sort(key=lambda r: r["notebook"])
        result["labels"][label] = entry
        write_results("notebooks", result, _markdown(result), run=record, echo=False)
    print(_markdown(result))


if __name__ == "__main__":
    main()
