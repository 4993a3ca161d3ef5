"""Declarative hyperparameter rules, checked before any expensive step.

Each estimator keeps one table, ``_parameter_constraints``, mapping every parameter to the
list of forms it may take (scikit-learn's pattern, ``sklearn.utils._param_validation``,
written out here so that it does not depend on scikit-learn's private module).
:func:`check_parameters` checks an estimator's parameters against its table at the start of
``fit``/``partial_fit``, in the CLI and when a model file is loaded, and the first value that
fits none of its forms is a :class:`ValueError` naming the parameter, what is allowed and
what was given.

Examples
--------
>>> from numbers import Integral
>>> rules = {"reps": [Interval(Integral, 1, 100)], "ansatz": [Options("seed", "dense")]}
>>> check_parameters("Model", rules, {"reps": 3, "ansatz": "dense"})
>>> check_parameters("Model", rules, {"reps": 0, "ansatz": "dense"})
Traceback (most recent call last):
...
ValueError: Model: reps must be an integer in [1, 100], got 0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np


class Constraint:
    """One allowed form of a parameter: :meth:`allows` a value, described by ``str()``."""

    def allows(self, value) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (Python's or numpy's); booleans are not numbers here."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (integers included, NaN and infinity too; booleans
    are not numbers here)."""
    return isinstance(value, Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """Numbers of ``kind`` (``Integral`` or ``Real``) between ``low`` and ``high`` (``None``:
    unbounded); ``closed`` says which ends belong: ``"both"``, ``"left"``, ``"right"``,
    ``"neither"``. Real intervals hold finite numbers only; booleans are never numbers."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"

    def allows(self, value) -> bool:
        if not (is_integer(value) if self.kind is Integral else is_real(value)):
            return False
        try:
            if not math.isfinite(float(value)):
                return False
        except OverflowError:  # an integer too large for a float: beyond any bound we set
            return self.high is None and value > 0 and self.kind is Integral
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        noun = "an integer" if self.kind is Integral else "a number"
        if self.high is None and self.low is not None:
            if self.low == 0 and self.closed in ("right", "neither"):
                return f"a positive {noun.split()[-1]}"
            if self.low == 1 and self.kind is Integral and self.closed in ("both", "left"):
                return "a positive integer"
            relation = ">=" if self.closed in ("both", "left") else ">"
            return f"{noun} {relation} {self.low}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{noun} in {left}{low}, {high}{right}"


class Options(Constraint):
    """One of a few fixed values (compared with ``==``, booleans apart)."""

    def __init__(self, *values) -> None:
        self.values = values

    def allows(self, value) -> bool:
        if isinstance(value, np.ndarray | bool | np.bool_):
            return any(value is option for option in self.values)
        try:
            return any(value == option and not isinstance(option, bool) for option in self.values)
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(option) for option in self.values)


class _NoneConstraint(Constraint):
    def allows(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _BooleanConstraint(Constraint):
    def allows(self, value) -> bool:
        return isinstance(value, bool | np.bool_)

    def __str__(self) -> str:
        return "True, False"


NONE = _NoneConstraint()
"""The value ``None``."""
BOOLEAN = _BooleanConstraint()
"""``True`` or ``False``."""


@dataclass(frozen=True)
class Instance(Constraint):
    """An instance of ``types``, described as ``description``."""

    types: type | tuple[type, ...]
    description: str

    def allows(self, value) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Subclass(Constraint):
    """A class derived from ``base`` (the class itself, not an instance)."""

    base: type
    description: str

    def allows(self, value) -> bool:
        return isinstance(value, type) and issubclass(value, self.base)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class HasMethods(Constraint):
    """An object with all of ``methods`` (a scikit-learn transformer, say)."""

    methods: tuple[str, ...]
    description: str

    def allows(self, value) -> bool:
        # An instance: a class has the methods too, unbound.
        return not isinstance(value, type) and all(
            callable(getattr(value, name, None)) for name in self.methods
        )

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Satisfies(Constraint):
    """A value for which ``predicate`` is true (for forms a type cannot state)."""

    predicate: Callable[[object], bool]
    description: str

    def allows(self, value) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.description


def _describe(constraints: Sequence[Constraint]) -> str:
    words = [str(constraint) for constraint in constraints]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_parameters(
    owner: str, table: Mapping[str, Sequence[Constraint]], params: Mapping[str, object]
) -> None:
    """:class:`ValueError` for the first of ``params`` that none of its rules in ``table``
    allows, naming ``owner``, the parameter, what is allowed and the value given.

    Parameters missing from ``table`` are not checked here (their estimator checks them).
    """
    for name, constraints in table.items():
        if name not in params:
            continue
        value = params[name]
        if not any(constraint.allows(value) for constraint in constraints):
            raise ValueError(f"{owner}: {name} must be {_describe(constraints)}, got {value!r}")


def check_estimator_parameters(estimator) -> None:
    """Check ``estimator.get_params(deep=False)`` against its class's
    ``_parameter_constraints`` (see :func:`check_parameters`)."""
    check_parameters(
        type(estimator).__name__,
        type(estimator)._parameter_constraints,
        estimator.get_params(deep=False),
    )
