"""The compiled sweeps (engines/statevector/native.py) against the torch kernels and Qiskit.

The same simulator runs both paths: ``QMNIST_QISKIT_COMPILED`` is read at every call. Values
and gradients must agree to 1e-12; the fallback (no compiler) and the on-disk cache are checked
in child processes, each with a cache directory of its own.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.circuits import ENTANGLEMENTS, PRESETS, preset_circuit
from qmnist_qiskit.engines.statevector import native
from qmnist_qiskit.engines.statevector.angle_table import AngleTable
from qmnist_qiskit.engines.statevector.expressions import TorchExpression
from qmnist_qiskit.engines.statevector.rotation_runs import RotationRuns
from qmnist_qiskit.engines.statevector.simulator import StatevectorSimulator

TOLERANCE = 1e-12


def _evaluate(simulator, inputs, weights, compiled: bool, monkeypatch, input_grad: bool = True):
    monkeypatch.setenv(native.DISABLE_VARIABLE, "1" if compiled else "0")
    inputs = inputs.clone().requires_grad_(input_grad)
    weights = weights.clone().requires_grad_(True)
    values = simulator.expectations(inputs, weights)
    incoming = torch.linspace(-1.0, 1.0, values.numel(), dtype=torch.float64).view(values.shape)
    (values * incoming).sum().backward()
    return values.detach(), inputs.grad, weights.grad


def _spec(preset: str, qubits: int, reps: int, entanglement: str):
    features = 2 * qubits if preset == "dense" else qubits
    return preset_circuit(preset, qubits, reps, n_features=features, entanglement=entanglement)


def _simulator(spec, **options) -> StatevectorSimulator:
    return StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
        **options,
    )


def _assert_close(left, right) -> None:
    for a, b in zip(left, right, strict=True):
        if a is None or b is None:
            assert a is None and b is None
            continue
        scale = max(1.0, float(b.abs().max()))
        assert float((a - b).abs().max()) <= TOLERANCE * scale


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(PRESETS),
    qubits=st.integers(1, 12),
    reps=st.integers(1, 2),
    entanglement=st.sampled_from(ENTANGLEMENTS),
    batch=st.sampled_from([1, 2, 3, 5, 8, 13]),
    per_sample=st.booleans(),
    input_grad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_compiled_equals_torch_path(
    preset, qubits, reps, entanglement, batch, per_sample, input_grad, seed
):
    if preset == "dense":
        qubits = min(qubits, 8)  # every wire encodes every feature: keep the build short
    spec = _spec(preset, qubits, reps, entanglement)
    simulator = _simulator(spec)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, len(spec.input_params), generator=generator, dtype=torch.float64)
    shape = (batch, len(spec.weight_params)) if per_sample else (len(spec.weight_params),)
    weights = torch.randn(shape, generator=generator, dtype=torch.float64)
    with pytest.MonkeyPatch.context() as monkeypatch:
        torch_path = _evaluate(simulator, inputs, weights, False, monkeypatch, input_grad)
        compiled = _evaluate(simulator, inputs, weights, True, monkeypatch, input_grad)
        assert simulator._executor.compiled() is not None
    _assert_close(compiled, torch_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=12),
    num_angles=st.integers(1, 9),
    rows=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_compiled_rotation_runs_equal_the_torch_tree(lengths, num_angles, rows, seed):
    """The C chains of quaternion products against the torch tree (padding, buckets, order),
    forward and backward, with angles read many times and runs of every length up to 40."""
    rng = np.random.default_rng(seed)
    names = ("rx", "ry", "rz")
    runs = [
        [(int(rng.integers(num_angles)), names[int(rng.integers(3))]) for _ in range(length)]
        for length in lengths
    ]
    products = RotationRuns(runs, num_angles, torch.complex128, "cpu")
    angles = torch.tensor(rng.uniform(-7, 7, (rows, num_angles)))
    probe = torch.tensor(rng.normal(size=(rows, len(runs), 2, 2, 2))).view(torch.complex128)
    probe = probe.squeeze(-1)
    results = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        for flag in ("0", "1"):
            monkeypatch.setenv(native.DISABLE_VARIABLE, flag)
            leaf = angles.clone().requires_grad_(True)
            values = products(leaf)
            (values * probe).real.sum().backward()
            results.append((values.detach(), leaf.grad))
    assert products._compiled_table is not None
    _assert_close(results[1], results[0])


def test_compiled_rotation_runs_without_grad_conjugated_gradients_and_bad_input(monkeypatch):
    """Forward under ``no_grad`` (nothing kept), an incoming gradient that is a lazy
    conjugate view (``values.conj()`` in the loss), and tensors C must not read."""
    runs = [[(0, "rx"), (2, "rz"), (1, "ry")], [(2, "ry")] * 5]
    products = RotationRuns(runs, 3, torch.complex128, "cpu")
    angles = torch.tensor([[0.3, -1.2, 2.5], [1.0, 0.4, -0.7]], dtype=torch.float64)
    probe = torch.tensor([[1.0 + 2.0j, -0.5j], [0.3, 1.5 - 1.0j]]).view(2, 1, 2).expand(2, 2, 2)
    probe = torch.stack([probe, probe.flip(-1)], dim=-2)
    results = []
    for flag in ("0", "1"):
        monkeypatch.setenv(native.DISABLE_VARIABLE, flag)
        leaf = angles.clone().requires_grad_(True)
        with torch.no_grad():
            quiet = products(leaf)
        values = products(leaf)
        (values.conj() * probe).real.sum().backward()
        results.append((quiet, values.detach(), leaf.grad))
    _assert_close(results[1], results[0])
    table = products._compiled_table
    # Columns past the last one read change nothing: C steps by the tensor's own width.
    wider = torch.cat([angles, torch.full((2, 4), 9.0, dtype=torch.float64)], dim=1)
    values, trig = table.forward(angles)
    wide_values, wide_trig = table.forward(wider)
    torch.testing.assert_close(wide_values, values, atol=0, rtol=0)
    grad = table.backward(trig, probe, angles.shape[1])
    wide_grad = table.backward(wide_trig, probe, wider.shape[1])
    torch.testing.assert_close(wide_grad[:, :3], grad, atol=0, rtol=0)
    assert not wide_grad[:, 3:].any()
    with pytest.raises(ValueError, match="float64 CPU angles with at least 3 columns"):
        table.forward(angles[:, :2].contiguous())
    with pytest.raises(ValueError, match="float64"):
        table.forward(angles.float())
    with pytest.raises(ValueError, match="contiguous"):
        table.forward(torch.zeros(3, 2, dtype=torch.float64).T)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    num_inputs=st.integers(1, 4),
    num_weights=st.integers(1, 4),
    num_angles=st.integers(1, 12),
    with_inputs=st.booleans(),
    shared=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_compiled_angle_terms_equal_the_torch_table(
    num_inputs, num_weights, num_angles, with_inputs, shared, seed
):
    """Polynomial angles (constants, linear terms, products, squares; sums of them) from
    the C terms against the gather and ``index_add``, values and both gradients."""
    rng = np.random.default_rng(seed)
    x = [Parameter(f"x{k}") for k in range(num_inputs)]
    w = [Parameter(f"w{k}") for k in range(num_weights)]
    pool = (x if with_inputs else []) + w
    angles = []
    for _ in range(num_angles):
        a, b = (float(rng.uniform(-2, 2)) for _ in range(2))
        p, q = (pool[int(rng.integers(len(pool)))] for _ in range(2))
        angles.append([a * p + b, p * q, a * p * p - q, p + q * b, a * (p - b)][rng.integers(5)])
    positions = {str(parameter): k for k, parameter in enumerate(x + w)}
    expressions = [TorchExpression(angle, positions) for angle in angles]
    table = AngleTable(expressions, num_inputs, num_inputs + num_weights, with_inputs)
    table = table.to(torch.float64, torch.device("cpu"))
    assert table.num_polynomial == num_angles
    rows = int(rng.integers(1, 6))
    inputs = torch.tensor(rng.normal(size=(rows, num_inputs)))
    weights = torch.tensor(rng.normal(size=(1 if shared else rows, num_weights)))
    probe = torch.tensor(rng.normal(size=(rows if with_inputs else len(weights), num_angles)))
    results = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        for flag in ("0", "1"):
            monkeypatch.setenv(native.DISABLE_VARIABLE, flag)
            leaves = [inputs.clone().requires_grad_(True), weights.clone().requires_grad_(True)]
            values = table(*leaves)
            (values * probe).sum().backward()
            results.append((values.detach(), *(leaf.grad for leaf in leaves)))
    assert table._compiled_terms is not None
    _assert_close(results[1], results[0])


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_matches_qiskit(preset, exact_outputs, monkeypatch):
    monkeypatch.setenv(native.DISABLE_VARIABLE, "1")
    spec = _spec(preset, 4, 2, "circular")
    simulator = _simulator(spec)
    generator = np.random.default_rng(7)
    inputs = generator.uniform(0, np.pi, (3, len(spec.input_params)))
    weights = generator.normal(size=len(spec.weight_params))
    values = simulator.expectations(torch.as_tensor(inputs), torch.as_tensor(weights))
    assert simulator._executor.compiled() is not None
    np.testing.assert_allclose(
        values.numpy(), exact_outputs(spec, inputs, weights), atol=TOLERANCE, rtol=0
    )


def _assert_paths_agree(circuit, observables, x, theta, inputs, monkeypatch) -> None:
    """A circuit of one input ``x`` and one weight ``theta`` on both paths (theta = 0.9)."""
    simulator = StatevectorSimulator(circuit, observables, input_params=[x], weight_params=[theta])
    inputs = torch.tensor(inputs, dtype=torch.float64)
    weights = torch.tensor([0.9], dtype=torch.float64)
    torch_path = _evaluate(simulator, inputs, weights, False, monkeypatch)
    compiled = _evaluate(simulator, inputs, weights, True, monkeypatch)
    assert simulator._executor.compiled() is not None
    _assert_close(compiled, torch_path)


def test_diagonal_and_pauli_observables_match_torch_path(monkeypatch):
    """Two-qubit diagonals (rzz, cp) and X/Y observables: kinds the presets do not use."""
    theta, x = Parameter("theta"), Parameter("x")
    circuit = QuantumCircuit(3)
    circuit.ry(x, 0)
    circuit.h(1)
    circuit.cx(0, 2)
    circuit.rzz(theta, 0, 1)
    circuit.cp(2 * x, 1, 2)
    circuit.rx(theta * x, 2)
    circuit.cx(2, 0)
    circuit.ry(theta, 1)
    observables = [SparsePauliOp(["XYZ", "YIX", "ZZI"], [0.5, -1.0, 2.0]), SparsePauliOp("IXY")]
    _assert_paths_agree(circuit, observables, x, theta, [[0.3], [1.1], [-0.7]], monkeypatch)


def test_operations_within_and_across_tiles_match_torch_path(monkeypatch):
    """13 qubits: wires below and above the sweeps' tile (2**11 amplitudes), diagonals that
    straddle it, and X/Y observables on both sides."""
    theta, x = Parameter("theta"), Parameter("x")
    circuit = QuantumCircuit(13)
    for wire in range(13):
        circuit.ry(x * (wire + 1) / 13, wire)
    circuit.cx(12, 0)
    circuit.rzz(theta, 0, 12)
    circuit.cp(x, 3, 11)
    circuit.rzz(2 * theta, 1, 2)
    for wire in (12, 0, 11, 5):
        circuit.rx(theta * x, wire)
    circuit.cx(0, 12)
    circuit.ry(theta, 12)
    observables = [SparsePauliOp(["X" + "I" * 12, "IIYIIIIIIIIIX", "Z" * 13], [1.0, 0.5, -0.3])]
    inputs = [[0.3], [1.1], [-0.7], [2.0], [0.1]]
    _assert_paths_agree(circuit, observables, x, theta, inputs, monkeypatch)


def test_unsupported_programs_run_on_the_torch_path(monkeypatch):
    monkeypatch.setenv(native.DISABLE_VARIABLE, "1")
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.rxx(theta, 0, 1)  # a parameterised two-qubit matrix: no compiled kernel
    simulator = StatevectorSimulator(circuit, [SparsePauliOp("ZI")], weight_params=[theta])
    assert simulator._executor.compiled() is None
    spec = _spec("seed", 3, 1, "linear")
    single = _simulator(spec, dtype="complex64")
    assert single._executor.compiled() is None


def test_switched_off_by_the_environment(monkeypatch, recwarn):
    monkeypatch.setenv(native.DISABLE_VARIABLE, "0")
    spec = _spec("seed", 3, 1, "linear")
    simulator = _simulator(spec)
    assert simulator._executor.compiled() is None
    assert not [w for w in recwarn if "compiled kernels" in str(w.message)]


_CHILD = textwrap.dedent(
    """
    import json, os, warnings
    import torch
    from qmnist_qiskit.circuits import preset_circuit
    from qmnist_qiskit.engines.statevector import native
    from qmnist_qiskit.engines.statevector.simulator import StatevectorSimulator

    def evaluate():
        spec = preset_circuit("reupload", 3, 2, n_features=3)
        simulator = StatevectorSimulator(
            spec.circuit, spec.observables,
            input_params=spec.input_params, weight_params=spec.weight_params,
        )
        inputs = torch.linspace(0, 1, 15, dtype=torch.float64).view(5, 3)
        weights = torch.linspace(-1, 1, len(spec.weight_params), dtype=torch.float64)
        weights.requires_grad_(True)
        values = simulator.expectations(inputs, weights)
        values.sum().backward()
        used = simulator._executor.compiled() is not None
        return values.tolist(), weights.grad.tolist(), used

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = evaluate()
        second = evaluate()
    notices = [str(w.message) for w in caught if "compiled kernels" in str(w.message)]
    os.environ[native.DISABLE_VARIABLE] = "0"
    reference = evaluate()
    status = native.library_status()
    print(json.dumps({
        "notices": notices, "first": first, "second": second, "reference": reference,
        "compiled": status.compiled, "path": str(status.path), "reason": status.reason,
    }))
    """
)


def _child(children, cache, **environment) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), **environment}
    env.pop(native.DISABLE_VARIABLE, None)
    code, out, err = children.run([sys.executable, "-c", _CHILD], env=env, text=True)
    assert code == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _close(left, right) -> bool:
    return np.allclose(np.asarray(left), np.asarray(right), atol=TOLERANCE, rtol=0)


def test_without_a_compiler_the_torch_path_runs_after_one_notice(children, tmp_path):
    result = _child(children, tmp_path, CC="/nonexistent/cc")
    assert len(result["notices"]) == 1
    assert "no C compiler" in result["reason"]
    for run in (result["first"], result["second"]):
        assert run[2] is False
        assert _close(run[0], result["reference"][0])
        assert _close(run[1], result["reference"][1])
    assert not list(tmp_path.rglob("*.so"))


def test_the_library_is_cached_on_disk_and_reused(children, tmp_path):
    first = _child(children, tmp_path)
    assert first["compiled"] is True and first["notices"] == []
    assert first["first"][2] is True
    assert _close(first["first"][0], first["reference"][0])
    assert _close(first["first"][1], first["reference"][1])
    second = _child(children, tmp_path)
    assert second["compiled"] is False
    assert second["path"] == first["path"]
    assert second["path"].startswith(str(tmp_path / "qmnist_qiskit"))
    assert second["first"][2] is True
