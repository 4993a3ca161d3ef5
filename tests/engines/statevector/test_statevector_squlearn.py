"""sQUlearn trains through the estimator exactly as through its own default executor.

Needs sQUlearn (``pip install squlearn``), which CI installs into its core-only venv; skipped
without it. sQUlearn's default executor simulates with PennyLane's default.qubit.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("squlearn")

from squlearn import Executor
from squlearn.encoding_circuit import QiskitEncodingCircuit
from squlearn.observables import SummedPaulis
from squlearn.optimizers import Adam
from squlearn.qnn import QNNClassifier, SquaredLoss

from qmnist_qiskit.circuits import layered_circuit
from qmnist_qiskit.engines.statevector import StatevectorEstimator


def _classifier(executor: Executor, encoding: QiskitEncodingCircuit) -> QNNClassifier:
    n_qubits = encoding.num_qubits
    return QNNClassifier(
        encoding,
        SummedPaulis(n_qubits, op_str="Z"),
        executor,
        SquaredLoss(),
        Adam({"lr": 0.1}),
        batch_size=4,
        epochs=2,
        shuffle=False,
        parameter_seed=0,
        callback=None,
    )


def test_qnn_classifier_trains_as_on_the_default_executor():
    # QiskitEncodingCircuit tells features from weights by their names: our circuits name them
    # x[...] and θ[...], two of its default labels.
    encoding = QiskitEncodingCircuit(layered_circuit(3, reps=2, entanglement="circular").circuit)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, np.pi, (8, 3))
    y = (X[:, 0] + X[:, 1] > np.pi).astype(int)
    estimator = StatevectorEstimator()
    ours = _classifier(Executor(estimator), encoding)
    theirs = _classifier(Executor(), encoding)
    ours.fit(X, y)
    theirs.fit(X, y)
    initial = encoding.generate_initial_parameters(seed=0, num_features=3)
    assert np.abs(ours._param - initial).max() > 0.05  # it did train
    np.testing.assert_allclose(ours._param, theirs._param, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours._param_op, theirs._param_op, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-10)
    # sQUlearn takes a V2 estimator at precision 0 for 1,024 shots, sets the precision to match,
    # and results stay exact: only the metadata says so.
    assert estimator.options.default_precision == pytest.approx(1 / 32)
