"""The estimator engine's record: its options, and a memory model for a state held elsewhere.

Whether the estimator can run (a device's queue, an account) is for it to say when its jobs
run; there is nothing to check here. It has no comparison variants: it needs an estimator
object, which the caller brings, and which is never written to a model file (``device``).
"""

from __future__ import annotations

from qmnist_qiskit.engines.estimator.options import (
    EstimatorEngineOptions,
    estimator_shots,
    parse_estimator_options,
)
from qmnist_qiskit.engines.estimator.qnn import device_circuit
from qmnist_qiskit.engines.record import NOT_HELD, DeviceView, EngineRecord


def _device_view(options: EstimatorEngineOptions, circuit, observables) -> DeviceView:
    circuit, observables = device_circuit(circuit, observables, options)
    shots = options.shots if options.shots is not None else estimator_shots(options.estimator)
    return DeviceView(
        circuit, observables, options.backend, shots, options.gradient, options.spsa_batch_size
    )


RECORD = EngineRecord(
    name="estimator",
    factory=("qmnist_qiskit.engines.estimator", "make_estimator_qnn"),
    parse=parse_estimator_options,
    options_type=EstimatorEngineOptions,
    memory=NOT_HELD,
    device=True,
    device_view=_device_view,
)
