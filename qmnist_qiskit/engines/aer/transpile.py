"""Putting a circuit on a device model: transpile to its instruction set, map the observables.

Aer applies a backend's noise model only to the backend's own instructions on its own qubits,
so a circuit simulated "as if on" a device must first be rewritten in that device's terms.
"""

from __future__ import annotations

from collections.abc import Sequence

from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qmnist_qiskit.engines.aer.options import AerOptions
from qmnist_qiskit.exceptions import QMNISTError


def transpile_for_backend(
    circuit: QuantumCircuit, observables: Sequence[SparsePauliOp], options: AerOptions
) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    """Transpile ``circuit`` for ``options.backend`` and lay the observables out to match.

    Parameters
    ----------
    circuit : QuantumCircuit
        The logical circuit.
    observables : sequence of SparsePauliOp
        Observables on the logical qubits.
    options : AerOptions
        With ``backend`` set; ``optimization_level`` and ``seed`` (the layout's seed, 0 when
        ``None``) steer the preset pass manager.

    Returns
    -------
    isa_circuit : QuantumCircuit
        On the backend's qubits, in its instruction set, with ``layout`` set.
    mapped : list of SparsePauliOp
        ``observable.apply_layout(isa_circuit.layout)`` for each observable.

    Raises
    ------
    QMNISTError
        If the backend has too few qubits, or its instruction set or coupling map cannot
        express the circuit.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> from qmnist_qiskit.engines.aer.options import resolve_options
    >>> qc, x, theta, obs = seed_circuit(3)
    >>> isa, mapped = transpile_for_backend(qc, obs, resolve_options(backend=FakeManilaV2()))
    >>> isa.num_qubits, mapped[0].num_qubits
    (5, 5)
    """
    backend = options.backend
    name = getattr(backend, "name", type(backend).__name__)
    if backend.num_qubits < circuit.num_qubits:
        raise QMNISTError(
            f"backend {name!r} has {backend.num_qubits} qubits; the circuit needs "
            f"{circuit.num_qubits}"
        )
    pass_manager = generate_preset_pass_manager(
        optimization_level=options.optimization_level,
        backend=backend,
        seed_transpiler=0 if options.seed is None else options.seed,
    )
    try:
        isa_circuit = pass_manager.run(circuit)
    except Exception as exc:
        raise QMNISTError(
            f"backend {name!r} cannot run the circuit (instructions "
            f"{sorted(backend.target.operation_names)}): {exc}"
        ) from exc
    mapped = [observable.apply_layout(isa_circuit.layout) for observable in observables]
    return isa_circuit, mapped
