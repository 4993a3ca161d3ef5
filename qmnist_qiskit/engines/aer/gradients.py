"""Gradients that send every shifted parameter set of a batch to the estimator as ONE PUB.

qiskit-machine-learning's ``ParamShiftEstimatorGradient`` submits one PUB per shifted
parameter set and observable: for the 10-qubit seed circuit that is 400 PUBs (400 Aer jobs)
per image. The gradients here group the requests of a ``run`` by circuit, and submit for each
circuit a single broadcast PUB

* parameter values of shape ``(n_rows, 1 + n_shifts, n_parameters)``: every distinct parameter
  row, unshifted first (the forward values come with the gradient), then its shifted copies;
* observables of shape ``(n_observables, 1, 1)``: every distinct observable,

so Aer simulates each shifted parameter set once for all observables. Both are
``BaseEstimatorGradient`` subclasses, usable as ``EstimatorQNN(..., gradient=...)``.
Besides the gradients, each result's ``metadata[i]`` holds ``"stds"`` (the standard error of
each gradient entry, zero when exact), ``"value"`` and ``"value_std"`` (the expectation value at
the unshifted point).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit.transpiler.passes import TranslateParameterizedGates
from qiskit_machine_learning.gradients import (
    BaseEstimatorGradient,
    EstimatorGradientResult,
    ParamShiftEstimatorGradient,
)
from qiskit_machine_learning.gradients.utils import (
    GradientCircuit,
    _assign_unique_parameters,
    _make_gradient_parameter_values,
    _make_gradient_parameters,
)
from qiskit_machine_learning.utils import circuit_cache_key


@dataclass
class _Batch:
    """Requests of one ``run`` that share a circuit and the parameters to differentiate."""

    circuit: QuantumCircuit
    parameters: list[Parameter]
    rows: np.ndarray
    row_of_request: np.ndarray
    observables: list[BaseOperator]
    observable_of_request: np.ndarray


@dataclass
class _Evaluation:
    """Expectation values of a broadcast PUB, ``(n_observables, n_rows, 1 + n_shifts)``."""

    evs: np.ndarray
    stds: np.ndarray


def _observable_key(observable: BaseOperator) -> tuple:
    operator = SparsePauliOp(observable)
    return (
        operator.num_qubits,
        tuple(operator.paulis.to_labels()),
        tuple(np.round(operator.coeffs, 15).tolist()),
    )


def _batches(
    circuits: Sequence[QuantumCircuit],
    observables: Sequence[BaseOperator],
    parameter_values: Sequence[Sequence[float]] | np.ndarray,
    parameters: Sequence[Sequence[Parameter]],
) -> list[tuple[list[int], _Batch]]:
    members: dict[tuple, list[int]] = {}
    for index, (circuit, parameters_) in enumerate(zip(circuits, parameters, strict=True)):
        members.setdefault((circuit_cache_key(circuit), tuple(parameters_)), []).append(index)
    batches = []
    for indices in members.values():
        rows = np.asarray([parameter_values[i] for i in indices], dtype=float)
        unique_rows, row_of_request = np.unique(rows, axis=0, return_inverse=True)
        keys = [_observable_key(observables[i]) for i in indices]
        unique_keys = list(dict.fromkeys(keys))
        first = {key: indices[keys.index(key)] for key in unique_keys}
        batch = _Batch(
            circuit=circuits[indices[0]],
            parameters=list(parameters[indices[0]]),
            rows=unique_rows,
            row_of_request=row_of_request.reshape(-1),
            observables=[observables[first[key]] for key in unique_keys],
            observable_of_request=np.array([unique_keys.index(key) for key in keys]),
        )
        batches.append((indices, batch))
    return batches


class _BatchedEstimatorGradient(BaseEstimatorGradient):
    """Shared machinery: grouping requests, one broadcast PUB per circuit, scattering back."""

    def __init__(self, estimator: BaseEstimatorV2, options: Options | None = None) -> None:
        if not isinstance(estimator, BaseEstimatorV2):
            raise TypeError(
                f"estimator must be a Qiskit BaseEstimatorV2, got {type(estimator).__name__}"
            )
        super().__init__(estimator, options=options)

    def _evaluate(
        self,
        circuit: QuantumCircuit,
        parameters: Sequence[Parameter],
        values: np.ndarray,
        observables: Sequence[BaseOperator],
    ) -> _Evaluation:
        """Run ``circuit`` at ``values`` (``(rows, points, len(parameters))``) as one PUB."""
        if isinstance(circuit.global_phase, ParameterExpression):
            # the global phase changes no expectation value, and Aer's runtime parameter
            # binding rejects a parameterised one
            circuit = circuit.copy()
            circuit.global_phase = 0
        kept = [i for i, parameter in enumerate(parameters) if parameter in circuit.parameters]
        bindings = {tuple(parameters[i] for i in kept): values[..., kept]}
        broadcast_observables = [[[observable]] for observable in observables]
        result = self._estimator.run([(circuit, broadcast_observables, bindings)]).result()[0]
        evs = np.asarray(result.data.evs, dtype=float)
        stds = np.broadcast_to(np.asarray(result.data.stds, dtype=float), evs.shape)
        return _Evaluation(evs=evs, stds=np.array(stds))

    @abstractmethod
    def _gradients(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray, _Evaluation]:
        """Gradients and their standard errors, ``(n_observables, n_rows, n_parameters)``."""

    def _run(
        self,
        circuits: Sequence[QuantumCircuit],
        observables: Sequence[BaseOperator],
        parameter_values: Sequence[Sequence[float]] | np.ndarray,
        parameters: Sequence[Sequence[Parameter]],
        **options,
    ) -> EstimatorGradientResult:
        gradients: list[np.ndarray | None] = [None] * len(circuits)
        metadata: list[dict | None] = [None] * len(circuits)
        for indices, batch in _batches(circuits, observables, parameter_values, parameters):
            grads, stds, evaluation = self._gradients(batch)
            for position, index in enumerate(indices):
                o = batch.observable_of_request[position]
                r = batch.row_of_request[position]
                gradients[index] = grads[o, r]
                metadata[index] = {
                    "parameters": batch.parameters,
                    "stds": stds[o, r],
                    "value": float(evaluation.evs[o, r, 0]),
                    "value_std": float(evaluation.stds[o, r, 0]),
                }
        return EstimatorGradientResult(
            gradients=gradients, metadata=metadata, options=Options(**options)
        )


class BatchedParamShiftGradient(_BatchedEstimatorGradient):
    """Parameter-shift gradient of expectation values, batched into one PUB per circuit.

    Gates are first translated to those with a two-term shift rule (``rx``, ``ry``, ``rz``,
    ``p``, ``rxx``, ``ryy``, ``rzz``, ``rzx``) and every parameterised gate gets its own
    parameter (qiskit-machine-learning's gradient-circuit utilities), so parameters inside
    expressions (``θ * x``) or shared by several gates are exact through the chain rule:
    ``∂f/∂p = Σ_g (∂g/∂p) (f(g + π/2) - f(g - π/2)) / 2``. With a sampling estimator the
    standard errors of the two shifted estimates are propagated to ``metadata[i]["stds"]``.

    Parameters
    ----------
    estimator : BaseEstimatorV2
        Evaluates the shifted circuits; give it exact settings (for Aer's ``EstimatorV2``,
        ``default_precision=0``) for exact gradients.
    options : Options, optional
        Recorded in the result, as for other qiskit-machine-learning gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.circuit import Parameter, QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> from qiskit_aer.primitives import EstimatorV2
    >>> a = Parameter("a")
    >>> qc = QuantumCircuit(1)
    >>> qc.rx(2 * a, 0)  # doctest: +ELLIPSIS
    <...>
    >>> gradient = BatchedParamShiftGradient(EstimatorV2(options={"default_precision": 0}))
    >>> result = gradient.run([qc], [SparsePauliOp("Z")], [[0.3]]).result()
    >>> bool(np.isclose(result.gradients[0][0], -2 * np.sin(0.6), rtol=0, atol=1e-12))
    True
    """

    SUPPORTED_GATES = ParamShiftEstimatorGradient.SUPPORTED_GATES

    def _gradient_circuit(self, circuit: QuantumCircuit) -> GradientCircuit:
        key = circuit_cache_key(circuit)
        if key not in self._gradient_circuit_cache:
            translated = TranslateParameterizedGates(self.SUPPORTED_GATES)(circuit)
            self._gradient_circuit_cache[key] = _assign_unique_parameters(translated)
        return self._gradient_circuit_cache[key]

    def _gradients(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray, _Evaluation]:
        circuit = batch.circuit
        gradient_circuit = self._gradient_circuit(circuit)
        g_parameters = list(gradient_circuit.gradient_circuit.parameters)
        base = np.array(
            [_make_gradient_parameter_values(circuit, gradient_circuit, row) for row in batch.rows]
        )
        shifted = _make_gradient_parameters(gradient_circuit, batch.parameters)
        column = {g: i for i, g in enumerate(g_parameters)}
        n_shifts = len(shifted)
        offsets = np.zeros((1 + 2 * n_shifts, len(g_parameters)))
        for k, g in enumerate(shifted):
            offsets[1 + k, column[g]] = np.pi / 2
            offsets[1 + n_shifts + k, column[g]] = -np.pi / 2
        evaluation = self._evaluate(
            gradient_circuit.gradient_circuit,
            g_parameters,
            base[:, None, :] + offsets[None],
            batch.observables,
        )
        plus = slice(1, 1 + n_shifts)
        minus = slice(1 + n_shifts, 1 + 2 * n_shifts)
        g_grads = (evaluation.evs[..., plus] - evaluation.evs[..., minus]) / 2
        g_vars = (evaluation.stds[..., plus] ** 2 + evaluation.stds[..., minus] ** 2) / 4
        chain = self._chain_rule(circuit, gradient_circuit, batch, shifted)
        grads = np.einsum("rpk,ork->orp", chain, g_grads)
        stds = np.sqrt(np.einsum("rpk,ork->orp", chain**2, g_vars))
        return grads, stds, evaluation

    @staticmethod
    def _chain_rule(
        circuit: QuantumCircuit,
        gradient_circuit: GradientCircuit,
        batch: _Batch,
        shifted_g: Sequence[Parameter],
    ) -> np.ndarray:
        """``∂g_k/∂p_j`` at every row: ``(n_rows, n_parameters, n_shifted)``."""
        position = {g: k for k, g in enumerate(shifted_g)}
        column = {p: i for i, p in enumerate(circuit.parameters)}
        chain = np.zeros((len(batch.rows), len(batch.parameters), len(shifted_g)))
        for j, parameter in enumerate(batch.parameters):
            for g, coefficient in gradient_circuit.parameter_map[parameter]:
                k = position[g]
                if isinstance(coefficient, ParameterExpression) and coefficient.parameters:
                    for r, row in enumerate(batch.rows):
                        bound = coefficient.bind(
                            {p: row[column[p]] for p in coefficient.parameters}
                        )
                        chain[r, j, k] += float(bound)
                else:
                    chain[:, j, k] += float(coefficient)
        return chain


class BatchedSPSAGradient(_BatchedEstimatorGradient):
    """SPSA estimate of the gradient, batched into one PUB per circuit.

    For each parameter row, ``batch_size`` random directions ``Δ ∈ {-1, +1}^n`` over the
    differentiated parameters are drawn, and ``∂f/∂p ≈ mean_b Δ_b,p (f(x + εΔ_b) - f(x - εΔ_b))
    / (2ε)``: two evaluations per direction whatever the number of parameters, so it suits shots
    and hardware. All observables of a row share its directions. ``metadata[i]["stds"]`` holds
    the shot noise propagated to each entry; the spread that comes from the random directions
    themselves is not included.

    Parameters
    ----------
    estimator : BaseEstimatorV2
        Evaluates the perturbed circuits.
    epsilon : float
        Perturbation size ``ε`` (radians).
    batch_size : int
        Directions averaged per gradient.
    seed : int, optional
        Seed of the random directions.
    options : Options, optional
        Recorded in the result, as for other qiskit-machine-learning gradients.

    Examples
    --------
    >>> from qiskit.circuit import Parameter, QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> from qiskit_aer.primitives import EstimatorV2
    >>> a = Parameter("a")
    >>> qc = QuantumCircuit(1)
    >>> qc.rx(a, 0)  # doctest: +ELLIPSIS
    <...>
    >>> spsa = BatchedSPSAGradient(EstimatorV2(options={"default_precision": 0}), epsilon=1e-4)
    >>> result = spsa.run([qc], [SparsePauliOp("Z")], [[0.3]]).result()
    >>> round(float(result.gradients[0][0]), 6)  # one parameter: SPSA is a central difference
    -0.29552
    """

    def __init__(
        self,
        estimator: BaseEstimatorV2,
        epsilon: float = 0.1,
        batch_size: int = 1,
        seed: int | None = None,
        options: Options | None = None,
    ) -> None:
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        super().__init__(estimator, options=options)
        self._epsilon = float(epsilon)
        self._batch_size = batch_size
        self._rng = np.random.default_rng(seed)

    def _gradients(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray, _Evaluation]:
        circuit = batch.circuit
        all_parameters = list(circuit.parameters)
        columns = [all_parameters.index(p) for p in batch.parameters]
        n_rows, n_directions = len(batch.rows), self._batch_size
        directions = self._rng.choice([-1.0, 1.0], size=(n_rows, n_directions, len(columns)))
        steps = np.zeros((n_rows, n_directions, len(all_parameters)))
        steps[..., columns] = self._epsilon * directions
        values = np.concatenate(
            [
                batch.rows[:, None, :],
                batch.rows[:, None, :] + steps,
                batch.rows[:, None, :] - steps,
            ],
            axis=1,
        )
        evaluation = self._evaluate(circuit, all_parameters, values, batch.observables)
        plus = slice(1, 1 + n_directions)
        minus = slice(1 + n_directions, 1 + 2 * n_directions)
        slopes = (evaluation.evs[..., plus] - evaluation.evs[..., minus]) / (2 * self._epsilon)
        grads = np.einsum("orb,rbp->orp", slopes, directions) / n_directions
        slope_vars = (evaluation.stds[..., plus] ** 2 + evaluation.stds[..., minus] ** 2) / (
            2 * self._epsilon
        ) ** 2
        stds = np.sqrt(slope_vars.sum(axis=-1) / n_directions**2)
        return grads, np.repeat(stds[..., None], len(columns), axis=-1), evaluation
