"""qmnist_qiskit: train Qiskit circuits to classify MNIST, fast and checkable."""

from __future__ import annotations

from qmnist_qiskit.engines import make_qnn
from qmnist_qiskit.exceptions import QMNISTError

__version__ = "0.1.0"

__all__ = ["QMNISTError", "make_qnn", "__version__"]
