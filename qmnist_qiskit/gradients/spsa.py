"""SPSA estimates of gradients of expectation values, batched into one PUB per circuit."""

from __future__ import annotations

import numpy as np
from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import Options

from qmnist_qiskit.gradients.batched import Batch, BatchedEstimatorGradient, Evaluation


class BatchedSPSAGradient(BatchedEstimatorGradient):
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

    def _gradients(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Evaluation]:
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
