"""A Qiskit ``BaseEstimatorV2`` primitive backed by the batched statevector simulator.

Results are exact. A requested ``precision`` is a target standard error, and an exact value
meets any target: it is reported back as ``target_precision`` and ``stds`` are 0. This keeps
``EstimatorQNN`` (whose ``default_precision`` is 1/64) exact with this primitive.

Its ``options`` are named as Aer's and IBM Runtime's V2 estimators name theirs
(``estimator.options.default_precision``), which frameworks taking any V2 estimator read and set:
sQUlearn's ``Executor(estimator)``, for one.
"""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from numbers import Real

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, BasePrimitiveJob
from qiskit.primitives.containers import DataBin, EstimatorPubLike, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator

from qmnist_qiskit.engines.statevector.simulator import (
    StatevectorSimulator,
    resolve_device,
    resolve_dtype,
)
from qmnist_qiskit.gradients.grouping import circuit_key, group_by_circuit, observable_key


def _stacked_rows(blocks: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Parameter values of several PUBs as one batch (identical blocks once), with the row
    where each block starts."""
    first_rows: dict[tuple, int] = {}
    unique = []
    starts = []
    n_rows = 0
    for block in blocks:
        key = (block.shape, block.tobytes())
        if key not in first_rows:
            first_rows[key] = n_rows
            unique.append(block)
            n_rows += len(block)
        starts.append(first_rows[key])
    return np.concatenate(unique), starts


def _pauli_terms(arrays: list[ObservablesArray]) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """The distinct observables of ``arrays`` as coefficients over their Pauli labels.

    Returns the labels, the coefficients ``(n_observables, n_labels)`` and, for each array, the
    index of each entry's observable (of the array's shape).
    """
    labels: dict[str, int] = {}
    observables: dict[tuple, int] = {}
    rows: list[dict[int, float]] = []
    indices = []
    for array in arrays:
        flat = np.empty(array.size, dtype=np.int64)
        for offset, index in enumerate(np.ndindex(*array.shape)):
            terms = array[index]
            key = tuple(sorted(terms.items()))
            if key not in observables:
                observables[key] = len(rows)
                rows.append(
                    {labels.setdefault(label, len(labels)): coeff for label, coeff in terms.items()}
                )
            flat[offset] = observables[key]
        indices.append(flat.reshape(array.shape))
    coefficients = np.zeros((len(rows), len(labels)))
    for row, terms in enumerate(rows):
        for column, coeff in terms.items():
            coefficients[row, column] = np.real(coeff)
    return list(labels), coefficients, indices


def _checked_precision(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"default_precision must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"default_precision must be >= 0, got {value}")
    return float(value)


class _FinishedJob(BasePrimitiveJob[PrimitiveResult[PubResult], JobStatus]):
    """A job computed when it was made: ``run`` takes milliseconds here, and a thread per job
    cost more than that on a busy machine, while frameworks that poll (sQUlearn checks every
    10 ms) waited a poll or two more. An error is raised by :meth:`result`, as it would be."""

    def __init__(self, result: PrimitiveResult | None, error: Exception | None) -> None:
        super().__init__(str(uuid.uuid4()))
        self._result = result
        self._error = error

    def result(self) -> PrimitiveResult[PubResult]:
        if self._error is not None:
            raise self._error
        return self._result

    def status(self) -> JobStatus:
        return JobStatus.DONE if self._error is None else JobStatus.ERROR

    def done(self) -> bool:
        return self._error is None

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def in_final_state(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False


@dataclass(slots=True)
class StatevectorEstimatorOptions:
    """The options of :class:`StatevectorEstimator`, as Aer's and IBM Runtime's V2 estimators
    have them: attributes checked when set, and :meth:`update`.

    Attributes
    ----------
    default_precision : float
        The ``target_precision`` reported when ``run`` is given none. Results are exact
        whatever it is (``stds`` are 0); frameworks set it from their shot count.

    Examples
    --------
    >>> from qmnist_qiskit.engines.statevector import StatevectorEstimator
    >>> estimator = StatevectorEstimator()
    >>> estimator.options.default_precision
    0.0
    >>> estimator.options.update(default_precision=1 / 64)
    >>> estimator.default_precision
    0.015625
    """

    default_precision: float = 0.0

    def __setattr__(self, name: str, value: object) -> None:
        if name == "default_precision":
            value = _checked_precision(value)
        object.__setattr__(self, name, value)

    def update(self, **options: object) -> None:
        """Set several options at once; an unknown name raises ``AttributeError``."""
        unknown = sorted(set(options) - {option.name for option in fields(self)})
        if unknown:
            raise AttributeError(f"unknown estimator options {unknown}")
        for name, value in options.items():
            setattr(self, name, value)


class StatevectorEstimator(BaseEstimatorV2):
    """Exact Estimator V2: batched statevector simulation of every PUB, in torch.

    The PUBs of one circuit in one ``run`` are one batched simulation, whether they share
    parameter values (``EstimatorQNN``: one PUB per observable) or not (sQUlearn: one PUB per
    sample). Compiled circuits are cached.

    Parameters
    ----------
    default_precision : float
        Reported as ``target_precision`` when ``run`` gets none; results are exact anyway.
        Kept in :attr:`options`.
    dtype : {"complex128", "complex64"}
        Statevector precision.
    device : str or torch.device
        ``"cpu"`` or a CUDA device.
    max_memory_bytes : int, optional
        Memory bound of one simulation (see :class:`StatevectorSimulator`).
    cache_size : int
        Number of compiled circuits kept (one per circuit and set of Pauli terms; each holds
        buffers for its batch). sQUlearn's parameter-shift training sends about ``2P + n + 2``
        of them per step (``P`` weights, ``n`` qubits): below that, each step recompiles.

    Attributes
    ----------
    options : StatevectorEstimatorOptions
        ``options.default_precision``, as on Aer's and IBM Runtime's V2 estimators.
    backend : AerSimulator
        A Qiskit backend for what an estimator does not do, such as sampling.

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
        self._options = StatevectorEstimatorOptions(default_precision)
        self.dtype = dtype
        self.device = device
        self.max_memory_bytes = max_memory_bytes
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple, StatevectorSimulator] = OrderedDict()
        self._backend: AerSimulator | None = None

    @property
    def options(self) -> StatevectorEstimatorOptions:
        """The estimator's options (``default_precision``)."""
        return self._options

    @property
    def backend(self) -> AerSimulator:
        """Aer's statevector simulator, exact like this estimator, for what it does not do.

        Frameworks that take an estimator may want a backend beside it, as Qiskit's
        ``BackendEstimatorV2`` has one: sQUlearn's ``Executor(estimator)`` requires one and
        builds its sampler on it. This estimator's own results never come from it.
        """
        if self._backend is None:
            self._backend = AerSimulator(method="statevector")
        return self._backend

    @property
    def default_precision(self) -> float:
        """The precision reported when ``run`` is given none (``options.default_precision``)."""
        return self._options.default_precision

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
            circuit_key(circuit),
            tuple(parameter.name for parameter in circuit.parameters),
            tuple(per_sample),
            tuple(observable_key(observable) for observable in observables),
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
    ) -> BasePrimitiveJob[PrimitiveResult[PubResult], JobStatus]:
        """Estimate the expectation values of the PUBs (exactly).

        Parameters
        ----------
        pubs : iterable of EstimatorPubLike
            ``(circuit, observables[, parameter_values[, precision]])`` tuples or
            ``EstimatorPub`` objects; observables and parameter values broadcast.
        precision : float, optional
            Target precision, reported in the metadata; defaults to
            ``options.default_precision``.

        Returns
        -------
        BasePrimitiveJob
            Already done when returned. Its result holds one ``PubResult`` per PUB with
            ``data.evs`` and ``data.stds`` of the broadcast shape.
        """
        if precision is None:
            precision = self._options.default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        try:
            return _FinishedJob(self._run(coerced), None)
        except Exception as exc:  # raised by result(), where a job's errors belong
            return _FinishedJob(None, exc)

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        values = []
        for pub in pubs:
            array = pub.parameter_values.as_array(pub.circuit.parameters)
            rows = int(np.prod(pub.parameter_values.shape))
            values.append(array.reshape(rows, pub.circuit.num_parameters))
        results: list[PubResult | None] = [None] * len(pubs)
        for members in group_by_circuit([pub.circuit for pub in pubs]):
            # One simulation per circuit, whatever the PUBs' parameter values (EstimatorQNN
            # sends one PUB per observable, sQUlearn one per sample) and observables: Pauli
            # terms are simulated, coefficients applied after, so a compiled circuit stays
            # valid when the coefficients change (sQUlearn trains them).
            rows, starts = _stacked_rows([values[position] for position in members])
            labels, coefficients, indices = _pauli_terms(
                [pubs[position].observables for position in members]
            )
            paulis = [SparsePauliOp(label) for label in labels]
            table = self.evaluate(pubs[members[0]].circuit, paulis, rows) @ coefficients.T
            for position, start, index in zip(members, starts, indices, strict=True):
                pub_rows = table[start : start + len(values[position])]
                results[position] = self._pub_result(pubs[position], pub_rows, index)
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
