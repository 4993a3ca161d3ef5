"""The single door to the engines that evaluate a circuit: :func:`make_qnn`.

Engines:

* ``"statevector"``: this project's batched, differentiable torch statevector simulator
  (exact, CPU or CUDA). The default.
* ``"aer"``: qiskit-machine-learning's ``EstimatorQNN`` on Aer's ``EstimatorV2`` (exact,
  shots, GPU, noise models, fake IBM backends) with batched parameter-shift gradients.
* ``"pennylane"``: the circuit converted by ``qml.from_qiskit`` and run on a PennyLane device;
  needs the PennyLane extra (``pip install 'qmnist_qiskit[pennylane]'``).

Every engine is an :class:`~qmnist_qiskit.engines.base.EngineQNN`: a qiskit-machine-learning
``NeuralNetwork`` with a torch forward. ``make_qnn`` checks the options against the engine's
own table (:func:`check_engine_options`), then the circuit, parameters and observables
(:mod:`~qmnist_qiskit.engines.checks`), the same way for every engine, before building it.
:mod:`~qmnist_qiskit.engines.registry` lists the engine variants (engine, options, whether
they can run here) that ``gradcheck`` and ``qmnist benchmark`` go through.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from torch import device as torch_device

from qmnist_qiskit.engines.base import EngineQNN, qnn_torch_forward
from qmnist_qiskit.engines.checks import check_qnn_spec
from qmnist_qiskit.engines.options import OPTION_CHECKS, check_engine_options
from qmnist_qiskit.exceptions import QMNISTError  # noqa: F401 (the doctests name it)
from qmnist_qiskit.extras import require_extra
from qmnist_qiskit.resources import require_memory
from qmnist_qiskit.torch_utils import resolve_device

_FACTORIES = {
    "statevector": ("qmnist_qiskit.engines.statevector", "make_statevector_qnn"),
    "aer": ("qmnist_qiskit.engines.aer", "make_aer_qnn"),
    "pennylane": ("qmnist_qiskit.engines.pennylane", "make_pennylane_qnn"),
}
_EXTRAS = {"pennylane": "pennylane"}
ENGINES = tuple(OPTION_CHECKS)


def _holds_full_state(engine: str, options: dict) -> bool:
    """Whether ``engine`` keeps the whole ``2**n`` state in this machine's memory (Aer's
    matrix-product-state method and its GPU device do not)."""
    if engine == "aer":
        return (
            options.get("method", "statevector") != "matrix_product_state"
            and str(options.get("device", "CPU")).upper() != "GPU"
        )
    return engine == "pennylane"


def require_engine(engine: str, options: dict) -> None:
    """:class:`QMNISTError` unless ``engine`` with these (checked) ``options`` can run here:
    its extra installed, the device it asks for present (CUDA for the statevector engine, an
    Aer GPU build for ``device="GPU"``). Cheap: builds nothing, so callers check it before any
    long work (the classifier before its encoder trains, the CLI before loading data).

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
    if engine in _EXTRAS:
        require_extra(_EXTRAS[engine], f"engine {engine!r}")
    if engine == "statevector":
        resolve_device(options.get("device", "cpu"))
    elif engine == "aer":
        from qmnist_qiskit.engines.aer.estimator import check_device

        device = str(options.get("device", "CPU")).upper()
        check_device(device, options.get("method") or "automatic")


def check_circuit(
    engine: str,
    options: dict,
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
) -> list[SparsePauliOp]:
    """What :func:`make_qnn` checks of a circuit before building its engine, without building
    it: the circuit, its parameter lists and observables (the same errors for every engine),
    and that one sample fits the engine's memory budget. Returns the observables as
    ``SparsePauliOp``. The classifier calls it before its encoder trains."""
    observables = check_qnn_spec(circuit, list(input_params), list(weight_params), observables)
    if _holds_full_state(engine, options):
        require_memory(engine, circuit.num_qubits)
    elif engine == "statevector" and torch_device(options.get("device", "cpu")).type == "cpu":
        # The simulator checks again when built, against the same budget.
        require_memory(engine, circuit.num_qubits, budget=options.get("max_memory_bytes"))
    return observables


def make_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    engine: str = "statevector",
    *,
    input_gradients: bool = False,
    **options,
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
    engine : {"statevector", "aer", "pennylane"}
        Which simulator evaluates the circuit; every engine gives the same exact numbers.
        ``"pennylane"`` needs the PennyLane extra.
    input_gradients : bool
        Also compute gradients with respect to the inputs in ``backward``.
    **options
        Passed to the engine (for example ``device=``, ``shots=``, ``seed=``); checked first
        by :func:`check_engine_options`.

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
    options = check_engine_options(engine, options)
    require_engine(engine, options)
    input_params, weight_params = list(input_params), list(weight_params)
    observables = check_circuit(engine, options, circuit, input_params, weight_params, observables)
    module_name, factory_name = _FACTORIES[engine]
    factory = getattr(import_module(module_name), factory_name)
    return factory(
        circuit,
        input_params,
        weight_params,
        observables,
        input_gradients=input_gradients,
        **options,
    )


__all__ = [
    "ENGINES",
    "EngineQNN",
    "check_circuit",
    "check_engine_options",
    "make_qnn",
    "qnn_torch_forward",
    "require_engine",
]
