"""Bad input to the Aer engine: clear errors before anything is simulated."""

from __future__ import annotations

import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines.aer import make_aer_qnn
from qmnist_qiskit.engines.aer.estimator import available_devices
from qmnist_qiskit.engines.aer.options import resolve_options
from qmnist_qiskit.exceptions import QMNISTError

BAD_OPTIONS = [
    ({"shots": 0}, ValueError, "shots must be a positive integer, got 0"),
    ({"shots": -100}, ValueError, "shots must be a positive integer"),
    ({"shots": 10.5}, ValueError, "shots must be a positive integer"),
    ({"shots": True}, ValueError, "shots must be a positive integer"),
    ({"precision": -0.1}, ValueError, r"precision must be a number in \[0, 1\]"),
    ({"precision": 1.5}, ValueError, r"precision must be a number in \[0, 1\]"),
    ({"precision": "high"}, ValueError, r"precision must be a number in \[0, 1\]"),
    ({"shots": 100, "precision": 0.1}, ValueError, "either shots or precision"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"device": "TPU"}, ValueError, "unknown device 'TPU'"),
    ({"method": "stabilizer"}, ValueError, "unknown method 'stabilizer'"),
    ({"noise_model": "depolarising"}, TypeError, "noise_model must be a qiskit_aer"),
    ({"backend": "ibm_manila"}, TypeError, "backend must be a qiskit BackendV2"),
    ({"gradient": "adjoint"}, ValueError, "unknown gradient 'adjoint'"),
    ({"spsa_epsilon": 0.0}, ValueError, "spsa_epsilon must be a number in"),
    ({"spsa_batch_size": 0}, ValueError, "spsa_batch_size must be a positive integer"),
    ({"optimization_level": 4}, ValueError, "optimization_level must be 0, 1, 2 or 3"),
    ({"backend_options": ["fusion_enable"]}, TypeError, "backend_options must be a dict"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD_OPTIONS)
def test_bad_options_are_rejected(options, error, message):
    with pytest.raises(error, match=message):
        make_aer_qnn(*seed_circuit(2), **options)


def test_noise_model_and_backend_together_are_rejected():
    with pytest.raises(ValueError, match="either noise_model or backend"):
        resolve_options(noise_model=NoiseModel(), backend=FakeManilaV2())


def test_unknown_option_name_is_rejected_by_the_door():
    with pytest.raises(ValueError, match="unknown option 'shot' for engine 'aer'; its options are"):
        make_qnn(*seed_circuit(2), engine="aer", shot=100)


def test_device_names_are_normalised():
    assert resolve_options(device="cpu").device == "CPU"


def _circuit():
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.rx(a, 0)
    circuit.ry(b, 1)
    return circuit, a, b


def test_bad_circuits_and_observables_are_rejected():
    # make_qnn checks these for every engine (tests/engines/test_make_qnn_checks.py).
    circuit, a, b = _circuit()
    z = [SparsePauliOp("IZ")]
    with pytest.raises(ValueError, match="neither in input_params nor in weight_params"):
        make_qnn(circuit, [a], [], z, engine="aer")
    with pytest.raises(ValueError, match=r"parameters \['c'\] do not occur"):
        make_qnn(circuit, [a], [b, Parameter("c")], z, engine="aer")
    with pytest.raises(ValueError, match="must be distinct"):
        make_qnn(circuit, [a, b], [b], z, engine="aer")
    with pytest.raises(ValueError, match="observable 0 acts on 1 qubits, the circuit on 2"):
        make_qnn(circuit, [a], [b], [SparsePauliOp("Z")], engine="aer")
    with pytest.raises(TypeError, match="observable 0 must be a SparsePauliOp"):
        make_qnn(circuit, [a], [b], ["ZI"], engine="aer")
    with pytest.raises(ValueError, match="at least one observable"):
        make_qnn(circuit, [a], [b], [], engine="aer")
    measured = circuit.copy()
    measured.measure_all()
    with pytest.raises(ValueError, match="no measurements"):
        make_qnn(measured, [a], [b], z, engine="aer")


@pytest.mark.skipif("GPU" in available_devices(), reason="this Aer has a GPU")
def test_gpu_without_gpu_build_says_what_to_install():
    with pytest.raises(QMNISTError, match="pip install qiskit-aer-gpu"):
        make_aer_qnn(*seed_circuit(2), device="GPU")
