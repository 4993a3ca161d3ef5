"""Parameterised Qiskit circuits for MNIST classification.

Every circuit comes as a :class:`CircuitSpec`, which unpacks as
``(circuit, input_params, weight_params, observables)``:

* ``circuit``: a :class:`~qiskit.circuit.QuantumCircuit` with no measurements;
* ``input_params``: the :class:`~qiskit.circuit.ParameterVector` of the data features;
* ``weight_params``: the :class:`~qiskit.circuit.ParameterVector` of the trainable angles;
* ``observables``: one :class:`~qiskit.quantum_info.SparsePauliOp` per wire, ``Z`` on wire ``i``
  (Qiskit's qubit order: wire ``i`` is the ``i``-th character from the *right* of a Pauli label).

Bind values by these vectors (or dicts), never by ``circuit.parameters``, which Qiskit sorts by
name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

ENTANGLEMENTS = ("linear", "circular", "full")
ROTATIONS = ("rx", "ry", "rz")
ENCODINGS = ("wrap", "dense")
MAX_GATES = 50_000
"""The most gates a built-in circuit may have: checked before building, so an absurd request
(``encoder=None`` on raw 784-pixel rows in a dense circuit, ``reps=1000000`` in a model file)
fails at once. A dense circuit of 6,087 gates compiles in about 1.2 s on the statevector
engine and costs about 10 times the default model per sample."""


class CircuitSpec(NamedTuple):
    """A circuit with its input and weight parameters and its observables."""

    circuit: QuantumCircuit
    input_params: ParameterVector
    weight_params: ParameterVector
    observables: list[SparsePauliOp]

    @property
    def num_qubits(self) -> int:
        return self.circuit.num_qubits


def _z_observables(n_qubits: int) -> list[SparsePauliOp]:
    return [
        SparsePauliOp.from_sparse_list([("Z", [wire], 1.0)], num_qubits=n_qubits)
        for wire in range(n_qubits)
    ]


def _entangling_pairs(n_qubits: int, entanglement: str) -> list[tuple[int, int]]:
    if entanglement == "linear":
        return [(i, i + 1) for i in range(n_qubits - 1)]
    if entanglement == "circular":
        pairs = [(i, i + 1) for i in range(n_qubits - 1)]
        return pairs + [(n_qubits - 1, 0)] if n_qubits > 2 else pairs
    return [(i, j) for i in range(n_qubits) for j in range(i + 1, n_qubits)]


def _encoding_layer(n_qubits: int, n_features: int, encoding: str) -> list[tuple[int, int, str]]:
    """``(feature, wire, gate)`` of one encoding layer, in circuit order.

    Both encodings fill the wires in sweeps, ``RX`` on even sweeps and ``RZ`` on odd ones:
    ``"wrap"`` puts each feature once, on wire ``feature % n_qubits``; ``"dense"`` makes
    ``n_features`` sweeps, wire ``w`` taking feature ``(w + sweep) % n_features``, so every
    wire meets every feature.
    """
    if encoding == "wrap":
        return [
            (feature, feature % n_qubits, "rz" if (feature // n_qubits) % 2 else "rx")
            for feature in range(n_features)
        ]
    return [
        ((wire + sweep) % n_features, wire, "rz" if sweep % 2 else "rx")
        for sweep in range(n_features)
        for wire in range(n_qubits)
    ]


def _check_options(
    n_qubits: int,
    reps: int,
    n_features: int,
    entanglement: str,
    rotations: Sequence[str],
    encoding: str,
    input_center: float,
) -> None:
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not isinstance(n_features, int) or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if entanglement not in ENTANGLEMENTS:
        raise ValueError(f"entanglement must be one of {ENTANGLEMENTS}, got {entanglement!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if not isinstance(input_center, int | float) or not math.isfinite(input_center):
        raise ValueError(f"input_center must be a finite number, got {input_center!r}")
    if not rotations or any(gate not in ROTATIONS for gate in rotations):
        raise ValueError(
            f"rotations must be a non-empty sequence drawn from {ROTATIONS}, got {rotations!r}"
        )


def layered_gate_count(
    n_qubits: int,
    reps: int,
    n_features: int,
    reupload: bool = True,
    entanglement: str = "linear",
    n_rotations: int = 2,
    encoding: str = "wrap",
) -> int:
    """Gates of :func:`layered_circuit` with these options, counted without building it.

    Examples
    --------
    >>> layered_gate_count(10, 3, 20, encoding="dense")  # the classifier's default circuit
    687
    """
    per_encoding = n_features * n_qubits if encoding == "dense" else n_features
    encodings = reps if reupload else 1
    pairs = {
        "linear": n_qubits - 1,
        "circular": n_qubits if n_qubits > 2 else n_qubits - 1,
        "full": n_qubits * (n_qubits - 1) // 2,
    }[entanglement]
    per_layer = pairs + n_rotations * n_qubits
    return encodings * per_encoding + reps * per_layer


def layered_circuit(
    n_qubits: int = 10,
    reps: int = 2,
    *,
    n_features: int | None = None,
    reupload: bool = True,
    input_scaling: bool = False,
    entanglement: str = "linear",
    rotations: Sequence[str] = ("rx", "ry"),
    encoding: str = "wrap",
    input_center: float = 0.0,
) -> CircuitSpec:
    """A layered classifier circuit; ``reps=1`` with the defaults is the seed circuit.

    Each layer is: an encoding layer (``"wrap"``: feature ``j`` as an ``RX`` angle on wire
    ``j % n_qubits``, a feature that lands on an already-encoded wire alternating ``RZ``/``RX``;
    ``"dense"``: every feature on every wire), a CNOT entangling layer, then one trainable
    rotation per wire for each gate in ``rotations``.

    Parameters
    ----------
    n_qubits : int
        Number of wires, also the number of ``Z`` observables.
    reps : int
        Number of layers.
    n_features : int, optional
        Number of input features; defaults to ``n_qubits``.
    reupload : bool
        Encode the features again at the start of every layer (data re-uploading);
        otherwise only in the first layer.
    input_scaling : bool
        Multiply each encoded feature by its own trainable weight (one per feature and
        encoding layer), so the circuit learns its angle scale.
    entanglement : {"linear", "circular", "full"}
        CNOT pattern: neighbours, neighbours plus last-to-first, or all pairs ``i < j``.
    rotations : sequence of {"rx", "ry", "rz"}
        The trainable single-qubit rotations of each layer, in order.
    encoding : {"wrap", "dense"}
        ``"wrap"``: each feature once per encoding layer. ``"dense"``: ``n_features`` sweeps
        over the wires, wire ``w`` encoding feature ``(w + sweep) % n_features`` (``RX`` on
        even sweeps, ``RZ`` on odd ones), so each wire sees every feature in every encoding
        layer; with ``input_scaling``, each of these ``n_qubits * n_features`` encodings has
        its own scale.
    input_center : float
        Each encoded angle is ``scale * (x - input_center)`` (``x - input_center`` without
        ``input_scaling``): with features in ``[0, pi]``, ``pi / 2`` centres them, so a
        scale changes an encoding's slope without also turning its mean angle.

    Returns
    -------
    CircuitSpec
        Unpacks as ``(circuit, input_params, weight_params, observables)``. Weight order:
        layer by layer; within a layer, the input scales (if any, one per encoding gate, in
        circuit order) come first, then the rotations gate by gate, wire by wire.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import layered_circuit
    >>> qc, x, theta, obs = layered_circuit(3, reps=2, input_scaling=True)
    >>> qc.num_qubits, len(x), len(theta), len(obs)
    (3, 3, 18, 3)
    >>> dense = layered_circuit(3, reps=2, n_features=2, input_scaling=True, encoding="dense")
    >>> len(dense.weight_params)  # 2 layers x (3 wires x 2 features + 2 rotations x 3 wires)
    24
    >>> print(qc.draw("text", fold=-1))  # doctest: +SKIP
    """
    n_features = n_qubits if n_features is None else n_features
    rotations = tuple(rotations)
    _check_options(n_qubits, reps, n_features, entanglement, rotations, encoding, input_center)
    encodings = reps if reupload else 1
    n_gates = layered_gate_count(
        n_qubits, reps, n_features, reupload, entanglement, len(rotations), encoding
    )
    if n_gates > MAX_GATES:
        raise ValueError(
            f"the circuit would have {n_gates:,} gates ({n_qubits} qubits, {reps} layers, "
            f"{n_features} features, {encoding} encoding); at most {MAX_GATES:,} are built: "
            "use fewer layers or features (reduce the inputs with an encoder such as "
            "encoder='pca' or 'autoencoder')"
        )
    plan = _encoding_layer(n_qubits, n_features, encoding)
    n_scales = len(plan) * encodings if input_scaling else 0
    n_weights = n_scales + reps * len(rotations) * n_qubits
    inputs = ParameterVector("x", n_features)
    weights = ParameterVector("θ", n_weights)
    circuit = QuantumCircuit(n_qubits, name=f"layered_{n_qubits}q_{reps}r")
    pairs = _entangling_pairs(n_qubits, entanglement)
    position = 0
    for layer in range(reps):
        if layer < encodings:
            for feature, wire, gate in plan:
                angle = inputs[feature] - input_center if input_center else inputs[feature]
                if input_scaling:
                    angle = weights[position] * angle
                    position += 1
                getattr(circuit, gate)(angle, wire)
        for control, target in pairs:
            circuit.cx(control, target)
        for gate in rotations:
            for wire in range(n_qubits):
                getattr(circuit, gate)(weights[position], wire)
                position += 1
    return CircuitSpec(circuit, inputs, weights, _z_observables(n_qubits))


def seed_circuit(n_qubits: int = 10) -> CircuitSpec:
    """The original forum circuit, exactly.

    ``RX(x_i)`` on wire ``i``; ``CNOT(i, i+1)`` for ``i = 0..n-2``; ``RX(θ_i)`` on wire ``i``;
    ``RY(θ_{n+i})`` on wire ``i``. ``observables[i]`` is ``Z`` on wire ``i``, the score of
    class ``i``.

    Parameters
    ----------
    n_qubits : int
        Number of wires (10 in the original: one per MNIST class).

    Returns
    -------
    CircuitSpec
        ``(circuit, input_params, weight_params, observables)`` with ``len(input_params) ==
        n_qubits`` and ``len(weight_params) == 2 * n_qubits``.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, obs = seed_circuit(3)
    >>> print(qc.draw("text"))  # doctest: +NORMALIZE_WHITESPACE
         ┌──────────┐     ┌──────────┐┌──────────┐
    q_0: ┤ Rx(x[0]) ├──■──┤ Rx(θ[0]) ├┤ Ry(θ[3]) ├────────────
         ├──────────┤┌─┴─┐└──────────┘├──────────┤┌──────────┐
    q_1: ┤ Rx(x[1]) ├┤ X ├─────■──────┤ Rx(θ[1]) ├┤ Ry(θ[4]) ├
         ├──────────┤└───┘   ┌─┴─┐    ├──────────┤├──────────┤
    q_2: ┤ Rx(x[2]) ├────────┤ X ├────┤ Rx(θ[2]) ├┤ Ry(θ[5]) ├
         └──────────┘        └───┘    └──────────┘└──────────┘
    >>> [op.paulis[0].to_label() for op in obs]
    ['IIZ', 'IZI', 'ZII']
    """
    return preset_circuit("seed", n_qubits)


@dataclass(frozen=True)
class Preset:
    """A named circuit recipe: :func:`layered_circuit` options, and the number of features
    it takes by default.

    ``uses_reps=False`` (the seed circuit) builds one layer whatever ``reps`` says, with
    linear entanglement and one feature per wire.
    """

    name: str
    description: str
    options: dict = field(default_factory=dict)
    features_per_qubit: int = 1
    uses_reps: bool = True

    def default_n_features(self, n_qubits: int) -> int:
        """The features the classifier's built-in encoders make for this preset by default."""
        return self.features_per_qubit * n_qubits

    def layered_arguments(
        self, n_qubits: int, reps: int, n_features: int | None, entanglement: str
    ) -> dict:
        """The :func:`layered_circuit` arguments of this preset."""
        if not self.uses_reps:
            if n_features not in (None, n_qubits):
                raise ValueError(
                    f"the {self.name} circuit encodes one feature per wire: "
                    f"n_features={n_features} != n_qubits={n_qubits}"
                )
            return {"n_qubits": n_qubits, "reps": 1, "n_features": n_qubits} | self.options
        return {
            "n_qubits": n_qubits,
            "reps": reps,
            "n_features": n_features,
            "entanglement": entanglement,
        } | self.options


_PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            "seed",
            "the original forum circuit (reps and entanglement are ignored)",
            {"rotations": ("rx", "ry"), "entanglement": "linear"},
            uses_reps=False,
        ),
        Preset(
            "layered",
            "layered_circuit with encoding in the first layer only",
            {"reupload": False},
        ),
        Preset(
            "reupload",
            "data re-uploading in every layer with trainable input scaling and RY/RZ rotations",
            {"reupload": True, "input_scaling": True, "rotations": ("ry", "rz")},
        ),
        Preset(
            "dense",
            "as reupload, but every wire encodes every feature in every layer, each encoding "
            "with its own trainable scale, the features centred on pi/2; the encoders make "
            "2 features per wire by default (every wire meets all of them)",
            {
                "reupload": True,
                "input_scaling": True,
                "rotations": ("ry", "rz"),
                "encoding": "dense",
                "input_center": math.pi / 2,
            },
            features_per_qubit=2,
        ),
    )
}
PRESETS = tuple(_PRESETS)


def get_preset(name: str) -> Preset:
    """The :class:`Preset` called ``name``; :class:`ValueError` naming the presets otherwise.

    Examples
    --------
    >>> get_preset("dense").default_n_features(10)
    20
    """
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"unknown ansatz {name!r}; choose one of {PRESETS}")
    return _PRESETS[name]


def preset_circuit(
    name: str,
    n_qubits: int = 10,
    reps: int = 2,
    *,
    n_features: int | None = None,
    entanglement: str = "linear",
) -> CircuitSpec:
    """Circuit presets by name, as used by the classifier's ``ansatz`` argument.

    * ``"seed"``: the original circuit (``reps`` and ``entanglement`` are ignored);
    * ``"layered"``: :func:`layered_circuit` with encoding in the first layer only;
    * ``"reupload"``: data re-uploading in every layer with trainable input scaling and
      ``RY``/``RZ`` rotations;
    * ``"dense"``: as ``"reupload"``, but every wire encodes every feature in every layer
      (``encoding="dense"``), each encoding with its own trainable scale, and the features,
      expected in the encoders' range ``[0, pi]``, are centred (``input_center=pi / 2``;
      uncentred against centred: ``benchmarks/results/accuracy.md``).

    The recipes live in one table (:func:`get_preset`). Circuits of more than
    :data:`MAX_GATES` gates are refused before building (see :func:`layered_circuit`).
    """
    preset = get_preset(name)
    spec = layered_circuit(**preset.layered_arguments(n_qubits, reps, n_features, entanglement))
    if name == "seed":
        spec.circuit.name = f"seed_{n_qubits}q"
    return spec


def input_scale_mask(spec: CircuitSpec) -> list[bool]:
    """For each weight, whether it multiplies an input in some gate angle (an input scale).

    Such weights start at 1 (the feature's own angle); rotation weights start elsewhere.
    """
    inputs = set(spec.input_params)
    scales: set = set()
    for instruction in spec.circuit.data:
        for angle in instruction.operation.params:
            parameters = getattr(angle, "parameters", set())
            if parameters & inputs:
                scales |= parameters - inputs
    return [weight in scales for weight in spec.weight_params]
