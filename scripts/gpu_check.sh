#!/usr/bin/env bash
# GPU check, run from the repository root on a machine with a CUDA GPU and no network:
#   bash scripts/gpu_check.sh
# It needs the wheels in .whl/ (qiskit, qiskit-aer, qiskit-machine-learning and what they and
# qmnist_qiskit import that a bare torch/numpy/scipy/scikit-learn/pytest machine lacks); they
# are installed without an index into /tmp/site. Then: the GPU list and versions, every test
# marked `gpu` (each test file under tests/ that uses the marker, run with `-m gpu`), and
# benchmarks/bench_gpu.py. The Aer GPU test runs when Aer's GPU build is installed (put the
# qiskit-aer-gpu wheel in .whl/ instead of qiskit-aer's) and skips with its reason otherwise.
# Each part runs even when an earlier one fails; everything is written under $OUT (a
# temporary folder if unset): env.txt, pip.log, gpu_tests.log, bench.log, gpu.json, gpu.md.
set -uo pipefail

OUT="${OUT:-/tmp/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
status=0

echo "== install wheels from .whl/"
if timeout 90 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >"$OUT/pip.log" 2>&1; then
    echo "installed $(ls .whl/*.whl | wc -l) wheels into /tmp/site"
else
    echo "pip install FAILED (see pip.log); unpacking the wheels with zipfile instead:"
    tail -n 20 "$OUT/pip.log"
    status=1
    python3 - <<'EOF' 2>&1 | tee -a "$OUT/pip.log"
import glob
import zipfile

for wheel in sorted(glob.glob(".whl/*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall("/tmp/site")
    print("unpacked", wheel)
EOF
fi
export PYTHONPATH="/tmp/site:$PWD"

echo "== environment"
{
    nvidia-smi -L 2>&1 || echo "nvidia-smi not available"
    timeout 60 python3 - <<'EOF' 2>&1
import platform

import torch

print("python", platform.python_version())
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
for name in ("numpy", "scipy", "sklearn", "qiskit", "qiskit_aer", "qiskit_machine_learning"):
    try:
        module = __import__(name)
        print(name, module.__version__, module.__file__)
    except Exception as error:  # noqa: BLE001
        print(name, "IMPORT FAILED:", type(error).__name__, error)
import qmnist_qiskit

print("qmnist_qiskit", qmnist_qiskit.__version__, qmnist_qiskit.__file__)
EOF
} 2>&1 | tee "$OUT/env.txt" || status=1

# Only the files that hold gpu tests are collected: the others may import what this bare
# machine lacks (hypothesis, nbclient, PennyLane).
mapfile -t gpu_test_files < <(grep -rlE --include='test_*.py' 'mark\.gpu\b' tests | sort)
echo "== pytest -m gpu ${gpu_test_files[*]}"
timeout 150 python3 -m pytest -p no:cacheprovider -o addopts="" --import-mode=importlib \
    -q -rs -m gpu "${gpu_test_files[@]}" 2>&1 | tee "$OUT/gpu_tests.log" || status=1

echo "== benchmarks/bench_gpu.py"
timeout 170 python3 benchmarks/bench_gpu.py --output-dir "$OUT" --time-budget 120 2>&1 \
    | tee "$OUT/bench.log" || status=1

echo "== done (status $status); files in $OUT:"
ls -la "$OUT"
exit "$status"
