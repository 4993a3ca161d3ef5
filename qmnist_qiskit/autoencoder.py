"""A torch autoencoder as a scikit-learn transformer: 784 pixels to a few rotation angles."""

from __future__ import annotations

import copy
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from qmnist_qiskit.exceptions import TrainingDivergedError
from qmnist_qiskit.parameters import (
    BOOLEAN,
    NONE,
    Instance,
    Interval,
    Satisfies,
    check_estimator_parameters,
)
from qmnist_qiskit.torch_utils import resolve_device, seeded, torch_threads
from qmnist_qiskit.training import FiniteSteps, sample_progress

_TRANSFORM_ROWS = 8192
"""Rows per float64 pass of ``transform`` (bounds its temporary memory)."""
# Codes beyond the central 99% of the training codes are clipped to the ends of the range.
_TAIL = 0.005


# Float rounding of pixels scaled into [0, 1].
_PIXEL_TOLERANCE = 1e-6


def pixel_range_problem(X: np.ndarray) -> str | None:
    """What is wrong when ``X`` is not pixels in ``[0, 1]`` (0..255 images, say), and how to
    scale it; ``None`` when it is. The one test of the image encoders' input range.

    Examples
    --------
    >>> pixel_range_problem(np.array([[0.0, 1.0]])) is None
    True
    >>> pixel_range_problem(np.array([[0, 255]]))
    'X holds values in [0, 255]: scale the images first (X / 255.0 for 0..255 images)'
    """
    if X.size == 0:
        return None
    low, high = float(np.min(X)), float(np.max(X))
    if low >= -_PIXEL_TOLERANCE and high <= 1 + _PIXEL_TOLERANCE:
        return None
    return (
        f"X holds values in [{low:g}, {high:g}]: scale the images first (X / 255.0 for "
        "0..255 images)"
    )


def _warn_outside_pixel_range(X: np.ndarray) -> None:
    """The autoencoder learns pixels in ``[0, 1]`` (its decoder ends in a sigmoid): warn when
    ``X`` is not in that range. As a general scikit-learn transformer it still runs;
    :class:`~qmnist_qiskit.QuantumMNISTClassifier` refuses such images."""
    problem = pixel_range_problem(X)
    if problem is not None:
        warnings.warn(
            f"MNISTAutoencoder expects pixels in [0, 1], but {problem}", UserWarning, stacklevel=3
        )


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
    uses no labels. Its work is bounded by ``max_samples`` whatever the data size, so
    60,000 images train in seconds, not minutes; a progress bar (``verbose=1``) counts the
    samples.

    Parameters
    ----------
    n_components : int
        Size of the code (one angle per qubit in the classifier).
    hidden_layer_sizes : tuple of int
        Widths of the encoder's hidden layers; the decoder mirrors them.
    epochs : int
        Passes over the training data, unless ``max_samples`` ends training first. Chosen
        where more passes stopped improving the codes (a logistic regression on them) on the
        embedded data; ``benchmarks/results/accuracy.md`` (its "autoencoder" rows) compares
        numbers of passes.
    max_samples : int or None
        The most samples the fit passes through the network, counting every pass
        (``None``: ``epochs`` passes, however many samples): training stops after
        ``min(epochs * n_samples, max_samples)``, the last pass part-way through a random
        part of the data. The default, 500,000, leaves the embedded data (140,000 samples
        over its passes) unaffected and bounds a 60,000-image fit to about 8 passes, which
        gave codes about as good as 40 full passes at a fraction of the time (hand-timed when
        the default was chosen; no results file holds those runs). The training loss still
        falls at the bound, so a stop on held-out loss would not end sooner.
    batch_size : int
        Mini-batch size. On 60,000 images larger batches cost less per sample but gave no
        better codes for the time (hand-timed; no results file).
    learning_rate : float
        Adam's learning rate, constant: annealing it with a cosine over the same passes, or
        doubling it, gave worse codes on the embedded data (hand-timed; no results file).
    angle_scale : float
        Upper end of the code range.
    random_state : int or None
        Seeds weight initialisation and shuffling; the same seed gives the same codes.
    device : str
        Torch device, ``"cpu"`` or ``"cuda"``.
    n_threads : int or None
        Torch threads inside :meth:`fit`, :meth:`transform` and :meth:`inverse_transform`,
        restored afterwards; ``None`` leaves torch's setting alone. Default 1, as the
        classifier's (see :class:`~qmnist_qiskit.QuantumMNISTClassifier`).
    verbose : int
        Show a progress bar when positive: samples done of all passes, samples per second,
        time left, the pass and its running loss. ``0`` writes nothing.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (encoder and decoder).
    history_ : list of dict
        Per pass: ``epoch``, ``loss`` (mean squared reconstruction error over the pass),
        ``samples`` (the pass's samples: all of them, or fewer in a pass that
        ``max_samples`` ends) and ``seconds``.
    n_steps_ : int
        Optimiser steps taken in ``fit``.
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

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None)],
        "hidden_layer_sizes": [
            Satisfies(
                lambda sizes: (
                    len(sizes) > 0
                    and all(isinstance(w, Integral) and not isinstance(w, bool) for w in sizes)
                    and min(sizes) >= 1
                ),
                "a non-empty sequence of positive integers",
            )
        ],
        "epochs": [Interval(Integral, 1, None)],
        "max_samples": [Interval(Integral, 1, None), NONE],
        "batch_size": [Interval(Integral, 1, None)],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "angle_scale": [Interval(Real, 0, None, closed="neither")],
        "random_state": [
            NONE,
            Interval(Integral, 0, 2**32 - 1),
            Instance(np.random.RandomState, "a numpy RandomState"),
        ],
        "device": [Instance((str, torch.device), "a torch device such as 'cpu' or 'cuda'")],
        "n_threads": [Interval(Integral, 1, None), NONE],
        "verbose": [Interval(Integral, 0, None), BOOLEAN],
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        hidden_layer_sizes: tuple[int, ...] = (256, 64),
        epochs: int = 35,
        max_samples: int | None = 500_000,
        batch_size: int = 128,
        learning_rate: float = 2e-3,
        angle_scale: float = math.pi,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.max_samples = max_samples
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.angle_scale = angle_scale
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    def _check_params(self) -> None:
        """Every parameter against ``_parameter_constraints``, before any training."""
        check_estimator_parameters(self)

    def _budget(self, n_samples: int) -> int:
        """Samples the fit passes through the network: ``epochs`` passes, capped."""
        budget = int(self.epochs) * n_samples
        return budget if self.max_samples is None else min(budget, int(self.max_samples))

    def fit(self, X, y=None) -> MNISTAutoencoder:
        """Train the autoencoder on ``X`` (pixels in ``[0, 1]``); ``y`` is ignored.

        A loss, gradient or weight that becomes NaN or infinite (a learning rate far too
        large) stops training with :class:`~qmnist_qiskit.exceptions.TrainingDivergedError`
        naming the epoch and step; the autoencoder is then fitted with the last weights
        whose loss was finite (its history holds the passes completed)."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float32)
        _warn_outside_pixel_range(X)
        device = resolve_device(self.device)
        with torch_threads(self.n_threads):
            self._train(torch.as_tensor(X, device=device))
        return self

    def _train(self, pixels: torch.Tensor) -> None:
        with seeded(self.random_state) as generator:
            module = _AutoencoderModule(
                pixels.shape[1],
                tuple(int(width) for width in self.hidden_layer_sizes),
                int(self.n_components),
                float(self.angle_scale),
            ).to(pixels.device)
        # Adam's default step took a quarter of a batch's time (8.5 of 37 microseconds per
        # sample at 128, one thread); the fused one takes 3.
        optimizer = torch.optim.Adam(module.parameters(), lr=self.learning_rate, fused=True)
        budget = self._budget(len(pixels))
        passes = math.ceil(budget / len(pixels))
        self.history_ = []
        self.n_steps_ = 0
        used = 0
        steps = FiniteSteps(optimizer)
        with sample_progress(budget, "autoencoder", self.verbose) as progress:
            while used < budget:
                start = time.perf_counter()
                # The last pass may stop part-way: a random part of the data, still shuffled.
                order = torch.randperm(len(pixels), generator=generator)[: budget - used]
                order = order.to(pixels.device)
                total = 0.0
                seen = 0
                for step, batch in enumerate(order.split(int(self.batch_size)), start=1):
                    target = pixels[batch]
                    loss = nn.functional.mse_loss(module.reconstruct(target), target)
                    optimizer.zero_grad()
                    loss.backward()
                    batch_loss = loss.item()
                    became = steps.step(batch_loss)
                    if became is not None:
                        self._keep(module, pixels)
                        raise TrainingDivergedError(
                            f"autoencoder training diverged at epoch {len(self.history_) + 1}, "
                            f"step {step}: {became} became NaN or infinite; the autoencoder "
                            "keeps the last weights whose loss was finite (try a smaller "
                            "learning_rate)",
                            epoch=len(self.history_) + 1,
                            step=step,
                        )
                    self.n_steps_ += 1
                    total += batch_loss * len(batch)
                    seen += len(batch)
                    progress.set_postfix(
                        {
                            "epoch": f"{len(self.history_) + 1}/{passes}",
                            "loss": f"{total / seen:.4f}",
                        },
                        refresh=False,
                    )
                    progress.update(len(batch))
                used += seen
                self.history_.append(
                    {
                        "epoch": len(self.history_) + 1,
                        "loss": total / seen,
                        "samples": seen,
                        "seconds": time.perf_counter() - start,
                    }
                )
        self._keep(module, pixels)

    def _keep(self, module: _AutoencoderModule, pixels: torch.Tensor) -> None:
        module.set_code_range(pixels)
        self.module_ = module.eval()

    def transform(self, X) -> np.ndarray:
        """Codes of ``X``: shape ``(n_samples, n_components)``, values in ``[0, angle_scale]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        _warn_outside_pixel_range(X)
        # In float64: float32 products depend on how many rows a call has on some CPUs (one
        # row's codes alone and within 20 rows differed by 5e-7 on an Intel Xeon), so a
        # subset's codes would not be the whole set's.
        device = self._device()
        with torch_threads(self.n_threads), torch.no_grad():
            module = copy.deepcopy(self.module_).to(torch.float64)
            codes = [
                module.encode(
                    torch.as_tensor(X[start : start + _TRANSFORM_ROWS], device=device).double()
                )
                for start in range(0, len(X), _TRANSFORM_ROWS)
            ]
        return np.clip(torch.cat(codes).cpu().numpy(), 0.0, self.angle_scale)

    def inverse_transform(self, X) -> np.ndarray:
        """Pixels reconstructed from codes: shape ``(n_samples, n_features_in_)``."""
        check_is_fitted(self)
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform expects {self.n_components} components, got {X.shape[1]}"
            )
        with torch_threads(self.n_threads), torch.no_grad():
            pixels = self.module_.decode(torch.as_tensor(X, device=self._device()))
        return pixels.cpu().numpy().astype(np.float64)

    def torch_encoder(self) -> nn.Module:
        """The trained encoder as a torch module mapping pixels to angles (for fine-tuning)."""
        check_is_fitted(self)
        return _Encoder(self.module_)

    # -- state without pickle (what model files store) ------------------------------------
    def get_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """The fitted state as plain JSON-ready fields (``n_features_in``, ``history``,
        ``n_steps``) and the network's tensors (on the CPU, contiguous), for saving without
        pickle; :meth:`from_state` reverses it.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).random((32, 16))
        >>> fitted = MNISTAutoencoder(2, hidden_layer_sizes=(8,), epochs=1, random_state=0).fit(X)
        >>> fields, tensors = fitted.get_state()
        >>> copy = MNISTAutoencoder.from_state(fitted.get_params(), fields, tensors)
        >>> bool(np.array_equal(copy.transform(X), fitted.transform(X)))
        True
        """
        check_is_fitted(self)
        fields = {
            "n_features_in": int(self.n_features_in_),
            "history": self.history_,
            "n_steps": int(self.n_steps_),
        }
        tensors = {
            name: tensor.detach().cpu().contiguous().clone()
            for name, tensor in self.module_.state_dict().items()
        }
        return fields, tensors

    @classmethod
    def from_state(
        cls, params: dict, fields: dict, tensors: dict[str, torch.Tensor]
    ) -> MNISTAutoencoder:
        """A fitted autoencoder from ``get_params()`` and :meth:`get_state`'s fields and
        tensors, on the CPU. Nothing is trained and no random weights are drawn.

        Everything is checked before anything is built: the parameters against
        ``_parameter_constraints``, ``n_features_in`` a positive integer, and every tensor's
        name, shape and dtype against those the parameters imply (worked out on torch's
        ``meta`` device, which allocates nothing, so ``hidden_layer_sizes=[10**9]`` with
        small tensors fails at once), then the values finite. A :class:`ValueError` names
        what disagrees.
        """
        encoder = cls(**params)
        encoder._check_params()
        n_features_in = fields.get("n_features_in")
        n_steps = fields.get("n_steps", 0)
        for name, value, low in (("n_features_in", n_features_in, 1), ("n_steps", n_steps, 0)):
            if not Interval(Integral, low, None).allows(value):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        hidden = tuple(int(width) for width in encoder.hidden_layer_sizes)
        # Weight and bias per layer, encoder and decoder, plus the code range (low, high).
        expected_count = 4 * (len(hidden) + 1) + 2
        if len(tensors) != expected_count:
            raise ValueError(
                f"hidden_layer_sizes={list(hidden)} makes {expected_count} tensors, "
                f"got {len(tensors)}"
            )
        with torch.device("meta"):
            module = _AutoencoderModule(
                n_features_in, hidden, int(encoder.n_components), float(encoder.angle_scale)
            )
        for name, wanted in module.state_dict().items():
            given = tensors.get(name)
            if given is None:
                raise ValueError(f"tensor {name!r} is missing")
            if given.shape != wanted.shape or given.dtype != wanted.dtype:
                raise ValueError(
                    f"tensor {name!r} is {given.dtype} {list(given.shape)}, but n_features_in="
                    f"{n_features_in}, hidden_layer_sizes={list(hidden)} and n_components="
                    f"{encoder.n_components} make it {wanted.dtype} {list(wanted.shape)}"
                )
            if not bool(torch.isfinite(given).all()):
                raise ValueError(f"tensor {name!r} holds NaN or infinite values")
        module.load_state_dict({name: t.clone() for name, t in tensors.items()}, assign=True)
        history = fields.get("history", [])
        if not isinstance(history, list):
            raise ValueError(f"history must be a list, got {type(history).__name__}")
        encoder.module_ = module.eval()
        encoder.n_features_in_ = n_features_in
        encoder.history_ = history
        encoder.n_steps_ = int(n_steps)
        return encoder

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
