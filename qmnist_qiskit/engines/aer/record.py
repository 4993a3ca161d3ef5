"""The Aer engine's record: its options, availability, memory model and variants."""

from __future__ import annotations

from qmnist_qiskit.engines.aer.estimator import device_unavailable
from qmnist_qiskit.engines.aer.options import AerOptions, resolve_options
from qmnist_qiskit.engines.aer.transpile import transpile_for_backend
from qmnist_qiskit.engines.record import DeviceView, EngineRecord, EngineVariant, MemoryModel


def _availability(options: AerOptions) -> str | None:
    return device_unavailable(options.device, options.method)


def _holds_state(options: AerOptions) -> bool:
    # The matrix-product-state method and the GPU device do not keep the 2**n state here.
    return options.method != "matrix_product_state" and options.device != "GPU"


def _device_view(options: AerOptions, circuit, observables) -> DeviceView:
    if options.backend is not None:
        circuit, observables = transpile_for_backend(circuit, observables, options)
    return DeviceView(
        circuit,
        list(observables),
        options.backend,
        options.shots,
        options.gradient,
        options.spsa_batch_size,
    )


RECORD = EngineRecord(
    name="aer",
    factory=("qmnist_qiskit.engines.aer", "make_aer_qnn"),
    parse=resolve_options,
    options_type=AerOptions,
    availability=_availability,
    # Aer's statevector simulator keeps the state and a work copy.
    memory=MemoryModel(copies=2, holds_state=_holds_state),
    variants=(
        EngineVariant("aer", "aer"),
        EngineVariant("aer shots", "aer", sampled=True),
        EngineVariant("aer GPU", "aer", {"device": "GPU"}),
    ),
    device_view=_device_view,
)
