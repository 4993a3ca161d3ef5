"""The CLI is a thin layer over the public API: it uses no private name of another module,
and ``cli.py`` holds the commands' arguments and wiring only (under 500 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qmnist_qiskit

PACKAGE = Path(qmnist_qiskit.__file__).parent
CLI_MODULES = ("cli.py", "cli_options.py", "console.py")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(source: str) -> list[str]:
    """Private names imported from another module, and private attributes of anything but
    ``self``, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found += [
                f"{node.lineno}: from {module} import {alias.name}"
                for alias in node.names
                if _private(alias.name) or any(_private(part) for part in module.split("."))
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if any(_private(part) for part in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("module", CLI_MODULES)
def test_the_cli_uses_no_private_name_of_another_module(module):
    assert _private_uses((PACKAGE / module).read_text()) == []


def test_the_check_finds_private_names():
    source = (
        "from qmnist_qiskit.classifier import _FITTED\n"
        "import qmnist_qiskit._internal\n"
        "classifier._check_params()\n"
        "self._own()\n"
        "type(x).__name__\n"
    )
    assert _private_uses(source) == [
        "1: from qmnist_qiskit.classifier import _FITTED",
        "2: import qmnist_qiskit._internal",
        "3: ._check_params",
    ]


def test_cli_py_is_under_500_lines():
    assert len((PACKAGE / "cli.py").read_text().splitlines()) < 500
