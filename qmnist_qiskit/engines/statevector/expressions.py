"""Qiskit parameter expressions evaluated in torch, so that autograd flows through them.

A gate angle such as ``2*x[0]``, ``θ[3]*x[1]`` or ``(pi - x[0])*(pi - x[1])`` becomes a small
tree of torch operations over the parameter columns. Evaluating it on tensors that require
gradients gives exact derivatives with respect to every parameter involved.

Most angles that Qiskit's library and this project's presets produce are polynomials of degree
at most two in the parameters (``a*x + b``, ``w*(x - c)``, ``w*x``, sums and products of
parameters). Those also get a :attr:`TorchExpression.terms` form, a list of
``(coefficient, factors)`` monomials, from which
:mod:`~qmnist_qiskit.engines.statevector.angle_table` evaluates all angles of a circuit in a few
tensor operations; the tree is the general fallback.

The tree is read from the expression's operation record (the one QPY serialises), reading
each operand from the side it is recorded on. Qiskit 2.3's ``sympify()`` and QPY reader swap
the operands of ``-`` and ``/`` when only the left one is a leaf (``w[0] - 2*w[1]`` comes out
as ``2*w[1] - w[0]``), so every translation is checked against ``ParameterExpression.bind``
at sample points, and ``sympify()`` is only a fallback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import sympy
import torch
from qiskit.circuit import Parameter, ParameterExpression

Columns = Sequence[torch.Tensor] | Mapping[int, torch.Tensor]
_Node = Callable[[Columns], "torch.Tensor | float"]

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "log": torch.log,
    "Abs": torch.abs,
    "sign": torch.sign,
}
_REPLAY_UNARY = {
    "SIN": "sin",
    "COS": "cos",
    "TAN": "tan",
    "ASIN": "asin",
    "ACOS": "acos",
    "ATAN": "atan",
    "EXP": "exp",
    "LOG": "log",
    "ABS": "Abs",
    "SIGN": "sign",
}
_REPLAY_BINARY: dict[str, Callable] = {
    "ADD": lambda left, right: left + right,
    "SUB": lambda left, right: left - right,
    "MUL": lambda left, right: left * right,
    "DIV": lambda left, right: left / right,
    "POW": lambda left, right: left**right,
    "RSUB": lambda left, right: right - left,
    "RDIV": lambda left, right: right / left,
    "RPOW": lambda left, right: right**left,
}
_CHECK_POINTS = ((0.31, 0.173), (0.57, 0.231), (1.13, -0.097))


def _real(value: complex | float, text: str) -> float:
    value = complex(value)
    if value.imag != 0.0:
        raise ValueError(f"gate angles must be real, got the complex constant {text}")
    return value.real


def _symbol(name: str, index: Mapping[str, int]) -> _Node:
    if name not in index:
        raise ValueError(f"parameter {name!r} is neither an input nor a weight")
    position = index[name]
    return lambda columns: columns[position]


def _leaf(value, index: Mapping[str, int]) -> _Node:
    if isinstance(value, Parameter):
        return _symbol(value.name, index)
    constant = _real(value, repr(value))
    return lambda columns: constant


def _from_replay(expression: ParameterExpression, index: Mapping[str, int]) -> _Node:
    """The tree recorded by Qiskit as a stack program (operands not given are popped)."""
    if isinstance(expression, Parameter):
        return _symbol(expression.name, index)
    stack: list[_Node] = []
    for step in expression._qpy_replay:
        code = str(step.op).rsplit(".", 1)[-1]
        right = None if step.rhs is None else _leaf(step.rhs, index)
        if code in _REPLAY_BINARY:
            if right is None:
                right = stack.pop()
            left = stack.pop() if step.lhs is None else _leaf(step.lhs, index)
            combine = _REPLAY_BINARY[code]
            stack.append(lambda c, f=combine, a=left, b=right: f(a(c), b(c)))
        elif code in _REPLAY_UNARY:
            operand = stack.pop() if step.lhs is None else _leaf(step.lhs, index)
            function = _FUNCTIONS[_REPLAY_UNARY[code]]
            stack.append(lambda c, f=function, a=operand: f(a(c)))
        else:
            raise ValueError(f"unsupported operation {code} in the parameter expression")
    if len(stack) != 1:
        raise ValueError("the expression's operation record is incomplete")
    return stack[0]


def _from_sympy(expr: sympy.Expr, index: Mapping[str, int]) -> _Node:
    if expr.is_number:
        constant = _real(expr.evalf(), str(expr))
        return lambda columns: constant
    if isinstance(expr, sympy.Symbol):
        return _symbol(expr.name, index)
    children = [_from_sympy(arg, index) for arg in expr.args]
    if isinstance(expr, sympy.Add):
        return lambda columns: sum((child(columns) for child in children[1:]), children[0](columns))
    if isinstance(expr, sympy.Mul):

        def product(columns: Columns) -> torch.Tensor | float:
            result = children[0](columns)
            for child in children[1:]:
                result = result * child(columns)
            return result

        return product
    if isinstance(expr, sympy.Pow):
        base, exponent = children
        return lambda columns: base(columns) ** exponent(columns)
    name = type(expr).__name__
    if name in _FUNCTIONS and len(children) == 1:
        # A function of constants is itself a number, so its argument is always a tensor here.
        function, (argument,) = _FUNCTIONS[name], children
        return lambda columns: function(argument(columns))
    raise ValueError(f"unsupported operation {name!r} in the parameter expression {expr}")


Terms = tuple[tuple[float, tuple[int, ...]], ...]
"""Monomials ``(coefficient, factors)``: ``sum coefficient * prod columns[factor]``."""
_MAX_DEGREE = 2


class _NotPolynomial(ValueError):
    pass


def _poly_leaf(value, index: Mapping[str, int]) -> dict[tuple[int, ...], float]:
    if isinstance(value, Parameter):
        return {(index[value.name],): 1.0}
    return {(): _real(value, repr(value))}


def _poly_constant(poly: dict[tuple[int, ...], float]) -> float:
    if any(poly_key for poly_key in poly if poly_key):
        raise _NotPolynomial("not a constant")
    return poly.get((), 0.0)


def _poly_add(left: dict, right: dict, sign: float = 1.0) -> dict:
    result = dict(left)
    for key, value in right.items():
        result[key] = result.get(key, 0.0) + sign * value
    return result


def _poly_mul(left: dict, right: dict) -> dict:
    result: dict[tuple[int, ...], float] = {}
    for left_key, left_value in left.items():
        for right_key, right_value in right.items():
            key = tuple(sorted(left_key + right_key))
            if len(key) > _MAX_DEGREE:
                raise _NotPolynomial("degree above two")
            result[key] = result.get(key, 0.0) + left_value * right_value
    return result


def _poly_pow(base: dict, exponent: dict) -> dict:
    power = _poly_constant(exponent)
    if power not in (0.0, 1.0, 2.0):
        raise _NotPolynomial("not a small integer power")
    result = {(): 1.0}
    for _ in range(int(power)):
        result = _poly_mul(result, base)
    return result


def _poly_div(numerator: dict, denominator: dict) -> dict:
    divisor = _poly_constant(denominator)
    if divisor == 0.0:
        raise _NotPolynomial("division by zero")
    return {key: value / divisor for key, value in numerator.items()}


_POLY_BINARY: dict[str, Callable[[dict, dict], dict]] = {
    "ADD": _poly_add,
    "SUB": lambda left, right: _poly_add(left, right, -1.0),
    "MUL": _poly_mul,
    "DIV": _poly_div,
    "POW": _poly_pow,
    "RSUB": lambda left, right: _poly_add(right, left, -1.0),
    "RDIV": lambda left, right: _poly_div(right, left),
    "RPOW": lambda left, right: _poly_pow(right, left),
}


def _polynomial_from_replay(expression: ParameterExpression, index: Mapping[str, int]) -> Terms:
    """The expression as monomials of degree at most two, read from Qiskit's record."""
    if isinstance(expression, Parameter):
        return ((1.0, (index[expression.name],)),)
    stack: list[dict] = []
    for step in expression._qpy_replay:
        code = str(step.op).rsplit(".", 1)[-1]
        if code not in _POLY_BINARY:
            raise _NotPolynomial(f"operation {code}")
        right = stack.pop() if step.rhs is None else _poly_leaf(step.rhs, index)
        left = stack.pop() if step.lhs is None else _poly_leaf(step.lhs, index)
        stack.append(_POLY_BINARY[code](left, right))
    if len(stack) != 1:
        raise _NotPolynomial("incomplete record")
    return tuple((value, key) for key, value in sorted(stack[0].items()) if value != 0.0)


def _terms_node(terms: Terms) -> _Node:
    def evaluate(columns: Columns) -> torch.Tensor | float:
        total: torch.Tensor | float = 0.0
        for coefficient, factors in terms:
            value: torch.Tensor | float = coefficient
            for factor in factors:
                value = value * columns[factor]
            total = total + value
        return total

    return evaluate


def _polynomial(expression: ParameterExpression, index: Mapping[str, int]) -> Terms | None:
    """The monomials of ``expression`` when it is a checked polynomial of degree <= 2."""
    try:
        terms = _polynomial_from_replay(expression, index)
    except (_NotPolynomial, AttributeError, IndexError):
        return None
    return terms if _agrees(_terms_node(terms), expression, index) else None


def _agrees(node: _Node, expression: ParameterExpression, index: Mapping[str, int]) -> bool:
    """Whether ``node`` equals Qiskit's own evaluation of ``expression`` at sample points."""
    parameters = sorted(expression.parameters, key=lambda parameter: index[parameter.name])
    checked = False
    for offset, step in _CHECK_POINTS:
        values = {p: offset + step * position for position, p in enumerate(parameters)}
        try:
            expected = complex(expression.bind(values))
        except (ZeroDivisionError, ValueError, RuntimeError):
            continue
        if expected.imag != 0.0 or not math.isfinite(expected.real):
            continue
        # Only the expression's own parameters: a full list of every circuit parameter per
        # probe made compiling quadratic in the circuit's size (a dense circuit of 1,887
        # gates spent 36 s here).
        columns = {
            index[parameter.name]: torch.tensor([value], dtype=torch.float64)
            for parameter, value in values.items()
        }
        with torch.no_grad():
            value = node(columns)
        value = float(value) if isinstance(value, torch.Tensor) else value
        if not math.isclose(value, expected.real, rel_tol=1e-9, abs_tol=1e-9):
            return False
        checked = True
    return checked


def _compile(expression: ParameterExpression, index: Mapping[str, int]) -> _Node:
    errors = []
    for translate in (_from_replay, lambda e, i: _from_sympy(e.sympify(), i)):
        try:
            node = translate(expression, index)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        except (AttributeError, IndexError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        if _agrees(node, expression, index):
            return node
        errors.append("translation disagrees with ParameterExpression.bind")
    raise ValueError(f"cannot evaluate the parameter expression {expression} in torch: {errors}")


class TorchExpression:
    """A gate parameter (a number or a Qiskit ``ParameterExpression``) evaluated in torch.

    Parameters
    ----------
    value : float or ParameterExpression
        The gate parameter.
    index : mapping of str to int
        Position of each parameter, by name, in the ``columns`` given to :meth:`__call__`.

    Attributes
    ----------
    parameters : frozenset of int
        Positions of the parameters the expression depends on.
    terms : tuple of (float, tuple of int), or None
        The expression as a sum of ``coefficient * prod(columns[f] for f in factors)``
        monomials of degree at most two (checked against Qiskit's own evaluation), or
        ``None`` when it is not such a polynomial (a sine, say): then only the tree
        evaluates it.

    Examples
    --------
    >>> import torch
    >>> from qiskit.circuit import Parameter
    >>> a, b = Parameter("a"), Parameter("b")
    >>> angle = TorchExpression(2 * a * b - 1, {"a": 0, "b": 1})
    >>> angle([torch.tensor([1.0, 2.0]), torch.tensor([3.0])]).tolist()
    [5.0, 11.0]
    >>> angle.terms
    ((-1.0, ()), (2.0, (0, 1)))
    """

    def __init__(self, value: float | ParameterExpression, index: Mapping[str, int]) -> None:
        if isinstance(value, ParameterExpression) and value.parameters:
            for parameter in value.parameters:
                _symbol(parameter.name, index)
            self.parameters = frozenset(index[parameter.name] for parameter in value.parameters)
            self._node = _compile(value, index)
            self.terms = _polynomial(value, index)
            self.text = str(value)
        else:
            constant = float(value)
            if not math.isfinite(constant):
                raise ValueError(f"gate angles must be finite, got {constant}")
            self.parameters = frozenset()
            self.terms = ((constant, ()),) if constant else ()
            self._node = lambda columns: constant
            self.text = repr(constant)

    def __call__(
        self,
        columns: Columns,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Evaluate on ``columns`` (one tensor of shape ``(N,)`` per parameter).

        Returns a tensor of shape ``(N,)``, or ``(1,)`` of ``dtype`` on ``device`` for a
        constant expression.
        """
        value = self._node(columns)
        if isinstance(value, torch.Tensor):
            return value
        return torch.full((1,), value, dtype=dtype, device=device)
