"""Without the PennyLane extra the core imports and works, and PennyLane paths say what to install.

The ``without_pennylane`` fixture hides the extra's modules, so these run whether it is installed
or not; CI's core-only venv runs them with PennyLane really absent.
"""

from __future__ import annotations

import sys

import pytest

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.cli import main
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.extras import EXTRAS, missing_extra

INSTALL = "pip install 'qmnist_qiskit[pennylane]'"

# Imports every module of the package but the PennyLane engine with PennyLane hidden, then
# checks that the engine's own import names the extra.
_CORE_IMPORTS = """
import importlib, pkgutil, sys
for name in {modules!r}:
    sys.modules[name] = None
import qmnist_qiskit
for module in pkgutil.walk_packages(qmnist_qiskit.__path__, "qmnist_qiskit."):
    if not module.name.startswith(("qmnist_qiskit.engines.pennylane", "qmnist_qiskit.__main__")):
        importlib.import_module(module.name)
try:
    import qmnist_qiskit.engines.pennylane
except ImportError as exc:
    print(exc)
"""


@pytest.mark.usefixtures("without_pennylane")
def test_the_message_names_the_missing_modules_and_the_extra():
    assert missing_extra("pennylane") == (
        f"needs the PennyLane extra (missing pennylane, pennylane_qiskit, pennylane_lightning): "
        f"{INSTALL}"
    )


def test_an_installed_extra_is_not_missing(monkeypatch):
    monkeypatch.setitem(EXTRAS, "pennylane", ("PennyLane", ("numpy", "qiskit")))
    assert missing_extra("pennylane") is None


@pytest.mark.usefixtures("without_pennylane")
def test_make_qnn_says_which_extra_to_install():
    with pytest.raises(QMNISTError) as info:
        make_qnn(*seed_circuit(2), engine="pennylane")
    assert str(info.value).startswith("engine 'pennylane' needs the PennyLane extra (missing ")
    assert str(info.value).endswith(INSTALL)


@pytest.mark.usefixtures("without_pennylane")
def test_the_command_line_says_which_extra_to_install(tmp_path, capsys):
    arguments = ["train", "--engine", "pennylane", "--encoder", "pca", "--n-qubits", "2"]
    arguments += ["--n-train", "40", "--epochs", "1", "--output", str(tmp_path), "--quiet"]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qmnist: error: engine 'pennylane' needs the PennyLane extra")
    assert error.endswith(INSTALL)
    assert not any(tmp_path.iterdir())


def test_the_core_imports_without_pennylane(children):
    code = _CORE_IMPORTS.format(modules=list(EXTRAS["pennylane"][1]))
    status, out, err = children.run([sys.executable, "-c", code], text=True, timeout=300)
    assert status == 0, err
    assert out.strip().startswith("qmnist_qiskit.engines.pennylane needs the PennyLane")
    assert out.strip().endswith(INSTALL)
