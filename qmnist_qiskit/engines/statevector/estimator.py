"""A Qiskit ``BaseEstimatorV2`` primitive backed by the batched statevector simulator.

Results are exact. A requested ``precision`` is a target standard error, and an exact value
meets any target: it is reported back as ``target_precision`` and ``stds`` are 0. This keeps
``EstimatorQNN`` (whose ``default_precision`` is 1/64) exact with this primitive.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import DataBin, EstimatorPubLike, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.utils import circuit_cache_key

from qmnist_qiskit.engines.statevector.simulator import (
    StatevectorSimulator,
    resolve_device,
    resolve_dtype,
)


def _observable_key(observable: SparsePauliOp) -> tuple:
    return tuple(sorted((label, complex(coeff)) for label, coeff in observable.to_list()))


def _as_sparse_pauli_op(terms: dict) -> SparsePauliOp:
    return SparsePauliOp.from_list(list(terms.items()))


class StatevectorEstimator(BaseEstimatorV2):
    """Exact Estimator V2: batched statevector simulation of every PUB, in torch.

    PUBs sharing a circuit and parameter values in one ``run`` (as ``EstimatorQNN`` sends
    them, one per observable) are simulated once. Compiled circuits are cached.

    Parameters
    ----------
    default_precision : float
        Reported as ``target_precision`` when ``run`` gets none; results are exact anyway.
    dtype : {"complex128", "complex64"}
        Statevector precision.
    device : str or torch.device
        ``"cpu"`` or a CUDA device.
    max_memory_bytes : int, optional
        Memory bound of one simulation (see :class:`StatevectorSimulator`).
    cache_size : int
        Number of compiled circuits kept.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.circuit import Parameter, QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> theta = Parameter("θ")
    >>> qc = QuantumCircuit(1)
    >>> _ = qc.ry(theta, 0)
    >>> pub = (qc, [[SparsePauliOp("Z")], [SparsePauliOp("X")]], [[0.0], [np.pi / 2]])
    >>> StatevectorEstimator().run([pub]).result()[0].data.evs.round(12).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(
        self,
        *,
        default_precision: float = 0.0,
        dtype: str | torch.dtype = "complex128",
        device: str | torch.device = "cpu",
        max_memory_bytes: int | None = None,
        cache_size: int = 32,
    ) -> None:
        resolve_dtype(dtype)
        resolve_device(device)
        if default_precision < 0:
            raise ValueError(f"default_precision must be >= 0, got {default_precision}")
        self._default_precision = default_precision
        self.dtype = dtype
        self.device = device
        self.max_memory_bytes = max_memory_bytes
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple, StatevectorSimulator] = OrderedDict()

    @property
    def default_precision(self) -> float:
        """The precision reported when ``run`` is given none."""
        return self._default_precision

    def simulator(
        self,
        circuit: QuantumCircuit,
        observables: Sequence[SparsePauliOp],
        per_sample: Sequence[bool],
    ) -> StatevectorSimulator:
        """The cached simulator of ``circuit`` and ``observables``.

        Its inputs are the circuit parameters (in ``circuit.parameters`` order) flagged in
        ``per_sample``; the others are its weights, shared by the batch.
        """
        key = (
            circuit_cache_key(circuit),
            tuple(parameter.name for parameter in circuit.parameters),
            tuple(per_sample),
            tuple(_observable_key(observable) for observable in observables),
        )
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        parameters = list(circuit.parameters)
        simulator = StatevectorSimulator(
            circuit,
            observables,
            input_params=[p for p, flag in zip(parameters, per_sample, strict=True) if flag],
            weight_params=[p for p, flag in zip(parameters, per_sample, strict=True) if not flag],
            dtype=self.dtype,
            device=self.device,
            max_memory_bytes=self.max_memory_bytes,
        )
        self._cache[key] = simulator
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return simulator

    def evaluate(
        self, circuit: QuantumCircuit, observables: Sequence[SparsePauliOp], values: np.ndarray
    ) -> np.ndarray:
        """Expectations ``(rows, len(observables))`` for parameter ``values`` ``(rows, P)``
        given in ``circuit.parameters`` order."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != circuit.num_parameters:
            raise ValueError(
                f"expected parameter values of shape (rows, {circuit.num_parameters}), "
                f"got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("parameter values contain NaN or infinite values")
        if len(values) == 0:
            return np.zeros((0, len(observables)))
        # Parameters equal in every row (EstimatorQNN's weights) are shared by the batch,
        # which keeps their gates one matrix for all samples.
        per_sample = np.any(values != values[:1], axis=0)
        simulator = self.simulator(circuit, observables, per_sample.tolist())
        inputs = torch.as_tensor(values[:, per_sample])
        weights = torch.as_tensor(values[0, ~per_sample])
        with torch.no_grad():
            return simulator.expectations(inputs, weights).cpu().numpy().astype(np.float64)

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        """Estimate the expectation values of the PUBs (exactly).

        Parameters
        ----------
        pubs : iterable of EstimatorPubLike
            ``(circuit, observables[, parameter_values[, precision]])`` tuples or
            ``EstimatorPub`` objects; observables and parameter values broadcast.
        precision : float, optional
            Target precision, reported in the metadata; defaults to ``default_precision``.

        Returns
        -------
        PrimitiveJob
            Its result holds one ``PubResult`` per PUB with ``data.evs`` and ``data.stds``
            of the broadcast shape.
        """
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        groups: dict[tuple, list[int]] = {}
        values = []
        for position, pub in enumerate(pubs):
            array = pub.parameter_values.as_array(pub.circuit.parameters)
            rows = int(np.prod(pub.parameter_values.shape))
            values.append(array.reshape(rows, pub.circuit.num_parameters))
            key = (id(pub.circuit), values[-1].shape, values[-1].tobytes())
            groups.setdefault(key, []).append(position)
        results: list[PubResult | None] = [None] * len(pubs)
        for members in groups.values():
            circuit = pubs[members[0]].circuit
            unique: dict[tuple, int] = {}
            indices = {}
            observables = []
            for position in members:
                array = pubs[position].observables
                flat = np.empty(array.size, dtype=np.int64)
                for offset, index in enumerate(np.ndindex(*array.shape)):
                    observable = _as_sparse_pauli_op(array[index])
                    key = _observable_key(observable)
                    if key not in unique:
                        unique[key] = len(observables)
                        observables.append(observable)
                    flat[offset] = unique[key]
                indices[position] = flat.reshape(array.shape)
            table = self.evaluate(circuit, observables, values[members[0]])
            for position in members:
                results[position] = self._pub_result(pubs[position], table, indices[position])
        return PrimitiveResult(results, metadata={"version": 2})

    @staticmethod
    def _pub_result(pub: EstimatorPub, table: np.ndarray, observable_index) -> PubResult:
        value_shape = pub.parameter_values.shape
        shape = np.broadcast_shapes(value_shape, pub.observables.shape)
        rows = np.broadcast_to(np.arange(int(np.prod(value_shape))).reshape(value_shape), shape)
        evs = table[rows, np.broadcast_to(observable_index, shape)]
        data = DataBin(evs=evs, stds=np.zeros_like(evs), shape=evs.shape)
        return PubResult(
            data,
            metadata={
                "target_precision": pub.precision,
                "circuit_metadata": pub.circuit.metadata,
            },
        )
