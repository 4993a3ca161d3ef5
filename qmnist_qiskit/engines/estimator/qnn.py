"""The ``"estimator"`` engine's factory: any Qiskit V2 estimator behind ``make_qnn``.

The network is the Aer engine's :class:`~qmnist_qiskit.engines.aer.AerQNN` (one PUB per
forward, one broadcast PUB per mini-batch gradient through
:mod:`qmnist_qiskit.gradients`, error bars), on the user's estimator wrapped in a
:class:`~qmnist_qiskit.engines.estimator.retry.RetryingEstimator`. When the estimator runs on
a device, the circuit is transpiled to its instruction set once (per circuit, backend and pass
manager) and the observables laid out to match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.engines.aer.qnn import AerQNN, make_gradient
from qmnist_qiskit.engines.aer.transpile import transpile_for_backend
from qmnist_qiskit.engines.estimator.options import (
    EstimatorEngineOptions,
    parse_estimator_options,
)
from qmnist_qiskit.engines.estimator.retry import RetryingEstimator
from qmnist_qiskit.engines.record import options_from
from qmnist_qiskit.gradients.grouping import circuit_key, observable_key

_TRANSPILED: dict[tuple, tuple[Any, QuantumCircuit, list[SparsePauliOp]]] = {}
_KEEP = 16


class EstimatorEngineQNN(AerQNN):
    """:class:`~qmnist_qiskit.engines.aer.AerQNN` on a user's estimator: failures name it."""

    runner = "the estimator"


def device_circuit(
    circuit: QuantumCircuit, observables: Sequence[SparsePauliOp], options: EstimatorEngineOptions
) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    """The circuit and observables as the estimator will run them: transpiled to its
    backend's ISA (``options.pass_manager``, else a preset pass manager of
    ``options.optimization_level`` seeded by ``options.seed``) with the observables laid out,
    or unchanged when the estimator has no device. Transpiled once: the result is kept for
    the same circuit (with the same ``Parameter`` objects), observables, backend and pass
    manager.
    """
    backend = options.backend
    if backend is None and options.pass_manager is None:
        return circuit, list(observables)
    key = (
        circuit_key(circuit),
        # the circuit's own Parameter objects (circuit_key names them only): a rebuilt circuit
        # of the same content gets its own transpiled copy, whose parameters are its own
        tuple(circuit.parameters),
        tuple(observable_key(observable) for observable in observables),
        id(backend),
        id(options.pass_manager),
        options.optimization_level,
        options.seed,
    )
    kept = _TRANSPILED.get(key)
    # the backend and pass manager are kept beside the result, so their ids stay theirs
    if kept is None or kept[0] != (backend, options.pass_manager):
        if backend is None:
            isa = options.pass_manager.run(circuit)
            mapped = (
                list(observables)
                if isa.layout is None
                else [observable.apply_layout(isa.layout) for observable in observables]
            )
        else:
            isa, mapped = transpile_for_backend(
                circuit,
                observables,
                backend,
                optimization_level=options.optimization_level,
                seed=options.seed,
                pass_manager=options.pass_manager,
            )
        if len(_TRANSPILED) >= _KEEP:
            _TRANSPILED.pop(next(iter(_TRANSPILED)))
        kept = _TRANSPILED[key] = ((backend, options.pass_manager), isa, mapped)
    return kept[1], list(kept[2])


def make_estimator_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    *,
    input_gradients: bool = False,
    options: EstimatorEngineOptions | None = None,
    **keywords: Any,
) -> EstimatorEngineQNN:
    """A network for ``circuit`` on any Qiskit V2 estimator: the ``"estimator"`` engine.

    Parameters
    ----------
    circuit : QuantumCircuit
        Parameterised circuit without measurements (checked by ``make_qnn``).
    input_params, weight_params : sequence of Parameter
        Data and trainable parameters, in the column order of ``input_data`` / ``weights``.
    observables : sequence of SparsePauliOp
        One output per observable, on the circuit's qubits.
    input_gradients : bool
        Also compute gradients with respect to the inputs in ``backward``.
    estimator : BaseEstimatorV2
        What runs the circuits: qiskit-ibm-runtime's ``EstimatorV2`` (job, session or batch
        mode; local testing mode with a fake backend), Aer's, Qiskit's reference
        ``StatevectorEstimator``, this project's.
    shots : int, optional
        Shots per parameter set (each PUB asks for precision ``1 / sqrt(shots)``); ``None``
        leaves the estimator's own default.
    precision : float, optional
        Alternative to ``shots``: ``ceil(1 / p**2)`` shots.
    pass_manager : PassManager, optional
        Transpiles the circuit instead of the preset pass manager of the estimator's backend.
    optimization_level : {0, 1, 2, 3}
        The preset pass manager's level.
    seed : int, optional
        Seeds the transpiler's layout and the SPSA directions.
    gradient : {"param_shift", "spsa"}
        Batched parameter shift, or batched SPSA (two parameter sets per direction whatever
        the number of weights: fewer shots).
    spsa_batch_size, spsa_epsilon
        SPSA directions averaged per gradient, and its step in radians.
    max_retries : int
        Times a failed or timed-out job is sent again (default 3), ``retry_backoff`` seconds
        after the first failure (default 1), doubling; then
        :class:`~qmnist_qiskit.exceptions.JobFailedError`.
    retry_backoff : float
        See ``max_retries``.
    timeout : float, optional
        Seconds to wait for a job's result (where the job takes a timeout).
    estimator_options : dict, optional
        The estimator's own options (``{"resilience_level": 1}`` on Runtime), set on its
        ``options`` when the network is built; unknown names are refused, naming the valid
        ones.
    options : EstimatorEngineOptions, optional
        The options above, already parsed (what ``make_qnn`` passes); give either this or
        them.

    Returns
    -------
    EstimatorEngineQNN
        With a device backend, ``qnn.circuit`` is the ISA circuit and ``qnn.observables``
        the laid-out observables.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.primitives import StatevectorEstimator
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_estimator_qnn(*seed_circuit(2), estimator=StatevectorEstimator())
    >>> qnn.forward(np.zeros((1, 2)), np.zeros(4)).round(12).tolist()
    [[1.0, 1.0]]
    """
    resolved = options_from(EstimatorEngineOptions, parse_estimator_options, options, keywords)
    for name, value in resolved.estimator_options.items():
        setattr(resolved.estimator.options, name, value)
    circuit, observables = device_circuit(circuit, observables, resolved)
    estimator = RetryingEstimator(
        resolved.estimator,
        precision=resolved.precision,
        max_retries=resolved.max_retries,
        retry_backoff=resolved.retry_backoff,
        timeout=resolved.timeout,
    )
    return EstimatorEngineQNN(
        circuit=circuit,
        estimator=estimator,
        observables=observables,
        input_params=list(input_params),
        weight_params=list(weight_params),
        gradient=make_gradient(resolved, estimator),
        input_gradients=input_gradients,
        default_precision=resolved.precision,
    )
