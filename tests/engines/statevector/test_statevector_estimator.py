"""The Estimator V2 primitive against Qiskit's reference ``StatevectorEstimator``."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import (
    GlobalPhaseGate,
    PauliEvolutionGate,
    RYGate,
    StatePreparation,
    UnitaryGate,
    XXPlusYYGate,
    get_standard_gate_name_mapping,
)
from qiskit.exceptions import QiskitError
from qiskit.primitives import StatevectorEstimator as ReferenceEstimator
from qiskit.providers import JobStatus
from qiskit.quantum_info import (
    Pauli,
    SparsePauliOp,
    Statevector,
    random_statevector,
    random_unitary,
)
from qiskit_aer import AerSimulator
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.statevector import StatevectorEstimator
from qmnist_qiskit.exceptions import QMNISTError


@pytest.fixture(scope="module")
def circuit() -> QuantumCircuit:
    x = ParameterVector("x", 2)
    theta = Parameter("θ")
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.rx(2 * x[0], 1)
    qc.cx(0, 1)
    qc.ry(theta * x[1], 2)
    qc.rzz(np.pi - x[0], 1, 2)
    qc.crx(theta, 2, 0)
    return qc


OBSERVABLES = [
    [SparsePauliOp(["ZZI", "IXY"], [0.5, -1.5])],
    [Pauli("IZX")],
    [SparsePauliOp("XXX")],
]


@pytest.mark.parametrize(
    ("observables", "values_shape"),
    [
        (OBSERVABLES, (4,)),  # (3, 1) x (4,) -> (3, 4)
        (SparsePauliOp("ZIZ"), (2, 3)),  # () x (2, 3) -> (2, 3)
        ([SparsePauliOp("ZII"), SparsePauliOp("IIX")], (2,)),  # (2,) x (2,) -> (2,)
        ([[SparsePauliOp("ZII"), SparsePauliOp("IIX")]], (3, 1)),  # (1, 2) x (3, 1) -> (3, 2)
        (OBSERVABLES, ()),  # (3, 1) x () -> (3, 1)
    ],
)
def test_broadcasting_matches_the_reference_estimator(circuit, observables, values_shape):
    values = np.random.default_rng(0).uniform(-np.pi, np.pi, (*values_shape, 3))
    pub = (circuit, observables, values)
    ours = StatevectorEstimator().run([pub]).result()[0]
    expected = ReferenceEstimator().run([pub]).result()[0]
    assert ours.data.evs.shape == expected.data.evs.shape
    np.testing.assert_allclose(ours.data.evs, expected.data.evs, atol=1e-12)
    np.testing.assert_array_equal(ours.data.stds, np.zeros(expected.data.evs.shape))
    assert ours.metadata["target_precision"] == 0.0


def test_several_pubs_and_circuits_in_one_run(circuit):
    spec = layered_circuit(2, reps=1)
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, (5, 3))
    pubs = [
        (circuit, SparsePauliOp("ZII"), values),
        (circuit, SparsePauliOp("IIZ"), values),
        (circuit, SparsePauliOp("IIZ"), values[:2]),
        (spec.circuit, spec.observables[0], rng.uniform(-1, 1, (2, 6))),
    ]
    ours = StatevectorEstimator().run(pubs).result()
    expected = ReferenceEstimator().run(pubs).result()
    assert ours.metadata == {"version": 2}
    for mine, theirs in zip(ours, expected, strict=True):
        np.testing.assert_allclose(mine.data.evs, theirs.data.evs, atol=1e-12)


def test_nonzero_precision_still_gives_exact_values(circuit):
    values = np.random.default_rng(2).uniform(-1, 1, (3, 3))
    pub = (circuit, OBSERVABLES, values)
    exact = ReferenceEstimator().run([pub]).result()[0].data.evs
    result = StatevectorEstimator(default_precision=0.25).run([pub]).result()[0]
    assert result.metadata["target_precision"] == 0.25
    np.testing.assert_allclose(result.data.evs, exact, atol=1e-12)
    assert np.all(result.data.stds == 0)
    result = StatevectorEstimator().run([pub], precision=0.1).result()[0]
    assert result.metadata["target_precision"] == 0.1
    np.testing.assert_allclose(result.data.evs, exact, atol=1e-12)


def test_pubs_of_one_circuit_are_one_simulation_whatever_their_values_and_coefficients(circuit):
    rng = np.random.default_rng(4)
    estimator = StatevectorEstimator()
    for _ in range(2):  # new coefficients each time, as sQUlearn sends them while training
        a, b = rng.uniform(-2, 2, 2)
        observable = SparsePauliOp(["ZZI", "IXY", "III"], [a, b, 0.5])
        pubs = [(circuit, observable, row) for row in rng.uniform(-1, 1, (4, 3))]
        pubs.append((circuit, [[SparsePauliOp("XII")], [observable]], rng.uniform(-1, 1, (2, 3))))
        ours = estimator.run(pubs).result()
        expected = ReferenceEstimator().run(pubs).result()
        for mine, theirs in zip(ours, expected, strict=True):
            assert mine.data.evs.shape == theirs.data.evs.shape
            np.testing.assert_allclose(mine.data.evs, theirs.data.evs, atol=1e-12)
    assert len(estimator._cache) == 1


def test_options_as_aer_and_ibm_runtime_estimators_have_them(circuit):
    estimator = StatevectorEstimator()
    assert estimator.options.default_precision == 0.0
    estimator.options.default_precision = 0.125
    assert estimator.default_precision == 0.125
    pub = (circuit, SparsePauliOp("ZZZ"), np.zeros(3))
    assert estimator.run([pub]).result()[0].metadata["target_precision"] == 0.125
    estimator.options.update(default_precision=0)
    assert estimator.options.default_precision == 0.0
    assert StatevectorEstimator(default_precision=0.25).options.default_precision == 0.25
    for bad in (-0.1, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="default_precision"):
            estimator.options.default_precision = bad
    with pytest.raises(AttributeError):
        estimator.options.default_shots = 100
    with pytest.raises(AttributeError, match="default_shots"):
        estimator.options.update(default_shots=100)
    assert estimator.options.default_precision == 0.0


def test_jobs_are_done_when_returned_and_errors_come_with_the_result(circuit):
    job = StatevectorEstimator().run([(circuit, SparsePauliOp("ZZZ"), np.zeros(3))])
    assert job.done() and job.in_final_state() and not job.running() and not job.cancelled()
    assert job.status() == JobStatus.DONE and isinstance(job.job_id(), str)
    failed = StatevectorEstimator().run([(circuit, SparsePauliOp("ZZZ"), [np.nan, 0, 0])])
    assert failed.status() == JobStatus.ERROR and failed.in_final_state() and not failed.done()
    with pytest.raises(ValueError, match="NaN"):
        failed.result()


def test_backend_is_an_exact_aer_simulator_that_samples_the_estimators_states():
    estimator = StatevectorEstimator()
    backend = estimator.backend
    assert isinstance(backend, AerSimulator)
    assert backend.options.method == "statevector"
    assert backend.options.noise_model is None
    # Bell state: the estimator's <ZZ> = 1 and <ZI> = 0; the backend samples only 00 and 11,
    # about half each.
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    evs = estimator.run([(bell, [Pauli("ZZ"), Pauli("ZI")])]).result()[0].data.evs
    np.testing.assert_allclose(evs, [1.0, 0.0], atol=1e-14)
    bell.measure_all()
    counts = backend.run(bell, shots=2000, seed_simulator=3).result().get_counts()
    assert set(counts) == {"00", "11"}
    assert abs(counts["00"] - 1000) < 150


def test_compiled_circuits_are_cached(circuit):
    estimator = StatevectorEstimator()
    observables = [SparsePauliOp("ZZZ")]
    first = estimator.simulator(circuit, observables, [True, False, True])
    assert estimator.simulator(circuit.copy(), observables, [True, False, True]) is first
    assert estimator.simulator(circuit, observables, [True, True, True]) is not first


def test_circuits_without_parameters():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    result = StatevectorEstimator().run([(qc, [Pauli("XX"), Pauli("ZI")])]).result()[0]
    np.testing.assert_allclose(result.data.evs, [1.0, 0.0], atol=1e-14)


def test_bad_values_are_refused(circuit):
    values = np.zeros((2, 3))
    values[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        StatevectorEstimator().run([(circuit, SparsePauliOp("ZZZ"), values)]).result()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="dtype"):
        StatevectorEstimator(dtype="complex32")
    with pytest.raises(ValueError, match="default_precision"):
        StatevectorEstimator(default_precision=-1.0)


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="checks the error raised without CUDA"
)
def test_cuda_without_a_gpu_is_an_engine_error():
    with pytest.raises(QMNISTError, match="no CUDA GPU"):
        StatevectorEstimator(device="cuda")


def test_backs_estimator_qnn_exactly_even_at_its_default_precision():
    spec = layered_circuit(3, reps=2, input_scaling=True)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, np.pi, (4, 3))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    common = {
        "circuit": spec.circuit,
        "observables": spec.observables,
        "input_params": spec.input_params,
        "weight_params": spec.weight_params,
    }
    ours = EstimatorQNN(estimator=StatevectorEstimator(), **common)
    reference = EstimatorQNN(estimator=ReferenceEstimator(), default_precision=0.0, **common)
    np.testing.assert_allclose(ours.forward(x, w), reference.forward(x, w), atol=1e-12)
    np.testing.assert_allclose(ours.backward(x, w)[1], reference.backward(x, w)[1], atol=1e-10)


def test_custom_gates_of_one_name_but_different_content_are_not_confused():
    flip, turn = QuantumCircuit(1, name="block"), QuantumCircuit(1, name="block")
    flip.x(0)
    turn.h(0)
    first, second = QuantumCircuit(1), QuantumCircuit(1)
    first.append(flip.to_gate(), [0])
    second.append(turn.to_gate(), [0])
    z = SparsePauliOp("Z")
    expected = [Statevector(c).expectation_value(z).real for c in (first, second)]
    together = StatevectorEstimator().run([(first, z), (second, z)]).result()
    np.testing.assert_allclose([float(r.data.evs) for r in together], expected, atol=1e-12)
    estimator = StatevectorEstimator()  # one estimator, its compiled-circuit cache kept
    apart = [float(estimator.run([(c, z)]).result()[0].data.evs) for c in (first, second)]
    np.testing.assert_allclose(apart, expected, atol=1e-12)


def _reference_and_ours(circuit, values=None):
    n = circuit.num_qubits
    observable = SparsePauliOp.from_list([(("XYZ" * n)[:n], 0.7), ("Z" * n, -0.4)])
    pub = (circuit, [[observable], [SparsePauliOp("X" * circuit.num_qubits)]], values)
    expected = ReferenceEstimator().run([pub]).result()[0]
    ours = StatevectorEstimator().run([pub]).result()[0]
    assert ours.data.evs.shape == expected.data.evs.shape
    assert ours.metadata.keys() == expected.metadata.keys()
    np.testing.assert_allclose(ours.data.evs, expected.data.evs, rtol=0, atol=1e-10)


def _prepared(num_qubits: int) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits)
    qc.h(range(num_qubits))
    qc.ry(0.4, range(num_qubits))
    return qc


@pytest.mark.parametrize("name", sorted(set(get_standard_gate_name_mapping()) - {"measure"}))
def test_every_standard_gate_matches_the_reference(name):
    gate = get_standard_gate_name_mapping()[name]
    qc = _prepared(4) if name != "reset" else QuantumCircuit(4)
    angles = ParameterVector("a", len(gate.params))
    if name == "delay":
        qc.delay(100, 1)
    elif name == "reset":
        qc.reset(2)
        qc.h(2)
    else:
        qc.append(type(gate)(*angles) if gate.params else gate, [3, 1, 0, 2][: gate.num_qubits])
    values = np.random.default_rng(5).uniform(-np.pi, np.pi, (3, qc.num_parameters))
    _reference_and_ours(qc, values if qc.num_parameters else None)


def _sub_circuit(a, b) -> QuantumCircuit:
    sub = QuantumCircuit(3, name="block")
    sub.rx(a * b, 0)
    sub.cx(0, 2)
    sub.crz(2 * b, 2, 1)
    sub.ecr(1, 0)
    return sub


def _accepted(kind: str, a, b) -> QuantumCircuit:
    qc = QuantumCircuit(5)
    if kind == "initialize":
        qc.initialize(random_statevector(8, seed=1).data, [4, 0, 2])
        qc.initialize("+r", [1, 3])
    elif kind == "state_preparation":
        qc.append(StatePreparation(random_statevector(4, seed=2).data), [3, 1])
    elif kind == "reset_on_fresh_qubits":
        qc.reset([0, 3])
        qc.h(1)
        qc.reset(2)
    qc.compose(_prepared(5), inplace=True)
    qc.rx(a, 0)
    qc.cry(b, 0, 4)
    if kind == "barrier_and_delay":
        qc.barrier()
        qc.delay(10, 2, unit="ns")
    elif kind == "global_phase":
        qc.global_phase = a - 0.3
        qc.append(GlobalPhaseGate(a * b), [])
    elif kind == "unitary":
        qc.append(UnitaryGate(random_unitary(8, seed=3)), [2, 4, 0])
        qc.append(UnitaryGate(random_unitary(2, seed=4)), [1])
    elif kind == "pauli_evolution":
        qc.append(PauliEvolutionGate(SparsePauliOp(["XYI", "ZZX"], [0.3, -0.8]), 0.7), [0, 2, 4])
        qc.append(PauliEvolutionGate(SparsePauliOp(["ZIZ", "IZZ"], [0.5, 1.1]), a + b), [1, 3, 2])
    elif kind == "controlled":
        qc.append(RYGate(a).control(2, ctrl_state=1), [0, 3, 1])
        qc.append(XXPlusYYGate(b, a).control(1), [4, 2, 0])
        qc.mcx([0, 1, 2, 3], 4)
        qc.append(UnitaryGate(random_unitary(2, seed=5)).control(3), [1, 4, 0, 2])
    elif kind == "custom":
        qc.append(_sub_circuit(a, b).to_gate(), [4, 1, 2])
        qc.append(_sub_circuit(a, b).to_instruction(), [0, 3, 1])
        qc.append(_sub_circuit(a, b).to_gate().control(1), [2, 0, 3, 4])
    return qc


@pytest.mark.parametrize(
    "kind",
    [
        "initialize",
        "state_preparation",
        "reset_on_fresh_qubits",
        "barrier_and_delay",
        "global_phase",
        "unitary",
        "pauli_evolution",
        "controlled",
        "custom",
    ],
)
def test_each_accepted_instruction_matches_the_reference(kind):
    a, b = Parameter("a"), Parameter("b")
    qc = _accepted(kind, a, b)
    values = np.random.default_rng(6).uniform(-np.pi, np.pi, (2, 2, qc.num_parameters))
    _reference_and_ours(qc, values)


def test_resets_after_gates_are_refused_where_the_reference_draws_an_outcome():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.reset(1)
    pub = (qc, SparsePauliOp("IZ"))
    outcomes = {float(ReferenceEstimator(seed=s).run([pub]).result()[0].data.evs) for s in range(8)}
    assert outcomes == {-1.0, 1.0}  # the reference samples the reset's measurement
    with pytest.raises(QMNISTError, match="instruction reset on qubit 1 after a gate acted on it"):
        StatevectorEstimator().run([pub]).result()


def test_measurements_are_refused_as_by_the_reference_but_named():
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    pub = (qc, SparsePauliOp("Z"))
    with pytest.raises(QiskitError, match="classical bits: measure"):
        ReferenceEstimator().run([pub]).result()
    with pytest.raises(QMNISTError, match="instruction measure"):
        StatevectorEstimator().run([pub]).result()


def test_a_parameterised_evolution_of_non_commuting_terms_is_refused():
    a = Parameter("a")
    qc = QuantumCircuit(2)
    qc.append(PauliEvolutionGate(SparsePauliOp(["XI", "ZY"]), a), [0, 1])
    pub = (qc, SparsePauliOp("ZZ"), [0.4])
    ReferenceEstimator().run([pub]).result()  # binds the time, then exponentiates exactly
    with pytest.raises(QMNISTError, match="non-commuting terms over a parameterised time"):
        StatevectorEstimator().run([pub]).result()
