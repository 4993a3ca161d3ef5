from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp, Statevector

from qmnist_qiskit.circuits import (
    MAX_GATES,
    PRESETS,
    get_preset,
    input_scale_mask,
    layered_circuit,
    layered_gate_count,
    preset_circuit,
    seed_circuit,
)


def _bind(spec, inputs, weights):
    values = dict(zip(spec.input_params, inputs, strict=True))
    values |= dict(zip(spec.weight_params, weights, strict=True))
    return spec.circuit.assign_parameters(values)


def _original_expectations(x, thetas):
    """The forum circuit built gate by gate from 2x2 matrices, independent of Qiskit."""
    n = len(x)
    I2 = np.eye(2)
    Z = np.diag([1.0, -1.0])

    def rx(a):
        return np.array(
            [[np.cos(a / 2), -1j * np.sin(a / 2)], [-1j * np.sin(a / 2), np.cos(a / 2)]]
        )

    def ry(a):
        return np.array([[np.cos(a / 2), -np.sin(a / 2)], [np.sin(a / 2), np.cos(a / 2)]])

    def on(wire, gate):
        # Qiskit order: wire 0 is the least significant bit, so it is the rightmost factor.
        full = np.array([[1.0]])
        for w in reversed(range(n)):
            full = np.kron(full, gate if w == wire else I2)
        return full

    def cnot(control, target):
        dim = 2**n
        matrix = np.zeros((dim, dim))
        for basis in range(dim):
            flipped = basis ^ (1 << target) if basis >> control & 1 else basis
            matrix[flipped, basis] = 1
        return matrix

    state = np.zeros(2**n, dtype=complex)
    state[0] = 1
    for i in range(n):
        state = on(i, rx(x[i])) @ state
    for i in range(n - 1):
        state = cnot(i, i + 1) @ state
    for i in range(n):
        state = on(i, rx(thetas[i])) @ state
    for i in range(n):
        state = on(i, ry(thetas[n + i])) @ state
    return np.array([np.real(state.conj() @ on(i, Z) @ state) for i in range(n)])


def test_seed_circuit_structure():
    circuit, inputs, weights, observables = seed_circuit(10)
    assert circuit.num_qubits == 10
    assert len(inputs) == 10 and len(weights) == 20 and len(observables) == 10
    assert inputs.name == "x" and weights.name == "θ"
    ops = [
        (
            inst.operation.name,
            [circuit.find_bit(q).index for q in inst.qubits],
            inst.operation.params,
        )
        for inst in circuit.data
    ]
    expected = (
        [("rx", [i], [inputs[i]]) for i in range(10)]
        + [("cx", [i, i + 1], []) for i in range(9)]
        + [("rx", [i], [weights[i]]) for i in range(10)]
        + [("ry", [i], [weights[10 + i]]) for i in range(10)]
    )
    assert ops == expected
    for wire, op in enumerate(observables):
        assert isinstance(op, SparsePauliOp)
        assert op == SparsePauliOp("I" * (9 - wire) + "Z" + "I" * wire)


@pytest.mark.parametrize("n_qubits", [1, 3, 10])
def test_seed_expectations_match_statevector_and_hand_built_circuit(n_qubits):
    rng = np.random.default_rng(n_qubits)
    spec = seed_circuit(n_qubits)
    for _ in range(3):
        x = rng.uniform(0, np.pi, n_qubits)
        thetas = rng.uniform(-np.pi, np.pi, 2 * n_qubits)
        state = Statevector(_bind(spec, x, thetas))
        qiskit_values = np.array([state.expectation_value(op).real for op in spec.observables])
        if n_qubits <= 3:
            hand_values = _original_expectations(x, thetas)
            np.testing.assert_allclose(qiskit_values, hand_values, atol=1e-10)
        assert np.all(np.abs(qiskit_values) <= 1 + 1e-12)


def test_seed_circuit_at_zero_weights_is_a_product_of_cosines_along_the_chain():
    # RX(x_i) then the CNOT chain: Z_i becomes Z_0 Z_1 ... Z_i, so <Z_i> = prod cos(x_j).
    spec = seed_circuit(5)
    x = np.array([0.3, 1.1, 2.0, 0.7, 2.9])
    state = Statevector(_bind(spec, x, np.zeros(10)))
    values = [state.expectation_value(op).real for op in spec.observables]
    np.testing.assert_allclose(values, np.cumprod(np.cos(x)), atol=1e-12)


def test_layered_reps_one_is_the_seed_circuit():
    seed = seed_circuit(4)
    layered = layered_circuit(4, reps=1)
    assert [i.operation.name for i in seed.circuit.data] == [
        i.operation.name for i in layered.circuit.data
    ]


@pytest.mark.parametrize(
    "entanglement, pairs",
    [
        ("linear", [(0, 1), (1, 2), (2, 3)]),
        ("circular", [(0, 1), (1, 2), (2, 3), (3, 0)]),
        ("full", [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),
    ],
)
def test_layered_entanglement(entanglement, pairs):
    circuit = layered_circuit(4, reps=1, entanglement=entanglement).circuit
    found = [
        tuple(circuit.find_bit(q).index for q in inst.qubits)
        for inst in circuit.data
        if inst.operation.name == "cx"
    ]
    assert found == pairs


def test_layered_parameter_counts_and_reupload():
    spec = layered_circuit(3, reps=4, input_scaling=True, rotations=("ry", "rz", "rx"))
    assert len(spec.input_params) == 3
    assert len(spec.weight_params) == 4 * 3 + 4 * 3 * 3
    assert sum(input_scale_mask(spec)) == 12
    encodings = [
        i
        for i in spec.circuit.data
        if i.operation.params and i.operation.params[0].parameters & set(spec.input_params)
    ]
    assert len(encodings) == 12
    once = layered_circuit(3, reps=4, reupload=False)
    assert len(once.weight_params) == 4 * 2 * 3
    assert not any(input_scale_mask(once))


def test_more_features_than_wires_wrap_and_alternate_gates():
    spec = layered_circuit(2, reps=1, n_features=5)
    encoding = [
        (i.operation.name, spec.circuit.find_bit(i.qubits[0]).index) for i in spec.circuit.data[:5]
    ]
    assert encoding == [("rx", 0), ("rx", 1), ("rz", 0), ("rz", 1), ("rx", 0)]


def _encodings(spec):
    """``(gate, wire, feature, scale weight or None)`` of every gate that reads an input."""
    inputs = {param: index for index, param in enumerate(spec.input_params)}
    weights = {param: index for index, param in enumerate(spec.weight_params)}
    found = []
    for inst in spec.circuit.data:
        params = inst.operation.params[0].parameters if inst.operation.params else set()
        feature = [inputs[p] for p in params if p in inputs]
        if feature:
            scale = [weights[p] for p in params if p in weights]
            found.append(
                (
                    inst.operation.name,
                    spec.circuit.find_bit(inst.qubits[0]).index,
                    feature[0],
                    scale[0] if scale else None,
                )
            )
    return found


def test_dense_encoding_puts_every_feature_on_every_wire_in_sweeps():
    spec = layered_circuit(3, reps=1, n_features=2, input_scaling=True, encoding="dense")
    assert _encodings(spec) == [
        ("rx", 0, 0, 0),
        ("rx", 1, 1, 1),
        ("rx", 2, 0, 2),
        ("rz", 0, 1, 3),
        ("rz", 1, 0, 4),
        ("rz", 2, 1, 5),
    ]
    assert len(spec.weight_params) == 6 + 2 * 3
    assert input_scale_mask(spec) == [True] * 6 + [False] * 6


def test_dense_encoding_reuploads_with_fresh_scales_in_every_layer():
    spec = layered_circuit(4, reps=3, n_features=6, input_scaling=True, encoding="dense")
    per_layer = 4 * 6 + 2 * 4
    assert len(spec.weight_params) == 3 * per_layer
    encodings = _encodings(spec)
    assert len(encodings) == 3 * 4 * 6
    assert [scale for *_, scale in encodings] == [
        layer * per_layer + i for layer in range(3) for i in range(24)
    ]
    for wire in range(4):
        layer_one = [feature for _, w, feature, scale in encodings[:24] if w == wire]
        assert layer_one == [(wire + sweep) % 6 for sweep in range(6)]


def test_wrap_is_the_default_encoding():
    explicit = layered_circuit(3, reps=2, n_features=5, input_scaling=True, encoding="wrap")
    default = layered_circuit(3, reps=2, n_features=5, input_scaling=True)
    assert _encodings(explicit) == _encodings(default)


@pytest.mark.parametrize("encoding", ["wrap", "dense"])
def test_input_center_shifts_every_encoded_feature(encoding):
    rng = np.random.default_rng(3)
    centred = layered_circuit(
        3, reps=2, n_features=4, input_scaling=True, encoding=encoding, input_center=0.7
    )
    plain = layered_circuit(3, reps=2, n_features=4, input_scaling=True, encoding=encoding)
    x = rng.uniform(0, np.pi, 4)
    weights = rng.uniform(-2, 2, len(plain.weight_params))
    assert Statevector(_bind(centred, x, weights)).equiv(
        Statevector(_bind(plain, x - 0.7, weights))
    )


def test_input_scaling_multiplies_features_by_weights():
    spec = layered_circuit(2, reps=1, input_scaling=True)
    x = np.array([0.4, 1.3])
    weights = np.concatenate([[2.0, 0.5], np.zeros(4)])
    plain = layered_circuit(2, reps=1)
    scaled_state = Statevector(_bind(spec, x, weights))
    plain_state = Statevector(_bind(plain, x * [2.0, 0.5], np.zeros(4)))
    assert scaled_state.equiv(plain_state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_qubits": 0}, "n_qubits"),
        ({"reps": 0}, "reps"),
        ({"entanglement": "star"}, "entanglement"),
        ({"rotations": ("rx", "u3")}, "rotations"),
        ({"rotations": ()}, "rotations"),
        ({"n_features": 0}, "n_features"),
        ({"encoding": "sparse"}, "encoding"),
        ({"input_center": float("nan")}, "input_center"),
    ],
)
def test_layered_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layered_circuit(**kwargs)


def test_presets():
    assert preset_circuit("seed", 4).circuit.name == "seed_4q"
    reupload = preset_circuit("reupload", 4, reps=2)
    assert sum(input_scale_mask(reupload)) == 8
    dense = preset_circuit("dense", 4, reps=2, n_features=8)
    assert sum(input_scale_mask(dense)) == 2 * 4 * 8
    assert {name for name, *_ in _encodings(dense)} == {"rx", "rz"}
    x = np.linspace(0.1, 3.0, 8)
    weights = np.linspace(-1, 1, len(dense.weight_params))
    uncentred = layered_circuit(
        4, 2, n_features=8, input_scaling=True, rotations=("ry", "rz"), encoding="dense"
    )
    assert Statevector(_bind(dense, x, weights)).equiv(
        Statevector(_bind(uncentred, x - np.pi / 2, weights))
    )
    with pytest.raises(ValueError, match="unknown ansatz"):
        preset_circuit("nope")
    with pytest.raises(ValueError, match="one feature per wire"):
        preset_circuit("seed", 4, n_features=6)


def test_drawings():
    circuit = seed_circuit(3).circuit
    text = str(circuit.draw("text"))
    assert "Rx(x[0])" in text and "Ry(θ[5])" in text
    figure = circuit.draw("mpl")
    assert figure.axes


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("entanglement", ["linear", "circular", "full"])
@pytest.mark.parametrize(
    ("n_qubits", "reps", "n_features"), [(1, 1, 1), (2, 3, 2), (3, 2, 5), (5, 2, 7)]
)
def test_gate_count_matches_the_built_circuit(preset, entanglement, n_qubits, reps, n_features):
    if preset == "seed":
        n_features = n_qubits
    arguments = get_preset(preset).layered_arguments(n_qubits, reps, n_features, entanglement)
    spec = preset_circuit(preset, n_qubits, reps, n_features=n_features, entanglement=entanglement)
    count = layered_gate_count(
        arguments["n_qubits"],
        arguments["reps"],
        arguments["n_features"],
        arguments.get("reupload", True),
        arguments.get("entanglement", "linear"),
        len(arguments.get("rotations", ("rx", "ry"))),
        arguments.get("encoding", "wrap"),
    )
    assert count == len(spec.circuit.data)


@pytest.mark.parametrize(
    ("n_qubits", "reps", "n_features"), [(10, 1_000_000, 20), (10**6, 1, None), (24, 100, 256)]
)
def test_oversized_circuits_are_refused_before_building(n_qubits, reps, n_features):
    with pytest.raises(ValueError, match=r"gates .* at most 50,000"):
        preset_circuit("dense", n_qubits, reps, n_features=n_features)


def test_largest_allowed_circuit_builds():
    # 10 qubits, 2 layers, 2,490 features per wire sweep: 49,800 + 2 x 29 = 49,858 gates.
    assert layered_gate_count(10, 2, 2490, encoding="dense", reupload=True) <= MAX_GATES
    spec = preset_circuit("dense", 10, 2, n_features=2490)
    assert len(spec.circuit.data) == 49_858


def test_preset_defaults_live_with_the_presets():
    assert [get_preset(name).default_n_features(10) for name in PRESETS] == [10, 10, 10, 20]
    with pytest.raises(ValueError, match="unknown ansatz 'deep'"):
        get_preset("deep")
