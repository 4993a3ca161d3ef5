"""Quick in-process timing of the seed circuit's loss gradient on each engine.

The full studies live in ``benchmarks/``; this is what ``qmnist benchmark`` prints and plots.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines import make_qnn, qnn_torch_forward
from qmnist_qiskit.exceptions import QMNISTError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENGINE_CONFIGS: dict[str, tuple[str, dict]] = {
    "statevector": ("statevector", {}),
    "aer": ("aer", {}),
    "pennylane/default.qubit": ("pennylane", {"device": "default.qubit"}),
    "pennylane/lightning.qubit": ("pennylane", {"device": "lightning.qubit"}),
}


@dataclass
class EngineTiming:
    """One engine's loss-gradient timing; ``error`` is set when it could not run."""

    engine: str
    ms_per_image: float | None = None
    max_difference: float | None = None
    error: str | None = None


def _loss_gradient(qnn, inputs: np.ndarray, weights: np.ndarray, labels: np.ndarray):
    weight_tensor = torch.tensor(weights, requires_grad=True)
    scores = qnn_torch_forward(qnn, torch.as_tensor(inputs), weight_tensor)
    loss = torch.nn.functional.cross_entropy(scores.to(torch.float64), torch.as_tensor(labels))
    loss.backward()
    return weight_tensor.grad.numpy()


def engine_timings(
    n_qubits: int = 10,
    batch_size: int = 64,
    engines: Sequence[str] | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> list[EngineTiming]:
    """Time ``d loss / d weights`` of the seed circuit over one batch on each engine.

    Returns one :class:`EngineTiming` per engine: the best of ``repeats`` runs in ms per
    image, and the largest difference of its gradient to the first engine's.
    """
    names = list(engines) if engines else list(ENGINE_CONFIGS)
    unknown = [name for name in names if name not in ENGINE_CONFIGS]
    if unknown:
        raise ValueError(f"unknown engines {unknown}; choose from {list(ENGINE_CONFIGS)}")
    rng = np.random.default_rng(seed)
    spec = seed_circuit(n_qubits)
    inputs = rng.uniform(0, np.pi, (batch_size, n_qubits))
    weights = rng.uniform(-np.pi, np.pi, 2 * n_qubits)
    labels = rng.integers(0, n_qubits, batch_size)
    rows: list[EngineTiming] = []
    reference = None
    for name in names:
        engine, options = ENGINE_CONFIGS[name]
        try:
            qnn = make_qnn(*spec, engine=engine, **options)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                gradient = _loss_gradient(qnn, inputs, weights, labels)
                best = min(best, time.perf_counter() - start)
        except (ImportError, QMNISTError) as exc:
            rows.append(EngineTiming(name, error=f"{type(exc).__name__}: {exc}"))
            continue
        if reference is None:
            reference = gradient
        difference = float(np.max(np.abs(gradient - reference)))
        rows.append(EngineTiming(name, 1000 * best / batch_size, difference))
    return rows


def timings_table(rows: Sequence[EngineTiming]) -> str:
    """A plain-text table of :func:`engine_timings` rows."""
    lines = [f"{'engine':<28}{'ms / image':>12}{'max |diff|':>14}", "-" * 54]
    for row in rows:
        if row.error is not None:
            lines.append(f"{row.engine:<28}{'skipped':>12}  {row.error}")
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
