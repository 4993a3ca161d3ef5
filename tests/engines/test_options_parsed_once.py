"""Engine options are parsed once per fit: the parsed object travels down to the engine."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from qmnist_qiskit import QuantumMNISTClassifier, make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines import check_engine_options
from qmnist_qiskit.engines.registry import RECORDS


@pytest.fixture
def parses(monkeypatch):
    """The calls of each engine's options parser, by engine, while the test runs."""
    calls: dict[str, int] = {}
    for name, record in list(RECORDS.items()):

        @functools.wraps(record.parse)
        def counting(*, _name=name, _parse=record.parse, **options):
            calls[_name] = calls.get(_name, 0) + 1
            return _parse(**options)

        monkeypatch.setitem(RECORDS, name, dataclasses.replace(record, parse=counting))
    return calls


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, np.pi, (12, 3)), np.tile([0, 1, 2], 4)


@pytest.mark.parametrize(
    ("engine", "options"), [("statevector", None), ("aer", {"seed": 1, "gradient": "spsa"})]
)
def test_one_fit_parses_the_engine_options_once(parses, engine, options):
    X, y = _data()
    clf = QuantumMNISTClassifier(
        encoder=None,
        n_qubits=3,
        ansatz="seed",
        engine=engine,
        engine_options=options,
        epochs=2,
        batch_size=4,
        random_state=0,
    )
    clf.fit(X, y)
    assert parses == {engine: 1}
    clf.partial_fit(X, y)
    assert parses == {engine: 2}


def test_make_qnn_takes_parsed_options_without_parsing_again(parses):
    options = check_engine_options("aer", {"shots": 100, "seed": 2})
    assert parses == {"aer": 1}
    qnn = make_qnn(*seed_circuit(2), engine="aer", options=options)
    assert parses == {"aer": 1}
    assert qnn.default_precision == pytest.approx(0.1)
    make_qnn(*seed_circuit(2), engine="aer", shots=100)
    assert parses == {"aer": 2}


def test_parsed_options_must_be_the_engines_own():
    options = check_engine_options("aer", {"shots": 100})
    with pytest.raises(TypeError, match="must be a dict or StatevectorOptions, got AerOptions"):
        make_qnn(*seed_circuit(2), engine="statevector", options=options)
    with pytest.raises(TypeError, match="either options= .* or keyword options"):
        make_qnn(*seed_circuit(2), engine="aer", options=options, seed=1)
