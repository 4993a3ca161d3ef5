"""Expectation values estimated from measurement shots on an ``AerSimulator``.

Aer's own ``EstimatorV2`` never measures: with ``precision > 0`` it adds Gaussian noise of a
fixed width to the exact value, and a noise model's readout errors never act. This estimator
does what a device does instead: it appends basis changes and measurements (one circuit per
group of qubit-wise commuting Pauli terms), runs every parameter set with ``shots`` shots in one
Aer job (Aer binds the parameters itself), and estimates each observable and its standard error
from the counts. With a noise model every shot is one noisy trajectory, readout errors included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from qiskit.circuit import ClassicalRegister, QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import (
    DataBin,
    EstimatorPubLike,
    PrimitiveResult,
    PubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.quantum_info import PauliList
from qiskit.transpiler import Target
from qiskit.transpiler.passes import Optimize1qGatesDecomposition
from qiskit_aer import AerSimulator

from qmnist_qiskit.exceptions import QMNISTError


def _basis_change(group: PauliList, target: Target | None) -> QuantumCircuit:
    """Rotations that turn every Pauli of a qubit-wise commuting group into a Z string."""
    change = QuantumCircuit(group.num_qubits)
    x_any = np.any(group.x, axis=0)
    z_any = np.any(group.z, axis=0)
    for qubit in range(group.num_qubits):
        if x_any[qubit] and z_any[qubit]:
            change.sdg(qubit)
            change.h(qubit)
        elif x_any[qubit]:
            change.h(qubit)
    if target is not None:
        change = Optimize1qGatesDecomposition(target=target)(change)
    return change


def _measured_circuit(circuit: QuantumCircuit, change: QuantumCircuit) -> QuantumCircuit:
    measured = circuit.copy()
    # a parameterised global phase trips Aer's runtime parameter binding, and no
    # measurement depends on it
    measured.global_phase = 0
    measured.compose(change, inplace=True)
    register = ClassicalRegister(circuit.num_qubits, "meas")
    measured.add_register(register)
    measured.measure(range(circuit.num_qubits), register)
    return measured


def _support_bits(group: PauliList) -> np.ndarray:
    """``(n_terms, n_qubits)`` 0/1 matrix: where each Pauli acts non-trivially."""
    return (group.x | group.z).astype(np.int64)


def _counts_arrays(counts: dict[str, int], n_qubits: int) -> tuple[np.ndarray, np.ndarray]:
    outcomes = np.fromiter((int(key, 16) for key in counts), dtype=np.int64, count=len(counts))
    frequencies = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    bits = (outcomes[:, None] >> np.arange(n_qubits)) & 1
    return bits, frequencies


def _group_moments(
    bits: np.ndarray, frequencies: np.ndarray, support: np.ndarray, coefficients: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and per-shot variance of each observable's part in one measured group."""
    signs = 1.0 - 2.0 * ((bits @ support.T) & 1)
    values = signs @ coefficients
    shots = frequencies.sum()
    mean = frequencies @ values / shots
    variance = np.maximum(frequencies @ values**2 / shots - mean**2, 0.0)
    return mean, variance


class AerSamplingEstimator(BaseEstimatorV2):
    """A ``BaseEstimatorV2`` that estimates expectation values from shots on Aer.

    Parameters
    ----------
    simulator : AerSimulator
        The simulator (method, device, noise model) that runs the measured circuits.
    shots : int
        Shots per parameter set when a PUB gives no precision; a PUB's precision ``p``
        means ``ceil(1 / p**2)`` shots, as in Qiskit's ``BackendEstimatorV2``.
    seed : int, optional
        Seeds the simulator's sampling: a new estimator with the same seed repeats the same
        sequence of results.
    target : Target, optional
        Instruction set of the device being modelled; the measurement basis changes are
        written in it so that the noise model acts on them.

    Notes
    -----
    The standard error of each estimate is the sample standard deviation of the per-shot
    values divided by ``sqrt(shots)``, summed in quadrature over measurement groups.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> from qiskit_aer import AerSimulator
    >>> qc = QuantumCircuit(1)
    >>> qc.h(0)  # doctest: +ELLIPSIS
    <...>
    >>> estimator = AerSamplingEstimator(AerSimulator(), shots=10_000, seed=1)
    >>> result = estimator.run([(qc, SparsePauliOp("X"))]).result()[0]
    >>> float(result.data.evs), float(result.data.stds)
    (1.0, 0.0)
    """

    def __init__(
        self,
        simulator: AerSimulator,
        *,
        shots: int,
        seed: int | None = None,
        target: Target | None = None,
    ) -> None:
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots must be a positive integer, got {shots!r}")
        self._simulator = simulator
        self._shots = shots
        self._rng = np.random.default_rng(seed)
        self._target = target

    @property
    def shots(self) -> int:
        """Shots per parameter set when a PUB sets no precision."""
        return self._shots

    @property
    def simulator(self) -> AerSimulator:
        """The ``AerSimulator`` that runs the measured circuits."""
        return self._simulator

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        """Estimate the expectation values of the PUBs from measurement shots."""
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        plans = []
        for index, pub in enumerate(coerced):
            if pub.precision is not None and pub.precision <= 0.0:
                raise ValueError(
                    f"PUB {index} asks for precision {pub.precision}; sampling needs a "
                    "precision > 0 (use Aer's EstimatorV2 for exact values)"
                )
            shots = (
                self._shots
                if pub.precision is None
                else math.ceil(round(1.0 / pub.precision**2, 6))
            )
            # seeds are drawn here, in call order, so results do not depend on job timing
            plans.append((pub, shots, int(self._rng.integers(2**31 - 1))))
        job = PrimitiveJob(self._run, plans)
        job._submit()
        return job

    def _run(self, plans: list[tuple[EstimatorPub, int, int]]) -> PrimitiveResult[PubResult]:
        return PrimitiveResult(
            [self._run_pub(pub, shots, seed) for pub, shots, seed in plans],
            metadata={"version": 2},
        )

    def _run_pub(self, pub: EstimatorPub, shots: int, seed: int) -> PubResult:
        circuit = pub.circuit
        n_qubits = circuit.num_qubits
        observables = list(pub.observables.ravel())
        labels = sorted({label for observable in observables for label in observable})
        groups = PauliList(labels).group_qubit_wise_commuting()
        circuits = [_measured_circuit(circuit, _basis_change(g, self._target)) for g in groups]

        values = pub.parameter_values
        n_sets = int(np.prod(values.shape, dtype=int))
        table = values.as_array(circuit.parameters).reshape(n_sets, -1)
        column = {parameter: i for i, parameter in enumerate(circuit.parameters)}
        binds = [
            {p: table[:, column[p]] for p in measured.parameters} if measured.parameters else {}
            for measured in circuits
        ]
        run_binds = binds if any(binds) else None
        try:
            result = self._simulator.run(
                circuits, parameter_binds=run_binds, shots=shots, seed_simulator=seed
            ).result()
        except Exception as exc:
            raise QMNISTError(f"Aer failed to sample the circuit: {exc}") from exc
        if not result.success:
            raise QMNISTError(f"Aer failed to sample the circuit: {result.status}")

        means = np.zeros((n_sets, len(observables)))
        variances = np.zeros((n_sets, len(observables)))
        for g, group in enumerate(groups):
            group_labels = group.to_labels()
            coefficients = np.array(
                [
                    [float(np.real(obs.get(label, 0.0))) for obs in observables]
                    for label in group_labels
                ]
            )
            support = _support_bits(group)
            for s in range(n_sets):
                counts = result.data(g * n_sets + s)["counts"]
                bits, frequencies = _counts_arrays(counts, n_qubits)
                mean, variance = _group_moments(bits, frequencies, support, coefficients)
                means[s] += mean
                variances[s] += variance

        param_index = np.arange(n_sets).reshape(values.shape)
        obs_index = np.arange(len(observables)).reshape(pub.observables.shape)
        bc_param, bc_obs = np.broadcast_arrays(param_index, obs_index)
        evs = means[bc_param, bc_obs]
        stds = np.sqrt(variances[bc_param, bc_obs] / shots)
        return PubResult(
            DataBin(evs=evs, stds=stds, shape=evs.shape),
            metadata={
                "shots": shots,
                "target_precision": 1.0 / math.sqrt(shots),
                "circuit_metadata": circuit.metadata,
            },
        )
