"""The engine variants this project knows: one table for ``gradcheck``, the benchmark and the CLI.

A variant is an engine with fixed options (``"aer GPU"`` is ``engine="aer"`` with
``device="GPU"``) and a way to tell, without building anything, whether it can run here.
Sampled variants also take the caller's ``shots`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import NeuralNetwork

from qmnist_qiskit.engines.aer.estimator import GPU_INSTALL_HINT, available_devices
from qmnist_qiskit.extras import missing_extra


def _needs_cuda() -> str | None:
    return None if torch.cuda.is_available() else "no GPU: torch sees no CUDA device"


def _needs_aer_gpu() -> str | None:
    devices = available_devices()
    if "GPU" in devices:
        return None
    return f"no GPU: this Aer offers {devices} ({GPU_INSTALL_HINT})"


def _needs_pennylane() -> str | None:
    return missing_extra("pennylane")


def _runs_anywhere() -> str | None:
    return None


@dataclass(frozen=True)
class EngineVariant:
    """One row of :data:`VARIANTS`.

    Attributes
    ----------
    name : str
        How ``gradcheck``, ``qmnist benchmark`` and reports name it.
    engine : str
        The ``engine`` given to :func:`~qmnist_qiskit.engines.make_qnn`.
    options : Mapping
        Its fixed engine options.
    sampled : bool
        Whether it estimates from shots: :meth:`engine_options` adds ``shots`` and ``seed``.
    requirement : callable
        Returns why the variant cannot run here (no GPU, a missing extra), or ``None``.
    """

    name: str
    engine: str
    options: Mapping[str, Any] = field(default_factory=dict)
    sampled: bool = False
    requirement: Callable[[], str | None] = _runs_anywhere

    def unavailable(self) -> str | None:
        """Why this variant cannot run on this machine, or ``None`` when it can."""
        return self.requirement()

    def engine_options(self, *, shots: int = 4096, seed: int | None = None) -> dict[str, Any]:
        """The options to pass to ``make_qnn``: the fixed ones, and for a sampled variant
        ``shots`` and ``seed``."""
        options = dict(self.options)
        if self.sampled:
            options.update(shots=shots, seed=seed)
        return options

    def make_qnn(
        self,
        circuit: QuantumCircuit,
        input_params: list[Parameter],
        weight_params: list[Parameter],
        observables: list[SparsePauliOp],
        *,
        shots: int = 4096,
        seed: int | None = None,
    ) -> NeuralNetwork:
        """The network of this variant for a circuit (:func:`~qmnist_qiskit.engines.make_qnn`)."""
        from qmnist_qiskit.engines import make_qnn

        return make_qnn(
            circuit,
            input_params,
            weight_params,
            observables,
            engine=self.engine,
            **self.engine_options(shots=shots, seed=seed),
        )


VARIANTS: tuple[EngineVariant, ...] = (
    EngineVariant("statevector", "statevector", {"dtype": "complex128"}),
    EngineVariant(
        "statevector cuda",
        "statevector",
        {"dtype": "complex128", "device": "cuda"},
        requirement=_needs_cuda,
    ),
    EngineVariant("aer", "aer"),
    EngineVariant("aer shots", "aer", sampled=True),
    EngineVariant("aer GPU", "aer", {"device": "GPU"}, requirement=_needs_aer_gpu),
    EngineVariant(
        "pennylane default.qubit",
        "pennylane",
        {"device": "default.qubit"},
        requirement=_needs_pennylane,
    ),
    EngineVariant(
        "pennylane lightning.qubit",
        "pennylane",
        {"device": "lightning.qubit"},
        requirement=_needs_pennylane,
    ),
    EngineVariant(
        "pennylane qiskit.aer",
        "pennylane",
        {"device": "qiskit.aer"},
        requirement=_needs_pennylane,
    ),
)
"""Every variant, the reference (the statevector engine in complex128) first."""

VARIANT_NAMES: tuple[str, ...] = tuple(variant.name for variant in VARIANTS)

ALIASES: dict[str, str] = {
    "pennylane": "pennylane default.qubit",
    "pennylane/default.qubit": "pennylane default.qubit",
    "pennylane/lightning.qubit": "pennylane lightning.qubit",
}
"""Other names accepted by :func:`variants`: an engine's name for its default variant, and
the names ``qmnist benchmark`` used before the registry."""


def variants(names: list[str] | tuple[str, ...] | None = None) -> list[EngineVariant]:
    """The variants named (all by default), in the order given; aliases are resolved.

    Raises
    ------
    ValueError
        Naming the unknown names and the known ones.

    Examples
    --------
    >>> [variant.name for variant in variants(["aer", "pennylane"])]
    ['aer', 'pennylane default.qubit']
    >>> variants(["qulacs"])
    Traceback (most recent call last):
    ...
    ValueError: unknown engines ['qulacs']; choose from ['statevector', 'statevector cuda', 'aer', 'aer shots', 'aer GPU', 'pennylane default.qubit', 'pennylane lightning.qubit', 'pennylane qiskit.aer']
    """  # noqa: E501
    if names is None:
        return list(VARIANTS)
    by_name = {variant.name: variant for variant in VARIANTS}
    resolved = [ALIASES.get(name, name) for name in names]
    unknown = [name for name, known in zip(names, resolved, strict=True) if known not in by_name]
    if unknown:
        raise ValueError(f"unknown engines {unknown}; choose from {list(VARIANT_NAMES)}")
    return [by_name[name] for name in resolved]
