"""Parameter expressions in torch: values and gradients against Qiskit's own algebra."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, ParameterVector

from qmnist_qiskit.engines.statevector.expressions import TorchExpression

x = ParameterVector("x", 2)
theta = Parameter("θ")
INDEX = {"x[0]": 0, "x[1]": 1, "θ": 2}
PARAMETERS = [x[0], x[1], theta]

EXPRESSIONS = [
    x[0],
    2 * x[0],
    x[0] * x[1],
    np.pi - x[1],
    theta * x[1],
    2.0 * (np.pi - x[0]) * (np.pi - x[1]),
    x[0] / 3 - theta**2 + 1.5,
    (x[0] + theta).sin() * x[1].cos(),
    x[1].exp() - (theta**2 + 1).log(),
    (x[0] / 4).tan() + (x[1] / 5).arcsin() + (theta / 6).arccos() + x[0].arctan(),
    x[0].abs() * theta,
    1 / (x[0] ** 2 + 1),
    # Operand orders that Qiskit 2.3's sympify() gets backwards.
    x[0] - 2 * x[1],
    x[0] / (x[1] - theta),
    -(x[0] + theta) - x[1] * theta,
    2 ** x[0] - (1 - theta) / 3,
    (x[0] * theta) ** 2,
]


def _bound(expression, values: dict) -> float:
    return float(expression.bind({p: values[p] for p in expression.parameters}))


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=str)
def test_values_and_gradients_match_qiskit(expression):
    # Derivatives are compared with central differences of ParameterExpression.bind:
    # Qiskit 2.3's ParameterExpression.gradient drops the chain rule inside powers.
    rows = np.random.default_rng(3).uniform(-2.5, 2.5, (6, 3))
    columns = [torch.tensor(column, requires_grad=True) for column in rows.T]
    value = TorchExpression(expression, INDEX)(columns)
    value.sum().backward()
    step = 1e-6
    for position, row in enumerate(rows):
        values = dict(zip(PARAMETERS, row, strict=True))
        assert value[position].item() == pytest.approx(_bound(expression, values), abs=1e-12)
        for index, parameter in enumerate(PARAMETERS):
            if parameter not in expression.parameters:
                assert columns[index].grad is None or columns[index].grad[position] == 0
                continue
            plus = _bound(expression, {**values, parameter: values[parameter] + step})
            minus = _bound(expression, {**values, parameter: values[parameter] - step})
            assert columns[index].grad[position].item() == pytest.approx(
                (plus - minus) / (2 * step), abs=1e-6
            )


def test_dependencies_are_recorded():
    assert TorchExpression(theta * x[1], INDEX).parameters == {1, 2}
    assert TorchExpression(0.25, INDEX).parameters == frozenset()


def test_constants_take_the_requested_dtype():
    value = TorchExpression(np.pi / 2, INDEX)([], dtype=torch.float32)
    assert value.dtype == torch.float32
    assert value.tolist() == pytest.approx([np.pi / 2])


def test_shared_and_per_sample_columns_broadcast():
    columns = [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 0.0]), torch.tensor([2.0])]
    assert TorchExpression(theta * x[0], INDEX)(columns).tolist() == [2.0, 4.0, 6.0]


def test_complex_angles_are_refused():
    with pytest.raises(ValueError, match="real"):
        TorchExpression(1j * x[0], INDEX)


def test_unsupported_functions_are_named():
    with pytest.raises(ValueError, match="conjugate"):
        TorchExpression(x[0].conjugate() * x[1], INDEX)


def test_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="neither an input nor a weight"):
        TorchExpression(Parameter("other") * 2, INDEX)


def test_non_finite_constants_are_refused():
    with pytest.raises(ValueError, match="finite"):
        TorchExpression(float("nan"), INDEX)
