from __future__ import annotations

import pytest
import torch

from qmnist_qiskit.readout import LinearReadout, ScaleReadout, make_readout


def test_auto_readout_is_a_scale_when_wires_equal_classes():
    readout = make_readout("auto", 10, 10)
    assert isinstance(readout, ScaleReadout)
    assert [p.numel() for p in readout.parameters()] == [1]
    expectations = torch.linspace(-1, 1, 20, dtype=torch.float64).reshape(2, 10)
    torch.testing.assert_close(readout(expectations), 3.0 * expectations)


def test_auto_readout_is_linear_otherwise():
    readout = make_readout("auto", 5, 10)
    assert isinstance(readout, LinearReadout)
    assert sum(p.numel() for p in readout.parameters()) == 5 * 10 + 10
    assert readout(torch.zeros(3, 5, dtype=torch.float64)).shape == (3, 10)


def test_scale_readout_uses_the_first_wires_for_fewer_classes():
    readout = make_readout("scale", 4, 2)
    expectations = torch.tensor([[0.1, -0.2, 0.3, 0.4]], dtype=torch.float64)
    torch.testing.assert_close(
        readout(expectations), torch.tensor([[0.3, -0.6]], dtype=torch.float64)
    )


def test_scale_readout_cannot_score_more_classes_than_wires():
    with pytest.raises(ValueError, match="10 classes and only 5 qubits"):
        make_readout("scale", 5, 10)


def test_unknown_readout():
    with pytest.raises(ValueError, match="readout must be one of"):
        make_readout("softmax", 4, 4)
