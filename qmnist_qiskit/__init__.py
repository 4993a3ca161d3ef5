"""qmnist_qiskit: train Qiskit circuits to classify MNIST, fast and checkable.

>>> from qmnist_qiskit import QuantumMNISTClassifier, MNISTAutoencoder, load_mnist, make_qnn
"""

from __future__ import annotations

from qmnist_qiskit.autoencoder import MNISTAutoencoder
from qmnist_qiskit.classifier import QuantumMNISTClassifier
from qmnist_qiskit.data import load_mnist
from qmnist_qiskit.engines import make_qnn
from qmnist_qiskit.exceptions import QMNISTError

__version__ = "0.1.0"

__all__ = [
    "MNISTAutoencoder",
    "QMNISTError",
    "QuantumMNISTClassifier",
    "__version__",
    "load_mnist",
    "make_qnn",
]
