"""The compiler's program shape, its translations, and the circuits it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.circuit import ClassicalRegister, Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import GlobalPhaseGate, PauliEvolutionGate, UnitaryGate, XXPlusYYGate
from qiskit.quantum_info import Operator, SparsePauliOp, random_unitary

from qmnist_qiskit.circuits import layered_circuit, seed_circuit
from qmnist_qiskit.engines.statevector.compiler import (
    DenseOp,
    DiagonalOp,
    MonomialOp,
    UnitaryOp,
    compile_circuit,
)
from qmnist_qiskit.engines.statevector.gates import DIAGONAL_TWO_QUBIT, SINGLE_QUBIT, TWO_QUBIT
from qmnist_qiskit.exceptions import QMNISTError


def test_seed_circuit_is_a_product_state_one_gather_and_final_layers():
    qc, x, theta, _ = seed_circuit(10)
    program = compile_circuit(qc, x, theta)
    assert [len(gates) for gates in program.initial] == [1] * 10
    assert len(program.ops) == 1 and isinstance(program.ops[0], MonomialOp)
    assert program.ops[0].phase is None
    assert [[gate.name for gate in gates] for gates in program.final] == [["rx", "ry"]] * 10
    assert all(program.varies(gates) for gates in program.initial)
    assert not any(program.varies(gates) for gates in program.final)


def test_cnot_chain_gather_is_the_chain_permutation():
    qc, x, theta, _ = seed_circuit(4)
    (chain,) = compile_circuit(qc, x, theta).ops
    states = np.arange(16)
    expected = states.copy()
    for control in range(3):
        flip = (expected >> control) & 1
        expected = expected ^ (flip << (control + 1))
    # out[k] = in[source[k]]: the amplitude of basis state expected[k] comes from k.
    assert np.array_equal(chain.source[expected], states)


def test_reuploading_layers_fuse_input_and_weight_gates_per_wire():
    spec = layered_circuit(3, reps=2, input_scaling=True)
    program = compile_circuit(spec.circuit, spec.input_params, spec.weight_params)
    kinds = [type(op).__name__ for op in program.ops]
    assert kinds == ["MonomialOp", "UnitaryOp", "UnitaryOp", "UnitaryOp", "MonomialOp"]
    fused = program.ops[1]
    assert [gate.name for gate in fused.gates] == ["rx", "ry", "rx"]
    assert program.varies(fused.gates)


def test_parameterised_diagonals_and_dense_two_qubit_gates_stay_separate():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.rzz(a, 0, 1)
    qc.crz(b, 1, 2)
    qc.rxx(a * b, 2, 0)
    qc.cz(0, 1)
    qc.cx(1, 2)
    program = compile_circuit(qc, [a], [b])
    assert [type(op) for op in program.ops] == [DiagonalOp, DiagonalOp, UnitaryOp, MonomialOp]
    merged = program.ops[-1]
    assert merged.source is not None and merged.phase is not None


def test_constant_gates_of_any_size_use_their_matrices():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.ccx(0, 1, 2)
    qc.ch(2, 1)
    qc.iswap(0, 2)
    program = compile_circuit(qc)
    assert [type(op) for op in program.ops] == [MonomialOp, UnitaryOp, MonomialOp]
    assert program.ops[1].gates[0].name == "constant"


def test_constant_gates_on_three_or_more_qubits_are_dense_unless_permutations():
    unitary = random_unitary(8, seed=3)
    qc = QuantumCircuit(4)
    qc.h(range(4))
    qc.append(UnitaryGate(unitary), [3, 0, 2])
    qc.mcx([0, 1, 2], 3)
    program = compile_circuit(qc)
    assert [type(op) for op in program.ops] == [DenseOp, MonomialOp]
    assert program.ops[0].qubits == (3, 0, 2)
    np.testing.assert_array_equal(program.ops[0].matrix, Operator(unitary).data)


def test_parameterised_gates_without_builders_are_replaced_by_their_definitions():
    a = Parameter("a")
    qc = QuantumCircuit(3)
    qc.append(XXPlusYYGate(a, 0.3), [0, 1])
    qc.append(PauliEvolutionGate(SparsePauliOp(["XXI", "ZZZ"]), 2 * a), [0, 1, 2])
    program = compile_circuit(qc, [a])
    names = {gate.name for op in program.ops if isinstance(op, UnitaryOp) for gate in op.gates}
    names |= {op.gate.name for op in program.ops if isinstance(op, DiagonalOp)}
    names |= {gate.name for gates in (*program.initial, *program.final) for gate in gates}
    assert names <= {*SINGLE_QUBIT, *TWO_QUBIT, *DIAGONAL_TWO_QUBIT, "constant"}
    assert "rz" in names


def test_a_product_formula_is_refused_where_it_would_only_approximate():
    a = Parameter("a")
    qc = QuantumCircuit(2)
    qc.append(PauliEvolutionGate(SparsePauliOp(["XI", "ZI"]), a), [0, 1])
    with pytest.raises(QMNISTError, match="'PauliEvolution' is a Pauli evolution of non-comm"):
        compile_circuit(qc, [a])
    assert compile_circuit(qc.assign_parameters([0.3])).num_qubits == 2


def test_parameterised_global_phase_gates_join_the_global_phase():
    a = Parameter("a")
    qc = QuantumCircuit(1, global_phase=0.5)
    qc.append(GlobalPhaseGate(2 * a), [])
    program = compile_circuit(qc, [a])
    assert program.global_phase([torch.tensor([0.25], dtype=torch.float64)]).tolist() == [1.0]


def test_composite_instructions_are_unrolled():
    inner = QuantumCircuit(2, name="block")
    inner.h(0)
    inner.cx(0, 1)
    qc = QuantumCircuit(2)
    qc.append(inner.to_instruction(), [0, 1])
    program = compile_circuit(qc)
    assert [gate.name for gate in program.initial[0]] == ["constant"]
    assert isinstance(program.ops[0], MonomialOp)


def _with_measurement() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    return qc


def _with_reset() -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.reset(0)
    return qc


def _with_reset_after_entangling() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.cx(0, 1)
    qc.reset(1)
    return qc


def _with_if_else() -> QuantumCircuit:
    qc = QuantumCircuit(2, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    return qc


def _with_initialize() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.x(1)
    qc.initialize([0, 1], 1)
    return qc


def _with_reset_inside_an_instruction() -> QuantumCircuit:
    inner = QuantumCircuit(1, name="prepare")
    inner.reset(0)
    inner.x(0)
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.append(inner.to_instruction(), [0])
    return qc


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (_with_measurement, "measure"),
        (_with_reset, "reset on qubit 0 after a gate acted on it"),
        (_with_reset_after_entangling, "reset on qubit 1 after a gate acted on it"),
        (_with_if_else, "if_else"),
        (_with_initialize, "reset on qubit 1 after a gate acted on it \\(inside 'initialize'\\)"),
        (
            _with_reset_inside_an_instruction,
            "reset on qubit 0 after a gate acted on it \\(inside 'prepare'\\)",
        ),
    ],
)
def test_non_deterministic_instructions_are_named(build, name):
    with pytest.raises(QMNISTError, match=f"instruction {name}"):
        compile_circuit(build())


def test_resets_and_initialize_on_qubits_still_in_zero_prepare_states():
    inner = QuantumCircuit(1, name="prepare")
    inner.reset(0)
    inner.x(0)
    qc = QuantumCircuit(3)
    qc.reset(0)
    qc.barrier()
    qc.initialize([0.6, 0.8j], 1)
    qc.append(inner.to_instruction(), [2])
    qc.cx(1, 0)
    program = compile_circuit(qc)
    assert all(gates == () or gates[0].name == "constant" for gates in program.initial)
    assert [type(op) for op in program.ops] == [MonomialOp]


def test_classical_registers_alone_are_fine():
    qc = QuantumCircuit(1)
    qc.add_register(ClassicalRegister(1))
    qc.h(0)
    assert compile_circuit(qc).num_qubits == 1


def test_parameter_lists_must_cover_the_circuit_exactly():
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(1)
    qc.rx(x[0] * x[1], 0)
    with pytest.raises(ValueError, match="neither in input_params nor in weight_params"):
        compile_circuit(qc, [x[0]])
    with pytest.raises(ValueError, match="not in the circuit"):
        compile_circuit(qc, [x[0], x[1], Parameter("extra")])
    with pytest.raises(ValueError, match="listed twice"):
        compile_circuit(qc, [x[0], x[1]], [x[0]])
    with pytest.raises(TypeError, match="Parameters"):
        compile_circuit(qc, [x[0], 2 * x[1]])


def test_circuits_are_required():
    with pytest.raises(TypeError, match="QuantumCircuit"):
        compile_circuit("not a circuit")
    with pytest.raises(ValueError, match="no qubits"):
        compile_circuit(QuantumCircuit())
