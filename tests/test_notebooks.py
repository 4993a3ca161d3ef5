"""Every notebook runs top to bottom with small settings (QMNIST_NOTEBOOK_FAST=1)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def _needs_pennylane(path: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    return any("pennylane" in cell.source for cell in notebook.cells if cell.cell_type == "code")


def test_notebooks_are_stripped():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            path, id=path.stem, marks=pytest.mark.pennylane if _needs_pennylane(path) else ()
        )
        for path in NOTEBOOKS
    ],
)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("QMNIST_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
