"""A qiskit-machine-learning estimator gradient computed by adjoint differentiation.

``ParamShiftEstimatorGradient`` runs two shifted circuits per parameter, sample and
observable. This gradient simulates each distinct circuit once for the whole batch of
parameter sets and gets every parameter's derivative from one adjoint sweep per observable,
so ``EstimatorQNN(..., estimator=StatevectorEstimator(), gradient=StatevectorEstimatorGradient())``
is a drop-in speed-up with the same exact numbers. Requests are grouped as the batched
gradients of :mod:`qmnist_qiskit.gradients` group them (it is one of them, with the adjoint
sweep in place of the shifted PUB), and each result's metadata has the same keys.
"""

from __future__ import annotations

import numpy as np
import torch
from qiskit.providers import Options
from qiskit_machine_learning.gradients.utils import DerivativeType

from qmnist_qiskit.engines.base import torch_jacobians
from qmnist_qiskit.engines.checks import check_observables
from qmnist_qiskit.engines.statevector.estimator import StatevectorEstimator
from qmnist_qiskit.gradients.batched import Batch, BatchedEstimatorGradient, Evaluation


class StatevectorEstimatorGradient(BatchedEstimatorGradient):
    """Exact gradients of expectation values, a batch at a time, by adjoint sweeps.

    Parameters
    ----------
    estimator : StatevectorEstimator, optional
        Supplies the precision, device and the cache of compiled circuits; a new
        :class:`StatevectorEstimator` by default.
    options : Options, optional
        Kept for the ``BaseEstimatorGradient`` interface; the computation has no options.
    derivative_type : DerivativeType
        Only ``DerivativeType.REAL`` (the gradient of the expectation value).

    Examples
    --------
    ``d<Z>/dθ = -sin θ`` after ``RY(θ)``, at two angles in one call:

    >>> import numpy as np
    >>> from qiskit.circuit import Parameter, QuantumCircuit
    >>> from qiskit.quantum_info import Pauli
    >>> qc = QuantumCircuit(1)
    >>> _ = qc.ry(Parameter("θ"), 0)
    >>> job = StatevectorEstimatorGradient().run([qc, qc], [Pauli("Z")] * 2, [[np.pi / 2], [0]])
    >>> [gradient.round(12).tolist() for gradient in job.result().gradients]
    [[-1.0], [0.0]]
    """

    def __init__(
        self,
        estimator: StatevectorEstimator | None = None,
        options: Options | None = None,
        derivative_type: DerivativeType = DerivativeType.REAL,
    ) -> None:
        if estimator is None:
            estimator = StatevectorEstimator()
        if not isinstance(estimator, StatevectorEstimator):
            raise TypeError(
                "StatevectorEstimatorGradient computes gradients with the statevector engine "
                f"and needs a StatevectorEstimator (or None), got {type(estimator).__name__}"
            )
        if derivative_type != DerivativeType.REAL:
            raise ValueError(f"only DerivativeType.REAL is supported, got {derivative_type}")
        super().__init__(estimator, options=options)

    def _gradients(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Evaluation]:
        circuit = batch.circuit
        observables = check_observables(batch.observables, circuit.num_qubits)
        simulator = self._estimator.simulator(circuit, observables, [True] * circuit.num_parameters)
        inputs = torch.as_tensor(batch.rows, dtype=torch.float64).requires_grad_()
        expectations = simulator.expectations(inputs, torch.zeros(0, dtype=torch.float64))
        (jacobians,) = torch_jacobians(expectations, [inputs])
        column = {parameter: i for i, parameter in enumerate(circuit.parameters)}
        wanted = [column[parameter] for parameter in batch.parameters]
        gradients = jacobians.transpose(1, 0, 2)[..., wanted]
        values = expectations.detach().cpu().numpy().T[..., None]
        exact = Evaluation(evs=values, stds=np.zeros_like(values))
        return gradients, np.zeros_like(gradients), exact
