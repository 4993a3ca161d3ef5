"""make_qnn checks the circuit, its parameters and its observables once, before any engine:
the same error, word for word, whichever engine was asked for."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp

from qmnist_qiskit import make_qnn

ENGINES = [
    pytest.param("statevector", id="statevector"),
    pytest.param("aer", id="aer"),
    pytest.param("pennylane", id="pennylane", marks=pytest.mark.pennylane),
]
A, B = Parameter("a"), Parameter("b")
Z = [SparsePauliOp("IZ")]


def _circuit() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.rx(A, 0)
    circuit.cx(0, 1)
    circuit.ry(B, 1)
    return circuit


def _measured() -> QuantumCircuit:
    circuit = _circuit()
    circuit.measure_all()
    return circuit


def _reset() -> QuantumCircuit:
    circuit = _circuit()
    circuit.reset(1)
    return circuit


def _with_classical_bits() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 1)
    circuit.compose(_circuit(), inplace=True)
    return circuit


BAD = [
    pytest.param(
        lambda: (_circuit(), [A], [B, Parameter("c")], Z),
        ValueError,
        "parameters ['c'] do not occur in the circuit's gates (a parameter that is not in the "
        "circuit cannot be bound)",
        id="parameter-not-in-circuit",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [], Z),
        ValueError,
        "circuit parameters ['b'] are neither in input_params nor in weight_params",
        id="undeclared-parameter",
    ),
    pytest.param(
        lambda: (_circuit(), [A, B], [B], Z),
        ValueError,
        "parameter 'b' is listed twice: input_params and weight_params must be distinct parameters",
        id="parameter-twice",
    ),
    pytest.param(
        lambda: (_circuit(), [A, 2 * B], [], Z),
        TypeError,
        "input_params and weight_params must hold Qiskit Parameters, got ParameterExpression 2*b",
        id="expression-as-parameter",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [B], [SparsePauliOp("Z")]),
        ValueError,
        "observable 0 acts on 1 qubits, the circuit on 2",
        id="observable-too-narrow",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [B], [*Z, SparsePauliOp("ZZZ")]),
        ValueError,
        "observable 1 acts on 3 qubits, the circuit on 2",
        id="observable-too-wide",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [B], ["ZI"]),
        TypeError,
        "observable 0 must be a SparsePauliOp or Pauli, got str",
        id="observable-string",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [B], [SparsePauliOp(["ZI", "XY"], [1.0, 0.5j])]),
        ValueError,
        "observable 0 is not Hermitian (coefficient 0.5j on XY): expectation values must be real",
        id="observable-not-hermitian",
    ),
    pytest.param(
        lambda: (_circuit(), [A], [B], []),
        ValueError,
        "give at least one observable",
        id="no-observable",
    ),
    pytest.param(
        lambda: (_measured(), [A], [B], Z),
        ValueError,
        "the circuit must have no measurements or classical bits (expectation values need "
        "none), but it contains the instruction measure",
        id="measurement",
    ),
    pytest.param(
        lambda: (_reset(), [A], [B], Z),
        ValueError,
        "the circuit must have no measurements or classical bits (expectation values need "
        "none), but it contains the instruction reset on qubit 1 after a gate acted on it",
        id="reset",
    ),
    pytest.param(
        lambda: (_with_classical_bits(), [A], [B], Z),
        ValueError,
        "the circuit must have no measurements or classical bits (expectation values need "
        "none), but it has 1 classical bits",
        id="classical-bits",
    ),
    pytest.param(
        lambda: (QuantumCircuit(), [], [], Z),
        ValueError,
        "the circuit has no qubits",
        id="no-qubits",
    ),
    pytest.param(
        lambda: ("rx(a) 0", [A], [B], Z),
        TypeError,
        "circuit must be a QuantumCircuit, got str",
        id="not-a-circuit",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("build", "error", "message"), BAD)
def test_the_same_error_for_every_engine(engine, build, error, message):
    with pytest.raises(error) as raised:
        make_qnn(*build(), engine=engine)
    assert str(raised.value) == message


@pytest.mark.parametrize("engine", ENGINES)
def test_pauli_observables_are_accepted_by_every_engine(engine):
    as_paulis = make_qnn(_circuit(), [A], [B], [Pauli("IZ"), Pauli("XX")], engine=engine)
    as_sums = make_qnn(_circuit(), [A], [B], [SparsePauliOp("IZ"), SparsePauliOp("XX")])
    inputs, weights = np.array([[0.3], [1.1]]), np.array([0.7])
    np.testing.assert_allclose(
        as_paulis.forward(inputs, weights), as_sums.forward(inputs, weights), rtol=0, atol=1e-12
    )
    # <Z_0> after RX(a) on qubit 0: cos(a), whatever follows on other wires.
    np.testing.assert_allclose(
        as_paulis.forward(inputs, weights)[:, 0], np.cos(inputs[:, 0]), rtol=0, atol=1e-12
    )
