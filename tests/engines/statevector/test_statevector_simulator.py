"""The simulator on random circuits, library circuits and the project's circuits, against
Qiskit's ``Statevector``, Aer's exact ``EstimatorV2`` and finite differences."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from qiskit import transpile
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import efficient_su2, real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from qmnist_qiskit.circuits import layered_circuit, seed_circuit
from qmnist_qiskit.engines.statevector import StatevectorSimulator
from qmnist_qiskit.exceptions import QMNISTError

ONE_QUBIT_PARAMETERISED = {"rx": 1, "ry": 1, "rz": 1, "p": 1, "u": 3, "r": 2}
ONE_QUBIT_CONSTANT = ["h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "id"]
TWO_QUBIT_PARAMETERISED = {
    "crx": 1,
    "cry": 1,
    "crz": 1,
    "cp": 1,
    "rxx": 1,
    "ryy": 1,
    "rzz": 1,
    "rzx": 1,
    "cu": 4,
}
TWO_QUBIT_CONSTANT = ["cx", "cy", "cz", "swap", "ecr", "ch", "iswap", "dcx"]
THREE_QUBIT_CONSTANT = ["ccx", "cswap"]
AER_GATES = [
    *ONE_QUBIT_PARAMETERISED,
    *ONE_QUBIT_CONSTANT,
    *TWO_QUBIT_PARAMETERISED,
    *THREE_QUBIT_CONSTANT,
    *["cx", "cy", "cz", "swap", "ecr"],
]
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def angles(draw, parameters):
    """A gate angle: a constant or an expression of the parameters (sums, products...)."""
    constant = draw(st.floats(-np.pi, np.pi))
    if not parameters:
        return constant
    first = draw(st.sampled_from(parameters))
    second = draw(st.sampled_from(parameters))
    form = draw(st.integers(0, 5))
    return [
        first,
        2 * first,
        first * second,
        np.pi - first,
        constant * first + second,
        (first + constant).sin() * 1.5,
    ][form]


@st.composite
def circuits(draw, max_qubits: int = 5):
    """``(circuit, inputs, weights, observables)`` of random gates and Pauli sums."""
    num_qubits = draw(st.integers(1, max_qubits))
    inputs = ParameterVector("x", draw(st.integers(0, 3)))
    weights = ParameterVector("w", draw(st.integers(0, 3)))
    parameters = [*inputs, *weights]
    circuit = QuantumCircuit(num_qubits, global_phase=draw(st.floats(-np.pi, np.pi)))
    kinds = ["one_parameterised", "one_constant"]
    if num_qubits >= 2:
        kinds += ["two_parameterised", "two_constant"]
    if num_qubits >= 3:
        kinds.append("three_constant")
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(kinds))
        width = {"one": 1, "two": 2, "three": 3}[kind.split("_")[0]]
        wires = draw(st.permutations(range(num_qubits)))[:width]
        if kind == "one_parameterised":
            name = draw(st.sampled_from(sorted(ONE_QUBIT_PARAMETERISED)))
            count = ONE_QUBIT_PARAMETERISED[name]
        elif kind == "two_parameterised":
            name = draw(st.sampled_from(sorted(TWO_QUBIT_PARAMETERISED)))
            count = TWO_QUBIT_PARAMETERISED[name]
        else:
            name = draw(
                st.sampled_from(
                    {
                        "one_constant": ONE_QUBIT_CONSTANT,
                        "two_constant": TWO_QUBIT_CONSTANT,
                        "three_constant": THREE_QUBIT_CONSTANT,
                    }[kind]
                )
            )
            count = 0
        values = [draw(angles(parameters)) for _ in range(count)]
        getattr(circuit, name)(*values, *wires)
    used = circuit.parameters
    inputs = [parameter for parameter in inputs if parameter in used]
    weights = [parameter for parameter in weights if parameter in used]
    observables = [draw(pauli_sums(num_qubits)) for _ in range(draw(st.integers(1, 3)))]
    return circuit, inputs, weights, observables


@st.composite
def pauli_sums(draw, num_qubits: int):
    labels = st.text(alphabet="IXYZ", min_size=num_qubits, max_size=num_qubits)
    terms = draw(st.lists(labels, min_size=1, max_size=4, unique=True))
    magnitudes = st.floats(0.1, 2.0)
    coefficients = [draw(magnitudes) * draw(st.sampled_from([-1, 1])) for _ in terms]
    return SparsePauliOp(terms, coefficients)


def _values(rng, rows: int, columns: int) -> np.ndarray:
    return rng.uniform(-np.pi, np.pi, (rows, columns))


@SETTINGS
@given(case=circuits(), rows=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_random_circuits_match_statevector(case, rows, seed, reference):
    circuit, inputs, weights, observables = case
    rng = np.random.default_rng(seed)
    x, w = _values(rng, rows, len(inputs)), _values(rng, 1, len(weights))[0]
    simulator = StatevectorSimulator(
        circuit, observables, input_params=inputs, weight_params=weights
    )
    parameters = [*inputs, *weights]
    full = np.concatenate([x, np.broadcast_to(w, (rows, len(w)))], axis=1)
    np.testing.assert_allclose(
        simulator.statevector(torch.tensor(x), torch.tensor(w)).numpy(),
        reference.states(circuit, parameters, full),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        simulator.expectations(torch.tensor(x), torch.tensor(w)).numpy(),
        reference.values(circuit, parameters, full, observables),
        atol=1e-10,
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=circuits(max_qubits=4), rows=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_circuit_gradients_match_finite_differences(case, rows, seed, reference):
    circuit, inputs, weights, observables = case
    assume(inputs or weights)
    rng = np.random.default_rng(seed)
    x, w = _values(rng, rows, len(inputs)), _values(rng, 1, len(weights))[0]
    simulator = StatevectorSimulator(
        circuit, observables, input_params=inputs, weight_params=weights
    )
    x_tensor = torch.tensor(x, requires_grad=True)
    w_tensor = torch.tensor(w, requires_grad=True)
    cotangent = rng.normal(size=(rows, len(observables)))
    (simulator.expectations(x_tensor, w_tensor) * torch.tensor(cotangent)).sum().backward()

    full = np.concatenate([x, np.broadcast_to(w, (rows, len(w)))], axis=1)
    jacobian = reference.jacobian(circuit, [*inputs, *weights], full, observables)
    vector_jacobian = np.einsum("bo,bop->bp", cotangent, jacobian)
    # A parameter that no observable depends on gets no gradient (None), as in torch.
    x_grad = torch.zeros_like(x_tensor) if x_tensor.grad is None else x_tensor.grad
    w_grad = torch.zeros_like(w_tensor) if w_tensor.grad is None else w_tensor.grad
    np.testing.assert_allclose(x_grad.numpy(), vector_jacobian[:, : len(inputs)], atol=1e-6)
    np.testing.assert_allclose(w_grad.numpy(), vector_jacobian[:, len(inputs) :].sum(0), atol=1e-6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=circuits(max_qubits=4), seed=st.integers(0, 2**16))
def test_random_circuits_match_aer_exact_estimator(case, seed, reference):
    circuit, inputs, weights, observables = case
    rng = np.random.default_rng(seed)
    x, w = _values(rng, 3, len(inputs)), _values(rng, 1, len(weights))[0]
    simulator = StatevectorSimulator(
        circuit, observables, input_params=inputs, weight_params=weights
    )
    ours = simulator.expectations(torch.tensor(x), torch.tensor(w)).numpy()
    full = np.concatenate([x, np.broadcast_to(w, (3, len(w)))], axis=1)
    # Aer lacks a few of the gates drawn here (ch, iswap, dcx): translate those.
    pubs = [
        (
            transpile(
                reference.bind(circuit, [*inputs, *weights], row),
                basis_gates=AER_GATES,
                optimization_level=0,
            ),
            observables,
        )
        for row in full
    ]
    results = AerEstimator().run(pubs).result()
    assert all(np.all(result.data.stds == 0) for result in results)
    np.testing.assert_allclose(ours, [result.data.evs for result in results], atol=1e-10)


def test_library_circuits_work_unchanged(reference):
    feature_map = zz_feature_map(3)
    for ansatz in (real_amplitudes(3, reps=2), efficient_su2(3, reps=1)):
        circuit = feature_map.compose(ansatz)
        inputs, weights = list(feature_map.parameters), list(ansatz.parameters)
        observables = [SparsePauliOp("ZZI"), SparsePauliOp(["XII", "IYZ"], [0.5, -0.25])]
        rng = np.random.default_rng(5)
        x, w = _values(rng, 3, len(inputs)), _values(rng, 1, len(weights))[0]
        simulator = StatevectorSimulator(
            circuit, observables, input_params=inputs, weight_params=weights
        )
        full = np.concatenate([x, np.broadcast_to(w, (3, len(w)))], axis=1)
        np.testing.assert_allclose(
            simulator.expectations(torch.tensor(x), torch.tensor(w)).numpy(),
            reference.values(circuit, [*inputs, *weights], full, observables),
            atol=1e-10,
        )


@pytest.mark.parametrize(
    "spec",
    [seed_circuit(10), layered_circuit(6, reps=3, input_scaling=True, entanglement="full")],
    ids=["seed10", "reupload6"],
)
def test_project_circuits_match_statevector(spec, reference):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, np.pi, (3, len(spec.input_params)))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    parameters = [*spec.input_params, *spec.weight_params]
    full = np.concatenate([x, np.broadcast_to(w, (3, len(w)))], axis=1)
    np.testing.assert_allclose(
        simulator.statevector(torch.tensor(x), torch.tensor(w)).numpy(),
        reference.states(spec.circuit, parameters, full),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        simulator.expectations(torch.tensor(x), torch.tensor(w)).numpy(),
        reference.values(spec.circuit, parameters, full, spec.observables),
        atol=1e-10,
    )


def test_seed_loss_gradient_matches_finite_differences(reference):
    spec = seed_circuit(5)
    rng = np.random.default_rng(2)
    x = rng.uniform(0, np.pi, (4, 5))
    w = rng.uniform(-1, 1, 10)
    labels = torch.tensor([0, 3, 4, 1])
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    weights = torch.tensor(w, requires_grad=True)
    scores = simulator.expectations(torch.tensor(x), weights)
    torch.nn.functional.cross_entropy(scores, labels).backward()

    def loss(values: np.ndarray) -> float:
        full = np.concatenate([x, np.broadcast_to(values, (4, 10))], axis=1)
        expectations = reference.values(
            spec.circuit, [*spec.input_params, *spec.weight_params], full, spec.observables
        )
        return float(torch.nn.functional.cross_entropy(torch.tensor(expectations), labels))

    step = 1e-5
    expected = [
        (loss(w + step * np.eye(10)[i]) - loss(w - step * np.eye(10)[i])) / (2 * step)
        for i in range(10)
    ]
    np.testing.assert_allclose(weights.grad.numpy(), expected, atol=1e-8)


def test_single_precision_matches_to_float32_accuracy(reference):
    spec = layered_circuit(5, reps=2, input_scaling=True)
    rng = np.random.default_rng(4)
    x = rng.uniform(0, np.pi, (6, 5))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    common = {"input_params": spec.input_params, "weight_params": spec.weight_params}
    double = StatevectorSimulator(spec.circuit, spec.observables, **common)
    single = StatevectorSimulator(spec.circuit, spec.observables, dtype="complex64", **common)
    weights = torch.tensor(w, dtype=torch.float32, requires_grad=True)
    values = single.expectations(torch.tensor(x, dtype=torch.float32), weights)
    assert values.dtype == torch.float32
    values.sum().backward()
    assert weights.grad.dtype == torch.float32
    reference_weights = torch.tensor(w, requires_grad=True)
    double.expectations(torch.tensor(x), reference_weights).sum().backward()
    np.testing.assert_allclose(
        values.detach().numpy(), double.expectations(torch.tensor(x), torch.tensor(w)), atol=1e-5
    )
    np.testing.assert_allclose(weights.grad.numpy(), reference_weights.grad.numpy(), atol=1e-4)
    single_states = single.statevector(torch.tensor(x), torch.tensor(w))
    assert single_states.dtype == torch.complex64


@pytest.mark.parametrize("budget", [2_000, 6_000, 60_000])
def test_memory_budget_splits_batches_without_changing_results(budget):
    spec = layered_circuit(3, reps=2, input_scaling=True)
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.uniform(0, np.pi, (40, 3)), requires_grad=True)
    w = torch.tensor(rng.uniform(-np.pi, np.pi, len(spec.weight_params)), requires_grad=True)
    common = {"input_params": spec.input_params, "weight_params": spec.weight_params}
    unbounded = StatevectorSimulator(spec.circuit, spec.observables, **common)
    bounded = StatevectorSimulator(
        spec.circuit, spec.observables, max_memory_bytes=budget, **common
    )
    expected = unbounded.expectations(x, w)
    expected_grads = torch.autograd.grad(expected.square().sum(), [x, w])
    values = bounded.expectations(x, w)
    grads = torch.autograd.grad(values.square().sum(), [x, w])
    torch.testing.assert_close(values, expected, atol=1e-12, rtol=0)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=0)


def test_batch_plan_keeps_final_states_only_within_the_budget():
    spec = seed_circuit(10)
    common = {"input_params": spec.input_params, "weight_params": spec.weight_params}
    roomy = StatevectorSimulator(spec.circuit, spec.observables, **common)
    assert roomy.batch_plan(100) == (100, True)
    assert roomy.batch_plan(100, differentiable=False) == (100, False)
    tight = StatevectorSimulator(
        spec.circuit, spec.observables, max_memory_bytes=2_000_000, **common
    )
    chunk, keep = tight.batch_plan(60_000)
    assert not keep and 1 <= chunk <= 2_000_000 // (16 * 2**10)


def test_budget_below_one_sample_is_an_engine_error():
    spec = seed_circuit(6)
    # Refused when the simulator is built, before the circuit is compiled.
    with pytest.raises(QMNISTError, match="raise max_memory_bytes"):
        StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
            max_memory_bytes=1_000,
        )


def test_per_sample_weights_equal_shared_weights():
    spec = layered_circuit(4, reps=2, input_scaling=True)
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.uniform(0, np.pi, (5, 4)))
    w = torch.tensor(rng.uniform(-np.pi, np.pi, (5, len(spec.weight_params))), requires_grad=True)
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    rows = simulator.expectations(x, w)
    rows[:, 0].sum().backward()
    for index in range(5):
        shared = w[index].detach().clone().requires_grad_()
        value = simulator.expectations(x[index : index + 1], shared)
        torch.testing.assert_close(value, rows[index : index + 1], atol=1e-12, rtol=0)
        value[0, 0].backward()
        torch.testing.assert_close(shared.grad, w.grad[index], atol=1e-12, rtol=0)


def test_high_weight_observables_keep_final_gates_in_the_state(reference):
    spec = seed_circuit(8)
    observables = [SparsePauliOp("Z" * 8), SparsePauliOp(["XXXXXXXX", "IIIIIIZI"], [0.5, 1.0])]
    simulator = StatevectorSimulator(
        spec.circuit,
        observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    assert simulator.plan.absorbed == ()
    rng = np.random.default_rng(6)
    x, w = rng.uniform(0, np.pi, (2, 8)), rng.uniform(-1, 1, 16)
    full = np.concatenate([x, np.broadcast_to(w, (2, 16))], axis=1)
    np.testing.assert_allclose(
        simulator.expectations(torch.tensor(x), torch.tensor(w)).numpy(),
        reference.values(
            spec.circuit, [*spec.input_params, *spec.weight_params], full, observables
        ),
        atol=1e-10,
    )


def test_parameterised_global_phase_is_in_the_statevector(reference):
    a = Parameter("a")
    circuit = QuantumCircuit(2, global_phase=a / 2 + 0.1)
    circuit.rx(a, 0)
    circuit.cx(0, 1)
    simulator = StatevectorSimulator(circuit, [SparsePauliOp("ZZ")], input_params=[a])
    x = np.array([[0.3], [2.0]])
    np.testing.assert_allclose(
        simulator.statevector(torch.tensor(x), None).numpy(),
        reference.states(circuit, [a], x),
        atol=1e-12,
    )


def test_parameterless_circuits_need_no_values():
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    simulator = StatevectorSimulator(circuit, [SparsePauliOp("XX"), SparsePauliOp("ZI")])
    np.testing.assert_allclose(simulator.expectations(None, None).numpy(), [[1.0, 0.0]], atol=1e-14)


@pytest.fixture(scope="module")
def seed3() -> StatevectorSimulator:
    spec = seed_circuit(3)
    return StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )


@pytest.mark.parametrize(
    ("inputs", "weights", "error", "match"),
    [
        (np.zeros((2, 4)), np.zeros(6), ValueError, "inputs has 4 columns"),
        (np.zeros((2, 3)), np.zeros(5), ValueError, "weights has 5 columns"),
        (np.zeros(3), np.zeros(6), ValueError, r"shape \(batch, 3\)"),
        (np.zeros((1, 2, 3)), np.zeros(6), ValueError, "1-D or 2-D"),
        (np.zeros((2, 3)), np.zeros((3, 6)), ValueError, "do not match a batch of 2"),
        (np.full((2, 3), np.nan), np.zeros(6), ValueError, "NaN or infinite"),
        (np.zeros((2, 3)), np.array([np.inf, 0, 0, 0, 0, 0]), ValueError, "NaN or infinite"),
        (np.zeros((2, 3), dtype=complex), np.zeros(6), TypeError, "real numbers"),
        (None, np.zeros(6), ValueError, "required"),
    ],
)
def test_bad_values_are_refused_before_any_work(seed3, inputs, weights, error, match):
    inputs = None if inputs is None else torch.as_tensor(inputs)
    with pytest.raises(error, match=match):
        seed3.expectations(inputs, torch.as_tensor(weights))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"dtype": "float64"}, ValueError, "dtype must be"),
        ({"device": "tpu"}, ValueError, "unknown torch device"),
        ({"device": "meta"}, ValueError, "CPU or CUDA"),
        ({"max_memory_bytes": 0}, ValueError, "positive integer"),
    ],
)
def test_bad_options_are_refused(options, error, match):
    spec = seed_circuit(2)
    with pytest.raises(error, match=match):
        StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
            **options,
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_a_gpu_is_an_engine_error():
    spec = seed_circuit(2)
    with pytest.raises(QMNISTError, match="no CUDA GPU"):
        StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
            device="cuda",
        )


@pytest.mark.parametrize(
    ("observable", "error", "match"),
    [
        (SparsePauliOp(["ZI", "XY"], [1.0, 0.5j]), ValueError, "not Hermitian"),
        (SparsePauliOp("ZZZ"), ValueError, "acts on 3 qubits"),
        (np.eye(4), TypeError, "SparsePauliOp"),
    ],
)
def test_bad_observables_are_refused(observable, error, match):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    with pytest.raises(error, match=match):
        StatevectorSimulator(circuit, [observable])


def test_non_finite_coefficients_are_refused():
    circuit = QuantumCircuit(1)
    with np.errstate(invalid="ignore"):
        observable = SparsePauliOp("Z", [np.inf])
    with pytest.raises(ValueError, match="non-finite"):
        StatevectorSimulator(circuit, [observable])


def test_pickling_rebuilds_the_simulator(seed3):
    clone = pickle.loads(pickle.dumps(seed3))
    x, w = torch.rand(4, 3, dtype=torch.float64), torch.rand(6, dtype=torch.float64)
    torch.testing.assert_close(clone.expectations(x, w), seed3.expectations(x, w), atol=0, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    spec = layered_circuit(6, reps=2, input_scaling=True)
    rng = np.random.default_rng(12)
    x = rng.uniform(0, np.pi, (50, 6))
    w = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    results = []
    for device in ("cpu", "cuda"):
        simulator = StatevectorSimulator(
            spec.circuit,
            spec.observables,
            input_params=spec.input_params,
            weight_params=spec.weight_params,
            device=device,
        )
        weights = torch.tensor(w, device=device, requires_grad=True)
        values = simulator.expectations(torch.tensor(x, device=device), weights)
        assert values.device.type == device
        values.square().sum().backward()
        results.append((values.detach().cpu(), weights.grad.cpu()))
    for on_cuda, on_cpu in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(on_cuda, on_cpu, atol=1e-10, rtol=0)


def test_threads_sharing_a_simulator_get_their_own_buffers():
    import threading

    spec = layered_circuit(4, reps=2, input_scaling=True)
    simulator = StatevectorSimulator(
        spec.circuit,
        spec.observables,
        input_params=spec.input_params,
        weight_params=spec.weight_params,
    )
    rng = np.random.default_rng(3)
    weights = torch.tensor(rng.uniform(-1, 1, len(spec.weight_params)))
    batches = [torch.tensor(rng.uniform(0, np.pi, (64, len(spec.input_params)))) for _ in range(4)]
    expected = [simulator.expectations(batch, weights) for batch in batches]
    results: dict[int, list[torch.Tensor]] = {}

    def work(position: int) -> None:
        results[position] = [simulator.expectations(batches[position], weights) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(position,)) for position in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive()
    for position, values in results.items():
        for value in values:
            torch.testing.assert_close(value, expected[position], atol=1e-12, rtol=0)
