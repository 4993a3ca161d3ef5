"""scikit-learn's own estimator checks on small configurations."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from qmnist_qiskit import MNISTAutoencoder, QuantumMNISTClassifier

ESTIMATORS = [
    QuantumMNISTClassifier(
        encoder=None,
        n_qubits=3,
        reps=2,
        epochs=8,
        batch_size=64,
        learning_rate=0.2,
        random_state=0,
    ),
    MNISTAutoencoder(n_components=2, hidden_layer_sizes=(8,), epochs=2, random_state=0),
]


def _expected_failed_checks(estimator):
    # Every check passes: nothing is skipped.
    return {}


# scikit-learn's checks feed the encoder=None classifier data far from rotation angles.
@pytest.mark.filterwarnings("ignore:with encoder=None the features are rotation angles")
@pytest.mark.filterwarnings("ignore:MNISTAutoencoder expects pixels in")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
