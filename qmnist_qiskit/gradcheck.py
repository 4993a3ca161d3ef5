"""Cross-check the training loss gradient across every engine and device available here.

For a circuit preset, a batch of random inputs, weights and labels, each engine computes
``d loss / d weights`` of the mean softmax cross-entropy of its ``Z`` expectations (the class
scores). The statevector engine in complex128 is the reference. Exact engines must agree with
it to ``exact_tolerance`` (1e-8); shot engines within ``shot_sigmas`` (5) standard errors.

The rows are the engine variants of :mod:`qmnist_qiskit.engines.registry`. Exact engines are
differentiated the way the classifier trains: through each engine's ``torch_forward`` and torch
autograd (:func:`~qmnist_qiskit.engines.qnn_torch_forward`). Shot engines report their
standard errors (Aer's ``forward_with_std`` / ``backward_with_std``), propagated into the loss
gradient as described in :func:`gradcheck`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from qiskit_machine_learning.neural_networks import NeuralNetwork

from qmnist_qiskit.circuits import CircuitSpec, preset_circuit
from qmnist_qiskit.engines import qnn_torch_forward
from qmnist_qiskit.engines.registry import VARIANT_NAMES, EngineVariant, variants
from qmnist_qiskit.exceptions import QMNISTError

REFERENCE = VARIANT_NAMES[0]
ENGINES = VARIANT_NAMES
"""Names of the rows :func:`gradcheck` can produce (the engine variants of
:mod:`qmnist_qiskit.engines.registry`), the reference first."""


@dataclass(frozen=True)
class EngineCheck:
    """One engine's row: how long its gradient took and how far it is from the reference.

    ``status`` is ``"ok"``, ``"failed"`` (too far, or the engine raised: see ``reason``) or
    ``"skipped"`` (it cannot run here: ``reason`` says why). For shot engines ``tolerance`` is
    ``shot_sigmas`` times the largest standard error of a gradient entry and ``max_sigmas``
    the largest ``|difference| / standard error`` over the entries, which decides the status.
    """

    engine: str
    status: str
    seconds: float | None = None
    max_difference: float | None = None
    tolerance: float | None = None
    max_sigmas: float | None = None
    reason: str | None = None


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _note(check: EngineCheck) -> str:
    parts = []
    if check.max_sigmas is not None:
        parts.append(f"max {check.max_sigmas:.2f} standard errors")
    if check.reason:
        parts.append(check.reason)
    return "; ".join(parts)


@dataclass(frozen=True)
class GradcheckReport:
    """The rows of :func:`gradcheck`, with its configuration and the reference gradient."""

    config: dict[str, Any]
    reference_gradient: list[float]
    checks: list[EngineCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when any engine failed; skipped engines do not count."""
        return all(check.status != "failed" for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``config``, ``ok``, ``reference_gradient``, ``checks``."""
        return {
            "config": dict(self.config),
            "ok": self.ok,
            "reference_gradient": list(self.reference_gradient),
            "checks": [asdict(check) for check in self.checks],
        }

    def to_text(self) -> str:
        """A plain-text table, one row per engine, and a closing verdict."""
        settings = ", ".join(f"{key}={value}" for key, value in self.config.items())
        header = (
            f"{'engine':<27}{'status':<9}{'seconds':>9}{'max |diff|':>12}{'tolerance':>11}  note"
        )
        lines = [f"loss-gradient check ({settings})", header, "-" * (len(header) + 20)]
        for check in self.checks:
            lines.append(
                f"{check.engine:<27}{check.status:<9}{_number(check.seconds, '.3f'):>9}"
                f"{_number(check.max_difference, '.2e'):>12}{_number(check.tolerance, '.1e'):>11}"
                f"  {_note(check)}".rstrip()
            )
        failed = [check.engine for check in self.checks if check.status == "failed"]
        lines.append("OK" if not failed else "FAILED: " + ", ".join(failed))
        return "\n".join(lines)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def loss_gradient(
    qnn: NeuralNetwork, inputs: np.ndarray, weights: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """``d loss / d weights`` of the mean softmax cross-entropy of ``qnn``'s outputs, the way
    the classifier trains: through :func:`~qmnist_qiskit.engines.qnn_torch_forward`."""
    trainable = torch.tensor(weights, dtype=torch.float64, requires_grad=True)
    scores = qnn_torch_forward(qnn, torch.tensor(inputs, dtype=torch.float64), trainable)
    loss = torch.nn.functional.cross_entropy(scores.to(torch.float64), torch.as_tensor(labels))
    loss.backward()
    return trainable.grad.numpy()


def _sampled_gradient(
    qnn: NeuralNetwork, inputs: np.ndarray, weights: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    scores, score_stds = qnn.forward_with_std(inputs, weights)
    (_, jacobian), (_, jacobian_stds) = qnn.backward_with_std(inputs, weights)
    batch = len(inputs)
    probabilities = _softmax(scores)
    d_scores = probabilities.copy()
    d_scores[np.arange(batch), labels] -= 1.0
    d_scores /= batch
    gradient = np.einsum("bo,bow->w", d_scores, jacobian)
    hessians = (
        np.einsum("bo,op->bop", probabilities, np.eye(probabilities.shape[1]))
        - np.einsum("bo,bp->bop", probabilities, probabilities)
    ) / batch
    sensitivity = np.einsum("bop,bow->bpw", hessians, jacobian)
    # Expectations of one circuit share its shots, so their errors may be correlated: the sum
    # of standard errors bounds the error of a combination of them whatever the correlation.
    # Different circuits (samples, shifts, the forward pass) are independent: add variances.
    from_jacobian = np.einsum("bo,bow->bw", np.abs(d_scores), jacobian_stds)
    from_scores = np.einsum("bpw,bp->bw", np.abs(sensitivity), score_stds)
    return gradient, np.sqrt(np.sum(from_jacobian**2 + from_scores**2, axis=0))


@dataclass(frozen=True)
class Measurement:
    """A variant's loss gradient: its values, standard errors (sampled variants only) and
    the best time over the repeats."""

    values: np.ndarray
    stds: np.ndarray | None
    seconds: float


def measure(
    variant: EngineVariant,
    spec: CircuitSpec,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    shots: int,
    seed: int,
    repeats: int = 1,
) -> Measurement | EngineCheck:
    """The loss gradient of ``data`` (inputs, weights, labels) on ``variant``, timed.

    Returns an :class:`EngineCheck` instead when the variant cannot run here (``"skipped"``,
    with the reason) or raises (``"failed"``): a broken engine is a row, not a crash. This is
    the machinery of both :func:`gradcheck` and :func:`qmnist_qiskit.speed.engine_timings`.
    """
    reason = variant.unavailable()
    if reason is not None:
        return EngineCheck(variant.name, "skipped", reason=reason)
    try:
        qnn = variant.make_qnn(*spec, shots=shots, seed=seed)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            if variant.sampled:
                values, stds = _sampled_gradient(qnn, *data)
            else:
                values, stds = loss_gradient(qnn, *data), None
            best = min(best, time.perf_counter() - start)
        return Measurement(values, stds, best)
    except Exception as exc:  # a broken engine is a failed row, not a crashed check
        return EngineCheck(variant.name, "failed", reason=f"{type(exc).__name__}: {exc}")


def _compare(
    name: str,
    gradient: Measurement,
    reference: np.ndarray,
    exact_tolerance: float,
    shot_sigmas: float,
) -> EngineCheck:
    differences = np.abs(gradient.values - reference)
    max_difference = float(differences.max(initial=0.0))
    if gradient.stds is None:
        passed = max_difference <= exact_tolerance
        return EngineCheck(
            name,
            "ok" if passed else "failed",
            gradient.seconds,
            max_difference,
            exact_tolerance,
            reason=None if passed else f"differs by more than {exact_tolerance:.0e}",
        )
    sigmas = differences / np.maximum(gradient.stds, np.finfo(float).tiny)
    max_sigmas = float(sigmas.max(initial=0.0))
    passed = max_sigmas <= shot_sigmas
    return EngineCheck(
        name,
        "ok" if passed else "failed",
        gradient.seconds,
        max_difference,
        shot_sigmas * float(gradient.stds.max(initial=0.0)),
        max_sigmas,
        reason=None if passed else f"beyond {shot_sigmas:g} standard errors",
    )


def device_variant(backend) -> EngineVariant:
    """The row that checks a device's whole path (``--backend``): the estimator engine on
    qiskit-ibm-runtime's ``EstimatorV2`` in local testing mode, the circuit transpiled to the
    backend's instruction set and coupling map, observables laid out, shots; simulated without
    the backend's noise, so that it can be held to the reference within its standard errors.

    ``backend`` is a fake backend's name (:func:`qmnist_qiskit.devices.fake_backend`) or a
    ``BackendV2``.
    """
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator

    from qmnist_qiskit.devices import fake_backend, runtime_primitive

    if isinstance(backend, str):
        backend = fake_backend(backend)
    noiseless = AerSimulator.from_backend(backend)
    noiseless.set_options(noise_model=None)
    options = {
        "estimator": runtime_primitive("EstimatorV2", noiseless),
        "pass_manager": generate_preset_pass_manager(
            optimization_level=1, backend=backend, seed_transpiler=0
        ),
    }
    return EngineVariant(f"estimator {backend.name}", "estimator", options, sampled=True)


def _check_arguments(
    batch_size: int,
    seed: int,
    shots: int,
    exact_tolerance: float,
    shot_sigmas: float,
) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 2:
        # One shot has no spread: its standard error, hence the tolerance, would be 0.
        raise ValueError(
            f"shots must be an integer >= 2 (the shot engines' standard errors need at least "
            f"two samples), got {shots!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("exact_tolerance", exact_tolerance), ("shot_sigmas", shot_sigmas)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def gradcheck(
    preset: str = "seed",
    n_qubits: int = 10,
    reps: int = 2,
    batch_size: int = 4,
    seed: int = 0,
    shots: int = 4096,
    *,
    engines: Sequence[str] | None = None,
    reference: np.ndarray | None = None,
    exact_tolerance: float = 1e-8,
    shot_sigmas: float = 5.0,
    backend=None,
) -> GradcheckReport:
    """Compare ``d loss / d weights`` across engines for a preset, a batch and a seed.

    Inputs are drawn uniformly from ``[0, pi]``, weights from ``[-pi, pi]`` and labels from the
    ``n_qubits`` classes with ``numpy.random.default_rng(seed)``. The loss is the mean softmax
    cross-entropy of the ``Z`` expectations with respect to the labels.

    Engines (``ENGINES``, the variants of :mod:`qmnist_qiskit.engines.registry`): the
    statevector engine in complex128 (the reference), the statevector engine on CUDA, Aer
    exact, Aer with ``shots`` (seeded by ``seed``), Aer on GPU, and the pennylane engine on
    default.qubit, lightning.qubit and the qiskit.aer device (exact). Those that cannot run
    here (no GPU, no PennyLane extra) are listed as skipped, with why (for PennyLane:
    ``pip install 'qmnist_qiskit[pennylane]'``).

    The shot engine's tolerance comes from the standard errors Aer reports for each
    expectation value and each Jacobian entry, propagated to first order into the loss
    gradient: the gradient is ``sum_b,o c_bo(s) J_bow`` with ``c = (softmax(s) - onehot) / B``,
    so its errors come from the Jacobian (weighted by ``|c|``) and from the scores (through
    the softmax Hessian times ``J``). Values measured on the same circuit share shots, so
    within one circuit standard errors are added (a bound valid under any correlation);
    distinct circuits are independent, so across them variances are added. A row fails when
    any gradient entry is more than ``shot_sigmas`` of its standard errors away. The bound is
    conservative: over 30 seeds (4096 shots, seed and reupload presets) the measured spread of
    each entry was 0.4 to 0.8 times it.

    Parameters
    ----------
    preset : {"seed", "layered", "reupload"}
        Circuit preset (:func:`qmnist_qiskit.circuits.preset_circuit`).
    n_qubits : int
        Qubits, features and classes.
    reps : int
        Layers of the layered presets (the seed circuit has one).
    batch_size : int
        Images in the batch.
    seed : int
        Seed of the inputs, weights and labels, and of the shot engine.
    shots : int
        Shots per expectation value of the shot engine, at least 2.
    engines : sequence of str, optional
        Only these rows (names from ``ENGINES``, or an alias of
        :data:`~qmnist_qiskit.engines.registry.ALIASES`); all by default. The reference gradient is
        computed whether or not its row is asked for.
    reference : ndarray of shape (n_weights,), optional
        Compare against this gradient instead of the statevector engine's.
    exact_tolerance : float
        Largest ``|difference|`` allowed for an exact engine.
    shot_sigmas : float
        Largest difference allowed for a shot engine, in standard errors.
    backend : str or BackendV2, optional
        Also check a device's path (:func:`device_variant`): a fake backend's name
        (``"fake_manila"``) or a backend; its row has ``shots`` per expectation value.

    Returns
    -------
    GradcheckReport
        ``report.ok`` is False when an engine failed; ``report.to_text()`` prints the table.

    Raises
    ------
    ValueError
        For a bad argument, before any engine runs.
    QMNISTError
        When the reference cannot be computed.

    Examples
    --------
    >>> from qmnist_qiskit.gradcheck import gradcheck
    >>> report = gradcheck(n_qubits=3, batch_size=2, engines=["aer"])
    >>> report.ok, [check.status for check in report.checks]
    (True, ['ok'])
    >>> print(report.to_text())  # doctest: +SKIP
    """
    _check_arguments(batch_size, seed, shots, exact_tolerance, shot_sigmas)
    engines = [variant.name for variant in variants(None if engines is None else list(engines))]
    extra = [] if backend is None else [device_variant(backend)]
    spec = preset_circuit(preset, n_qubits, reps)
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0, np.pi, (batch_size, len(spec.input_params)))
    weights = rng.uniform(-np.pi, np.pi, len(spec.weight_params))
    labels = rng.integers(0, len(spec.observables), batch_size)
    data = (inputs, weights, labels)
    if reference is not None:
        reference = np.asarray(reference, dtype=float)
        if reference.shape != weights.shape:
            raise ValueError(f"reference must have shape {weights.shape}, got {reference.shape}")
    config = {
        "preset": preset,
        "n_qubits": n_qubits,
        "reps": reps if preset != "seed" else 1,
        "batch_size": batch_size,
        "seed": seed,
        "shots": shots,
        "reference": "statevector complex128" if reference is None else "given",
    }
    needed = engines if reference is not None or REFERENCE in engines else [REFERENCE, *engines]
    outcomes = {
        variant.name: measure(variant, spec, data, shots=shots, seed=seed)
        for variant in [*variants(needed), *extra]
    }
    engines += [variant.name for variant in extra]
    if reference is None:
        outcome = outcomes[REFERENCE]
        if isinstance(outcome, EngineCheck):
            raise QMNISTError(f"the reference gradient failed: {outcome.reason}")
        reference = outcome.values
    checks = [
        outcomes[name]
        if isinstance(outcomes[name], EngineCheck)
        else _compare(name, outcomes[name], reference, exact_tolerance, shot_sigmas)
        for name in engines
    ]
    return GradcheckReport(config, reference.tolist(), checks)
