"""A torch autoencoder as a scikit-learn transformer: 784 pixels to a few rotation angles."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from tqdm.auto import tqdm

from qmnist_qiskit.torch_utils import resolve_device, seeded

# Codes beyond the central 99% of the training codes are clipped to the ends of the range.
_TAIL = 0.005


class _AutoencoderModule(nn.Module):
    def __init__(self, n_inputs: int, hidden: tuple[int, ...], n_components: int, scale: float):
        super().__init__()
        widths = (n_inputs, *hidden)
        encoder: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Linear(width_in, width_out), nn.ReLU()]
        encoder.append(nn.Linear(widths[-1], n_components))
        decoder: list[nn.Module] = []
        back = (n_components, *reversed(hidden))
        for width_in, width_out in zip(back[:-1], back[1:], strict=True):
            decoder += [nn.Linear(width_in, width_out), nn.ReLU()]
        decoder += [nn.Linear(back[-1], n_inputs), nn.Sigmoid()]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)
        self.scale = scale
        self.register_buffer("low", torch.zeros(n_components))
        self.register_buffer("high", torch.ones(n_components))

    def reconstruct(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(pixels))

    def set_code_range(self, pixels: torch.Tensor) -> None:
        """Map the central 99% of the training codes onto ``[0, scale]``."""
        with torch.no_grad():
            codes = self.encoder(pixels)
            self.low.copy_(torch.quantile(codes, _TAIL, dim=0))
            self.high.copy_(torch.quantile(codes, 1 - _TAIL, dim=0))
            self.high.copy_(torch.maximum(self.high, self.low + 1e-6))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        unit = (self.encoder(pixels) - self.low) / (self.high - self.low)
        return self.scale * unit.clamp(0.0, 1.0)

    def decode(self, angles: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.low + angles / self.scale * (self.high - self.low))


class MNISTAutoencoder(TransformerMixin, BaseEstimator):
    """A fully connected torch autoencoder whose codes are rotation angles.

    The encoder ends in a linear bottleneck; after training, each code is mapped affinely
    so that the central 99% of the training codes span ``[0, angle_scale]``, and clipped
    there: :meth:`transform` returns values in ``[0, angle_scale]`` (``[0, pi]`` by default,
    the useful range of an ``RX`` encoding angle). (A sigmoid bottleneck saturates and
    wastes the range.) The decoder mirrors the encoder and ends in a sigmoid (pixels in
    ``[0, 1]``); training minimises the mean squared reconstruction error with Adam and
    uses no labels.

    Parameters
    ----------
    n_components : int
        Size of the code (one angle per qubit in the classifier).
    hidden_layer_sizes : tuple of int
        Widths of the encoder's hidden layers; the decoder mirrors them.
    epochs : int
        Passes over the training data. After 20, the codes of different seeds still
        differed in usefulness (logistic regression on 20 codes: 85 to 88% test accuracy);
        after 40, 88% for each, for a few seconds more (``benchmarks/bench_accuracy.py``).
    batch_size : int
        Mini-batch size.
    learning_rate : float
        Adam's learning rate.
    angle_scale : float
        Upper end of the code range.
    random_state : int or None
        Seeds weight initialisation and shuffling; the same seed gives the same codes.
    device : str
        Torch device, ``"cpu"`` or ``"cuda"``.
    verbose : int
        Show a progress bar when positive.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (encoder and decoder).
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (mean squared reconstruction error), ``seconds``.
    n_features_in_ : int
        Number of pixels seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit import MNISTAutoencoder
    >>> X = np.random.default_rng(0).random((64, 784))
    >>> codes = MNISTAutoencoder(n_components=4, epochs=1, random_state=0).fit_transform(X)
    >>> codes.shape, bool(codes.min() >= 0), bool(codes.max() <= np.pi)
    ((64, 4), True, True)
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        hidden_layer_sizes: tuple[int, ...] = (256, 64),
        epochs: int = 40,
        batch_size: int = 128,
        learning_rate: float = 2e-3,
        angle_scale: float = math.pi,
        random_state: int | None = None,
        device: str = "cpu",
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.angle_scale = angle_scale
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        for name in ("n_components", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if any(int(width) < 1 for width in self.hidden_layer_sizes):
            raise ValueError(f"hidden_layer_sizes must be positive, got {self.hidden_layer_sizes}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not self.angle_scale > 0:
            raise ValueError(f"angle_scale must be positive, got {self.angle_scale!r}")

    def fit(self, X, y=None) -> MNISTAutoencoder:
        """Train the autoencoder on ``X`` (pixels in ``[0, 1]``); ``y`` is ignored."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float32)
        device = resolve_device(self.device)
        with seeded(self.random_state) as generator:
            module = _AutoencoderModule(
                X.shape[1],
                tuple(int(width) for width in self.hidden_layer_sizes),
                int(self.n_components),
                float(self.angle_scale),
            ).to(device)
        pixels = torch.as_tensor(X, device=device)
        optimizer = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        self.history_ = []
        epochs = tqdm(range(self.epochs), desc="autoencoder", disable=self.verbose <= 0)
        for epoch in epochs:
            start = time.perf_counter()
            order = torch.randperm(len(pixels), generator=generator).to(device)
            total = 0.0
            for batch in order.split(int(self.batch_size)):
                target = pixels[batch]
                loss = nn.functional.mse_loss(module.reconstruct(target), target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            self.history_.append(
                {
                    "epoch": epoch + 1,
                    "loss": total / len(pixels),
                    "seconds": time.perf_counter() - start,
                }
            )
            epochs.set_postfix(loss=f"{total / len(pixels):.4f}")
        module.set_code_range(pixels)
        self.module_ = module.eval()
        return self

    def transform(self, X) -> np.ndarray:
        """Codes of ``X``: shape ``(n_samples, n_components)``, values in ``[0, angle_scale]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        with torch.no_grad():
            codes = self.module_.encode(torch.as_tensor(X, device=self._device()))
        return np.clip(codes.cpu().numpy().astype(np.float64), 0.0, self.angle_scale)

    def inverse_transform(self, X) -> np.ndarray:
        """Pixels reconstructed from codes: shape ``(n_samples, n_features_in_)``."""
        check_is_fitted(self)
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform expects {self.n_components} components, got {X.shape[1]}"
            )
        with torch.no_grad():
            pixels = self.module_.decode(torch.as_tensor(X, device=self._device()))
        return pixels.cpu().numpy().astype(np.float64)

    def torch_encoder(self) -> nn.Module:
        """The trained encoder as a torch module mapping pixels to angles (for fine-tuning)."""
        check_is_fitted(self)
        return _Encoder(self.module_)

    def _device(self) -> torch.device:
        return next(self.module_.parameters()).device

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``autoencoder0``, ``autoencoder1``, ... one name per component."""
        check_is_fitted(self)
        return np.asarray([f"autoencoder{i}" for i in range(self.n_components)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class _Encoder(nn.Module):
    def __init__(self, module: _AutoencoderModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.module.encode(pixels)
