"""Gate matrices built in torch from angle tensors, in Qiskit's conventions.

Every builder takes angle tensors of a common broadcastable shape ``S`` and returns complex
matrices of shape ``S + (K, K)`` (dense gates) or ``S + (4,)`` (diagonal two-qubit gates).
Two-qubit matrices index basis states as ``b0 + 2 * b1`` where ``b0`` is the bit of the
gate's first qubit, exactly as ``Gate.to_matrix()`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

Builder = Callable[..., torch.Tensor]


def _expi(angle: torch.Tensor) -> torch.Tensor:
    return torch.complex(torch.cos(angle), torch.sin(angle))


def _cos_sin(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    half = theta / 2
    return torch.cos(half), torch.sin(half)


def _complex(value: torch.Tensor) -> torch.Tensor:
    return torch.complex(value, torch.zeros_like(value))


def _matrix(rows: Sequence[Sequence[torch.Tensor | complex]]) -> torch.Tensor:
    tensors = [entry for row in rows for entry in row if isinstance(entry, torch.Tensor)]
    shape = torch.broadcast_shapes(*(tensor.shape for tensor in tensors))
    reference = tensors[0]

    def full(entry: torch.Tensor | complex) -> torch.Tensor:
        if isinstance(entry, torch.Tensor):
            return entry.expand(shape)
        return torch.full(shape, entry, dtype=reference.dtype, device=reference.device)

    return torch.stack([torch.stack([full(entry) for entry in row], -1) for row in rows], -2)


def _u(theta: torch.Tensor, phi: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    return _matrix(
        [
            [_complex(cos), -_expi(lam) * sin],
            [_expi(phi) * sin, _expi(phi + lam) * cos],
        ]
    )


def _rx(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    minus_i_sin = torch.complex(torch.zeros_like(sin), -sin)
    return _matrix([[_complex(cos), minus_i_sin], [minus_i_sin, _complex(cos)]])


def _ry(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    return _matrix([[_complex(cos), _complex(-sin)], [_complex(sin), _complex(cos)]])


def _rz(phi: torch.Tensor) -> torch.Tensor:
    return _matrix([[_expi(-phi / 2), 0j], [0j, _expi(phi / 2)]])


def _p(lam: torch.Tensor) -> torch.Tensor:
    one = _complex(torch.ones_like(lam))
    return _matrix([[one, 0j], [0j, _expi(lam)]])


def _u2(phi: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    return _u(torch.full_like(phi, np.pi / 2), phi, lam)


def _r(theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    minus_i_sin = torch.complex(torch.zeros_like(sin), -sin)
    return _matrix(
        [
            [_complex(cos), minus_i_sin * _expi(-phi)],
            [minus_i_sin * _expi(phi), _complex(cos)],
        ]
    )


def _controlled(block: torch.Tensor) -> torch.Tensor:
    """The 4x4 matrix applying the 2x2 ``block`` to the second qubit when the first is 1."""
    one = _complex(torch.ones(block.shape[:-2], dtype=block.real.dtype, device=block.device))
    return _matrix(
        [
            [one, 0j, 0j, 0j],
            [0j, block[..., 0, 0], 0j, block[..., 0, 1]],
            [0j, 0j, one, 0j],
            [0j, block[..., 1, 0], 0j, block[..., 1, 1]],
        ]
    )


def _cu(theta, phi, lam, gamma) -> torch.Tensor:
    return _controlled(_expi(gamma)[..., None, None] * _u(theta, phi, lam))


def _rxx(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    c, m = _complex(cos), torch.complex(torch.zeros_like(sin), -sin)
    return _matrix([[c, 0j, 0j, m], [0j, c, m, 0j], [0j, m, c, 0j], [m, 0j, 0j, c]])


def _ryy(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    c = _complex(cos)
    m, p = torch.complex(torch.zeros_like(sin), -sin), torch.complex(torch.zeros_like(sin), sin)
    return _matrix([[c, 0j, 0j, p], [0j, c, m, 0j], [0j, m, c, 0j], [p, 0j, 0j, c]])


def _rzx(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = _cos_sin(theta)
    c = _complex(cos)
    m, p = torch.complex(torch.zeros_like(sin), -sin), torch.complex(torch.zeros_like(sin), sin)
    return _matrix([[c, 0j, m, 0j], [0j, c, 0j, p], [m, 0j, c, 0j], [0j, p, 0j, c]])


def _diagonal(*entries: torch.Tensor | complex) -> torch.Tensor:
    return _matrix([entries])[..., 0, :]


def _crz(theta: torch.Tensor) -> torch.Tensor:
    return _diagonal(1 + 0j, _expi(-theta / 2), 1 + 0j, _expi(theta / 2))


def _cp(lam: torch.Tensor) -> torch.Tensor:
    return _diagonal(1 + 0j, 1 + 0j, 1 + 0j, _expi(lam))


def _rzz(theta: torch.Tensor) -> torch.Tensor:
    minus, plus = _expi(-theta / 2), _expi(theta / 2)
    return _diagonal(minus, plus, plus, minus)


SINGLE_QUBIT: dict[str, Builder] = {
    "rx": _rx,
    "ry": _ry,
    "rz": _rz,
    "p": _p,
    "u1": _p,
    "u2": _u2,
    "u3": _u,
    "u": _u,
    "r": _r,
}
"""Parameterised single-qubit gates: name -> builder of ``(..., 2, 2)`` matrices."""

TWO_QUBIT: dict[str, Builder] = {
    "crx": lambda theta: _controlled(_rx(theta)),
    "cry": lambda theta: _controlled(_ry(theta)),
    "cu3": lambda theta, phi, lam: _controlled(_u(theta, phi, lam)),
    "cu": _cu,
    "rxx": _rxx,
    "ryy": _ryy,
    "rzx": _rzx,
}
"""Parameterised dense two-qubit gates: name -> builder of ``(..., 4, 4)`` matrices."""

DIAGONAL_TWO_QUBIT: dict[str, Builder] = {
    "crz": _crz,
    "cp": _cp,
    "cu1": _cp,
    "rzz": _rzz,
}
"""Parameterised diagonal two-qubit gates: name -> builder of ``(..., 4)`` diagonals."""


def build_matrix(name: str, angles: Sequence[torch.Tensor]) -> torch.Tensor:
    """The matrix (or diagonal) of the parameterised gate ``name`` at ``angles``.

    Parameters
    ----------
    name : str
        A key of :data:`SINGLE_QUBIT`, :data:`TWO_QUBIT` or :data:`DIAGONAL_TWO_QUBIT`.
    angles : sequence of Tensor
        The gate's parameters, real tensors of broadcastable shapes.

    Returns
    -------
    Tensor
        Complex, of shape ``S + (2, 2)``, ``S + (4, 4)`` or ``S + (4,)``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from qiskit.circuit.library import RYGate
    >>> matrix = build_matrix("ry", [torch.tensor(0.3, dtype=torch.float64)])
    >>> bool(np.allclose(matrix.numpy(), RYGate(0.3).to_matrix()))
    True
    """
    for table in (SINGLE_QUBIT, TWO_QUBIT, DIAGONAL_TWO_QUBIT):
        if name in table:
            return table[name](*torch.broadcast_tensors(*angles))
    raise ValueError(f"no torch builder for the gate {name!r}")


def monomial_structure(matrix: np.ndarray, atol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Split a matrix with exactly one non-zero entry per row into ``(columns, values)``.

    ``matrix @ v == values * v[columns]``. Raises ``ValueError`` when ``matrix`` is not
    monomial (a permutation with phases).
    """
    magnitude = np.abs(matrix)
    nonzero = magnitude > atol
    if not (np.all(nonzero.sum(axis=1) == 1) and np.all(nonzero.sum(axis=0) == 1)):
        raise ValueError("matrix is not a permutation with phases")
    columns = np.argmax(magnitude, axis=1)
    return columns, matrix[np.arange(len(matrix)), columns]
