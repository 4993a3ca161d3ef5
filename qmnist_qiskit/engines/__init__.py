"""The single door to the engines that evaluate a circuit: :func:`make_qnn`.

Engines:

* ``"statevector"``: this project's batched, differentiable torch statevector simulator
  (exact, CPU or CUDA). The default.
* ``"aer"``: qiskit-machine-learning's ``EstimatorQNN`` on Aer's ``EstimatorV2`` (exact,
  shots, GPU, noise models, fake IBM backends) with batched parameter-shift gradients.
* ``"pennylane"``: the circuit converted by ``qml.from_qiskit`` and run on a PennyLane device;
  needs the PennyLane extra (``pip install 'qmnist_qiskit[pennylane]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import NeuralNetwork

from qmnist_qiskit.engines.torch_bridge import qnn_torch_forward
from qmnist_qiskit.extras import require_extra
from qmnist_qiskit.resources import require_memory

_FACTORIES = {
    "statevector": ("qmnist_qiskit.engines.statevector", "make_statevector_qnn"),
    "aer": ("qmnist_qiskit.engines.aer", "make_aer_qnn"),
    "pennylane": ("qmnist_qiskit.engines.pennylane", "make_pennylane_qnn"),
}
_EXTRAS = {"pennylane": "pennylane"}
ENGINES = tuple(_FACTORIES)


def _holds_full_state(engine: str, options: dict) -> bool:
    """Whether ``engine`` keeps the whole ``2**n`` state in this machine's memory (Aer's
    matrix-product-state method and its GPU device do not)."""
    if engine == "aer":
        return (
            options.get("method", "statevector") != "matrix_product_state"
            and str(options.get("device", "CPU")).upper() != "GPU"
        )
    return engine == "pennylane"


def make_qnn(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    engine: str = "statevector",
    *,
    input_gradients: bool = False,
    **options,
) -> NeuralNetwork:
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
        Passed to the engine (for example ``device=``, ``shots=``, ``seed=``).

    Returns
    -------
    NeuralNetwork
        With ``forward(input_data, weights)`` and ``backward(input_data, weights)``.

    Raises
    ------
    ValueError
        For an unknown engine.
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
    if engine not in _FACTORIES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    if engine in _EXTRAS:
        require_extra(_EXTRAS[engine], f"engine {engine!r}")
    if _holds_full_state(engine, options) and isinstance(circuit, QuantumCircuit):
        # The statevector engine checks against its own budget (max_memory_bytes).
        require_memory(engine, circuit.num_qubits)
    module_name, factory_name = _FACTORIES[engine]
    factory = getattr(import_module(module_name), factory_name)
    return factory(
        circuit,
        list(input_params),
        list(weight_params),
        list(observables),
        input_gradients=input_gradients,
        **options,
    )


__all__ = ["ENGINES", "make_qnn", "qnn_torch_forward"]
