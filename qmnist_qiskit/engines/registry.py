"""The engines this project knows, and their variants: one table for ``gradcheck``, the benchmark
and the CLI.

Each engine's record (:class:`~qmnist_qiskit.engines.record.EngineRecord`) lists its variants:
an engine with fixed options (``"aer GPU"`` is ``engine="aer"`` with ``device="GPU"``) that
can tell, without building anything and in the words the engine itself raises with, whether it
can run here. Sampled variants also take the caller's ``shots`` and ``seed``.
"""

from __future__ import annotations

from qmnist_qiskit.engines.aer.record import RECORD as AER
from qmnist_qiskit.engines.estimator.record import RECORD as ESTIMATOR
from qmnist_qiskit.engines.pennylane_record import RECORD as PENNYLANE
from qmnist_qiskit.engines.record import EngineRecord, EngineVariant
from qmnist_qiskit.engines.statevector.record import RECORD as STATEVECTOR

RECORDS: dict[str, EngineRecord] = {
    record.name: record for record in (STATEVECTOR, AER, PENNYLANE, ESTIMATOR)
}
"""Every engine's record, by name, the default engine first. Adding an engine is one module
and one record listed here."""

ENGINES: tuple[str, ...] = tuple(RECORDS)


def engine_record(engine: str) -> EngineRecord:
    """The record of ``engine``.

    Raises
    ------
    ValueError
        For an unknown engine, naming the engines.

    Examples
    --------
    >>> engine_record("aer").option_names()[:3]
    ('method', 'device', 'shots')
    """
    if engine not in RECORDS:
        raise ValueError(f"unknown engine {engine!r}; choose one of {tuple(RECORDS)}")
    return RECORDS[engine]


VARIANTS: tuple[EngineVariant, ...] = tuple(
    variant for record in RECORDS.values() for variant in record.variants
)
"""Every engine's comparison variants, the reference (the statevector engine in complex128)
first."""

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
