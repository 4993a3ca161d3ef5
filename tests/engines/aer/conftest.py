"""Independent references for the Aer engine's tests: ``qiskit.quantum_info.Statevector``."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qmnist_qiskit.circuits import CircuitSpec


class StatevectorReference:
    """Expectation values and Jacobians from ``Statevector``, one parameter set at a time.

    Jacobians use the five-point central difference with step ``1e-3``: its truncation error
    (``h**4 / 30`` times a fifth derivative of a trigonometric polynomial of low degree) and
    rounding error are both below ``1e-12``, independent of any parameter-shift code.
    """

    step = 1e-3

    def values(self, spec: CircuitSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        parameters = list(spec.input_params) + list(spec.weight_params)
        rows = np.concatenate([x, np.broadcast_to(w, (len(x), len(w)))], axis=1)
        states = [
            Statevector(spec.circuit.assign_parameters(dict(zip(parameters, row, strict=True))))
            for row in rows
        ]
        return np.array(
            [[state.expectation_value(op).real for op in spec.observables] for state in states]
        )

    def jacobians(
        self, spec: CircuitSpec, x: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(B, n_obs, n_inputs)`` and ``(B, n_obs, n_weights)``."""
        h = self.step
        stencil = ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0))

        def derivative(shift_x, shift_w):
            return sum(
                weight * self.values(spec, x + k * h * shift_x, w + k * h * shift_w)
                for k, weight in stencil
            ) / (12 * h)

        n_in, n_w = x.shape[1], len(w)
        input_jac = [derivative(np.eye(n_in)[i], np.zeros(n_w)) for i in range(n_in)]
        weight_jac = [derivative(np.zeros(n_in), np.eye(n_w)[j]) for j in range(n_w)]
        return np.stack(input_jac, axis=-1), np.stack(weight_jac, axis=-1)


@pytest.fixture(scope="session")
def statevector_reference() -> StatevectorReference:
    return StatevectorReference()
