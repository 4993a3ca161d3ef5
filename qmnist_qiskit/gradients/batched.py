"""Gradients that send every shifted parameter set of a batch to the estimator as ONE PUB.

qiskit-machine-learning's ``ParamShiftEstimatorGradient`` submits one PUB per shifted
parameter set and observable: for the 10-qubit seed circuit that is 400 PUBs (400 Aer jobs)
per image. The gradients here group the requests of a ``run`` by circuit, and submit for each
circuit a single broadcast PUB

* parameter values of shape ``(n_rows, 1 + n_shifts, n_parameters)``: every distinct parameter
  row, unshifted first (the forward values come with the gradient), then its shifted copies;
* observables of shape ``(n_observables, 1, 1)``: every distinct observable,

so the estimator (Aer, say) simulates each shifted parameter set once for all observables.
The gradients are ``BaseEstimatorGradient`` subclasses, usable as
``EstimatorQNN(..., gradient=...)``.
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
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult

from qmnist_qiskit.gradients.grouping import distinct_observables, group_by_circuit


@dataclass
class Batch:
    """Requests of one ``run`` that share a circuit and the parameters to differentiate."""

    circuit: QuantumCircuit
    parameters: list[Parameter]
    rows: np.ndarray
    row_of_request: np.ndarray
    observables: list[BaseOperator]
    observable_of_request: np.ndarray


@dataclass
class Evaluation:
    """Expectation values of a broadcast PUB, ``(n_observables, n_rows, 1 + n_shifts)``."""

    evs: np.ndarray
    stds: np.ndarray


def _batches(
    circuits: Sequence[QuantumCircuit],
    observables: Sequence[BaseOperator],
    parameter_values: Sequence[Sequence[float]] | np.ndarray,
    parameters: Sequence[Sequence[Parameter]],
) -> list[tuple[list[int], Batch]]:
    differentiated = [tuple(parameters_) for parameters_ in parameters]
    batches = []
    for indices in group_by_circuit(circuits, differentiated):
        rows = np.asarray([parameter_values[i] for i in indices], dtype=float)
        unique_rows, row_of_request = np.unique(rows, axis=0, return_inverse=True)
        distinct, observable_of_request = distinct_observables([observables[i] for i in indices])
        batch = Batch(
            circuit=circuits[indices[0]],
            parameters=list(parameters[indices[0]]),
            rows=unique_rows,
            row_of_request=row_of_request.reshape(-1),
            observables=distinct,
            observable_of_request=np.array(observable_of_request),
        )
        batches.append((indices, batch))
    return batches


class BatchedEstimatorGradient(BaseEstimatorGradient):
    """Base of the batched gradients: requests grouped by circuit, one broadcast PUB per
    circuit, results scattered back.

    Subclasses implement ``_gradients(batch)``, returning the gradients and their standard
    errors, each ``(n_observables, n_rows, n_parameters)``, and the evaluation of the PUB
    (whose first point per row is the unshifted one).

    Parameters
    ----------
    estimator : BaseEstimatorV2
        Any Qiskit V2 estimator.
    options : Options, optional
        Recorded in the result, as for other qiskit-machine-learning gradients.
    """

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
    ) -> Evaluation:
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
        return Evaluation(evs=evs, stds=np.array(stds))

    @abstractmethod
    def _gradients(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Evaluation]:
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
