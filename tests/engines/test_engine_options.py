"""check_engine_options: each engine's own table, ValueErrors naming what is allowed, before
anything is built or warned."""

from __future__ import annotations

import warnings

import pytest
import torch
from qiskit_aer.noise import NoiseModel

from qmnist_qiskit import make_qnn
from qmnist_qiskit.circuits import seed_circuit
from qmnist_qiskit.engines import ENGINES, check_engine_options, engine_record
from qmnist_qiskit.engines.options import PennyLaneOptions, option_names

STATEVECTOR_OPTIONS = "dtype, device, max_memory_bytes"
AER_OPTIONS = (
    "method, device, shots, precision, seed, noise_model, backend, optimization_level, "
    "gradient, spsa_batch_size, spsa_epsilon, backend_options"
)
PENNYLANE_OPTIONS = "device, diff_method, shots, seed"
ESTIMATOR_OPTIONS = (
    "estimator, shots, precision, pass_manager, optimization_level, seed, gradient, "
    "spsa_batch_size, spsa_epsilon, max_retries, retry_backoff, timeout, estimator_options"
)


def test_every_engine_has_a_table_of_the_options_its_factory_takes():
    assert {engine: ", ".join(option_names(engine)) for engine in ENGINES} == {
        "statevector": STATEVECTOR_OPTIONS,
        "aer": AER_OPTIONS,
        "pennylane": PENNYLANE_OPTIONS,
        "estimator": ESTIMATOR_OPTIONS,
    }


@pytest.mark.parametrize(
    ("engine", "options"),
    [
        ("statevector", None),
        ("statevector", {"dtype": "complex64", "device": "cpu", "max_memory_bytes": 2**20}),
        ("statevector", {"device": torch.device("cpu")}),
        # A valid name whether or not this machine has a GPU: building the engine says.
        ("statevector", {"device": "cuda:0"}),
        ("aer", {"shots": 100, "seed": 3, "method": "matrix_product_state"}),
        ("aer", {"precision": 0.01, "noise_model": NoiseModel(), "gradient": "spsa"}),
        ("aer", {"device": "gpu", "backend_options": {"fusion_enable": False}}),
        ("pennylane", {"device": "qiskit.aer", "shots": 10, "seed": 1}),
        ("pennylane", {"device": "lightning.qubit", "diff_method": "parameter-shift"}),
    ],
)
def test_valid_options_come_back_parsed(engine, options):
    checked = check_engine_options(engine, options)
    assert isinstance(checked, engine_record(engine).options_type)
    for name, value in (options or {}).items():
        if name in ("shots", "seed", "max_memory_bytes", "method", "gradient", "diff_method"):
            assert getattr(checked, name) == value


@pytest.mark.parametrize(
    ("engine", "options", "message"),
    [
        (
            "statevector",
            {"shots": 100},
            "unknown option 'shots' for engine 'statevector'; its options are "
            + STATEVECTOR_OPTIONS,
        ),
        (
            "aer",
            {"shot": 100, "devices": "CPU"},
            f"unknown options ['shot', 'devices'] for engine 'aer'; its options are {AER_OPTIONS}",
        ),
        (
            "pennylane",
            {"method": "adjoint"},
            f"unknown option 'method' for engine 'pennylane'; its options are {PENNYLANE_OPTIONS}",
        ),
    ],
)
def test_an_unknown_option_names_the_valid_ones(engine, options, message):
    with pytest.raises(ValueError) as error:
        check_engine_options(engine, options)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("engine", "options", "match"),
    [
        ("statevector", {"dtype": "float64"}, "dtype must be 'complex128' or 'complex64'"),
        ("statevector", {"device": 0}, "device must be a string such as 'cpu'"),
        ("statevector", {"device": "tpu"}, "unknown torch device 'tpu'"),
        ("statevector", {"device": "meta"}, "device must be a CPU or CUDA device"),
        ("statevector", {"max_memory_bytes": 0}, "max_memory_bytes must be a positive integer"),
        ("statevector", {"max_memory_bytes": 1.5e9}, "max_memory_bytes must be a positive"),
        ("aer", {"shots": 0}, "shots must be a positive integer, got 0"),
        ("aer", {"shots": -1}, "shots must be a positive integer, got -1"),
        ("aer", {"shots": 1.5}, "shots must be a positive integer, got 1.5"),
        ("aer", {"method": "stabilizer"}, "unknown method 'stabilizer'; choose one of"),
        ("aer", {"device": 1}, r"unknown device 1; choose one of \('CPU', 'GPU'\)"),
        ("aer", {"seed": -2}, "seed must be a non-negative integer"),
        ("pennylane", {"device": 3}, "unknown PennyLane device 3; choose one of"),
        ("pennylane", {"device": "qiskit.aer", "shots": 0}, "shots must be a positive integer"),
        ("pennylane", {"shots": 100}, "shots are supported on the qiskit.aer device only"),
        ("pennylane", {"seed": "7"}, "seed must be an integer or None"),
    ],
)
def test_invalid_values_are_value_errors_naming_the_option(engine, options, match):
    with pytest.raises(ValueError, match=match):
        check_engine_options(engine, options)


def test_unknown_engines_and_non_dict_options_are_value_errors():
    with pytest.raises(ValueError, match=r"unknown engine 'qulacs'; choose one of \('statev"):
        check_engine_options("qulacs", {})
    with pytest.raises(ValueError, match="engine options must be a dict or None"):
        check_engine_options("aer", [("shots", 10)])


@pytest.mark.parametrize(
    ("engine", "options", "match"),
    [
        ("statevector", {"shots": 100}, "unknown option 'shots'"),
        ("aer", {"shots": 0}, "shots must be a positive integer"),
        # The extra is looked for after the options are checked.
        ("pennylane", {"device": "default.mixed"}, "unknown PennyLane device"),
    ],
)
def test_make_qnn_checks_options_first_and_warns_nothing_before(engine, options, match):
    # A circuit that is not one: the options are refused before the circuit is looked at.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            make_qnn("not a circuit", [], [], [], engine=engine, **options)


@pytest.mark.usefixtures("without_pennylane")
def test_pennylane_options_are_checked_without_the_extra():
    assert check_engine_options("pennylane", {"device": "lightning.qubit"}) == PennyLaneOptions(
        "lightning.qubit", "adjoint", None, None
    )
    with pytest.raises(ValueError, match="unknown option 'dtype'"):
        check_engine_options("pennylane", {"dtype": "complex64"})


def test_engine_objects_are_still_type_errors():
    # Objects of the wrong type (not values out of range) keep Python's TypeError.
    with pytest.raises(TypeError, match="noise_model must be a qiskit_aer.noise.NoiseModel"):
        check_engine_options("aer", {"noise_model": "depolarising"})
    with pytest.raises(TypeError, match="backend must be a qiskit BackendV2"):
        make_qnn(*seed_circuit(2), engine="aer", backend="ibm_manila")
