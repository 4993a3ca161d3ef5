"""Accuracy under a device's noise: exact, noisy and readout-mitigated, with the cost per image.

A trained classifier's circuit is transpiled once to the device (a fake IBM backend in local
testing mode, or a real one), every image's circuit is run with ``shots`` measurement shots,
and the class scores come from the measured ``Z`` expectations through the classifier's own
readout. The same counts give two accuracies:

* **noisy**: the expectations as measured;
* **mitigated**: the counts first corrected for readout errors by M3 (``mthree``, matrix-free
  measurement mitigation, maintained by IBM Quantum), calibrated on the measured qubits.

Readout mitigation is done here, on the counts, because qiskit-ibm-runtime's local testing mode
ignores the estimator's resilience options (``measure_mitigation``/TREX, ``resilience_level``:
``local_service.py`` warns that they "have no effect in local testing mode" and runs Qiskit's
``BackendEstimatorV2``, which mitigates nothing). On a real device those options take effect;
M3 works the same on both.

Two paths produce the counts, both simulating the backend's noise model:

* ``"runtime"``: qiskit-ibm-runtime's ``SamplerV2(mode=backend)``, as a Runtime user would;
* ``"aer"``: the simulator the ``aer`` engine builds for ``backend=`` (``AerSimulator``
  from the backend: density matrix, its tuned options), which is faster on small circuits.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from qiskit.circuit import ClassicalRegister, ParameterExpression, QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.quantum_info import SparsePauliOp
from sklearn.base import clone
from sklearn.utils.validation import check_array, check_is_fitted

from qmnist_qiskit.cost import seconds_per_shot
from qmnist_qiskit.devices import fake_backend
from qmnist_qiskit.engines import make_qnn
from qmnist_qiskit.engines.aer.estimator import build_simulator
from qmnist_qiskit.engines.aer.options import resolve_options
from qmnist_qiskit.engines.aer.transpile import transpile_for_backend
from qmnist_qiskit.exceptions import QMNISTError

PATHS = ("runtime", "aer")


def with_engine(classifier, engine: str, engine_options: dict | None = None):
    """A copy of the fitted ``classifier`` whose circuit runs on another engine.

    Same encoder, weights and readout (through ``get_state``/``set_state``); the original is
    left as it is. Use it to fine-tune a simulator-trained model on a device
    (``partial_fit`` on the copy) or to bring a device-trained model back to the simulator.

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit import QuantumMNISTClassifier
    >>> X = np.random.default_rng(0).random((40, 3)) * np.pi
    >>> clf = QuantumMNISTClassifier(encoder=None, n_qubits=3, ansatz="seed", epochs=1)
    >>> clf = clf.fit(X, np.arange(40) % 2)
    >>> on_aer = with_engine(clf, "aer")
    >>> clf.engine, on_aer.engine
    ('statevector', 'aer')
    >>> bool(np.allclose(on_aer.predict_proba(X), clf.predict_proba(X), atol=1e-10))
    True
    """
    check_is_fitted(classifier, ["module_", "encoder_", "classes_"])
    # The state carries the parameters as JSON: a backend object among the engine options
    # cannot go there, and the copy gets its own engine anyway.
    source = copy.copy(classifier).set_params(engine="statevector", engine_options=None)
    fields, tensors = source.get_state()
    target = clone(classifier).set_params(engine=engine, engine_options=engine_options)
    return target.set_state(fields, tensors)


@dataclass(frozen=True)
class NoiseReport:
    """Accuracy of one model on one device, exact, noisy and mitigated (see
    :func:`noisy_accuracy`). Accuracies are over ``n_images`` images; their standard errors
    are binomial, ``sqrt(a (1 - a) / n_images)``. Agreements are the share of images given the
    exact model's class (a paired measure, steadier than accuracy on few images). Expectation
    errors are the mean absolute difference to the exact ``Z`` expectations. Seconds are this
    machine's wall-clock time for the local simulation; ``qpu_seconds_per_image`` estimates a
    device's time (:func:`qmnist_qiskit.cost.seconds_per_shot` times the shots; ``None`` when
    the backend gives no durations)."""

    backend: str
    path: str
    n_qubits: int
    shots: int
    n_images: int
    exact_accuracy: float
    noisy_accuracy: float
    mitigated_accuracy: float | None
    noisy_agreement: float
    mitigated_agreement: float | None
    noisy_expectation_error: float
    mitigated_expectation_error: float | None
    seconds_per_image: float
    mitigation_seconds: float | None
    qpu_seconds_per_image: float | None
    isa_depth: int
    two_qubit_gates: int

    def standard_error(self, accuracy: float) -> float:
        """Binomial standard error of an accuracy over this report's images."""
        return math.sqrt(accuracy * (1.0 - accuracy) / self.n_images)

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict, with the standard errors."""
        result = asdict(self)
        for name in ("exact", "noisy", "mitigated"):
            accuracy = result[f"{name}_accuracy"]
            result[f"{name}_stderr"] = None if accuracy is None else self.standard_error(accuracy)
        return result

    def to_text(self) -> str:
        """A few lines for people."""

        def line(label: str, accuracy: float | None, error: float | None) -> str:
            if accuracy is None:
                return f"{label:<30} not computed"
            deviation = "" if error is None else f"   mean |<Z> - exact| {error:.3f}"
            if error is not None:
                agreement = (
                    self.noisy_agreement if label.startswith("noisy") else self.mitigated_agreement
                )
                deviation += f", same class as exact {agreement:.0%}"
            return f"{label:<30} {accuracy:.3f} ± {self.standard_error(accuracy):.3f}{deviation}"

        where = "qiskit-ibm-runtime SamplerV2, local mode" if self.path == "runtime" else "Aer"
        lines = [
            f"{self.backend} ({where}): {self.n_qubits} qubits, transpiled depth "
            f"{self.isa_depth}, {self.two_qubit_gates} two-qubit gates; {self.n_images} images, "
            f"{self.shots} shots each",
            line("exact accuracy", self.exact_accuracy, None),
            line("noisy accuracy", self.noisy_accuracy, self.noisy_expectation_error),
            line(
                "readout-mitigated (M3)", self.mitigated_accuracy, self.mitigated_expectation_error
            ),
            f"cost per image: {self.seconds_per_image:.3f} s simulated here"
            + (
                ""
                if self.qpu_seconds_per_image is None
                else f", about {self.qpu_seconds_per_image:.3f} s on the device (estimate)"
            ),
        ]
        if self.mitigation_seconds is not None:
            lines.append(
                f"mitigation (calibration and correction): {self.mitigation_seconds:.2f} s"
            )
        return "\n".join(lines)


def _features(classifier, X: np.ndarray) -> np.ndarray:
    """The circuit's inputs for ``X``: the encoder's codes (the fine-tuned one's if any)."""
    module = classifier.module_
    with torch.no_grad():
        if module.encoder is not None:
            codes = module.encoder(torch.as_tensor(np.asarray(X, dtype=np.float32)))
            return codes.to(torch.float64).numpy()
    return np.asarray(classifier.encoder_.transform(X), dtype=np.float64)


def _predictions(classifier, expectations: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        scores = classifier.module_.readout(torch.as_tensor(expectations, dtype=torch.float64))
    return classifier.classes_[scores.argmax(dim=1).numpy()]


def _z_masks(observables: Sequence[SparsePauliOp]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each observable as (bit masks of its terms' Z qubits, real coefficients)."""
    masks = []
    for observable in observables:
        if np.any(observable.paulis.x):
            raise QMNISTError(
                "noisy evaluation reads the expectations from Z-basis counts, so every "
                "observable must be a sum of Z and I strings (the presets' are)"
            )
        weights = 1 << np.arange(observable.num_qubits, dtype=np.int64)
        masks.append((observable.paulis.z.astype(np.int64) @ weights, observable.coeffs.real))
    return masks


def _expectations(
    distributions: Sequence[tuple[np.ndarray, np.ndarray]],
    masks: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """``(n_images, n_observables)`` from (outcomes, probabilities) per image."""
    values = np.zeros((len(distributions), len(masks)))
    for i, (outcomes, probabilities) in enumerate(distributions):
        for j, (term_masks, coefficients) in enumerate(masks):
            parity = np.bitwise_count(outcomes[:, None] & term_masks[None, :]) & 1
            values[i, j] = probabilities @ ((1.0 - 2.0 * parity) @ coefficients)
    return values


def _distribution(counts: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    outcomes = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    weights = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return outcomes, weights / weights.sum()


def _measured(isa_circuit: QuantumCircuit, physical: Sequence[int]) -> QuantumCircuit:
    """The transpiled circuit with classical bit ``i`` measuring logical qubit ``i``."""
    measured = isa_circuit.copy()
    if isinstance(measured.global_phase, ParameterExpression):
        measured.global_phase = 0  # no count depends on it; Aer's parameter binding refuses it
    register = ClassicalRegister(len(physical), "meas")
    measured.add_register(register)
    measured.measure(list(physical), register)
    return measured


def _run_runtime(
    backend: BackendV2, circuit: QuantumCircuit, values: np.ndarray, shots: int, seed: int
) -> list[dict[int, int]]:
    from qmnist_qiskit.devices import runtime_primitive

    sampler = runtime_primitive("SamplerV2", backend)
    sampler.options.default_shots = shots
    sampler.options.simulator.seed_simulator = seed
    try:
        data = sampler.run([(circuit, values)]).result()[0].data.meas
    except Exception as exc:
        raise QMNISTError(f"the sampler failed on {backend.name}: {exc}") from exc
    return [data.get_int_counts(i) for i in range(len(values))]


def _run_aer(simulator, circuit: QuantumCircuit, values: np.ndarray, shots: int, seed: int):
    binds = [{p: values[:, j] for j, p in enumerate(circuit.parameters)}]
    try:
        result = simulator.run(
            [circuit], parameter_binds=binds, shots=shots, seed_simulator=seed
        ).result()
    except Exception as exc:
        raise QMNISTError(f"Aer failed to simulate the circuit: {exc}") from exc
    if not result.success:
        raise QMNISTError(f"Aer failed to simulate the circuit: {result.status}")
    return [
        {int(key, 16): count for key, count in result.data(i)["counts"].items()}
        for i in range(len(values))
    ]


def _mitigate(system, counts: list[dict[int, int]], physical: list[int], shots: int):
    """M3-corrected quasi-probabilities of each image's counts, calibrated on ``physical``."""
    try:
        import mthree
    except ImportError as exc:
        raise QMNISTError(
            "readout mitigation needs mthree: pip install 'qmnist_qiskit[device]' (or mthree)"
        ) from exc
    mitigation = mthree.M3Mitigation(system)
    mitigation.cals_from_system(physical, shots=shots, async_cal=False)
    width = len(physical)
    as_strings = [
        {format(outcome, f"0{width}b"): count for outcome, count in image.items()}
        for image in counts
    ]
    quasis = mitigation.apply_correction(as_strings, physical)
    return [
        (
            np.array([int(key, 2) for key in quasi], dtype=np.int64),
            np.fromiter(quasi.values(), dtype=np.float64, count=len(quasi)),
        )
        for quasi in quasis
    ]


def noisy_accuracy(
    classifier,
    X,
    y,
    backend: BackendV2 | str,
    *,
    shots: int = 1000,
    path: str = "runtime",
    mitigation: bool = True,
    seed: int = 0,
) -> NoiseReport:
    """Accuracy of a fitted classifier on ``backend``: exact, noisy and readout-mitigated.

    Parameters
    ----------
    classifier : QuantumMNISTClassifier
        Fitted, on any engine; its circuit's observables must be sums of ``Z`` strings (the
        presets' are). Its encoder, weights and readout are used as they are; the exact
        accuracy is computed on the statevector engine.
    X, y : array-like
        Images (pixels in ``[0, 1]``) and labels.
    backend : BackendV2 or str
        A device or fake backend, or a fake backend's name (``"fake_manila"``).
    shots : int
        Shots per image.
    path : {"runtime", "aer"}
        Who runs the noisy circuits (see the module's docstring).
    mitigation : bool
        Also correct the counts for readout errors with M3 (``mthree``).
    seed : int
        Seeds the layout, the shots and the calibration.

    Returns
    -------
    NoiseReport

    Examples
    --------
    >>> from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
    >>> X, y = load_mnist()
    >>> mask = y < 2
    >>> clf = QuantumMNISTClassifier(encoder="pca", n_qubits=2, reps=1, epochs=2, random_state=0)
    >>> clf = clf.fit(X[mask][:100], y[mask][:100])
    >>> report = noisy_accuracy(clf, X[mask][-20:], y[mask][-20:], "fake_manila", shots=200)
    >>> report.n_images, report.shots, 0.0 <= report.mitigated_accuracy <= 1.0
    (20, 200, True)
    """
    check_is_fitted(classifier, ["module_", "encoder_", "classes_"])
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose one of {PATHS}")
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    if isinstance(backend, str):
        backend = fake_backend(backend)
    X = check_array(X, dtype=np.float64)
    y = np.asarray(y)
    if X.shape[1] != classifier.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but the classifier was fitted on "
            f"{classifier.n_features_in_}"
        )
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
    circuit, input_params, weight_params, observables = classifier.circuit_
    masks = _z_masks(observables)
    features = _features(classifier, X)
    weights = classifier.module_.weights.detach().cpu().numpy().astype(np.float64)
    # exact on the statevector engine, whatever engine the classifier runs on
    exact = make_qnn(circuit, input_params, weight_params, observables).forward(features, weights)
    exact_predictions = _predictions(classifier, exact)

    options = resolve_options(backend=backend, shots=shots, seed=seed)
    isa_circuit, _ = transpile_for_backend(circuit, observables, options)
    physical = list(isa_circuit.layout.final_index_layout()[: circuit.num_qubits])
    measured = _measured(isa_circuit, physical)
    column = {p: i for i, p in enumerate([*input_params, *weight_params])}
    table = np.hstack([features, np.tile(weights, (len(features), 1))])
    values = table[:, [column[p] for p in measured.parameters]]

    start = time.perf_counter()
    if path == "runtime":
        system = backend
        counts = _run_runtime(backend, measured, values, shots, seed)
    else:
        system = build_simulator(options)
        counts = _run_aer(system, measured, values, shots, seed)
    seconds = time.perf_counter() - start
    noisy = _expectations([_distribution(image) for image in counts], masks)

    per_shot = seconds_per_shot(measured, backend)
    mitigated = mitigation_seconds = None
    if mitigation:
        start = time.perf_counter()
        mitigated = _expectations(_mitigate(system, counts, physical, shots), masks)
        mitigation_seconds = time.perf_counter() - start

    def accuracy(expectations: np.ndarray | None, truth: np.ndarray) -> float | None:
        if expectations is None:
            return None
        return float(np.mean(_predictions(classifier, expectations) == truth))

    def error(expectations: np.ndarray | None) -> float | None:
        return None if expectations is None else float(np.mean(np.abs(expectations - exact)))

    return NoiseReport(
        backend=backend.name,
        path=path,
        n_qubits=circuit.num_qubits,
        shots=shots,
        n_images=len(y),
        exact_accuracy=float(np.mean(exact_predictions == y)),
        noisy_accuracy=accuracy(noisy, y),
        mitigated_accuracy=accuracy(mitigated, y),
        noisy_agreement=accuracy(noisy, exact_predictions),
        mitigated_agreement=accuracy(mitigated, exact_predictions),
        noisy_expectation_error=error(noisy),
        mitigated_expectation_error=error(mitigated),
        seconds_per_image=seconds / len(y),
        mitigation_seconds=mitigation_seconds,
        qpu_seconds_per_image=None if per_shot is None else shots * per_shot,
        isa_depth=isa_circuit.depth(),
        two_qubit_gates=sum(1 for item in isa_circuit.data if item.operation.num_qubits == 2),
    )
