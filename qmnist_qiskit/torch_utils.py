"""Small torch helpers shared by the estimators: devices, seeding and thread counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from qmnist_qiskit.exceptions import QMNISTError


def parse_device(device: str | torch.device) -> torch.device:
    """A CPU or CUDA torch device named by ``device``, whether or not this machine has it.

    Raises
    ------
    ValueError
        For an unknown device name, or a device that is neither a CPU nor a CUDA device.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown torch device {device!r}") from exc
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device!r}")
    return resolved


def device_unavailable(device: torch.device) -> str | None:
    """Why ``device`` (from :func:`parse_device`) cannot be used here, or ``None``."""
    if device.type == "cuda" and not torch.cuda.is_available():
        return (
            f"device {str(device)!r} asked for CUDA, but torch sees no CUDA GPU here; "
            "use device='cpu' or install a CUDA build of torch on a machine with a GPU"
        )
    return None


def resolve_device(device: str | torch.device) -> torch.device:
    """A CPU or CUDA torch device; :class:`QMNISTError` when CUDA is asked for and absent."""
    resolved = parse_device(device)
    reason = device_unavailable(resolved)
    if reason is not None:
        raise QMNISTError(reason)
    return resolved


def check_n_threads(n_threads: int | None) -> None:
    """:class:`ValueError` unless ``n_threads`` is a positive integer or ``None``."""
    if n_threads is None:
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` torch intra-op threads, then restore the previous count.

    ``None`` leaves torch's setting alone. The count is process-wide: estimators run in
    threads of one process (joblib's threading backend) share it; processes (loky, the
    default) do not.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    check_n_threads(n_threads)
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seed_from(random_state: int | np.random.RandomState | None) -> int:
    """A torch seed drawn from a scikit-learn ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    return int(random_state)


@contextmanager
def seeded(random_state: int | np.random.RandomState | None) -> Iterator[torch.Generator]:
    """Seed torch's global generator inside the block (restored after) and yield a generator.

    Module initialisation draws from the global generator; shuffling uses the yielded one,
    so the same ``random_state`` gives the same model without touching the caller's state.
    """
    seed = seed_from(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed + 1)
