"""Collection rules for the whole checkout: the package's docstring examples run as doctests
(``--doctest-modules`` in pyproject), except those of the PennyLane layer when its extra is
not installed (the core-only CI stage)."""

from __future__ import annotations

from qmnist_qiskit.extras import missing_extra

collect_ignore_glob = ["qmnist_qiskit/engines/pennylane/*"] if missing_extra("pennylane") else []
