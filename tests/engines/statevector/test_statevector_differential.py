"""Differential tests against Qiskit's reference ``StatevectorEstimator`` on random circuits.

Hypothesis draws circuits of 1 to 8 qubits from every standard gate of
``qiskit.circuit.library`` and the other instructions the reference simulates deterministically
(``initialize`` and resets on qubits still in |0>, barriers, delays, global phases,
``UnitaryGate``, ``PauliEvolutionGate``, controlled gates, custom gates and instructions),
with random parameter expressions; random ``SparsePauliOp`` observables; and random PUBs
(observables broadcast against 0-d to 3-d parameter arrays, several PUBs in one run). Our
estimator must give the reference's values to 1e-10 with the same shapes and metadata keys,
raise a ``ValueError`` where the reference does, and our gradient must give
``ParamShiftEstimatorGradient``'s on the reference. Every random choice is a Hypothesis draw,
so a failure prints the whole example (the reproduction blob too).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from qiskit.circuit import Gate, ParameterVector, QuantumCircuit
from qiskit.circuit.library import (
    GlobalPhaseGate,
    PauliEvolutionGate,
    UnitaryGate,
    get_standard_gate_name_mapping,
)
from qiskit.primitives import StatevectorEstimator as ReferenceEstimator
from qiskit.quantum_info import SparsePauliOp, random_statevector, random_unitary
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

from qmnist_qiskit import QuantumMNISTClassifier
from qmnist_qiskit.circuits import CircuitSpec
from qmnist_qiskit.engines.statevector import StatevectorEstimator, StatevectorEstimatorGradient

STANDARD_GATES = {
    name: gate
    for name, gate in get_standard_gate_name_mapping().items()
    if name not in {"measure", "reset", "delay", "global_phase"}
}
EXTRAS = [
    "barrier",
    "delay",
    "global_phase",
    "unitary",
    "pauli_evolution",
    "controlled",
    "custom_gate",
    "custom_instruction",
]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@st.composite
def angles(draw, parameters):
    """A gate angle: a number, or a sum, product or multiple of parameters, or a sine or
    cosine of one."""
    constant = draw(st.floats(-np.pi, np.pi, allow_nan=False))
    if not parameters or draw(st.integers(0, 4)) == 0:
        return constant
    first = draw(st.sampled_from(parameters))
    second = draw(st.sampled_from(parameters))
    form = draw(st.integers(0, 7))
    return [
        first,
        constant * first,
        first + second,
        first * second,
        constant * first - second,
        np.pi - first,
        first.sin() * constant,
        (first + constant).cos(),
    ][form]


def _standard(draw, name: str, parameters) -> Gate:
    gate = STANDARD_GATES[name]
    if not gate.params:
        return gate
    return type(gate)(*(draw(angles(parameters)) for _ in gate.params))


def _pauli_labels(draw, num_qubits: int, count: int, letters: str = "IXYZ") -> list[str]:
    return [
        "".join(draw(st.sampled_from(letters)) for _ in range(num_qubits)) for _ in range(count)
    ]


def _sub_circuit(draw, num_qubits: int, parameters, name: str) -> QuantumCircuit:
    """A small circuit of standard gates, to become a custom gate or instruction."""
    sub = QuantumCircuit(num_qubits, name=name)
    fitting = [n for n, g in STANDARD_GATES.items() if 1 <= g.num_qubits <= num_qubits]
    for _ in range(draw(st.integers(1, 3))):
        gate = _standard(draw, draw(st.sampled_from(fitting)), parameters)
        sub.append(gate, draw(st.permutations(range(num_qubits)))[: gate.num_qubits])
    return sub


def _extra(draw, kind: str, num_qubits: int, parameters, seed: int):
    """``(operation, width)`` of one of the instructions beside the standard gates."""
    if kind == "barrier":
        return None, 0
    if kind == "delay":
        return None, 1
    if kind == "global_phase":
        return GlobalPhaseGate(draw(angles(parameters))), 0
    if kind == "unitary":
        width = draw(st.integers(1, min(3, num_qubits)))
        return UnitaryGate(random_unitary(2**width, seed=seed)), width
    if kind == "pauli_evolution":
        width = draw(st.integers(1, min(3, num_qubits)))
        count = draw(st.integers(1, 3))
        coefficients = draw(st.lists(st.floats(-1, 1), min_size=count, max_size=count))
        if draw(st.booleans()):  # any terms, a bound time: the exact exponential
            labels = _pauli_labels(draw, width, count)
            time = draw(st.floats(-2, 2))
        else:  # commuting (diagonal) terms, any time: its definition is exact
            labels = _pauli_labels(draw, width, count, "IZ")
            time = draw(angles(parameters))
        return PauliEvolutionGate(SparsePauliOp(labels, coefficients), time), width
    if kind == "controlled":
        fitting = [n for n, g in STANDARD_GATES.items() if 1 <= g.num_qubits < num_qubits]
        assume(fitting)
        base = _standard(draw, draw(st.sampled_from(fitting)), parameters)
        controls = draw(st.integers(1, min(2, num_qubits - base.num_qubits)))
        state = draw(st.integers(0, 2**controls - 1))
        return base.control(controls, ctrl_state=state), base.num_qubits + controls
    width = draw(st.integers(1, min(3, num_qubits)))
    sub = _sub_circuit(draw, width, parameters, name="block")
    return (sub.to_gate() if kind == "custom_gate" else sub.to_instruction()), width


@st.composite
def circuits(draw, max_qubits: int = 8, min_parameters: int = 0, max_gates: int = 6):
    """``(circuit, parameters)``: a random circuit and its parameters in creation order."""
    num_qubits = draw(st.integers(1, max_qubits))
    parameters = list(ParameterVector("p", draw(st.integers(min_parameters, 3))))
    phase = draw(angles(parameters))
    circuit = QuantumCircuit(num_qubits, global_phase=phase)
    seed = draw(st.integers(0, 2**16))
    fresh = list(range(num_qubits))
    if num_qubits >= 2 and draw(st.booleans()):  # state preparation on qubits still in |0>
        pair = draw(st.permutations(range(num_qubits)))[:2]
        circuit.initialize(draw(st.sampled_from(["01", "+r", 2])), pair)
        fresh = [qubit for qubit in fresh if qubit not in pair]
    for qubit in fresh:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            circuit.reset(qubit)
        elif choice == 1:
            circuit.initialize(random_statevector(2, seed=seed + qubit).data, qubit)
    for position in range(draw(st.integers(0, max_gates))):
        if draw(st.integers(0, 3)):
            gate = _standard(
                draw,
                draw(
                    st.sampled_from(
                        [n for n, g in STANDARD_GATES.items() if g.num_qubits <= num_qubits]
                    )
                ),
                parameters,
            )
            width = gate.num_qubits
        else:
            kind = draw(st.sampled_from(EXTRAS))
            gate, width = _extra(draw, kind, num_qubits, parameters, seed + position)
        qubits = draw(st.permutations(range(num_qubits)))[:width]
        if gate is None and width == 0:
            circuit.barrier()
        elif gate is None:
            circuit.delay(draw(st.integers(0, 100)), qubits[0])
        else:
            circuit.append(gate, qubits)
    used = [p for p in parameters if p in circuit.parameters]
    if min_parameters:
        assume(used)
    return circuit, used


@st.composite
def observables(draw, num_qubits: int, smallest: float = 0.0) -> SparsePauliOp:
    """A random Pauli sum. Coefficients of 0, or repeated labels that cancel, make an empty
    observable, which the reference refuses (compared as errors); ``smallest > 0`` keeps the
    coefficients away from 0 and the labels distinct."""
    count = draw(st.integers(1, 3))
    magnitudes = st.floats(smallest, 2)
    signs = st.sampled_from([-1.0, 1.0])
    labels = _pauli_labels(draw, num_qubits, count)
    if smallest:
        labels = list(dict.fromkeys(labels))
    coefficients = [draw(magnitudes) * draw(signs) for _ in labels]
    return SparsePauliOp(labels, coefficients)


@st.composite
def shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of the parameter values and of the observables: broadcastable, or (rarely)
    not, to compare the errors."""
    full = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    assume(int(np.prod(full)) <= 8)

    def reduced() -> tuple[int, ...]:
        keep = draw(st.integers(0, len(full)))
        return tuple(size if draw(st.booleans()) else 1 for size in full[len(full) - keep :])

    values, observed = reduced(), reduced()
    if observed and draw(st.integers(0, 9)) == 0:
        observed = (*observed[:-1], observed[-1] + 1 if observed[-1] > 1 else 2)
    return values, observed


def _nested(items: list, shape: tuple[int, ...]):
    if not shape:
        return items.pop()
    return [_nested(items, shape[1:]) for _ in range(shape[0])]


@st.composite
def pubs(draw, circuit: QuantumCircuit, parameters):
    values_shape, observables_shape = draw(shapes())
    count = int(np.prod(observables_shape))
    operators = [draw(observables(circuit.num_qubits)) for _ in range(count)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.uniform(-np.pi, np.pi, (*values_shape, len(parameters)))
    # A dict binds by parameter, whatever the order of ``circuit.parameters``.
    bindings = {parameter: values[..., i] for i, parameter in enumerate(parameters)}
    if not parameters:
        bindings = None if values_shape == () else np.zeros((*values_shape, 0))
    return circuit, _nested(operators, observables_shape), bindings


def _outcome(estimator, pubs_, precision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return estimator.run(pubs_, precision=precision).result(), None
        except Exception as exc:  # noqa: BLE001 - the errors themselves are compared
            return None, exc


@st.composite
def runs(draw):
    """Several PUBs for one ``run``: random circuits, some PUBs sharing one."""
    made = [draw(circuits())]
    for _ in range(draw(st.integers(0, 2))):
        made.append(made[0] if draw(st.booleans()) else draw(circuits(max_qubits=4)))
    return [draw(pubs(circuit, parameters)) for circuit, parameters in made]


@_settings(180)
@given(pub_list=runs(), precision=st.sampled_from([None, 0.0, 0.0, 0.0, 0.125]))
def test_estimator_matches_the_reference(pub_list, precision):
    for circuit, _, _ in pub_list:
        note(str(circuit.draw(output="text", fold=-1)))
    expected, expected_error = _outcome(ReferenceEstimator(), pub_list, precision)
    ours, error = _outcome(StatevectorEstimator(), pub_list, precision)
    if expected_error is not None:
        assert error is not None, f"the reference raised {expected_error!r}, we did not"
        if isinstance(expected_error, ValueError):
            assert isinstance(error, ValueError), (error, expected_error)
        return
    assert error is None, f"we raised {error!r} where the reference gave values"
    assert ours.metadata == expected.metadata
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected, strict=True):
        assert mine.metadata.keys() == theirs.metadata.keys()
        assert mine.metadata["target_precision"] == theirs.metadata["target_precision"]
        assert mine.data.evs.shape == theirs.data.evs.shape
        assert mine.data.stds.shape == theirs.data.stds.shape
        assert mine.data.keys() == theirs.data.keys()
        if not theirs.metadata["target_precision"]:  # the reference adds noise otherwise
            np.testing.assert_allclose(mine.data.evs, theirs.data.evs, rtol=0, atol=1e-10)


@st.composite
def gradient_requests(draw):
    circuit, parameters = draw(circuits(max_qubits=5, min_parameters=1, max_gates=5))
    rows = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.uniform(-np.pi, np.pi, (rows, circuit.num_parameters))
    operators = [draw(observables(circuit.num_qubits, smallest=0.1)) for _ in range(rows)]
    subset = None
    if draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(list(circuit.parameters)), min_size=1, unique=True))
        subset = [chosen] * rows
    return [circuit] * rows, operators, values, subset


def _central_differences(circuit, operator, row, parameters, step=1e-6) -> np.ndarray:
    """The reference estimator's central differences for ``parameters``."""
    columns = [list(circuit.parameters).index(parameter) for parameter in parameters]
    shifted = np.repeat(np.asarray(row, dtype=float)[None], 2 * len(columns), axis=0)
    for k, column in enumerate(columns):
        shifted[2 * k, column] += step
        shifted[2 * k + 1, column] -= step
    evs = ReferenceEstimator().run([(circuit, operator, shifted)]).result()[0].data.evs
    return (evs[0::2] - evs[1::2]) / (2 * step)


@_settings(45)
@given(request=gradient_requests())
def test_gradient_matches_parameter_shift_on_the_reference(request):
    circuits_, operators, values, subset = request
    note(str(circuits_[0].draw(output="text", fold=-1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = StatevectorEstimatorGradient().run(circuits_, operators, values, subset).result()
        try:
            reference = ParamShiftEstimatorGradient(ReferenceEstimator())
            expected = reference.run(circuits_, operators, values, subset).result()
        except KeyError:
            # qiskit-machine-learning 0.9.1 fails on a parameter that only a global phase
            # holds (KeyError in _make_gradient_parameter_values): central differences then.
            expected = None
    if expected is None:
        for mine, circuit, operator, row, metadata in zip(
            ours.gradients, circuits_, operators, values, ours.metadata, strict=True
        ):
            differences = _central_differences(circuit, operator, row, metadata["parameters"])
            np.testing.assert_allclose(mine, differences, rtol=0, atol=1e-6)
        return
    for mine, theirs in zip(ours.gradients, expected.gradients, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10)
    assert [m["parameters"] for m in ours.metadata] == [m["parameters"] for m in expected.metadata]


@_settings(8)
@given(drawn=circuits(max_qubits=4, min_parameters=1, max_gates=5), seed=st.integers(0, 99))
def test_accepted_circuits_train_in_the_classifier(drawn, seed):
    circuit, parameters = drawn
    note(str(circuit.draw(output="text", fold=-1)))
    inputs, weights = parameters[:1], parameters[1:]
    readout = [
        SparsePauliOp("Z" * circuit.num_qubits),
        SparsePauliOp("X" + "I" * (circuit.num_qubits - 1)),
    ]
    spec = CircuitSpec(circuit, inputs, weights, readout)
    rng = np.random.default_rng(seed)
    X, y = rng.uniform(0, np.pi, (6, 1)), np.array([0, 1] * 3)
    clf = QuantumMNISTClassifier(
        encoder=None, ansatz=spec, epochs=1, batch_size=3, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert len(clf.history_) == 1 and np.isfinite(clf.history_[0]["loss"])
    assert set(clf.predict(X)) <= {0, 1}


def test_non_deterministic_circuits_are_refused_by_the_classifier_before_training():
    inputs, weights = ParameterVector("x", 1), ParameterVector("w", 1)
    circuit = QuantumCircuit(2)
    circuit.rx(inputs[0], 0)
    circuit.cx(0, 1)
    circuit.reset(1)
    circuit.ry(weights[0], 1)
    spec = CircuitSpec(circuit, inputs, weights, [SparsePauliOp("ZI"), SparsePauliOp("IZ")])
    clf = QuantumMNISTClassifier(encoder=None, ansatz=spec, epochs=1)
    with pytest.raises(ValueError, match="instruction reset on qubit 1 after a gate acted on it"):
        clf.fit(np.zeros((4, 1)), [0, 1, 0, 1])
    assert not hasattr(clf, "history_")
