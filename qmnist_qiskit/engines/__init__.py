"""The single door to the engines that evaluate a circuit: :func:`make_qnn`.

Engines:

* ``"statevector"``: this project's batched, differentiable torch statevector simulator
  (exact, CPU or CUDA). The default.
* ``"aer"``: qiskit-machine-learning's ``EstimatorQNN`` on Aer's ``EstimatorV2`` (exact,
  shots, GPU, noise models, fake IBM backends) with batched parameter-shift gradients.
* ``"pennylane"``: the circuit converted by ``qml.from_qiskit`` and run on a PennyLane device;
  needs the PennyLane extra (``pip install 'qmnist_qiskit[pennylane]'``).
* ``"estimator"``: any Qiskit ``BaseEstimatorV2`` given as ``estimator=`` (qiskit-ibm-runtime's
  ``EstimatorV2`` on a device or a fake backend, Aer's, Qiskit's reference one): the circuit
  transpiled to its backend once, failed jobs retried (:mod:`~qmnist_qiskit.engines.estimator`).

Every engine is an :class:`~qmnist_qiskit.engines.base.EngineQNN`: a qiskit-machine-learning
``NeuralNetwork`` with a torch forward. ``make_qnn`` checks the options against the engine's
own parser (:func:`check_engine_options`, which returns the parsed options object), then the
circuit, parameters and observables (:mod:`~qmnist_qiskit.engines.checks`), the same way for
every engine, before building it. Each engine is one record
(:class:`~qmnist_qiskit.engines.record.EngineRecord`: factory, extra, options parser,
availability, memory model, comparison variants) in or beside its package;
:mod:`~qmnist_qiskit.engines.registry` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.engines.base import EngineQNN, qnn_torch_forward
from qmnist_qiskit.engines.checks import check_qnn_spec
from qmnist_qiskit.engines.options import check_engine_options
from qmnist_qiskit.engines.registry import ENGINES, engine_record
from qmnist_qiskit.exceptions import QMNISTError


def _parsed(engine: str, options: Any) -> Any:
    """``options`` parsed for ``engine``: a dict (or ``None``) is parsed, a parsed object of
    the engine's type is taken as it is."""
    record = engine_record(engine)
    if options is None or isinstance(options, Mapping):
        return record.parse_options(options)
    if not isinstance(options, record.options_type):
        raise TypeError(
            f"options for engine {engine!r} must be a dict or {record.options_type.__name__}, "
            f"got {type(options).__name__}"
        )
    return options


def require_engine(engine: str, options: Any) -> None:
    """:class:`QMNISTError` unless ``engine`` with these ``options`` (parsed, or a dict) can
    run here: its extra installed, the device it asks for present (CUDA for the statevector
    engine, an Aer GPU build for ``device="GPU"``). Cheap: builds nothing, so callers check it
    before any long work (the classifier before its encoder trains, the CLI before loading
    data). The message is the engine record's, the one the registry's variants give.

    Examples
    --------
    >>> require_engine("statevector", {"device": "cpu"})
    >>> import torch
    >>> if not torch.cuda.is_available():
    ...     try:
    ...         require_engine("statevector", {"device": "cuda"})
    ...     except QMNISTError as error:
    ...         print("torch sees no CUDA GPU" in str(error))
    ... else:
    ...     print(True)
    True
    """
    options = _parsed(engine, options)
    reason = engine_record(engine).unavailable(options)
    if reason is not None:
        raise QMNISTError(reason)


def check_circuit(
    engine: str,
    options: Any,
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
) -> list[SparsePauliOp]:
    """What :func:`make_qnn` checks of a circuit before building its engine, without building
    it: the circuit, its parameter lists and observables (the same errors for every engine),
    and that one sample fits the engine's memory budget (its record's memory model). Returns
    the observables as ``SparsePauliOp``. The classifier calls it before its encoder trains.
    ``options`` are the engine's parsed options (or a dict, parsed here)."""
    options = _parsed(engine, options)
    observables = check_qnn_spec(circuit, list(input_params), list(weight_params), observables)
    engine_record(engine).require_memory(options, circuit.num_qubits)
    return observables


def make_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    engine: str = "statevector",
    *,
    input_gradients: bool = False,
    options: Any = None,
    **keywords: Any,
) -> EngineQNN:
    """Build a qiskit-machine-learning ``NeuralNetwork`` for ``circuit`` on ``engine``.

    Parameters
    ----------
    circuit : QuantumCircuit
        Parameterised circuit without measurements.
    input_params, weight_params : sequence of Parameter
        The data parameters and the trainable parameters, in the order of the
        ``input_data`` and ``weights`` arrays given to ``forward``/``backward``.
    observables : sequence of SparsePauliOp
        One output per observable: ``forward`` returns shape ``(batch, len(observables))``.
    engine : {"statevector", "aer", "pennylane", "estimator"}
        Which simulator evaluates the circuit; every engine gives the same exact numbers.
        ``"pennylane"`` needs the PennyLane extra; ``"estimator"`` runs on the Qiskit V2
        estimator given as ``estimator=`` (a device, in Runtime's job, session or batch mode).
    input_gradients : bool
        Also compute gradients with respect to the inputs in ``backward``.
    options : parsed options object, optional
        The engine's options already parsed by :func:`check_engine_options` (for example
        an ``AerOptions``): taken as they are, not parsed again. Give either this or keywords.
    **keywords
        The engine's options (for example ``device=``, ``shots=``, ``seed=``); parsed first
        by the engine's record (:func:`check_engine_options`).

    Returns
    -------
    EngineQNN
        A ``NeuralNetwork`` with ``forward(input_data, weights)``,
        ``backward(input_data, weights)`` and ``torch_forward(inputs, weights)``.

    Raises
    ------
    ValueError
        For an unknown engine, an unknown or invalid option, a circuit with measurements or
        classical bits, parameter lists that do not match the circuit's parameters, or
        observables that are missing, of the wrong width or not Hermitian: the same errors
        whichever the engine.
    TypeError
        For a circuit that is not a ``QuantumCircuit``, an entry of the parameter lists that
        is not a ``Parameter``, an observable that is not a ``SparsePauliOp`` or ``Pauli``.
    QMNISTError
        When the engine's extra is not installed (the message says which to install), or one
        sample of the circuit would not fit in the engine's memory budget (see
        :mod:`qmnist_qiskit.resources`).

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit import make_qnn
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qnn = make_qnn(*seed_circuit(4), engine="statevector")
    >>> qnn.forward(np.zeros((2, 4)), np.zeros(8)).round(6).tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    if options is not None and keywords:
        raise TypeError(
            f"give either options= (parsed) or keyword options, not both; got {sorted(keywords)}"
        )
    options = _parsed(engine, keywords if options is None else options)
    require_engine(engine, options)
    input_params, weight_params = list(input_params), list(weight_params)
    observables = check_circuit(engine, options, circuit, input_params, weight_params, observables)
    return engine_record(engine).build(
        (circuit, input_params, weight_params, observables),
        input_gradients=input_gradients,
        options=options,
    )


__all__ = [
    "ENGINES",
    "EngineQNN",
    "check_circuit",
    "check_engine_options",
    "engine_record",
    "make_qnn",
    "qnn_torch_forward",
    "require_engine",
]
