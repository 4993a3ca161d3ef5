"""Torch gate builders against Qiskit's own matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.circuit import library

from qmnist_qiskit.engines.statevector.gates import (
    DIAGONAL_TWO_QUBIT,
    SINGLE_QUBIT,
    TWO_QUBIT,
    build_matrix,
    monomial_structure,
)

QISKIT_GATES = {
    "rx": (library.RXGate, 1),
    "ry": (library.RYGate, 1),
    "rz": (library.RZGate, 1),
    "p": (library.PhaseGate, 1),
    "u1": (library.U1Gate, 1),
    "u2": (library.U2Gate, 2),
    "u3": (library.U3Gate, 3),
    "u": (library.UGate, 3),
    "r": (library.RGate, 2),
    "crx": (library.CRXGate, 1),
    "cry": (library.CRYGate, 1),
    "cu3": (library.CU3Gate, 3),
    "cu": (library.CUGate, 4),
    "rxx": (library.RXXGate, 1),
    "ryy": (library.RYYGate, 1),
    "rzx": (library.RZXGate, 1),
    "crz": (library.CRZGate, 1),
    "cp": (library.CPhaseGate, 1),
    "cu1": (library.CU1Gate, 1),
    "rzz": (library.RZZGate, 1),
}


def test_every_builder_has_a_reference():
    assert set(QISKIT_GATES) == {*SINGLE_QUBIT, *TWO_QUBIT, *DIAGONAL_TWO_QUBIT}


@pytest.mark.parametrize("name", sorted(QISKIT_GATES))
def test_builder_matches_qiskit_matrix(name):
    gate_class, num_angles = QISKIT_GATES[name]
    rows = np.random.default_rng(7).uniform(-2 * np.pi, 2 * np.pi, (5, num_angles))
    matrices = build_matrix(name, [torch.tensor(column) for column in rows.T]).numpy()
    for row, matrix in zip(rows, matrices, strict=True):
        expected = gate_class(*row).to_matrix()
        if name in DIAGONAL_TWO_QUBIT:
            expected = np.diag(expected)
        np.testing.assert_allclose(matrix, expected, atol=1e-14)


def test_builders_broadcast_batches_of_angles():
    angles = torch.linspace(-3, 3, 7, dtype=torch.float64)
    matrices = build_matrix("u", [angles, torch.tensor([0.2], dtype=torch.float64), angles])
    assert matrices.shape == (7, 2, 2)
    for index, angle in enumerate(angles.tolist()):
        np.testing.assert_allclose(
            matrices[index].numpy(), library.UGate(angle, 0.2, angle).to_matrix(), atol=1e-14
        )


def test_builders_keep_single_precision():
    matrix = build_matrix("rxx", [torch.tensor([0.3], dtype=torch.float32)])
    assert matrix.dtype == torch.complex64


def test_unknown_builder_is_refused():
    with pytest.raises(ValueError, match="no torch builder"):
        build_matrix("xx_plus_yy", [torch.tensor(0.1)])


def test_monomial_structure_of_a_cnot_and_of_y():
    columns, values = monomial_structure(library.CXGate().to_matrix())
    assert columns.tolist() == [0, 3, 2, 1]
    np.testing.assert_allclose(values, 1.0)
    columns, values = monomial_structure(library.YGate().to_matrix())
    assert columns.tolist() == [1, 0]
    np.testing.assert_allclose(values, [-1j, 1j])
    with pytest.raises(ValueError, match="not a permutation"):
        monomial_structure(library.HGate().to_matrix())
