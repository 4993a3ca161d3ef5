"""Quick in-process timing of the seed circuit's loss gradient on each engine variant.

The full studies live in ``benchmarks/``; this is what ``qmnist benchmark`` prints and plots.
It is :func:`qmnist_qiskit.gradcheck.measure`, the machinery of ``qmnist gradcheck``, with
repeats and timings: the same variants (:mod:`qmnist_qiskit.engines.registry`), the same
loss gradient, and variants that cannot run here reported as skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.registry import variants
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.gradcheck import EngineCheck, measure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_ENGINES: tuple[str, ...] = (
    "statevector",
    "aer",
    "pennylane default.qubit",
    "pennylane lightning.qubit",
)
"""The variants timed when none are named: one per engine and PennyLane device that runs on
any CPU in seconds."""


@dataclass
class EngineTiming:
    """One engine's loss-gradient timing; ``error`` is set when it could not run.

    ``status`` says why: ``"skipped"`` (it cannot run here) or ``"failed"`` (it raised).
    """

    engine: str
    ms_per_image: float | None = None
    max_difference: float | None = None
    error: str | None = None
    status: str | None = None


def engine_timings(
    n_qubits: int = 10,
    batch_size: int = 64,
    engines: Sequence[str] | None = None,
    repeats: int = 3,
    seed: int = 0,
    *,
    shots: int = 4096,
) -> list[EngineTiming]:
    """Time ``d loss / d weights`` of the seed circuit over one batch on each engine variant.

    Parameters
    ----------
    n_qubits : int
        Qubits (and features, and classes) of the seed circuit.
    batch_size : int
        Images in the batch.
    engines : sequence of str, optional
        Variant names (:data:`~qmnist_qiskit.engines.registry.VARIANT_NAMES` or an alias);
        :data:`DEFAULT_ENGINES` if None.
    repeats : int
        Timed runs per variant; the best is kept.
    seed : int
        Seed of the inputs, weights and labels (and of sampled variants).
    shots : int
        Shots of sampled variants (``"aer shots"``).

    Returns
    -------
    list of EngineTiming
        One per variant, in order: the best time in ms per image, and the largest difference
        of its gradient to the first variant that ran.

    Raises
    ------
    ValueError
        For an unknown variant name, before anything runs.
    """
    chosen = variants(list(engines) if engines else list(DEFAULT_ENGINES))
    rng = np.random.default_rng(seed)
    spec = seed_circuit(n_qubits)
    inputs = rng.uniform(0, np.pi, (batch_size, n_qubits))
    weights = rng.uniform(-np.pi, np.pi, 2 * n_qubits)
    labels = rng.integers(0, n_qubits, batch_size)
    rows: list[EngineTiming] = []
    reference = None
    for variant in chosen:
        outcome = measure(
            variant, spec, (inputs, weights, labels), shots=shots, seed=seed, repeats=repeats
        )
        if isinstance(outcome, EngineCheck):
            rows.append(EngineTiming(variant.name, error=outcome.reason, status=outcome.status))
            continue
        if reference is None:
            reference = outcome.values
        difference = float(np.max(np.abs(outcome.values - reference)))
        rows.append(EngineTiming(variant.name, 1000 * outcome.seconds / batch_size, difference))
    return rows


def timings_table(rows: Sequence[EngineTiming]) -> str:
    """A plain-text table of :func:`engine_timings` rows."""
    lines = [f"{'engine':<28}{'ms / image':>12}{'max |diff|':>14}", "-" * 54]
    for row in rows:
        if row.error is not None:
            lines.append(f"{row.engine:<28}{row.status or 'skipped':>12}  {row.error}")
        else:
            lines.append(f"{row.engine:<28}{row.ms_per_image:>12.4f}{row.max_difference:>14.2e}")
    return "\n".join(lines)


def timings_chart(
    rows: Sequence[EngineTiming], *, title: str = "Loss gradient of the seed circuit"
) -> Figure:
    """The engine speed chart of :func:`engine_timings` rows (engines that could not run are
    left out), each bar labelled with how many times faster or slower than the first engine.

    Raises
    ------
    QMNISTError
        When no engine ran, so there is nothing to draw.
    """
    from qmnist_qiskit.plots import engine_speed_chart

    timed = {row.engine: row.ms_per_image for row in rows if row.error is None}
    if not timed:
        skipped = "; ".join(f"{row.engine}: {row.error}" for row in rows)
        raise QMNISTError(f"no engine ran, so there is no speed chart to draw ({skipped})")
    return engine_speed_chart(timed, reference=next(iter(timed)), title=title)
