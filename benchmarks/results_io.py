"""The one writer of benchmark results, and what every result records about its run.

Each script calls :func:`write_results`, which writes ``results/<name>.json`` (the script's
numbers plus a ``"run"`` record) and ``results/<name>.md`` (the script's table followed by
:func:`run_line`, the same record for people), and prints the Markdown. The run record says
what was measured and where:

* ``commit``: ``git rev-parse HEAD`` of this checkout, ``dirty``: whether tracked files outside
  ``benchmarks/results/`` differed from it (None where git could not tell);
* ``date``: when the results were written (UTC);
* ``command``: the command line that produced them;
* ``machine``: CPU model, cores, memory, torch threads, Python and library versions.

Result files written before this writer existed carry the same record, filled in from
``git log`` (``"source"`` says so, and ``"note"`` whether the code measured predates the
engine the README's figures describe).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = (
    "torch",
    "qiskit",
    "qiskit-aer",
    "qiskit-machine-learning",
    "pennylane",
    "pennylane-lightning",
    "pennylane-qiskit",
    "scikit-learn",
    "numpy",
)
"""Libraries whose versions a run records (those not installed are left out)."""


def _read_first(path: Path, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc file, or None where absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        return None
    return None


def _memory_gib() -> float | None:
    total = _read_first(Path("/proc/meminfo"), "MemTotal")
    return None if total is None else round(int(total.split()[0]) / 2**20, 1)


def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> dict:
    """The facts that decide a timing here: CPU, cores, memory, torch threads and versions."""
    return {
        "cpu": _read_first(Path("/proc/cpuinfo"), "model name") or platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": _versions(),
    }


def _git(*arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


def _command() -> str:
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", script.as_posix(), *sys.argv[1:]])


def run_record() -> dict:
    """The commit, date, command and machine of the run in progress."""
    head = _git("rev-parse", "HEAD")
    status = _git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"
    )
    return {
        "commit": None if head is None else head.strip(),
        "dirty": None if status is None else bool(status.strip()),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(),
        "machine": machine(),
    }


def _machine_text(machine: dict) -> str:
    facts = [
        machine.get("cpu"),
        f"{machine['cpu_count']} cores" if machine.get("cpu_count") else None,
        f"{machine['memory_gib']} GiB" if machine.get("memory_gib") else None,
        f"{machine['torch_threads']} torch threads" if machine.get("torch_threads") else None,
        f"Python {machine['python']}" if machine.get("python") else None,
    ]
    versions = machine.get("packages", {})
    facts += [
        f"{name} {versions[name]}"
        for name in ("torch", "qiskit", "qiskit-aer", "qiskit-machine-learning", "pennylane")
        if versions.get(name)
    ]
    return ", ".join(fact for fact in facts if fact)


def run_line(run: dict) -> str:
    """One Markdown paragraph that says what ``run`` (a :func:`run_record`) recorded."""
    commit = run.get("commit")
    changes = {True: "with uncommitted changes", False: "clean", None: "changes unknown"}
    text = (
        f"Run: commit `{commit[:7] if commit else 'unknown'}` ({changes[run.get('dirty')]}), "
        f"{run['date']}, `{run['command']}`"
    )
    if run.get("machine"):
        text += f"; {_machine_text(run['machine'])}"
    text += "."
    if run.get("source"):
        text += f" {run['source']}"
    if run.get("note"):
        text += f" **Note:** {run['note']}"
    return text


def write_results(
    name: str,
    result: dict,
    markdown: str,
    *,
    directory: Path = RESULTS,
    run: dict | None = None,
    echo: bool = True,
) -> dict:
    """Write ``<directory>/<name>.json`` and ``.md`` with the run record; return the record.

    ``run`` defaults to :func:`run_record` of this run (pass a file's own record to re-render
    it); ``echo`` prints the Markdown.
    """
    run = run_record() if run is None else run
    directory.mkdir(parents=True, exist_ok=True)
    record = {**result, "run": run}
    (directory / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    text = f"{markdown.rstrip()}\n\n{run_line(run)}\n"
    (directory / f"{name}.md").write_text(text)
    if echo:
        print(text)
    return run
