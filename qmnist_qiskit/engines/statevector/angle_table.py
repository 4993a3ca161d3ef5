"""Every gate angle of a program from one batch of parameter values, in a few tensor operations.

Angles that are polynomials of degree at most two in the parameters (the forms Qiskit's library
and the presets produce: ``a*x + b``, ``w*(x - c)``, ``w*x``, sums and products of parameters)
are compiled once into index and coefficient tensors, so all of them come from one gather, one
product and one ``index_add`` (on the CPU in float64, one call of the compiled library:
:class:`~qmnist_qiskit.engines.statevector.native.CompiledAngleTerms`); any other expression
is evaluated by its own torch tree (the general fallback of
:mod:`~qmnist_qiskit.engines.statevector.expressions`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from qmnist_qiskit.engines.statevector import native
from qmnist_qiskit.engines.statevector.expressions import TorchExpression


class _CompiledTerms(torch.autograd.Function):
    """:class:`~qmnist_qiskit.engines.statevector.native.CompiledAngleTerms` as an autograd
    function: ``forward(values (rows, V), terms)`` returns the polynomial angles."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, terms: native.CompiledAngleTerms) -> torch.Tensor:
        ctx.terms = terms
        ctx.save_for_backward(values)
        return terms.forward(values)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (values,) = ctx.saved_tensors
        return ctx.terms.backward(values, grad), None


class AngleTable:
    """Evaluates a list of angle expressions on rows of parameter values.

    Parameters
    ----------
    expressions : sequence of TorchExpression
        The angles, over parameter positions ``0 .. num_parameters - 1`` (inputs first).
    num_inputs, num_parameters : int
        Number of input parameters, and of all parameters.
    with_inputs : bool
        Whether the angles may depend on inputs (then every row is a sample); otherwise they
        depend on weights only and there is one row per weight row.

    Examples
    --------
    >>> import torch
    >>> from qiskit.circuit import Parameter
    >>> x, w = Parameter("x"), Parameter("w")
    >>> angles = [TorchExpression(e, {"x": 0, "w": 1}) for e in (w * (x - 1), 2 * x + 3)]
    >>> table = AngleTable(angles, num_inputs=1, num_parameters=2, with_inputs=True)
    >>> table = table.to(torch.float64, torch.device("cpu"))
    >>> inputs = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    >>> table(inputs, torch.tensor([[5.0]], dtype=torch.float64)).tolist()
    [[-5.0, 3.0], [5.0, 7.0]]
    """

    def __init__(
        self,
        expressions: Sequence[TorchExpression],
        num_inputs: int,
        num_parameters: int,
        with_inputs: bool,
    ) -> None:
        self.expressions = list(expressions)
        self.num_inputs = num_inputs
        self.with_inputs = with_inputs
        polynomial = [k for k, angle in enumerate(self.expressions) if angle.terms is not None]
        self.general = [k for k, angle in enumerate(self.expressions) if angle.terms is None]
        # A row of values holds the parameters (the weights only, without inputs), then a 1.
        offset = 0 if with_inputs else num_inputs
        one = num_parameters - offset
        coefficients, factors, targets = [], [], []
        for column, k in enumerate(polynomial):
            for coefficient, term_factors in self.expressions[k].terms:
                padded = [factor - offset for factor in term_factors] + [one] * 2
                coefficients.append(coefficient)
                factors.append(padded[:2])
                targets.append(column)
        self.num_polynomial = len(polynomial)
        # With inputs, the weights join the values only when an angle reads one: otherwise
        # the angles (and what is built from them) must not depend on the weights.
        used = {p for angle in self.expressions for p in angle.parameters}
        self.reads_weights = any(p >= num_inputs for p in used)
        if with_inputs and not self.reads_weights:
            one = num_inputs
            factors = [[one if f == num_parameters else f for f in pair] for pair in factors]
        self._coefficients = np.asarray(coefficients, dtype=np.float64)
        self._factors = np.asarray(factors, dtype=np.int64).reshape(-1, 2).T
        self._targets = np.asarray(targets, dtype=np.int64)
        column = np.empty(len(self.expressions), dtype=np.int64)
        column[polynomial] = np.arange(len(polynomial))
        column[self.general] = len(polynomial) + np.arange(len(self.general))
        self.column = column
        """``column[k]``: where angle ``k`` lands in the output of :meth:`__call__`."""
        self.coefficients = torch.as_tensor(self._coefficients)
        self.factors = torch.as_tensor(self._factors)
        self.targets = torch.as_tensor(self._targets)

    def to(self, dtype: torch.dtype, device: torch.device) -> AngleTable:
        """Put the coefficient (``dtype``) and index tensors on ``device`` (float64 on the CPU
        when built)."""
        self.coefficients = torch.as_tensor(self._coefficients, dtype=dtype, device=device)
        self.factors = torch.as_tensor(self._factors, device=device)
        self.targets = torch.as_tensor(self._targets, device=device)
        return self

    @functools.cached_property
    def _compiled_terms(self) -> native.CompiledAngleTerms | None:
        return native.compiled_angle_terms(
            self._coefficients, self._factors, self._targets, self.num_polynomial
        )

    def _polynomial(self, values: torch.Tensor) -> torch.Tensor:
        """The polynomial angles ``(rows, num_polynomial)`` of ``values``."""
        if (
            values.dtype == torch.float64
            and values.device.type == "cpu"
            and native.compiled_path_enabled()
            and self._compiled_terms is not None
        ):
            return _CompiledTerms.apply(values.contiguous(), self._compiled_terms)
        terms = values[:, self.factors[0]] * values[:, self.factors[1]] * self.coefficients
        angles = torch.zeros(
            values.shape[0], self.num_polynomial, dtype=values.dtype, device=values.device
        )
        return angles.index_add(1, self.targets, terms)

    def __call__(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Angles ``(rows, len(expressions))``, angle ``k`` in column ``column[k]``.

        ``inputs`` is ``(B, num_inputs)``; ``weights`` ``(1, num_weights)`` or
        ``(B, num_weights)``.
        """
        rows = inputs.shape[0] if self.with_inputs else weights.shape[0]
        ones = torch.ones(rows, 1, dtype=weights.dtype, device=weights.device)
        if self.with_inputs and self.reads_weights:
            values = torch.cat([inputs, weights.expand(rows, -1), ones], dim=1)
        elif self.with_inputs:
            values = torch.cat([inputs, ones], dim=1)
        else:
            values = torch.cat([weights, ones], dim=1)
        parts = []
        if self.num_polynomial:
            parts.append(self._polynomial(values))
        if self.general:
            columns: list[torch.Tensor | None] = [
                inputs[:, i] if self.with_inputs else None for i in range(self.num_inputs)
            ]
            columns += [weights[:, j] for j in range(weights.shape[1])]
            for k in self.general:
                value = self.expressions[k](columns, values.dtype, values.device)
                parts.append(value.expand(rows).unsqueeze(1))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
