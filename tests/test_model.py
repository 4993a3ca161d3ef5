from __future__ import annotations

import math

import torch

from qmnist_qiskit.model import INPUT_SCALE_STD, initial_weights


def _draw(mask, seed=0, **kwargs):
    return initial_weights(mask, torch.Generator().manual_seed(seed), **kwargs)


def test_input_scales_start_small_and_centred_rotation_angles_anywhere():
    mask = [True, False] * 2000
    weights = _draw(mask)
    scales, angles = weights[0::2], weights[1::2]
    assert weights.dtype == torch.float64 and weights.shape == (4000,)
    assert abs(scales.mean()) < 0.01
    assert abs(scales.std() - INPUT_SCALE_STD) < 0.01
    assert angles.min() >= -math.pi and angles.max() < math.pi
    assert angles.min() < -3.0 and angles.max() > 3.0


def test_scale_std_sets_the_spread_and_the_generator_the_values():
    mask = [True, True, False]
    torch.testing.assert_close(_draw(mask, seed=4), _draw(mask, seed=4), rtol=0, atol=0)
    assert not torch.equal(_draw(mask, seed=4), _draw(mask, seed=5))
    zero = _draw(mask, scale_std=0.0)
    assert zero[:2].tolist() == [0.0, 0.0]
    assert zero[2] == _draw(mask)[2]
