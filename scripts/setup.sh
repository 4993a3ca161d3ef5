#!/usr/bin/env bash
# Create .venv with the CPU build of torch (pinned first, so no dependency can pull a
# multi-GB CUDA build), then qmnist_qiskit with its dev and PennyLane extras (pennylane-qiskit
# pins an older Qiskit and Aer: see scripts/test_core.sh for the core on the newest ones).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[dev,pennylane]"
