"""Qiskit parameter expressions evaluated in torch, so that autograd flows through them.

A gate angle such as ``2*x[0]``, ``θ[3]*x[1]`` or ``(pi - x[0])*(pi - x[1])`` becomes a small
tree of torch operations over the parameter columns. Evaluating it on tensors that require
gradients gives exact derivatives with respect to every parameter involved.

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

Columns = Sequence[torch.Tensor]
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
        columns = [torch.zeros(1, dtype=torch.float64) for _ in range(len(index))]
        for parameter, value in values.items():
            columns[index[parameter.name]] = torch.tensor([value], dtype=torch.float64)
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

    Examples
    --------
    >>> import torch
    >>> from qiskit.circuit import Parameter
    >>> a, b = Parameter("a"), Parameter("b")
    >>> angle = TorchExpression(2 * a * b - 1, {"a": 0, "b": 1})
    >>> angle([torch.tensor([1.0, 2.0]), torch.tensor([3.0])]).tolist()
    [5.0, 11.0]
    """

    def __init__(self, value: float | ParameterExpression, index: Mapping[str, int]) -> None:
        if isinstance(value, ParameterExpression) and value.parameters:
            for parameter in value.parameters:
                _symbol(parameter.name, index)
            self.parameters = frozenset(index[parameter.name] for parameter in value.parameters)
            self._node = _compile(value, index)
            self.text = str(value)
        else:
            constant = float(value)
            if not math.isfinite(constant):
                raise ValueError(f"gate angles must be finite, got {constant}")
            self.parameters = frozenset()
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
