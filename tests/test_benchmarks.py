"""The benchmark scripts write through one writer, and what the results and reports name exists.

Nothing here runs a benchmark: the scripts are read as source, the results as files.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


@pytest.fixture(scope="module")
def results_io():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import results_io

        yield results_io
    finally:
        sys.path.remove(str(BENCHMARKS))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    ]


def test_there_are_benchmark_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_script_writes_through_results_io(script):
    tree = ast.parse(script.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "results_io"
        for alias in node.names
    }
    assert "write_results" in imported, f"{script.name} does not import results_io.write_results"
    assert _calls(tree, "write_results"), f"{script.name} never calls write_results"
    for call in _calls(tree, "write_text"):
        # Only results_io writes result files; a script may write its own scratch files.
        text = ast.unparse(call)
        assert not re.search(r"\.(json|md)\b", text), f"{script.name} writes {text} itself"


def _named_scripts(text: str) -> set[str]:
    return set(re.findall(r"\b(?:bench_\w+|make_report|results_io)\.py\b", text))


@pytest.mark.parametrize("document", ["BENCHMARKS.md", "README.md"])
def test_documents_name_only_existing_scripts(document):
    named = _named_scripts((ROOT / document).read_text())
    missing = sorted(name for name in named if not (BENCHMARKS / name).exists())
    assert not missing, f"{document} names scripts that do not exist: {missing}"


RESULT_FILES = sorted(RESULTS.glob("*.json"))


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda path: path.stem)
def test_every_result_file_says_which_run_made_it(path, results_io):
    data = json.loads(path.read_text())
    run = data.get("run")
    assert isinstance(run, dict), f"{path.name} has no run record"
    assert {"commit", "dirty", "date", "command", "machine"} <= run.keys()
    assert run["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", run["commit"])
    assert run["commit"] is not None or run.get("source"), "an unknown commit must say why"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", run["date"])
    script = run["command"].split()[1]
    assert (ROOT / script).is_file(), f"{path.name} was made by {script}, which does not exist"
    markdown = path.with_suffix(".md").read_text()
    assert markdown.endswith(results_io.run_line(run) + "\n"), (
        f"{path.with_suffix('.md').name} does not end with its run line"
    )


def test_write_results_records_commit_date_and_machine(results_io, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "bench_example.py"), "--quick"])
    run = results_io.write_results(
        "example", {"value": 1}, "# Example\n\n| a |\n", directory=tmp_path, echo=False
    )
    data = json.loads((tmp_path / "example.json").read_text())
    assert data == {"value": 1, "run": run}
    assert run["command"] == "python benchmarks/bench_example.py --quick"
    machine = run["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch_threads"] >= 1
    assert machine["memory_gib"] > 0
    assert {"torch", "qiskit"} <= machine["packages"].keys()
    markdown = (tmp_path / "example.md").read_text()
    line = results_io.run_line(run)
    assert markdown == f"# Example\n\n| a |\n\n{line}\n"
    assert f"`{run['command']}`" in line
    assert f"{machine['cpu_count']} cores" in line and "qiskit " in line

    # Re-rendering keeps the recorded run, not this one.
    old = dict(run, commit="0" * 40, date="2026-01-01T00:00:00+00:00")
    assert results_io.write_results("example", {}, "# Again", directory=tmp_path, run=old) == old
    assert json.loads((tmp_path / "example.json").read_text())["run"] == old


def _git(folder: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_run_record_names_the_commit_and_whether_code_changed(results_io, tmp_path, monkeypatch):
    monkeypatch.setattr(results_io, "ROOT", tmp_path)
    assert results_io.run_record()["commit"] is None  # not a checkout: nothing to name
    assert results_io.run_record()["dirty"] is None
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "old.md").write_text("old\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert results_io.run_record()["commit"] == head
    assert results_io.run_record()["dirty"] is False
    # Results being rewritten, or files git does not track, are not changed code.
    (tmp_path / "benchmarks" / "results" / "old.md").write_text("new\n")
    (tmp_path / "scratch.py").write_text("y = 2\n")
    assert results_io.run_record()["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    record = results_io.run_record()
    assert (record["commit"], record["dirty"]) == (head, True)
    assert results_io.run_line(record).startswith(
        f"Run: commit `{head[:7]}` (with uncommitted changes), "
    )


def test_run_line_without_a_known_commit_or_machine(results_io):
    line = results_io.run_line(
        {
            "commit": None,
            "dirty": None,
            "date": "2026-11-30T02:50:46+00:00",
            "command": "python benchmarks/bench_default_speed.py",
            "machine": None,
            "source": "From git log.",
            "note": "older engine.",
        }
    )
    assert line == (
        "Run: commit `unknown` (changes unknown), 2026-11-30T02:50:46+00:00, "
        "`python benchmarks/bench_default_speed.py`. From git log. **Note:** older engine."
    )
