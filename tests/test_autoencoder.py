from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from qmnist_qiskit import MNISTAutoencoder, load_mnist
from qmnist_qiskit import autoencoder as autoencoder_module


@pytest.fixture(scope="module")
def images():
    X, _ = load_mnist()
    return X[:300]


def test_codes_lie_in_the_angle_range_and_reconstruction_improves(images):
    encoder = MNISTAutoencoder(n_components=6, epochs=8, random_state=0).fit(images)
    codes = encoder.transform(images)
    assert codes.shape == (300, 6) and codes.dtype == np.float64
    assert codes.min() >= 0 and codes.max() <= np.pi
    losses = [record["loss"] for record in encoder.history_]
    assert len(losses) == 8 and losses[-1] < losses[0]
    reconstruction = encoder.inverse_transform(codes)
    assert reconstruction.shape == images.shape
    mse = np.mean((reconstruction - images) ** 2)
    np.testing.assert_allclose(mse, losses[-1], rtol=0.5)
    assert mse < np.mean((images - images.mean()) ** 2)


def test_same_seed_same_codes_and_fit_transform(images):
    first = MNISTAutoencoder(n_components=3, epochs=2, random_state=7)
    codes = first.fit_transform(images)
    second = clone(first).fit(images)
    np.testing.assert_array_equal(codes, second.transform(images))
    other = MNISTAutoencoder(n_components=3, epochs=2, random_state=8).fit(images)
    assert not np.allclose(codes, other.transform(images))


def test_fit_leaves_global_torch_rng_alone(images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MNISTAutoencoder(n_components=2, epochs=1, random_state=0).fit(images[:32])
    torch.testing.assert_close(torch.rand(3), expected)


def test_angle_scale_and_torch_encoder(images):
    encoder = MNISTAutoencoder(n_components=2, epochs=1, angle_scale=1.5, random_state=0)
    encoder.fit(images[:64])
    codes = encoder.transform(images[:64])
    assert codes.max() <= 1.5
    with torch.no_grad():
        torch_codes = encoder.torch_encoder()(torch.as_tensor(images[:64]))
    np.testing.assert_allclose(torch_codes.numpy(), codes, atol=1e-6)
    assert list(encoder.get_feature_names_out()) == ["autoencoder0", "autoencoder1"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": 0}, "n_components"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"max_samples": 0}, "max_samples"),
        ({"max_samples": 2.5}, "max_samples"),
        ({"n_threads": 0}, "n_threads"),
        ({"n_threads": True}, "n_threads"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"angle_scale": -1.0}, "angle_scale"),
        ({"hidden_layer_sizes": (16, 0)}, "hidden_layer_sizes"),
    ],
)
def test_bad_parameters(images, params, message):
    with pytest.raises(ValueError, match=message):
        MNISTAutoencoder(**params).fit(images[:8])


def test_bad_input(images):
    with pytest.raises(ValueError, match="NaN"):
        MNISTAutoencoder(epochs=1).fit(np.full((4, 784), np.nan))
    encoder = MNISTAutoencoder(n_components=2, epochs=1, random_state=0).fit(images[:16])
    with pytest.raises(ValueError, match="784 features"):
        encoder.transform(images[:2, :100])
    with pytest.raises(ValueError, match="expects 2 components"):
        encoder.inverse_transform(np.zeros((2, 3)))


def test_max_samples_bounds_the_work(images):
    encoder = MNISTAutoencoder(
        n_components=2, epochs=5, max_samples=700, batch_size=64, random_state=0
    ).fit(images)
    # 300 images: two full passes, then 100 of a third; ceil(300/64) = 5 steps a pass.
    assert [record["samples"] for record in encoder.history_] == [300, 300, 100]
    assert encoder.n_steps_ == 5 + 5 + 2
    unbounded = MNISTAutoencoder(
        n_components=2, epochs=3, max_samples=None, batch_size=64, random_state=0
    ).fit(images)
    assert [record["samples"] for record in unbounded.history_] == [300, 300, 300]
    assert unbounded.n_steps_ == 15


def test_a_budget_below_one_pass_sees_part_of_the_data_once(images):
    encoder = MNISTAutoencoder(n_components=2, max_samples=100, batch_size=32, random_state=0)
    encoder.fit(images)
    assert [record["samples"] for record in encoder.history_] == [100]
    assert encoder.n_steps_ == 4
    assert encoder.transform(images).shape == (300, 2)


def test_verbose_zero_is_silent_and_verbose_counts_samples(images, capfd):
    MNISTAutoencoder(n_components=2, epochs=2, random_state=0).fit(images[:50])
    assert capfd.readouterr() == ("", "")
    MNISTAutoencoder(n_components=2, epochs=2, batch_size=16, verbose=1, random_state=0).fit(
        images[:50]
    )
    err = capfd.readouterr().err
    # One bar over both passes, advanced per batch: its total is 2 x 50 samples.
    assert "autoencoder" in err and "100/100" in err and "sample/s" in err and "epoch=2/2" in err


def test_n_threads_applies_inside_fit_and_transform_only(images, monkeypatch, two_torch_threads):
    inside = []
    original = autoencoder_module.sample_progress

    def recording_progress(*args, **kwargs):
        inside.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(autoencoder_module, "sample_progress", recording_progress)
    encoder = MNISTAutoencoder(n_components=2, epochs=1, n_threads=1, random_state=0)
    encoder.fit(images[:32])
    assert inside == [1] and torch.get_num_threads() == two_torch_threads
    encoder.module_.encoder.register_forward_pre_hook(
        lambda module, args: inside.append(torch.get_num_threads())
    )
    encoder.transform(images[:4])
    assert inside == [1, 1] and torch.get_num_threads() == two_torch_threads
    encoder.set_params(n_threads=None).transform(images[:4])
    assert inside[-1] == two_torch_threads


def test_n_threads_is_restored_when_fit_fails(images, monkeypatch, two_torch_threads):
    def failing_progress(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(autoencoder_module, "sample_progress", failing_progress)
    with pytest.raises(RuntimeError, match="boom"):
        MNISTAutoencoder(n_components=2, epochs=1, n_threads=1).fit(images[:32])
    assert torch.get_num_threads() == two_torch_threads
