from __future__ import annotations

import pytest
import torch

from qmnist_qiskit.torch_utils import check_n_threads, torch_threads


def test_torch_threads_sets_and_restores(two_torch_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == two_torch_threads


def test_torch_threads_restores_after_an_exception(two_torch_threads):
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == two_torch_threads


def test_none_leaves_torch_alone(two_torch_threads):
    with torch_threads(None):
        assert torch.get_num_threads() == two_torch_threads
        torch.set_num_threads(1)
    # Nothing to restore: the block's own change stays.
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value", [0, -1, 1.0, True, "1"])
def test_bad_counts_raise(value):
    with pytest.raises(ValueError, match="n_threads must be a positive integer or None"):
        check_n_threads(value)
    with pytest.raises(ValueError, match="n_threads"), torch_threads(value):
        pass
