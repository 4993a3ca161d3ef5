"""Oversized requests are refused before anything is allocated, also under a memory cap."""

from __future__ import annotations

import sys
import textwrap

import pytest

from qmnist_qiskit import QMNISTError, make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.statevector import StatevectorSimulator
from qmnist_qiskit.resources import available_budget, engine_minimum_bytes, require_memory


def test_minimum_bytes_double_with_each_qubit():
    for engine in ("statevector", "aer", "pennylane"):
        assert engine_minimum_bytes(engine, 11) == 2 * engine_minimum_bytes(engine, 10)
    assert engine_minimum_bytes("statevector", 10, element_bytes=8) < engine_minimum_bytes(
        "statevector", 10
    )


def test_the_error_names_qubits_bytes_and_budget():
    with pytest.raises(QMNISTError) as caught:
        require_memory("aer", 33, budget=123_456)
    message = str(caught.value)
    assert "33-qubit" in message and f"{2**33 * 32:,} bytes" in message
    assert "123,456 bytes" in message and "aer" in message
    assert len(message) < 300


@pytest.mark.parametrize("qubits", [28, 40])
def test_the_simulator_refuses_huge_circuits_before_compiling(qubits):
    spec = seed_circuit(qubits)
    with pytest.raises(QMNISTError, match=f"{qubits}-qubit circuit needs at least"):
        StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
        )


def test_an_explicit_budget_is_the_limit():
    spec = seed_circuit(13)  # 8,192 amplitudes x 192 bytes: more than a megabyte
    with pytest.raises(QMNISTError, match="budget is 1,000,000 bytes"):
        StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
            max_memory_bytes=1_000_000,
        )


def test_a_memory_capped_process_is_refused_without_allocating(children):
    # Under a 3 GiB address-space cap the budget follows the cap, so a 24-qubit circuit
    # (about 3.2 GB for one sample) is refused with the package's error, not a MemoryError
    # or a killed process.
    script = textwrap.dedent(
        """
        import resource
        import torch
        from qmnist_qiskit import QMNISTError
        from qmnist_qiskit.circuits import seed_circuit
        from qmnist_qiskit.engines.statevector import StatevectorSimulator
        from qmnist_qiskit.resources import available_budget

        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))
        assert available_budget() < 3 * 2**30 // 2
        spec = seed_circuit(24)
        try:
            StatevectorSimulator(spec.circuit, spec.observables,
                                 input_params=spec.input_params, weight_params=spec.weight_params)
        except QMNISTError as error:
            print("refused:", error)
        """
    )
    status, out, err = children.run([sys.executable, "-c", script], text=True, timeout=120)
    assert status == 0, err[-2000:]
    assert "refused: a 24-qubit circuit needs at least" in out


def test_the_default_budget_is_positive_and_below_the_machine():
    import psutil

    assert 0 < available_budget() <= psutil.virtual_memory().total // 2


@pytest.mark.parametrize(
    "engine, options", [("aer", {}), ("aer", {"method": "statevector"}), ("pennylane", {})]
)
def test_make_qnn_refuses_full_state_engines_before_building(engine, options):
    if engine == "pennylane":
        pytest.importorskip("pennylane_qiskit")
    with pytest.raises(
        QMNISTError, match=f"34-qubit circuit needs at least .* the {engine} engine"
    ):
        make_qnn(*seed_circuit(34), engine=engine, **options)


def test_matrix_product_states_are_not_held_to_the_full_state():
    qnn = make_qnn(*seed_circuit(34), engine="aer", method="matrix_product_state")
    assert qnn.circuit.num_qubits == 34
