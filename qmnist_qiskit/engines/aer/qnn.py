"""``AerQNN``: qiskit-machine-learning's ``EstimatorQNN`` on Aer, exact by default, fast, with
error bars; and :func:`make_aer_qnn`, the Aer engine's factory behind ``make_qnn(engine="aer")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.algorithm_job import AlgorithmJob
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmnist_qiskit.engines.aer.estimator import build_estimator, build_simulator, check_device
from qmnist_qiskit.engines.aer.options import AerOptions, resolve_options
from qmnist_qiskit.engines.aer.transpile import transpile_for_backend
from qmnist_qiskit.engines.base import EngineQNN, Jacobians
from qmnist_qiskit.engines.record import options_from
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.gradients import BatchedParamShiftGradient, BatchedSPSAGradient


def _run_or_raise(job: PrimitiveJob | AlgorithmJob, what: str, runner: str) -> Any:
    try:
        return job.result()
    except QMNISTError:
        raise  # already says what failed (a job that failed after its retries, say)
    except Exception as exc:
        raise QMNISTError(f"{runner} failed while computing {what}: {exc}") from exc


class AerQNN(EngineQNN, EstimatorQNN):
    """An ``EstimatorQNN`` that evaluates all observables in one PUB and reports error bars.

    It takes exactly ``EstimatorQNN``'s arguments and works wherever an ``EstimatorQNN`` does
    (``TorchConnector``, ``NeuralNetworkClassifier``). Build it with :func:`make_aer_qnn`,
    which chooses the estimator and gradient. Differences:

    * ``forward`` sends one PUB whose observables broadcast against the batch (the parent
      sends one PUB per observable, so it simulates each sample once per observable);
    * ``forward_with_std`` and ``backward_with_std`` also return the standard error of every
      value and gradient entry (zero when exact);
    * it is a numpy engine (:class:`~qmnist_qiskit.engines.base.EngineQNN`) whose
      :meth:`forward_and_jacobians` hook gets values and Jacobians from one estimator call, so
      ``torch_forward`` computes both at once when torch needs gradients and reuses them in
      the backward pass.

    Parameters
    ----------
    **kwargs
        ``EstimatorQNN``'s keyword arguments (``circuit``, ``estimator``, ``observables``,
        ``input_params``, ``weight_params``, ``gradient``, ``input_gradients``,
        ``default_precision``, ``pass_manager``).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_aer_qnn(*seed_circuit(2), shots=4000, seed=1)
    >>> values, stds = qnn.forward_with_std(np.full((1, 2), 0.3), np.zeros(4))
    >>> values.shape, bool(np.all(stds > 0))
    ((1, 2), True)
    >>> (_, weight_grad), (_, weight_std) = qnn.backward_with_std(np.zeros((1, 2)), np.ones(4))
    >>> weight_grad.shape == weight_std.shape == (1, 2, 4)
    True
    >>> weights = torch.zeros(4, requires_grad=True)
    >>> qnn.torch_forward(torch.zeros(3, 2), weights).sum().backward()
    >>> tuple(weights.grad.shape)
    (4,)
    """

    runner = "Aer"
    """What runs the circuits, as failures name it."""

    def _evaluate(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        parameter_values, num_samples = self._preprocess_forward(input_data, weights)
        observables = [[observable] for observable in self._observables]
        job = self.estimator.run(
            [(self._circuit, observables, parameter_values)], precision=self.default_precision
        )
        data = _run_or_raise(job, "expectation values", self.runner)[0].data
        evs = np.asarray(data.evs, dtype=float).reshape(len(observables), num_samples)
        stds = np.broadcast_to(np.asarray(data.stds, dtype=float), data.evs.shape)
        return evs.T.copy(), np.reshape(stds, (len(observables), num_samples)).T.copy()

    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
        return self._evaluate(input_data, weights)[0]

    def _differentiate(
        self, input_data: np.ndarray | None, weights: np.ndarray | None, input_gradients: bool
    ) -> tuple[EstimatorGradientResult | None, int]:
        parameter_values, num_samples = self._preprocess_forward(input_data, weights)
        if np.prod(parameter_values.shape) == 0:
            return None, num_samples
        num_observables = self.output_shape[0]
        circuits = [self._circuit] * (num_samples * num_observables)
        observables = [op for op in self._observables for _ in range(num_samples)]
        param_values = np.tile(parameter_values, (num_observables, 1))
        if input_gradients:
            job = self.gradient.run(circuits, observables, param_values)
        elif self._num_weights > 0:
            weight_parameters = self._circuit.parameters[self._num_inputs :]
            job = self.gradient.run(
                circuits, observables, param_values, parameters=[weight_parameters] * len(circuits)
            )
        else:
            return None, num_samples
        return _run_or_raise(job, "gradients", self.runner), num_samples

    def _split(
        self, num_samples: int, gradients: Sequence[np.ndarray], input_gradients: bool
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Requests come observable by observable, sample by sample: ``(B, n_obs, n_params)``."""
        stacked = np.asarray(gradients, dtype=float).reshape(self.output_shape[0], num_samples, -1)
        stacked = stacked.transpose(1, 0, 2)
        if input_gradients:
            return stacked[..., : self._num_inputs].copy(), stacked[..., self._num_inputs :].copy()
        return None, stacked.copy()

    def _backward(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        result, num_samples = self._differentiate(input_data, weights, self._input_gradients)
        if result is None:
            return None, None
        return self._split(num_samples, result.gradients, self._input_gradients)

    def forward_and_jacobians(
        self, input_data: np.ndarray, weights: np.ndarray, *, input_gradients: bool
    ) -> Jacobians:
        """Values ``(B, n_obs)`` and Jacobians from the gradient's single PUB where it can."""
        input_, _ = self._validate_input(input_data)
        weights_ = self._validate_weights(weights)
        result, num_samples = self._differentiate(input_, weights_, input_gradients)
        if result is None:
            empty = np.zeros((num_samples, self.output_shape[0], self._num_weights))
            return self._forward(input_, weights_), None, empty
        if all("value" in meta for meta in result.metadata):
            values = np.array([meta["value"] for meta in result.metadata])
            values = values.reshape(self.output_shape[0], num_samples).T
        else:
            values = self._forward(input_, weights_)
        input_grad, weight_grad = self._split(num_samples, result.gradients, input_gradients)
        return values, input_grad, weight_grad

    def forward_with_std(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values and their standard errors.

        Parameters
        ----------
        input_data : ndarray of shape (batch, num_inputs)
            The inputs.
        weights : ndarray of shape (num_weights,)
            The weights.

        Returns
        -------
        values, stds : ndarray of shape (batch, n_observables)
            ``stds`` is zero in exact mode; with shots, the standard error of each value.
        """
        input_, shape = self._validate_input(input_data)
        weights_ = self._validate_weights(weights)
        values, stds = self._evaluate(input_, weights_)
        return self._validate_forward_output(values, shape), self._validate_forward_output(
            stds, shape
        )

    def backward_with_std(
        self, input_data: np.ndarray | None, weights: np.ndarray | None
    ) -> tuple[tuple[np.ndarray | None, np.ndarray | None], tuple[np.ndarray | None, ...]]:
        """Gradients as from ``backward``, and the standard error of every entry.

        Parameters
        ----------
        input_data, weights : ndarray
            As for :meth:`forward_with_std`.

        Returns
        -------
        (input_grad, weight_grad), (input_grad_std, weight_grad_std)
            As ``backward`` returns them (input parts ``None`` unless ``input_gradients``),
            each with its standard errors in the same shape.

        Raises
        ------
        QMNISTError
            If the gradient does not report standard errors (only this module's batched
            gradients do).
        """
        input_, shape = self._validate_input(input_data)
        weights_ = self._validate_weights(weights)
        result, num_samples = self._differentiate(input_, weights_, self._input_gradients)
        if result is None:
            return (None, None), (None, None)
        if any("stds" not in meta for meta in result.metadata):
            raise QMNISTError(
                f"{type(self.gradient).__name__} reports no standard errors; use "
                "BatchedParamShiftGradient or BatchedSPSAGradient"
            )
        grads = self._split(num_samples, result.gradients, self._input_gradients)
        stds = self._split(
            num_samples, [meta["stds"] for meta in result.metadata], self._input_gradients
        )
        return (
            self._validate_backward_output(*grads, shape),
            self._validate_backward_output(*stds, shape),
        )


def make_gradient(options: Any, estimator: BaseEstimatorV2) -> BaseEstimatorGradient:
    """The batched gradient that ``options`` (with ``gradient``, ``spsa_epsilon``,
    ``spsa_batch_size`` and ``seed``) asks for, on ``estimator``."""
    if options.gradient == "spsa":
        return BatchedSPSAGradient(
            estimator,
            epsilon=options.spsa_epsilon,
            batch_size=options.spsa_batch_size,
            seed=options.seed,
        )
    return BatchedParamShiftGradient(estimator)


def make_aer_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    *,
    input_gradients: bool = False,
    options: AerOptions | None = None,
    **keywords: Any,
) -> AerQNN:
    """An :class:`AerQNN` for ``circuit`` on Aer: the ``"aer"`` engine of ``make_qnn``.

    The options are checked, the device looked for and a backend's circuit transpiled before
    anything is simulated; the circuit, parameters and observables are checked by
    :func:`~qmnist_qiskit.engines.make_qnn`, the door to every engine.

    Parameters
    ----------
    circuit : QuantumCircuit
        Parameterised circuit without measurements.
    input_params, weight_params : sequence of Parameter
        Data and trainable parameters, in the column order of ``input_data`` / ``weights``;
        together exactly the circuit's parameters.
    observables : sequence of SparsePauliOp
        One output per observable, on the circuit's qubits.
    input_gradients : bool
        Also compute gradients with respect to the inputs in ``backward``.
    method : {None, "statevector", "density_matrix", "matrix_product_state"}
        Aer's simulation method; ``None`` means ``"statevector"``, or ``"density_matrix"``
        for exact results with noise.
    device : {"CPU", "GPU"}
        ``"GPU"`` needs Aer's CUDA build (``pip install qiskit-aer-gpu``) and an NVIDIA GPU.
    shots : int, optional
        Measurement shots per expectation value; ``None`` (the default) is exact.
    precision : float, optional
        Alternative to ``shots``: target standard error ``p`` in ``[0, 1]``, meaning
        ``ceil(1 / p**2)`` shots; ``0`` is exact.
    seed : int, optional
        Seeds shot sampling, noise trajectories, SPSA directions and the transpiler's layout;
        with it, a new network repeats the same sequence of results.
    noise_model : qiskit_aer.noise.NoiseModel, optional
        Noise to simulate. Exact noisy results use the density-matrix method (without readout
        errors, which only act on measurements); with ``shots`` every shot is a noisy
        trajectory, readout errors included.
    backend : BackendV2, optional
        A device to imitate, e.g. ``qiskit_ibm_runtime.fake_provider.FakeManilaV2()``: Aer
        takes its noise model and the circuit is transpiled to its instruction set and
        coupling map (``optimization_level``), the observables mapped through the layout.
    optimization_level : {0, 1, 2, 3}
        Preset pass manager level used with ``backend``.
    gradient : {"param_shift", "spsa"}
        :class:`BatchedParamShiftGradient` (exact in exact mode) or :class:`BatchedSPSAGradient`.
    spsa_batch_size : int
        SPSA directions averaged per gradient.
    spsa_epsilon : float
        SPSA perturbation, in radians, in ``(0, pi/2]``.
    backend_options : dict, optional
        Extra ``AerSimulator`` options; they override this engine's measured defaults
        (:data:`~qmnist_qiskit.engines.aer.estimator.TUNED_BACKEND_OPTIONS`).
    options : AerOptions, optional
        The options above, already parsed (what ``make_qnn`` passes); give either this or
        them.

    Returns
    -------
    AerQNN
        ``forward(input_data (B, n_in), weights (n_w,)) -> (B, n_obs)`` and ``backward``.
        With a ``backend``, ``qnn.circuit`` is the transpiled circuit and ``qnn.observables``
        the observables laid out on its qubits.

    Raises
    ------
    ValueError, TypeError
        For bad options.
    QMNISTError
        When the device is unavailable, or the backend cannot run the circuit.

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_aer_qnn(*seed_circuit(3))
    >>> qnn.forward(np.zeros((1, 3)), np.zeros(6)).round(12).tolist()
    [[1.0, 1.0, 1.0]]
    >>> noisy = make_aer_qnn(*seed_circuit(3), shots=1000, seed=7)
    >>> values, stds = noisy.forward_with_std(np.full((1, 3), 0.5), np.zeros(6))
    >>> bool(np.all(np.abs(values - qnn.forward(np.full((1, 3), 0.5), np.zeros(6))) < 5 * stds))
    True
    """
    resolved = options_from(AerOptions, resolve_options, options, keywords)
    input_params, weight_params = list(input_params), list(weight_params)
    observables = list(observables)
    check_device(resolved.device, resolved.method)
    if resolved.backend is not None:
        circuit, observables = transpile_for_backend(circuit, observables, resolved)
    estimator = build_estimator(resolved, build_simulator(resolved))
    return AerQNN(
        circuit=circuit,
        estimator=estimator,
        observables=observables,
        input_params=input_params,
        weight_params=weight_params,
        gradient=make_gradient(resolved, estimator),
        input_gradients=input_gradients,
        default_precision=0.0 if resolved.exact else 1.0 / math.sqrt(resolved.shots),
    )
