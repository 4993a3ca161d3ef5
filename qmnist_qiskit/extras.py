"""Optional dependencies: which modules each extra provides, and what to say when one is missing.

The core (circuits, the statevector and Aer engines, the classifier, data, CLI) imports without
any extra. The PennyLane layer is the ``pennylane`` extra because pennylane-qiskit pins an older
Qiskit and Aer than the newest ones the core runs on.
"""

from __future__ import annotations

from importlib.util import find_spec

from qmnist_qiskit.exceptions import QMNISTError

EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pennylane": ("PennyLane", ("pennylane", "pennylane_qiskit", "pennylane_lightning")),
}
"""For each extra of ``pyproject.toml``: its name in messages and the modules it provides."""


def missing_extra(extra: str) -> str | None:
    """``None`` when ``extra``'s modules are importable, else a one-line note on how to get them.

    Looks the modules up without importing them (PennyLane takes seconds to import).

    Examples
    --------
    >>> from qmnist_qiskit.extras import missing_extra
    >>> missing_extra("pennylane")  # doctest: +SKIP
    "needs the PennyLane extra (missing pennylane_qiskit): pip install 'qmnist_qiskit[pennylane]'"
    """
    label, modules = EXTRAS[extra]
    missing = [module for module in modules if find_spec(module) is None]
    if not missing:
        return None
    return (
        f"needs the {label} extra (missing {', '.join(missing)}): "
        f"pip install 'qmnist_qiskit[{extra}]'"
    )


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`QMNISTError` naming ``what`` and the extra to install, if it is missing.

    Raises
    ------
    QMNISTError
        For example ``engine 'pennylane' needs the PennyLane extra (missing pennylane):
        pip install 'qmnist_qiskit[pennylane]'``.
    """
    message = missing_extra(extra)
    if message is not None:
        raise QMNISTError(f"{what} {message}")
