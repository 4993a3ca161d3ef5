"""What a training run will send before it sends anything: PUBs, circuits, parameter sets,
shots and estimated QPU seconds, for parameter shift and for SPSA.

One training step sends one PUB: the mini-batch's ISA circuit, every observable, and for each
sample the unshifted parameter set (the forward values come with the gradient) followed by its
shifted copies (:mod:`qmnist_qiskit.gradients`):

* parameter shift: ``1 + 2 * S`` parameter sets per sample, ``S`` the parameterised gates of
  the transpiled circuit that depend on a trained parameter (each is shifted by ``+-pi/2``);
* SPSA: ``1 + 2 * K`` parameter sets per sample, ``K`` the directions averaged
  (``spsa_batch_size``), whatever the number of weights.

With early stopping each epoch also evaluates the held-out samples (one parameter set each,
in PUBs of ``training.PREDICT_BATCH``). A device measures each group of qubit-wise commuting
Pauli terms as its own circuit, so::

    circuits      = PUBs * G                      (G measurement groups; 1 for Z readouts)
    shots         = parameter sets * G * shots per parameter set
    QPU seconds   = shots * (T_circuit + T_measure + T_rep)

``T_circuit`` is the transpiled circuit's duration along its critical path from the backend's
``Target`` (``QuantumCircuit.estimate_duration``), ``T_measure`` the longest measurement of a
measured qubit, ``T_rep`` the backend's repetition delay
(``backend.configuration().default_rep_delay``, else :data:`DEFAULT_REP_DELAY`). It leaves out
what the device adds around the shots (loading, compiling, queueing), so it is a lower bound
on the usage a provider bills.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.quantum_info import PauliList, SparsePauliOp
from qiskit.transpiler.passes import TranslateParameterizedGates
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

from qmnist_qiskit.exceptions import QMNISTError

DEFAULT_REP_DELAY = 250e-6
"""Seconds between shots when the backend does not say (IBM's default, 250 us)."""
GRADIENTS = ("param_shift", "spsa")


class BudgetExceededError(QMNISTError):
    """A run that would exceed ``max_shots`` or ``max_qpu_seconds``, refused before any work."""


@dataclass(frozen=True)
class Cost:
    """What a run (or one epoch of it) sends.

    Attributes
    ----------
    pubs, circuits, parameter_sets, shots : int
        See the module's formulas; ``shots`` is 0 on an exact simulator.
    qpu_seconds : float or None
        Estimated device time; ``None`` without a backend that gives durations.
    """

    pubs: int
    circuits: int
    parameter_sets: int
    shots: int
    qpu_seconds: float | None

    def times(self, count: int) -> Cost:
        """This cost ``count`` times over."""
        return Cost(
            self.pubs * count,
            self.circuits * count,
            self.parameter_sets * count,
            self.shots * count,
            None if self.qpu_seconds is None else self.qpu_seconds * count,
        )


@dataclass(frozen=True)
class GradientCost:
    """The cost of a training run with one gradient method."""

    gradient: str
    points_per_sample: int
    per_epoch: Cost
    total: Cost


@dataclass(frozen=True)
class TrainingCost:
    """The cost of a training run, for parameter shift and for SPSA.

    Attributes
    ----------
    gradient : str
        The gradient the run is set to use.
    epochs, n_train, n_validation, batch_size : int
        The run's shape.
    shots_per_set : int or None
        Shots per parameter set (``None``: exact).
    measurement_groups : int
        Circuits measured per parameter set.
    seconds_per_shot : float or None
        ``T_circuit + T_measure + T_rep``; ``None`` without durations.
    backend : str or None
        The backend's name.
    methods : dict of str to GradientCost
        ``"param_shift"`` and ``"spsa"``.
    """

    gradient: str
    epochs: int
    n_train: int
    n_validation: int
    batch_size: int
    shots_per_set: int | None
    measurement_groups: int
    seconds_per_shot: float | None
    backend: str | None
    methods: dict[str, GradientCost]

    @property
    def total(self) -> Cost:
        """The whole run's cost with the gradient it is set to use."""
        return self.methods[self.gradient].total

    def table(self) -> str:
        """The cost as text: one row per gradient method, per epoch and in all."""
        where = self.backend or "a simulator"
        shots = "exact" if self.shots_per_set is None else f"{self.shots_per_set:,} shots"
        per_shot = (
            "no durations"
            if self.seconds_per_shot is None
            else f"{self.seconds_per_shot * 1e6:.1f} us per shot"
        )
        lines = [
            f"cost on {where}: {self.epochs} epoch(s) of {self.n_train:,} samples in batches "
            f"of {self.batch_size}"
            + (f", {self.n_validation:,} held out" if self.n_validation else "")
            + f"; {shots} per parameter set, {self.measurement_groups} measured circuit(s) "
            f"each, {per_shot}",
            f"{'gradient':<14} {'scope':<9} {'PUBs':>9} {'circuits':>9} {'param sets':>12} "
            f"{'shots':>15} {'QPU s':>12}",
        ]
        for name, method in self.methods.items():
            label = name + (" *" if name == self.gradient else "")
            for scope, cost in (("per epoch", method.per_epoch), ("in all", method.total)):
                seconds = "-" if cost.qpu_seconds is None else f"{cost.qpu_seconds:,.1f}"
                lines.append(
                    f"{label:<14} {scope:<9} {cost.pubs:>9,} {cost.circuits:>9,} "
                    f"{cost.parameter_sets:>12,} {cost.shots:>15,} {seconds:>12}"
                )
        lines.append("* the gradient this run uses")
        return "\n".join(lines)

    def check_budget(self, max_shots: int | None, max_qpu_seconds: float | None) -> None:
        """:class:`BudgetExceededError`, with the figures, when the run would exceed a budget."""
        total = self.total
        if max_shots is not None and total.shots > max_shots:
            raise BudgetExceededError(
                f"this run would take {total.shots:,} shots ({total.pubs:,} PUBs, "
                f"{total.parameter_sets:,} parameter sets, {self.gradient}), more than "
                f"max_shots={max_shots:,}; nothing was sent"
            )
        if (
            max_qpu_seconds is not None
            and total.qpu_seconds is not None
            and total.qpu_seconds > max_qpu_seconds
        ):
            raise BudgetExceededError(
                f"this run would take about {total.qpu_seconds:,.1f} QPU seconds "
                f"({total.shots:,} shots at {self.seconds_per_shot * 1e6:.1f} us each, "
                f"{self.gradient}), more than max_qpu_seconds={max_qpu_seconds:,}; nothing "
                "was sent"
            )


def shifted_gates(circuit: QuantumCircuit, parameters: Sequence[Parameter]) -> int:
    """The gate parameters that parameter shift moves: after translation to gates with a
    two-term shift rule, each parameterised gate argument that depends on one of
    ``parameters``.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, _ = seed_circuit(3)
    >>> shifted_gates(qc, theta), shifted_gates(qc, [*x, *theta])
    (6, 9)
    """
    wanted = set(parameters)
    translated = TranslateParameterizedGates(ParamShiftEstimatorGradient.SUPPORTED_GATES)(circuit)
    return sum(
        1
        for instruction in translated.data
        for argument in instruction.operation.params
        if isinstance(argument, ParameterExpression) and wanted & set(argument.parameters)
    )


def measurement_groups(observables: Sequence[SparsePauliOp]) -> int:
    """Circuits a device measures per parameter set: the qubit-wise commuting groups of all
    the observables' Pauli terms."""
    labels = sorted(
        {label for observable in observables for label in observable.paulis.to_labels()}
    )
    return len(PauliList(labels).group_qubit_wise_commuting())


def seconds_per_shot(circuit: QuantumCircuit, backend: BackendV2 | None) -> float | None:
    """``T_circuit + T_measure + T_rep`` on ``backend``, or ``None`` when it gives no
    durations.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> from qmnist_qiskit.engines.aer.transpile import transpile_for_backend
    >>> qc, _, _, observables = seed_circuit(4)
    >>> isa, _ = transpile_for_backend(qc, observables, FakeManilaV2())
    >>> round(seconds_per_shot(isa, FakeManilaV2()) * 1e6, 1)
    256.6
    """
    if backend is None:
        return None
    target = backend.target
    try:
        duration = circuit.estimate_duration(target, unit="s")
    except Exception:  # noqa: BLE001 - a target without durations gives no estimate
        return None
    used = {
        circuit.find_bit(qubit).index
        for instruction in circuit.data
        for qubit in instruction.qubits
    }
    measure = 0.0
    if "measure" in target.operation_names:
        for qubit in used:
            properties = target["measure"].get((qubit,))
            if properties is not None and properties.duration is not None:
                measure = max(measure, properties.duration)
    try:
        rep_delay = backend.configuration().default_rep_delay
    except AttributeError:
        rep_delay = None
    return float(duration) + measure + (DEFAULT_REP_DELAY if rep_delay is None else rep_delay)


def _cost(
    parameter_sets: int, pubs: int, groups: int, shots: int | None, per_shot: float | None
) -> Cost:
    total_shots = 0 if shots is None else parameter_sets * groups * shots
    return Cost(
        pubs=pubs,
        circuits=pubs * groups,
        parameter_sets=parameter_sets,
        shots=total_shots,
        qpu_seconds=None if per_shot is None or shots is None else total_shots * per_shot,
    )


def training_cost(
    circuit: QuantumCircuit,
    observables: Sequence[SparsePauliOp],
    differentiated: Sequence[Parameter],
    *,
    n_train: int,
    batch_size: int,
    epochs: int,
    shots: int | None,
    backend: BackendV2 | None = None,
    gradient: str = "param_shift",
    spsa_batch_size: int = 1,
    n_validation: int = 0,
    predict_batch: int = 4096,
) -> TrainingCost:
    """The cost of training ``circuit`` (as the device runs it: transpiled, observables laid
    out), for parameter shift and for SPSA.

    Parameters
    ----------
    circuit, observables
        The ISA circuit and its observables.
    differentiated : sequence of Parameter
        The parameters the gradient is taken for (the weights; the inputs too when the
        encoder is fine-tuned).
    n_train, batch_size, epochs : int
        Training samples per epoch, the mini-batch size and the number of epochs.
    shots : int or None
        Shots per parameter set; ``None`` on an exact simulator.
    backend : BackendV2, optional
        Gives the durations; ``None``: no QPU time.
    gradient : {"param_shift", "spsa"}
        The gradient the run uses (what budgets are held to).
    spsa_batch_size : int
        SPSA directions per gradient.
    n_validation : int
        Held-out samples evaluated each epoch (early stopping).
    predict_batch : int
        Samples per PUB when evaluating.

    Examples
    --------
    >>> from qmnist_qiskit.circuits import seed_circuit
    >>> qc, x, theta, observables = seed_circuit(3)
    >>> cost = training_cost(qc, observables, theta, n_train=10, batch_size=4, epochs=2,
    ...                      shots=100)
    >>> cost.methods["param_shift"].per_epoch
    Cost(pubs=3, circuits=3, parameter_sets=130, shots=13000, qpu_seconds=None)
    >>> cost.methods["spsa"].total.parameter_sets
    60
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {gradient!r}; choose one of {GRADIENTS}")
    groups = measurement_groups(observables)
    per_shot = seconds_per_shot(circuit, backend) if shots is not None else None
    steps = math.ceil(n_train / batch_size)
    validation_pubs = math.ceil(n_validation / predict_batch)
    points = {
        "param_shift": 1 + 2 * shifted_gates(circuit, differentiated),
        "spsa": 1 + 2 * spsa_batch_size,
    }
    methods = {}
    for name, per_sample in points.items():
        per_epoch = _cost(
            n_train * per_sample + n_validation,
            steps + validation_pubs,
            groups,
            shots,
            per_shot,
        )
        methods[name] = GradientCost(name, per_sample, per_epoch, per_epoch.times(epochs))
    return TrainingCost(
        gradient=gradient,
        epochs=epochs,
        n_train=n_train,
        n_validation=n_validation,
        batch_size=batch_size,
        shots_per_set=shots,
        measurement_groups=groups,
        seconds_per_shot=per_shot,
        backend=None if backend is None else getattr(backend, "name", type(backend).__name__),
        methods=methods,
    )
