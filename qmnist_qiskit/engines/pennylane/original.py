"""The original 2019 forum circuit and loss, written for today's PennyLane.

The forum post (``original-forum-thread.txt`` in the project's shared notes) encoded an
MNIST image as ``RX`` angles on ten wires, chained CNOTs between neighbours, applied a
trainable ``RX`` then ``RY`` layer and read the ``PauliZ`` expectation of wire ``i`` as the
score of class ``i``. Two things changed since: ``qml.expval.PauliZ(wires=i)`` is now
``qml.expval(qml.PauliZ(i))``, and default.qubit with the torch interface broadcasts over a
leading batch dimension, so ``x[..., i]`` replaces ``x[i]`` and one call scores a whole batch.

Wire ``i`` here is qubit ``i`` of :func:`qmnist_qiskit.circuits.seed_circuit`, whose
``observables[i]`` is ``Z`` on that qubit: both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pennylane as qml

from qmnist_qiskit.exceptions import QMNISTError


def _forum_circuit(n_qubits: int) -> Callable[[Any, Any], tuple]:
    def circuit(x, thetas):
        for i in range(n_qubits):
            qml.RX(x[..., i], wires=i)
        for i in range(n_qubits - 1):
            qml.CNOT(wires=[i, i + 1])
        for i in range(n_qubits):
            qml.RX(thetas[i], wires=i)
        for i in range(n_qubits, 2 * n_qubits):
            qml.RY(thetas[i], wires=i - n_qubits)
        return tuple(qml.expval(qml.PauliZ(i)) for i in range(n_qubits))

    return circuit


def original_loss(scores: Any, labels: Any) -> Any:
    """Mean softmax cross-entropy of class scores, computed stably as in the thread.

    The thread's ``cost`` subtracted each row's maximum before the log-sum-exp but then
    forgot to add it back (and never appended to ``yhats``); this is the loss it described,
    ``-s_y + m + log(sum(exp(s - m)))`` averaged over the batch, which equals
    :func:`torch.nn.functional.cross_entropy`.

    Parameters
    ----------
    scores : array_like of shape (batch, n_classes)
        Class scores (here: the ``Z`` expectations); numpy, PennyLane numpy or torch. The
        result has the same type and is differentiable by that framework.
    labels : array_like of int, shape (batch,)
        The true class of each row.

    Returns
    -------
    scalar
        The mean cross-entropy.

    Examples
    --------
    >>> import torch
    >>> from qmnist_qiskit.engines.pennylane import original_loss, original_qnode
    >>> qnode = original_qnode(4)
    >>> x = torch.zeros((2, 4), dtype=torch.float64)
    >>> thetas = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    >>> scores = torch.stack(qnode(x, thetas), dim=-1)
    >>> loss = original_loss(scores, [0, 3])
    >>> bool(torch.isclose(loss, torch.log(torch.tensor(4.0, dtype=torch.float64))))
    True
    """
    labels = np.asarray(labels)
    if qml.math.ndim(scores) != 2:
        raise ValueError(f"scores must have shape (batch, n_classes), got {qml.math.shape(scores)}")
    batch, n_classes = qml.math.shape(scores)
    if labels.shape != (batch,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {batch} integers, got {labels!r}")
    if batch and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got {labels!r}")
    true_class_scores = scores[np.arange(batch), labels]
    row_max = qml.math.max(scores, axis=1)
    shifted = scores - row_max[:, None]
    log_sum = qml.math.log(qml.math.sum(qml.math.exp(shifted), axis=1))
    return qml.math.mean(-true_class_scores + row_max + log_sum)


def original_qnode(
    n_qubits: int = 10,
    device: str = "default.qubit",
    interface: str = "torch",
    diff_method: str = "backprop",
    **device_options: Any,
) -> qml.QNode:
    """The forum's circuit as a QNode: ``qnode(x, thetas)`` -> tuple of ``Z`` expectations.

    Parameters
    ----------
    n_qubits : int
        Wires, features and classes (10 in the thread).
    device : str
        PennyLane device name.
    interface : str
        PennyLane interface; with ``"torch"`` on default.qubit, ``x`` may carry a leading batch
        dimension, shape ``(batch, n_qubits)``, and each expectation then has shape
        ``(batch,)``.
    diff_method : str
        PennyLane differentiation method (``"parameter-shift"`` reproduces 2019's cost).
    **device_options
        Passed to :func:`pennylane.device` (for example ``shots`` or ``method``).

    Returns
    -------
    pennylane.QNode
        Takes ``x`` of shape ``(n_qubits,)`` or ``(batch, n_qubits)`` and ``thetas`` of shape
        ``(2 * n_qubits,)``: ``thetas[i]`` is the ``RX`` angle and ``thetas[n_qubits + i]``
        the ``RY`` angle of wire ``i``.

    Examples
    --------
    >>> import pennylane as qml
    >>> import torch
    >>> from qmnist_qiskit.engines.pennylane import original_qnode
    >>> qnode = original_qnode(3)
    >>> print(qml.draw(qnode)(torch.zeros(3), torch.zeros(6)))  # doctest: +NORMALIZE_WHITESPACE
    0: ──RX(0.00)─╭●──RX(0.00)──RY(0.00)───────────┤  <Z>
    1: ──RX(0.00)─╰X─╭●─────────RX(0.00)──RY(0.00)─┤  <Z>
    2: ──RX(0.00)────╰X─────────RX(0.00)──RY(0.00)─┤  <Z>
    >>> [round(float(z), 6) for z in qnode(torch.zeros(3), torch.zeros(6))]
    [1.0, 1.0, 1.0]
    """
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    try:
        dev = qml.device(device, wires=n_qubits, **device_options)
    except qml.exceptions.DeviceError as exc:
        raise QMNISTError(f"cannot create PennyLane device {device!r}: {exc}") from exc
    return qml.QNode(_forum_circuit(n_qubits), dev, interface=interface, diff_method=diff_method)
