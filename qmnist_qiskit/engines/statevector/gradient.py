"""A qiskit-machine-learning estimator gradient computed by adjoint differentiation.

``ParamShiftEstimatorGradient`` runs two shifted circuits per parameter, sample and
observable. This gradient simulates each distinct circuit once for the whole batch of
parameter sets and gets every parameter's derivative from one adjoint sweep per observable,
so ``EstimatorQNN(..., estimator=StatevectorEstimator(), gradient=StatevectorEstimatorGradient())``
is a drop-in speed-up with the same exact numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult
from qiskit_machine_learning.gradients.utils import DerivativeType

from qmnist_qiskit.engines.base import torch_jacobians
from qmnist_qiskit.engines.checks import check_observables
from qmnist_qiskit.engines.statevector.estimator import StatevectorEstimator
from qmnist_qiskit.gradients.grouping import distinct_observables, group_by_circuit


class StatevectorEstimatorGradient(BaseEstimatorGradient):
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
    >>> import numpy as np
    >>> from qiskit.circuit import Parameter, QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> theta = Parameter("θ")
    >>> qc = QuantumCircuit(1)
    >>> _ = qc.ry(theta, 0)
    >>> job = StatevectorEstimatorGradient().run([qc], [SparsePauliOp("Z")], [[np.pi / 2]])
    >>> job.result().gradients[0].round(12).tolist()
    [-1.0]
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
        super().__init__(estimator, options=options, derivative_type=derivative_type)

    def _gradients_of(
        self,
        circuit: QuantumCircuit,
        observables: list[SparsePauliOp],
        values: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Per-row gradients for each distinct observable and row.

        Returns ``(jacobians, row_index, observable_index)`` where ``jacobians`` has shape
        ``(distinct observables, distinct rows, num_parameters)`` and the indices map the
        inputs to them.
        """
        distinct, observable_index = distinct_observables(observables)
        rows, row_index = np.unique(values, axis=0, return_inverse=True)
        simulator = self._estimator.simulator(circuit, distinct, [True] * circuit.num_parameters)
        inputs = torch.as_tensor(rows, dtype=torch.float64).requires_grad_()
        expectations = simulator.expectations(inputs, torch.zeros(0, dtype=torch.float64))
        (jacobians,) = torch_jacobians(expectations, [inputs])
        return jacobians.transpose(1, 0, 2), row_index.reshape(-1), observable_index

    def _run(
        self,
        circuits: Sequence[QuantumCircuit],
        observables: Sequence[BaseOperator],
        parameter_values: Sequence[Sequence[float]] | np.ndarray,
        parameters: Sequence[Sequence[Parameter]],
        **options,
    ) -> EstimatorGradientResult:
        """Gradients of ``<observables[i]>`` on ``circuits[i]`` at ``parameter_values[i]``
        with respect to ``parameters[i]``."""
        gradients: list[np.ndarray | None] = [None] * len(circuits)
        for members in group_by_circuit(circuits):
            circuit = circuits[members[0]]
            values = np.array([parameter_values[i] for i in members], dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError("parameter values contain NaN or infinite values")
            checked = check_observables([observables[i] for i in members], circuit.num_qubits)
            jacobians, rows, kinds = self._gradients_of(circuit, checked, values)
            position_of = {parameter: i for i, parameter in enumerate(circuit.parameters)}
            for offset, position in enumerate(members):
                wanted = [position_of[parameter] for parameter in parameters[position]]
                gradients[position] = jacobians[kinds[offset], rows[offset], wanted]
        metadata = [{"parameters": list(parameters_)} for parameters_ in parameters]
        return EstimatorGradientResult(
            gradients=gradients, metadata=metadata, options=Options(**options)
        )
