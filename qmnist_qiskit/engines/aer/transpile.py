"""Putting a circuit on a device model: transpile to its instruction set, map the observables.

Aer applies a backend's noise model only to the backend's own instructions on its own qubits,
so a circuit simulated "as if on" a device must first be rewritten in that device's terms.
"""

from __future__ import annotations

from collections.abc import Sequence

from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import PassManager, generate_preset_pass_manager

from qmnist_qiskit.engines.aer.options import AerOptions
from qmnist_qiskit.exceptions import QMNISTError


def transpile_for_backend(
    circuit: QuantumCircuit,
    observables: Sequence[SparsePauliOp],
    backend: BackendV2 | AerOptions,
    *,
    optimization_level: int = 1,
    seed: int | None = None,
    pass_manager: PassManager | None = None,
) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    """Transpile ``circuit`` for ``backend`` and lay the observables out to match.

    Parameters
    ----------
    circuit : QuantumCircuit
        The logical circuit.
    observables : sequence of SparsePauliOp
        Observables on the logical qubits.
    backend : BackendV2 or AerOptions
        The device (or its fake twin) whose instruction set and coupling map to target; or
        the Aer engine's options, whose ``backend``, ``optimization_level`` and ``seed`` are
        then used.
    optimization_level : {0, 1, 2, 3}
        Level of the preset pass manager built from ``backend``.
    seed : int, optional
        The layout's seed (0 when ``None``), so the same circuit maps the same way.
    pass_manager : PassManager, optional
        Used instead of the preset one (anything with ``run(circuit)``).

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
    >>> qc, x, theta, obs = seed_circuit(3)
    >>> isa, mapped = transpile_for_backend(qc, obs, FakeManilaV2())
    >>> isa.num_qubits, mapped[0].num_qubits
    (5, 5)
    """
    if isinstance(backend, AerOptions):
        backend, optimization_level, seed = (
            backend.backend,
            backend.optimization_level,
            backend.seed,
        )
    name = getattr(backend, "name", type(backend).__name__)
    if backend.num_qubits is not None and backend.num_qubits < circuit.num_qubits:
        raise QMNISTError(
            f"backend {name!r} has {backend.num_qubits} qubits; the circuit needs "
            f"{circuit.num_qubits}"
        )
    if pass_manager is None:
        pass_manager = generate_preset_pass_manager(
            optimization_level=optimization_level,
            backend=backend,
            seed_transpiler=0 if seed is None else seed,
        )
    try:
        isa_circuit = pass_manager.run(circuit)
    except Exception as exc:
        raise QMNISTError(
            f"backend {name!r} cannot run the circuit (instructions "
            f"{sorted(backend.target.operation_names)}): {exc}"
        ) from exc
    if isa_circuit.layout is None:
        return isa_circuit, list(observables)
    mapped = [observable.apply_layout(isa_circuit.layout) for observable in observables]
    return isa_circuit, mapped
