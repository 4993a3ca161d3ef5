#!/usr/bin/env bash
# CI's core stage: .venv-core with the core only (no PennyLane extra) on the newest Qiskit and
# Aer the registry serves, then the tests not marked pennylane; then sQUlearn (which brings
# PennyLane, not pennylane-qiskit) and the test of sQUlearn training through our estimator.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv-core
python3 -m venv .venv-core
.venv-core/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch first, pinned, so that no dependency pulls a multi-GB CUDA build.
.venv-core/bin/python -m pip install --quiet torch==2.13.0
.venv-core/bin/python -m pip install --quiet --upgrade -e ".[dev]"
.venv-core/bin/python -m pip list 2>/dev/null | grep -iE "^(qiskit|qiskit-aer|torch|numpy) "
.venv-core/bin/python -m pytest -n 2 -p no:cacheprovider -m "not pennylane" -q
.venv-core/bin/python -m pip install --quiet squlearn
.venv-core/bin/python -m pip list 2>/dev/null | grep -iE "^(squlearn|pennylane|qiskit) "
.venv-core/bin/python -m pytest -p no:cacheprovider -q tests/engines/statevector/test_statevector_squlearn.py
