"""The classifier's ``encoder`` argument: from images to a few rotation angles."""

from __future__ import annotations

import math

from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from qmnist_qiskit.autoencoder import MNISTAutoencoder

ENCODER_NAMES = ("autoencoder", "pca")


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
