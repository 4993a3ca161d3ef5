"""Parameter-shift gradients of expectation values, batched into one PUB per circuit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.transpiler.passes import TranslateParameterizedGates
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.gradients.utils import (
    GradientCircuit,
    _assign_unique_parameters,
    _make_gradient_parameter_values,
    _make_gradient_parameters,
)

from qmnist_qiskit.gradients.batched import Batch, BatchedEstimatorGradient, Evaluation
from qmnist_qiskit.gradients.grouping import circuit_key


class BatchedParamShiftGradient(BatchedEstimatorGradient):
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
        key = circuit_key(circuit)
        if key not in self._gradient_circuit_cache:
            translated = TranslateParameterizedGates(self.SUPPORTED_GATES)(circuit)
            self._gradient_circuit_cache[key] = _assign_unique_parameters(translated)
        return self._gradient_circuit_cache[key]

    def _gradients(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Evaluation]:
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
        batch: Batch,
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
