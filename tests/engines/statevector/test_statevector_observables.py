"""Pauli expectations, their adjoint, and the absorption of final gates into observables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector, random_unitary

from qmnist_qiskit.engines.statevector.kernels import Workspace
from qmnist_qiskit.engines.statevector.observables import (
    PauliEvaluator,
    coefficient_matrix,
    pauli_rotations,
    plan_observables,
)


def _random_states(rng, num_qubits: int, batch: int) -> np.ndarray:
    states = rng.normal(size=(batch, 2**num_qubits)) + 1j * rng.normal(size=(batch, 2**num_qubits))
    return states / np.linalg.norm(states, axis=1, keepdims=True)


@st.composite
def observables(draw):
    num_qubits = draw(st.integers(1, 5))
    labels = st.text(alphabet="IXYZ", min_size=num_qubits, max_size=num_qubits)
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        terms = draw(st.lists(labels, min_size=1, max_size=5))
        coefficients = draw(st.lists(st.floats(-2, 2), min_size=len(terms), max_size=len(terms)))
        ops.append(SparsePauliOp(terms, coefficients))
    return num_qubits, ops


@settings(max_examples=40, deadline=None)
@given(case=observables(), seed=st.integers(0, 2**16))
def test_expectations_and_adjoint_match_dense_matrices(case, seed):
    num_qubits, ops = case
    rng = np.random.default_rng(seed)
    states = _random_states(rng, num_qubits, 3)
    plan = plan_observables(ops, num_qubits)
    evaluator = PauliEvaluator(plan, torch.float64, torch.device("cpu"))
    state = torch.tensor(states.T.copy())
    paulis = torch.empty(3, plan.num_paulis, dtype=torch.float64)
    work = Workspace(torch.device("cpu"))
    evaluator.forward(state, paulis, work)
    values = paulis @ coefficient_matrix(plan, None, torch.float64, "cpu")[0]
    expected = [[Statevector(s).expectation_value(op).real for op in ops] for s in states]
    np.testing.assert_allclose(values.numpy(), expected, atol=1e-12)

    # The adjoint seed is torch's gradient of sum(grad * <P>) with respect to the state.
    grad = torch.tensor(rng.normal(size=(3, plan.num_paulis)))
    seed_state = evaluator.backward(state, grad, work).numpy().T
    matrices = [SparsePauliOp(label).to_matrix() for label in plan.paulis]
    weighted = np.einsum("bp,pij->bij", grad.numpy(), np.array(matrices))
    np.testing.assert_allclose(
        seed_state, 2 * np.einsum("bij,bj->bi", weighted, states), atol=1e-12
    )


def test_pauli_rotations_rotate_the_pauli_vector():
    unitaries = np.array([random_unitary(2, seed=seed).data for seed in range(4)])
    rotations = pauli_rotations(torch.tensor(unitaries)).numpy()
    paulis = [SparsePauliOp(label).to_matrix() for label in "XYZ"]
    for unitary, rotation in zip(unitaries, rotations, strict=True):
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        for a, sigma in enumerate(paulis):
            rotated = unitary.conj().T @ sigma @ unitary
            np.testing.assert_allclose(
                rotated, sum(rotation[a, b] * paulis[b] for b in range(3)), atol=1e-12
            )


def test_absorbed_final_gates_give_the_rotated_expectations():
    rng = np.random.default_rng(1)
    ops = [SparsePauliOp(["ZZI", "XIY"], [0.7, -1.2]), SparsePauliOp("IIZ")]
    plan = plan_observables(ops, 3, final_wires=[0, 2])
    assert plan.absorbed == (0, 2)
    finals = [random_unitary(2, seed=seed).data for seed in (5, 6)]
    coefficients = coefficient_matrix(
        plan, pauli_rotations(torch.tensor(np.array(finals))).unsqueeze(0), torch.float64, "cpu"
    )
    states = _random_states(rng, 3, 2)
    evaluator = PauliEvaluator(plan, torch.float64, torch.device("cpu"))
    paulis = torch.empty(2, plan.num_paulis, dtype=torch.float64)
    evaluator.forward(torch.tensor(states.T.copy()), paulis, Workspace(torch.device("cpu")))
    values = (paulis @ coefficients[0]).numpy()
    layer = Operator(np.kron(finals[1], np.kron(np.eye(2), finals[0])))
    expected = [
        [Statevector(s).evolve(layer).expectation_value(op).real for op in ops] for s in states
    ]
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_wires_outside_every_observable_are_ignored():
    plan = plan_observables([SparsePauliOp("IZ")], 2, final_wires=[0, 1])
    assert plan.absorbed == (0,) and plan.ignored == (1,)


def test_expansion_is_bounded():
    plan = plan_observables([SparsePauliOp("ZZZZ")], 4, final_wires=range(4), max_expansion=80)
    assert plan.absorbed == ()
    plan = plan_observables([SparsePauliOp("ZZZZ")], 4, final_wires=range(4), max_expansion=81)
    assert plan.absorbed == (0, 1, 2, 3) and plan.num_paulis == 81


def test_z_observables_are_one_sign_matrix():
    plan = plan_observables([SparsePauliOp("IIZ"), SparsePauliOp("ZII"), SparsePauliOp("III")], 3)
    (group,) = plan.groups
    assert group.mask == 0 and group.signs.shape == (8, 2)
    assert group.constant.tolist() == [False, False, True]


def test_duplicate_terms_are_combined_before_the_hermiticity_check():
    op = SparsePauliOp(["XY", "XY"], [1 + 1j, 1 - 1j])
    plan = plan_observables([op], 2)
    assert plan.paulis == ("XY",)
    np.testing.assert_allclose(plan.entry_coefficient, [2.0])


def test_at_least_one_observable_is_needed():
    with pytest.raises(ValueError, match="at least one observable"):
        plan_observables([], 2)
