"""The registry of engine variants, and gradcheck and the benchmark going through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmnist_qiskit import gradcheck as gradcheck_module
from qmnist_qiskit import speed
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines import check_engine_options, engine_record, require_engine
from qmnist_qiskit.engines.aer.estimator import available_devices
from qmnist_qiskit.engines.registry import VARIANT_NAMES, VARIANTS, EngineVariant, variants
from qmnist_qiskit.engines.statevector import make_statevector_qnn
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.extras import missing_extra
from qmnist_qiskit.gradcheck import EngineCheck, Measurement, measure

EXPECTED = {
    "statevector": ("statevector", {"dtype": "complex128"}, False),
    "statevector cuda": ("statevector", {"dtype": "complex128", "device": "cuda"}, False),
    "aer": ("aer", {}, False),
    "aer shots": ("aer", {}, True),
    "aer GPU": ("aer", {"device": "GPU"}, False),
    "pennylane default.qubit": ("pennylane", {"device": "default.qubit"}, False),
    "pennylane lightning.qubit": ("pennylane", {"device": "lightning.qubit"}, False),
    "pennylane qiskit.aer": ("pennylane", {"device": "qiskit.aer"}, False),
}


def test_every_variant_is_listed_with_its_engine_and_options():
    assert VARIANT_NAMES == tuple(EXPECTED)
    for variant in VARIANTS:
        assert (variant.engine, dict(variant.options), variant.sampled) == EXPECTED[variant.name]
        options = variant.engine_options(shots=10, seed=1)
        parsed = check_engine_options(variant.engine, options)
        assert isinstance(parsed, engine_record(variant.engine).options_type)


def test_availability_follows_this_machine():
    reasons = {variant.name: variant.unavailable() for variant in VARIANTS}
    has_cuda = torch.cuda.is_available()
    has_aer_gpu = "GPU" in available_devices()
    pennylane = missing_extra("pennylane")
    assert (reasons["statevector cuda"] is None) == has_cuda
    assert (reasons["aer GPU"] is None) == has_aer_gpu
    # One wording: the variant's reason is the error require_engine raises.
    for name, engine, options in (
        ("statevector cuda", "statevector", {"device": "cuda"}),
        ("aer GPU", "aer", {"device": "GPU"}),
    ):
        if reasons[name] is not None:
            with pytest.raises(QMNISTError) as error:
                require_engine(engine, options)
            assert str(error.value) == reasons[name]
    if not has_cuda:
        assert "torch sees no CUDA GPU" in reasons["statevector cuda"]
    if not has_aer_gpu:
        assert f"this Aer offers only {available_devices()}" in reasons["aer GPU"]
        assert "pip install qiskit-aer-gpu" in reasons["aer GPU"]
    for name in ("pennylane default.qubit", "pennylane lightning.qubit", "pennylane qiskit.aer"):
        assert reasons[name] == (None if pennylane is None else f"engine 'pennylane' {pennylane}")
    for name in ("statevector", "aer", "aer shots"):
        assert reasons[name] is None


@pytest.mark.usefixtures("without_pennylane")
def test_without_the_extra_pennylane_variants_say_what_to_install():
    reason = variants(["pennylane lightning.qubit"])[0].unavailable()
    assert reason.startswith("engine 'pennylane' needs the PennyLane extra (missing pennylane")
    with pytest.raises(QMNISTError) as error:
        require_engine("pennylane", {"device": "lightning.qubit"})
    assert str(error.value) == reason
    assert reason.endswith("pip install 'qmnist_qiskit[pennylane]'")


def test_sampled_variants_take_the_callers_shots_and_seed():
    aer_shots, aer = variants(["aer shots", "aer"])
    assert aer_shots.engine_options(shots=100, seed=4) == {"shots": 100, "seed": 4}
    assert aer.engine_options(shots=100, seed=4) == {}
    qnn = aer_shots.make_qnn(*seed_circuit(2), shots=400, seed=4)
    assert qnn.default_precision == pytest.approx(1 / 20)


def test_names_and_aliases():
    assert [variant.name for variant in variants()] == list(VARIANT_NAMES)
    resolved = variants(["pennylane", "pennylane/lightning.qubit", "aer GPU"])
    assert [v.name for v in resolved] == [
        "pennylane default.qubit",
        "pennylane lightning.qubit",
        "aer GPU",
    ]
    with pytest.raises(ValueError, match=r"unknown engines \['qulacs', 'GPU'\]; choose from"):
        variants(["aer", "qulacs", "GPU"])


def _data(n_qubits=2, batch=2):
    rng = np.random.default_rng(0)
    return (
        rng.uniform(0, np.pi, (batch, n_qubits)),
        rng.uniform(-np.pi, np.pi, 2 * n_qubits),
        rng.integers(0, n_qubits, batch),
    )


@pytest.mark.usefixtures("without_pennylane")
def test_an_unavailable_variant_is_skipped_with_its_reason_and_never_built():
    never = EngineVariant("pennylane nowhere", "pennylane", {"device": "default.qubit"})
    outcome = measure(never, seed_circuit(2), _data(), shots=10, seed=0)
    assert outcome == EngineCheck("pennylane nowhere", "skipped", reason=never.unavailable())
    assert outcome.reason.startswith("engine 'pennylane' needs the PennyLane extra")


def test_a_variant_that_raises_is_a_failed_row():
    broken = EngineVariant("statevector tpu", "statevector", {"device": "tpu"})
    outcome = measure(broken, seed_circuit(2), _data(), shots=10, seed=0)
    assert outcome.status == "failed"
    assert outcome.reason == "ValueError: unknown torch device 'tpu'"


def test_measure_gives_the_loss_gradient_of_the_variant():
    spec = seed_circuit(2)
    inputs, weights, labels = _data()
    outcome = measure(variants(["aer"])[0], spec, (inputs, weights, labels), shots=10, seed=0)
    assert isinstance(outcome, Measurement) and outcome.stds is None and outcome.seconds > 0
    trainable = torch.tensor(weights, requires_grad=True)
    scores = make_statevector_qnn(*spec).torch_forward(torch.tensor(inputs), trainable)
    torch.nn.functional.cross_entropy(scores, torch.as_tensor(labels)).backward()
    np.testing.assert_allclose(outcome.values, trainable.grad.numpy(), rtol=0, atol=1e-10)


def test_gradcheck_rows_are_the_registry():
    assert gradcheck_module.ENGINES == VARIANT_NAMES
    assert gradcheck_module.REFERENCE == VARIANTS[0].name
    report = gradcheck_module.gradcheck(n_qubits=2, batch_size=1, engines=["aer", "pennylane"])
    assert [check.engine for check in report.checks] == ["aer", "pennylane default.qubit"]


@pytest.mark.usefixtures("without_pennylane")
def test_benchmark_times_registry_variants_and_skips_what_cannot_run():
    rows = speed.engine_timings(
        n_qubits=2, batch_size=2, engines=["statevector", "pennylane", "aer"], repeats=1
    )
    assert [row.engine for row in rows] == ["statevector", "pennylane default.qubit", "aer"]
    timed, skipped, aer = rows
    assert timed.error is None and timed.ms_per_image > 0 and timed.max_difference == 0.0
    assert skipped.status == "skipped" and skipped.ms_per_image is None
    assert skipped.error == variants(["pennylane"])[0].unavailable()
    assert aer.max_difference <= 1e-10
    table = speed.timings_table(rows).splitlines()
    assert table[3].split()[:3] == ["pennylane", "default.qubit", "skipped"]
    assert "needs the PennyLane extra" in table[3]


def test_benchmark_defaults_and_unknown_names():
    assert [variant.name for variant in variants(list(speed.DEFAULT_ENGINES))] == [
        "statevector",
        "aer",
        "pennylane default.qubit",
        "pennylane lightning.qubit",
    ]
    with pytest.raises(ValueError, match=r"unknown engines \['qasm'\]"):
        speed.engine_timings(engines=["qasm"])


@pytest.mark.parametrize("present", [False, True], ids=["no GPU", "GPU"])
def test_gpu_variants_follow_what_torch_and_aer_report(monkeypatch, present):
    """Told by torch and Aer that a GPU is (or is not) here, the GPU variants say so: the test
    decides the answer instead of asking torch as the code does."""
    from qiskit_aer import AerSimulator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)
    devices = ("CPU", "GPU") if present else ("CPU",)
    monkeypatch.setattr(AerSimulator, "available_devices", lambda self: devices)
    cuda, aer_gpu = variants(["statevector cuda", "aer GPU"])
    if present:
        assert cuda.unavailable() is None
        assert aer_gpu.unavailable() is None
    else:
        assert "CUDA" in cuda.unavailable()
        assert "pip install qiskit-aer-gpu" in aer_gpu.unavailable()
    for name in ("statevector", "aer"):
        assert variants([name])[0].unavailable() is None
