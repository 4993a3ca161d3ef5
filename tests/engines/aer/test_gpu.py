"""Aer's GPU build: the same exact numbers and reproducible shots on the device."""

from __future__ import annotations

import numpy as np
import pytest

from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.aer import make_aer_qnn
from qmnist_qiskit.engines.aer.estimator import available_devices

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "GPU" not in available_devices(), reason="needs qiskit-aer-gpu and an NVIDIA GPU"
    ),
]


def test_gpu_matches_cpu_exactly_and_samples_reproducibly():
    spec = layered_circuit(6, reps=2, input_scaling=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, (4, 6))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    cpu = make_aer_qnn(*spec, input_gradients=True)
    gpu = make_aer_qnn(*spec, input_gradients=True, device="GPU")
    np.testing.assert_allclose(gpu.forward(x, w), cpu.forward(x, w), atol=1e-10)
    for on_gpu, on_cpu in zip(gpu.backward(x, w), cpu.backward(x, w), strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-10)

    first, second = (make_aer_qnn(*spec, device="GPU", shots=1000, seed=3) for _ in range(2))
    values, stds = first.forward_with_std(x, w)
    np.testing.assert_array_equal(values, second.forward(x, w))
    assert np.all(np.abs(values - cpu.forward(x, w)) <= 5 * stds)
