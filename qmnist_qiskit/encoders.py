"""The classifier's ``encoder`` argument: from images to a few rotation angles."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from qmnist_qiskit.autoencoder import MNISTAutoencoder, pixel_range_problem

ENCODER_NAMES = ("autoencoder", "pca")
ANGLE_LIMIT = 4 * math.pi
"""Features beyond this (two full turns of a rotation) are far from any angle range."""


def is_image_encoder(encoder) -> bool:
    """Whether ``encoder`` is one of the built-in image encoders, which take pixels in
    ``[0, 1]``: ``"autoencoder"``, ``"pca"`` or an :class:`MNISTAutoencoder`."""
    return (isinstance(encoder, str) and encoder in ENCODER_NAMES) or isinstance(
        encoder, MNISTAutoencoder
    )


def check_pixel_range(X: np.ndarray, who: str) -> None:
    """:class:`ValueError` unless every value of ``X`` is a pixel in ``[0, 1]``, saying how to
    scale 0..255 images.

    Examples
    --------
    >>> check_pixel_range(np.array([[0.0, 255.0]]), "encoder='pca'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: encoder='pca' takes pixels in [0, 1], but X holds values in [0, 255]: ...
    """
    problem = pixel_range_problem(X)
    if problem is not None:
        raise ValueError(f"{who} takes pixels in [0, 1], but {problem}")


def check_angle_range(X: np.ndarray) -> None:
    """A warning when features that go straight into the circuit (``encoder=None``) reach
    beyond :data:`ANGLE_LIMIT` in size: rotation angles wrap around every ``2 pi``."""
    if X.size == 0:
        return
    largest = float(np.max(np.abs(X)))
    if largest > ANGLE_LIMIT:
        warnings.warn(
            f"with encoder=None the features are rotation angles, but X reaches {largest:g}, "
            f"beyond 4 pi: angles wrap around every 2 pi, so such features are scrambled; "
            "scale them into [0, pi] (MinMaxScaler((0, np.pi)), or encoder='pca')",
            UserWarning,
            stacklevel=4,
        )


def make_encoder(
    encoder: str | TransformerMixin | None,
    n_components: int,
    random_state: int | None,
    *,
    n_threads: int | None = None,
    verbose: int = 0,
) -> TransformerMixin:
    """An unfitted transformer for the classifier's ``encoder`` argument.

    * ``"autoencoder"``: :class:`MNISTAutoencoder` with ``n_components`` codes in ``[0, pi]``,
      the classifier's ``n_threads`` and ``verbose`` (so its progress shows with the
      classifier's);
    * ``"pca"``: PCA to ``n_components``, then min-max scaled into ``[0, pi]``;
    * ``None``: the features as they are (already reduced, already angles);
    * any scikit-learn transformer: cloned, used as it is.
    """
    if encoder is None:
        return FunctionTransformer(validate=False)
    if isinstance(encoder, str):
        if encoder == "autoencoder":
            return MNISTAutoencoder(
                n_components=n_components,
                random_state=random_state,
                n_threads=n_threads,
                verbose=verbose,
            )
        if encoder == "pca":
            return make_pipeline(
                PCA(n_components=n_components, random_state=random_state),
                MinMaxScaler(feature_range=(0.0, math.pi)),
            )
        raise ValueError(
            f"encoder must be one of {ENCODER_NAMES}, None or a scikit-learn transformer, "
            f"got {encoder!r}"
        )
    if not (hasattr(encoder, "fit") and hasattr(encoder, "transform")):
        raise ValueError(
            f"encoder must have fit and transform methods, got {type(encoder).__name__}"
        )
    return clone(encoder) if isinstance(encoder, BaseEstimator) else encoder
