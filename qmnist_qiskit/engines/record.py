"""What the project knows about one engine, in one place: :class:`EngineRecord`.

A record holds an engine's factory, the extra it needs, its options parser (whose keyword-only
signature is the engine's table of options, and which returns the parsed options object that
travels down to the factory), whether it can run here (one function, one wording, for
``make_qnn``, the classifier and the registry's variants alike), its memory model and the
variants that ``gradcheck`` and ``qmnist benchmark`` compare. Each engine's record lives in or
beside its own package; :mod:`~qmnist_qiskit.engines.registry` lists them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from qmnist_qiskit.extras import missing_extra
from qmnist_qiskit.resources import require_memory


def _always(options: Any) -> bool:
    return True


def _default_budget(options: Any) -> int | None:
    return None


def _runs_anywhere(options: Any) -> str | None:
    return None


@dataclass(frozen=True)
class DeviceView:
    """A circuit as an engine will send it, and how: what a cost estimate needs
    (:mod:`qmnist_qiskit.cost`).

    Attributes
    ----------
    circuit : QuantumCircuit
        The circuit it runs (transpiled to its backend's ISA, where it has one).
    observables : list of SparsePauliOp
        Laid out on that circuit's qubits.
    backend : BackendV2 or None
        The device whose ``Target`` gives the durations.
    shots : int or None
        Shots per parameter set; ``None`` when exact.
    gradient : str
        ``"param_shift"`` or ``"spsa"``.
    spsa_batch_size : int
        SPSA directions per gradient.
    """

    circuit: Any
    observables: list
    backend: Any = None
    shots: int | None = None
    gradient: str = "param_shift"
    spsa_batch_size: int = 1


def _exact_simulator(options: Any, circuit: Any, observables: list) -> DeviceView:
    return DeviceView(circuit, list(observables))


@dataclass(frozen=True)
class MemoryModel:
    """The memory one sample of an ``n``-qubit circuit needs at least on an engine.

    Attributes
    ----------
    copies : int
        Copies of the ``2**n``-amplitude state held at once.
    table_bytes : int
        Further bytes per amplitude (compiler tables).
    holds_state : callable
        ``holds_state(options)``: whether the state lives in this process's memory (not on a
        GPU, in a matrix product state or on a remote device); only then is it checked.
    budget : callable
        ``budget(options)``: the engine's own budget in bytes, ``None`` for half of the
        memory available now.
    """

    copies: int
    table_bytes: int = 0
    holds_state: Callable[[Any], bool] = _always
    budget: Callable[[Any], int | None] = _default_budget

    def minimum_bytes(self, num_qubits: int, element_bytes: int = 16) -> int:
        """Bytes for one sample: ``2**n * (copies * element_bytes + table_bytes)``."""
        return 2**num_qubits * (self.copies * element_bytes + self.table_bytes)


NOT_HELD = MemoryModel(copies=0, holds_state=lambda options: False)
"""The memory model of an engine whose state is not in this process (a remote device)."""


@dataclass(frozen=True)
class EngineVariant:
    """An engine with fixed options, as ``gradcheck`` and ``qmnist benchmark`` compare them.

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
    """

    name: str
    engine: str
    options: Mapping[str, Any] = field(default_factory=dict)
    sampled: bool = False

    def unavailable(self) -> str | None:
        """Why this variant cannot run on this machine, or ``None`` when it can: the words
        :func:`~qmnist_qiskit.engines.require_engine` raises with."""
        from qmnist_qiskit.engines.registry import engine_record

        record = engine_record(self.engine)
        try:
            options = record.parse_options(self.options)
        except (TypeError, ValueError):
            return None  # not a question of this machine: building the variant says what
        return record.unavailable(options)

    def engine_options(self, *, shots: int = 4096, seed: int | None = None) -> dict[str, Any]:
        """The options to pass to ``make_qnn``: the fixed ones, and for a sampled variant
        ``shots`` and ``seed``."""
        options = dict(self.options)
        if self.sampled:
            options.update(shots=shots, seed=seed)
        return options

    def make_qnn(self, circuit, input_params, weight_params, observables, *, shots=4096, seed=None):
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


@dataclass(frozen=True)
class EngineRecord:
    """One engine: everything the rest of the package needs to know about it.

    Attributes
    ----------
    name : str
        The ``engine=`` name.
    factory : tuple of str
        ``(module, function)``: called as ``function(circuit, input_params, weight_params,
        observables, input_gradients=..., options=parsed)``; imported only when building.
    parse : callable
        Keyword-only options in, the parsed options object out (``ValueError``/``TypeError``
        for bad values); its signature is the engine's table of options. Imports no extra.
    options_type : type
        The class of what ``parse`` returns.
    extra : str or None
        The optional extra the engine needs (``pip install 'qmnist_qiskit[EXTRA]'``).
    availability : callable
        ``availability(parsed) -> str | None``: why the device the options ask for is
        missing here, else ``None``. Cheap: builds nothing.
    memory : MemoryModel
        The memory one sample needs, checked before the engine is built.
    variants : tuple of EngineVariant
        The engine's variants compared by ``gradcheck`` and ``qmnist benchmark``.
    device : bool
        Whether the engine runs on something the caller hands over (an estimator on a
        device): its options are never written to a model file, and a saved model loads on
        the default engine.
    device_view : callable
        ``device_view(parsed, circuit, observables) -> DeviceView``: the circuit as the
        engine sends it, for cost estimates; by default an exact simulator's.
    """

    name: str
    factory: tuple[str, str]
    parse: Callable[..., Any]
    options_type: type
    extra: str | None = None
    availability: Callable[[Any], str | None] = _runs_anywhere
    memory: MemoryModel = NOT_HELD
    variants: tuple[EngineVariant, ...] = ()
    device: bool = False
    device_view: Callable[[Any, Any, list], DeviceView] = _exact_simulator

    def option_names(self) -> tuple[str, ...]:
        """The options the engine accepts, in the order of its parser's signature."""
        return tuple(inspect.signature(self.parse).parameters)

    def parse_options(self, options: Mapping[str, Any] | None) -> Any:
        """The parsed options object: ``ValueError`` naming the engine's options for an
        unknown key, the parser's own errors for a bad value."""
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ValueError(f"engine options must be a dict or None, got {options!r}")
        names = self.option_names()
        unknown = [key for key in options if key not in names]
        if unknown:
            label = f"option {unknown[0]!r}" if len(unknown) == 1 else f"options {unknown}"
            raise ValueError(
                f"unknown {label} for engine {self.name!r}; its options are {', '.join(names)}"
            )
        return self.parse(**options)

    def unavailable(self, options: Any) -> str | None:
        """Why the engine with these parsed options cannot run here (its extra missing, the
        device it asks for absent), or ``None``."""
        if self.extra is not None:
            missing = missing_extra(self.extra)
            if missing is not None:
                return f"engine {self.name!r} {missing}"
        return self.availability(options)

    def require_memory(self, options: Any, num_qubits: int, element_bytes: int = 16) -> None:
        """:class:`~qmnist_qiskit.QMNISTError` when one sample would not fit the budget."""
        if self.memory.holds_state(options):
            require_memory(
                self.name,
                num_qubits,
                budget=self.memory.budget(options),
                element_bytes=element_bytes,
            )

    def build(self, spec: tuple, *, input_gradients: bool, options: Any) -> Any:
        """The engine's network, from its factory."""
        module_name, function_name = self.factory
        factory = getattr(import_module(module_name), function_name)
        return factory(*spec, input_gradients=input_gradients, options=options)


def options_from(
    options_type: type, parse: Callable[..., Any], options: Any, keywords: Mapping[str, Any]
) -> Any:
    """An engine factory's options: the parsed object it was given, or its keyword options
    parsed (a factory called directly rather than through ``make_qnn``)."""
    if options is None:
        return parse(**keywords)
    if keywords:
        raise TypeError(
            f"give either options= (parsed) or keyword options, not both; got {sorted(keywords)}"
        )
    if not isinstance(options, options_type):
        raise TypeError(
            f"options must be {options_type.__name__} (parsed), got {type(options).__name__}"
        )
    return options
