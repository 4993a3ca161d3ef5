"""Vectorised binding against the gate-by-gate path it replaced, and every preset against
Qiskit's ``Statevector``.

The reference binds one gate at a time: each angle by its own torch expression tree, each
matrix by its own builder call, each run multiplied left to right. The binder must give the
same matrices and the same gradients (to 1e-12) on the angle forms it compiles (``a*x + b``,
``w*(x - c)``, ``w*x``, products and squares of parameters) and on the ones it leaves to the
fallback (``sin``, a product of three parameters).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from qmnist_qiskit.circuits import PRESETS, preset_circuit
from qmnist_qiskit.engines.statevector import StatevectorSimulator
from qmnist_qiskit.engines.statevector.angle_table import AngleTable
from qmnist_qiskit.engines.statevector.binding import Binder
from qmnist_qiskit.engines.statevector.compiler import GateRef, compile_circuit
from qmnist_qiskit.engines.statevector.gates import build_matrix
from qmnist_qiskit.engines.statevector.rotation_runs import RotationRuns, _RotationProducts
from qmnist_qiskit.engines.statevector.run_products import RunProducts

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CPU = torch.device("cpu")


@st.composite
def angle_forms(draw, inputs, weights):
    """Angles in every form the binder compiles, and two it must leave to the fallback."""
    x = draw(st.sampled_from(list(inputs)))
    w = draw(st.sampled_from(list(weights)))
    other = draw(st.sampled_from([*inputs, *weights]))
    a = draw(st.floats(-3, 3))
    b = draw(st.floats(-3, 3))
    form = draw(st.integers(0, 10))
    return [
        a * x + b,
        w * (x - b),
        w * x,
        w,
        x * other,
        x - other + b,
        (x + b) * (w - a),
        x**2 / 3,
        b - w,
        (x + a).sin(),  # fallback: not a polynomial
        x * other * w,  # fallback: degree three
    ][form]


@st.composite
def rotation_circuits(draw):
    """Circuits of ``rx``/``ry``/``rz`` runs between CNOTs: the binder's fast path."""
    num_qubits = draw(st.integers(1, 4))
    inputs = ParameterVector("x", draw(st.integers(1, 3)))
    weights = ParameterVector("w", draw(st.integers(1, 3)))
    circuit = QuantumCircuit(num_qubits)
    for _ in range(draw(st.integers(1, 24))):
        if num_qubits > 1 and draw(st.integers(0, 5)) == 0:
            control, target = draw(st.permutations(range(num_qubits)))[:2]
            circuit.cx(control, target)
            continue
        gate = draw(st.sampled_from(["rx", "ry", "rz"]))
        getattr(circuit, gate)(
            draw(angle_forms(inputs, weights)), draw(st.integers(0, num_qubits - 1))
        )
    used = circuit.parameters
    return (
        circuit,
        [p for p in inputs if p in used],
        [p for p in weights if p in used],
    )


def _columns(program, inputs: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor]:
    return [inputs[:, i] for i in range(inputs.shape[1])] + [
        weights[:, j] for j in range(weights.shape[1])
    ]


def _gate_by_gate(program, gates: tuple[GateRef, ...], columns) -> torch.Tensor:
    """The old path: every angle, matrix and product on its own."""
    product = None
    for gate in gates:
        if gate.matrix is not None:
            matrix = torch.as_tensor(gate.matrix, dtype=torch.complex128).unsqueeze(0)
        else:
            angles = [program.angles[k](columns) for k in gate.angles]
            matrix = build_matrix(gate.name, angles)
        product = matrix if product is None else matrix @ product
    return product


def _grads(value: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of ``value``, zeros for tensors it does not depend on."""
    if not value.requires_grad:
        return [torch.zeros_like(tensor) for tensor in tensors]
    grads = torch.autograd.grad(value, tensors, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors, strict=True)]


def _check_against_gate_by_gate(circuit, inputs, weights, rows: int, seed: int) -> None:
    program = compile_circuit(circuit, inputs, weights)
    binder = Binder(program, torch.complex128, CPU)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.uniform(0.1, np.pi, (rows, len(inputs))), requires_grad=True)
    w = torch.tensor(rng.uniform(-np.pi, np.pi, (1, len(weights))), requires_grad=True)
    bound = binder(x, w)
    columns = _columns(program, x, w)
    layout = binder.layout
    parts = [
        *zip(program.initial, layout.initial, strict=True),
        *zip(program.final, layout.final, strict=True),
        *(
            (op.gates, address)
            for op, address in zip(program.ops, layout.ops, strict=True)
            if address is not None and hasattr(op, "gates") and len(op.qubits) == 1
        ),
    ]
    checked = 0
    for gates, address in parts:
        if address is None:
            continue
        slot, index = address
        ours = bound[slot][:, index]
        expected = _gate_by_gate(program, gates, columns)
        ours_full, expected_full = torch.broadcast_tensors(ours, expected)
        torch.testing.assert_close(ours_full, expected_full, atol=1e-12, rtol=0)
        probe = torch.randn(
            ours_full.shape, dtype=torch.complex128, generator=torch.Generator().manual_seed(seed)
        )
        wanted = [x, w]
        for got, want in zip(
            _grads((ours_full * probe).real.sum(), wanted),
            _grads((expected_full * probe).real.sum(), wanted),
            strict=True,
        ):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
        checked += 1
    assert checked == sum(address is not None for _, address in parts)


@SETTINGS
@given(case=rotation_circuits(), rows=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_rotation_runs_equal_the_gate_by_gate_path(case, rows, seed):
    circuit, inputs, weights = case
    _check_against_gate_by_gate(circuit, inputs, weights, rows, seed)


@SETTINGS
@given(case=rotation_circuits(), seed=st.integers(0, 2**16), gate=st.sampled_from(["h", "s", "p"]))
def test_mixed_runs_take_the_general_path_and_agree(case, seed, gate):
    circuit, inputs, weights = case
    # One gate that is not a plain rotation sends its group down the general path.
    if gate == "p":
        circuit.p(0.3, 0)
    else:
        getattr(circuit, gate)(0)
    _check_against_gate_by_gate(circuit, inputs, weights, 3, seed)


def test_angle_forms_compile_to_polynomials_and_the_rest_falls_back():
    x, w = ParameterVector("x", 2), ParameterVector("w", 1)
    circuit = QuantumCircuit(1)
    forms = [
        w[0] * (x[0] - math.pi / 2),
        2 * x[1] + 1,
        x[0] * x[1],
        (x[0] + 1).sin(),
        x[0] * x[1] * w[0],
    ]
    for angle in forms:
        circuit.rx(angle, 0)
    program = compile_circuit(circuit, list(x), list(w))
    assert [angle.terms is not None for angle in program.angles] == [True, True, True, False, False]
    table = AngleTable(program.angles, 2, 3, with_inputs=True).to(torch.float64, CPU)
    inputs = torch.tensor([[0.4, 1.3], [2.0, -0.5]], dtype=torch.float64)
    weights = torch.tensor([[0.7]], dtype=torch.float64)
    values = table(inputs, weights)[:, table.column]
    a, b, c = inputs[:, 0], inputs[:, 1], weights[0, 0]
    expected = torch.stack(
        [c * (a - math.pi / 2), 2 * b + 1, a * b, torch.sin(a + 1), a * b * c], dim=1
    )
    torch.testing.assert_close(values, expected, atol=1e-14, rtol=0)


def test_angles_without_weights_do_not_depend_on_them():
    x, w = ParameterVector("x", 1), ParameterVector("w", 1)
    circuit = QuantumCircuit(1)
    circuit.rx(x[0], 0)
    circuit.ry(w[0], 0)
    program = compile_circuit(circuit, list(x), list(w))
    inputs_only = AngleTable(program.angles[:1], 1, 2, with_inputs=True).to(torch.float64, CPU)
    weights = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    assert not inputs_only(torch.ones(3, 1, dtype=torch.float64), weights).requires_grad


def test_run_products_multiply_in_circuit_order():
    rng = np.random.default_rng(3)
    stack = torch.tensor(rng.normal(size=(2, 8, 2, 2)) + 1j * rng.normal(size=(2, 8, 2, 2)))
    stack[:, 7] = torch.eye(2, dtype=stack.dtype)
    runs = [[0, 1, 2, 3, 4], [5], [6, 0], []]
    products = RunProducts(runs, identity=7, device=CPU)(stack)
    for position, run in enumerate(runs):
        expected = stack[:, 7]
        for index in run:
            expected = stack[:, index] @ expected
        torch.testing.assert_close(products[:, position], expected, atol=1e-13, rtol=0)
    with pytest.raises(ValueError, match="identity"):
        RunProducts([[]], identity=None)


def test_rotation_runs_of_different_lengths_keep_their_order():
    angles = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64)
    runs = [[(0, "rx"), (1, "ry"), (2, "rz")], [], [(2, "ry")], [(1, "rz")] * 9]
    result = RotationRuns(runs, 3, torch.complex128, CPU)(angles)

    def rotation(name, column):
        return build_matrix(name, [angles[:, column]])

    expected = rotation("rz", 2) @ rotation("ry", 1) @ rotation("rx", 0)
    torch.testing.assert_close(result[:, 0], expected, atol=1e-14, rtol=0)
    identity = torch.eye(2, dtype=torch.complex128).unsqueeze(0)
    torch.testing.assert_close(result[:, 1], identity, atol=0, rtol=0)
    torch.testing.assert_close(result[:, 2], rotation("ry", 2), atol=1e-14, rtol=0)
    torch.testing.assert_close(
        result[:, 3], build_matrix("rz", [9 * angles[:, 1]]), atol=1e-13, rtol=0
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_matches_statevector_with_gradients(preset):
    spec = preset_circuit(preset, 4, 2, n_features=None if preset == "seed" else 6)
    rng = np.random.default_rng(21)
    x = rng.uniform(0, np.pi, (3, len(spec.input_params)))
    w = rng.uniform(-1, 1, len(spec.weight_params))
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    states = simulator.statevector(torch.tensor(x), torch.tensor(w)).numpy()
    for row in range(3):
        bindings = dict(zip(spec.input_params, x[row], strict=True))
        bindings.update(zip(spec.weight_params, w, strict=True))
        expected = Statevector(spec.circuit.assign_parameters(bindings)).data
        np.testing.assert_allclose(states[row], expected, atol=1e-10)
    weights = torch.tensor(w, requires_grad=True)
    values = simulator.expectations(torch.tensor(x), weights)
    (grad,) = torch.autograd.grad(values.sum(), weights)
    step = 1e-6
    for k in rng.choice(len(w), size=min(5, len(w)), replace=False):
        shifted = [w.copy(), w.copy()]
        shifted[0][k] += step
        shifted[1][k] -= step
        plus, minus = (
            simulator.expectations(torch.tensor(x), torch.tensor(v)).sum().item() for v in shifted
        )
        assert abs((plus - minus) / (2 * step) - grad[k].item()) < 1e-7


def test_observables_still_absorb_final_rotations_of_the_dense_preset():
    spec = preset_circuit("dense", 3, 2, n_features=4)
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    assert simulator.plan.absorbed == (0, 1, 2)
    assert isinstance(spec.observables[0], SparsePauliOp)


@pytest.mark.parametrize("length", [1, 2, 5, 8, 11])
def test_quaternion_products_have_exact_gradients(length):
    generator = torch.Generator().manual_seed(length)
    theta = torch.randn(2, 3, length, dtype=torch.float64, generator=generator, requires_grad=True)
    axes = torch.zeros(3, 3, length, dtype=torch.float64)
    for position in range(length):
        axes[position % 3, :, position] = 1.0
    assert torch.autograd.gradcheck(lambda t: _RotationProducts.apply(t, axes), (theta,))
