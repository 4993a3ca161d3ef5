"""This project's Qiskit circuits as PennyLane quantum functions, via pennylane-qiskit.

``qml.from_qiskit`` takes a whole ``ParameterVector`` as one value (or a plain ``Parameter``
by itself), in the order of ``circuit.parameters``, which Qiskit sorts by name. This module
binds by the explicit ``input_params`` / ``weight_params`` lists instead, so
``inputs[..., j]`` always lands on ``input_params[j]`` whatever the names.

Wires: Qiskit qubit ``i`` becomes PennyLane wire ``i`` and a ``SparsePauliOp`` label is read
right to left (``"IIZ"`` is ``Z`` on wire 0), both by pennylane-qiskit's own converters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qmnist_qiskit.exceptions import QMNISTError

_INPUTS, _WEIGHTS = 0, 1
_RESERVED_NAMES = ("params", "wires")


class _Binding(NamedTuple):
    """How to build the value pennylane-qiskit expects for one vector or lone parameter."""

    key: ParameterVector | Parameter
    source: int
    columns: tuple[int | None, ...]
    is_vector: bool

    @property
    def contiguous(self) -> bool:
        start = self.columns[0]
        return start is not None and self.columns == tuple(range(start, start + len(self.columns)))


def _parameter_slots(
    input_params: Sequence[Parameter], weight_params: Sequence[Parameter]
) -> dict[Parameter, tuple[int, int]]:
    slots: dict[Parameter, tuple[int, int]] = {}
    for source, params in ((_INPUTS, input_params), (_WEIGHTS, weight_params)):
        for column, param in enumerate(params):
            if param in slots:
                raise ValueError(f"parameter {param} is listed twice in input_params/weight_params")
            slots[param] = (source, column)
    return slots


def _bindings(circuit: QuantumCircuit, slots: dict[Parameter, tuple[int, int]]) -> list[_Binding]:
    bindings: dict[ParameterVector | Parameter, _Binding] = {}
    for param in circuit.parameters:
        if param not in slots:
            raise ValueError(
                f"circuit parameter {param} is in neither input_params nor weight_params"
            )
        vector = getattr(param, "vector", None)
        key = param if vector is None else vector
        if key in bindings:
            continue
        if key.name in _RESERVED_NAMES:
            raise ValueError(f"pennylane-qiskit reserves the parameter name {key.name!r}")
        elements = [param] if vector is None else list(vector)
        used = [slots.get(element) for element in elements]
        sources = {slot[0] for slot in used if slot is not None}
        if len(sources) > 1:
            raise ValueError(
                f"ParameterVector {key.name!r} mixes inputs and weights; use one vector for each"
            )
        columns = tuple(None if slot is None else slot[1] for slot in used)
        bindings[key] = _Binding(key, sources.pop(), columns, vector is not None)
    return list(bindings.values())


def _keep_symbolic(values: Any) -> Any:
    # pennylane-qiskit binds non-trainable values into the Qiskit circuit, which accepts
    # scalars only; trainable ones stay symbolic, so a batch (one angle per sample)
    # must be passed as trainable.
    if qml.math.requires_grad(values):
        return values
    if qml.math.get_interface(values) == "torch":
        return values.detach().requires_grad_()
    return pnp.array(values, requires_grad=True)


def _value(binding: _Binding, values: Any) -> Any:
    if not binding.is_vector:
        return values[..., binding.columns[0]]
    if binding.contiguous:
        start = binding.columns[0]
        block = values[..., start : start + len(binding.columns)]
        return qml.math.transpose(block) if qml.math.ndim(block) == 2 else block
    present = next(column for column in binding.columns if column is not None)
    zeros = qml.math.zeros_like(values[..., present])
    return qml.math.stack(
        [zeros if column is None else values[..., column] for column in binding.columns]
    )


def _observable(operator: SparsePauliOp, n_qubits: int) -> qml.operation.Operator:
    if not isinstance(operator, SparsePauliOp):
        raise TypeError(f"observables must be SparsePauliOp, got {type(operator).__name__}")
    if operator.num_qubits != n_qubits:
        raise ValueError(
            f"observable on {operator.num_qubits} qubits for a circuit on {n_qubits} qubits"
        )
    if operator.coeffs.dtype == object:
        raise ValueError("parameterised observables are not supported")
    if np.any(operator.coeffs.imag != 0):
        raise ValueError(f"observable {operator} is not Hermitian (complex coefficients)")
    converted = qml.from_qiskit_op(operator)
    if not isinstance(converted, (qml.ops.Sum, qml.ops.SProd)):
        return converted
    # SparsePauliOp stores complex coefficients; real ones keep the expectations real.
    coefficients, terms = converted.terms()
    return qml.dot(np.real(coefficients), terms)


def _check_conversion(qfunc: Callable[[Any, Any], Any], n_inputs: int, n_weights: int) -> None:
    # pennylane-qiskit drops an instruction it cannot convert with a mere warning, which
    # would silently change the numbers: trace the circuit once and refuse instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qml.tape.make_qscript(qfunc)(np.zeros(n_inputs), np.zeros(n_weights))
    dropped = [str(w.message) for w in caught if "not supported by PennyLane" in str(w.message)]
    if dropped:
        raise QMNISTError("pennylane-qiskit cannot convert this circuit: " + "; ".join(dropped))


def to_pennylane(
    circuit: QuantumCircuit,
    input_params: Sequence[Parameter],
    weight_params: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
) -> Callable[[Any, Any], Any]:
    """Convert a parameterised Qiskit circuit and its observables to a PennyLane qfunc.

    The circuit goes through ``qml.from_qiskit`` and each observable through
    ``qml.from_qiskit_op``; values are bound by the explicit parameter lists.

    Parameters
    ----------
    circuit : QuantumCircuit
        Parameterised circuit without measurements.
    input_params, weight_params : sequence of Parameter
        Every circuit parameter must be in exactly one of them; the order is that of the
        ``inputs`` and ``weights`` arrays given to the returned function.
    observables : sequence of SparsePauliOp
        Hermitian observables on all the circuit's qubits.

    Raises
    ------
    ValueError
        If a circuit parameter is in neither list (or in both), or an observable does not fit.
    QMNISTError
        If pennylane-qiskit cannot convert one of the circuit's instructions.

    Returns
    -------
    callable
        ``qfunc(inputs, weights)`` for use inside a QNode, returning one ``qml.expval`` per
        observable. ``inputs`` has shape ``(n_inputs,)`` or ``(batch, n_inputs)`` and
        ``weights`` ``(n_weights,)`` or ``(batch, n_weights)`` (one weight vector per sample).
        Batched values are broadcast by PennyLane, which needs them trainable: a batch that
        is not is passed on as a trainable copy.

    Examples
    --------
    >>> import numpy as np
    >>> import pennylane as qml
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> from qmnist_qiskit.engines.pennylane import to_pennylane
    >>> qfunc = to_pennylane(*seed_circuit(2))
    >>> qnode = qml.QNode(qfunc, qml.device("default.qubit", wires=2))
    >>> print(qml.draw(qnode)(np.array([0.1, 0.2]), np.zeros(4)))
    0: ──RX(0.10)─╭●──RX(0.00)──RY(0.00)─┤  <Z>
    1: ──RX(0.20)─╰X──RX(0.00)──RY(0.00)─┤  <Z>
    >>> [round(float(z), 6) for z in qnode(np.array([0.0, np.pi]), np.zeros(4))]
    [1.0, -1.0]
    """
    bindings = _bindings(circuit, _parameter_slots(input_params, weight_params))
    measurements = [qml.expval(_observable(op, circuit.num_qubits)) for op in observables]
    template = qml.from_qiskit(circuit, measurements=measurements)

    def qfunc(inputs: Any, weights: Any) -> list:
        values = [inputs, weights]
        for source, value in enumerate(values):
            if qml.math.ndim(value) == 2:
                values[source] = _keep_symbolic(value)
        return template(params={b.key: _value(b, values[b.source]) for b in bindings})

    _check_conversion(qfunc, len(input_params), len(weight_params))
    return qfunc
