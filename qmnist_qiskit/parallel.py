"""Data-parallel training across the processes of a ``torch.distributed`` group.

Inside a process group (one that ``torchrun`` describes in the environment, or one the user
started with ``torch.distributed.init_process_group``), ``QuantumMNISTClassifier.fit`` trains
data-parallel:

* every rank draws the same global mini-batches (the shuffling is seeded alike everywhere) and
  computes the gradient of its own slice of each one;
* one ``all_reduce`` per step sums the slices' gradients, each scaled by its share of the
  batch, into the gradient of the whole batch's mean loss, which is what one process would
  have computed; every rank then takes the same optimiser step, so the weights stay identical;
* the encoder is fitted once, on rank 0, and sent to the other ranks (a pickled object), so
  every rank encodes with the very same transformer whatever its hardware;
* only rank 0 shows progress.

The processes are started, watched and stopped by ``torchrun``; nothing here schedules work.
The backend follows the device: gloo on CPU, NCCL when the engine runs on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

_LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torch.distributed`` group of two or more processes.

    Attributes
    ----------
    rank : int
        This process's rank; rank 0 writes files and shows progress.
    world_size : int
        Number of processes.
    local_rank : int
        Rank on this node (``LOCAL_RANK`` from the launcher; the rank without one).
    device : torch.device
        Where the tensors of collectives go: the CPU for gloo, this rank's GPU for NCCL.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global mini-batch; slices differ in size by at most one."""
        return torch.tensor_split(batch, self.world_size)[self.rank]

    def all_reduce_gradients(
        self, parameters: Iterable[nn.Parameter], *totals: float
    ) -> list[float]:
        """Sum the parameters' gradients over the ranks, in place, and ``totals`` with them.

        A parameter without a gradient (a rank whose slice was empty) counts as zero. One
        collective carries everything; the sums are the same on every rank.
        """
        parameters = list(parameters)
        pieces = [
            (torch.zeros_like(p) if p.grad is None else p.grad).detach().reshape(-1)
            for p in parameters
        ]
        pieces.append(torch.tensor(totals, dtype=torch.float64))
        flat = torch.cat([piece.to(torch.float64) for piece in pieces]).to(self.device)
        dist.all_reduce(flat)
        flat = flat.cpu()
        offset = 0
        for p in parameters:
            size = p.numel()
            p.grad = flat[offset : offset + size].reshape(p.shape).to(p.device, p.dtype)
            offset += size
        return flat[offset:].tolist()

    def broadcast_object(self, value: object) -> object:
        """Rank 0's ``value`` on every rank (pickled; for small objects like a fitted encoder)."""
        holder = [value]
        dist.broadcast_object_list(holder, src=0, device=self.device)
        return holder[0]

    def broadcast_module(self, module: nn.Module) -> None:
        """Overwrite every rank's parameters and buffers with rank 0's."""
        for tensor in module.state_dict().values():
            sent = tensor.detach().to(self.device)
            dist.broadcast(sent, src=0)
            tensor.copy_(sent)

    @contextmanager
    def local_leader_first(self) -> Iterator[None]:
        """Run the block on each node's local rank 0 first, then on the node's other ranks.

        For work that fills a per-node cache, such as downloading a dataset.
        """
        if self.local_rank != 0:
            dist.barrier()
        yield
        if self.local_rank == 0:
            dist.barrier()


def current_ranks() -> Ranks | None:
    """This process's :class:`Ranks`, or ``None`` outside a group of two or more processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    rank = dist.get_rank()
    return Ranks(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)), device)


def launched_by_torchrun() -> bool:
    """Whether the environment describes a process group (as ``torchrun`` sets it up)."""
    return all(name in os.environ for name in _LAUNCHER_VARIABLES)


def backend_for(device: str | None) -> str:
    """``"nccl"`` when ``device`` names a CUDA device (``"cuda"``, ``"cuda:1"``), else ``"gloo"``.

    Examples
    --------
    >>> backend_for("cuda"), backend_for("cpu"), backend_for(None)
    ('nccl', 'gloo', 'gloo')
    """
    return "nccl" if device is not None and device.startswith("cuda") else "gloo"


@contextmanager
def process_group_from_env(device: str | None = None) -> Iterator[Ranks | None]:
    """Join the process group that ``torchrun`` describes in the environment, for the block.

    Outside ``torchrun`` (no ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), or
    when this process already belongs to a group, nothing is started or destroyed and the
    block gets :func:`current_ranks`. Otherwise the group is initialised with the backend
    for ``device`` (see :func:`backend_for`; with NCCL each process takes the GPU of its
    ``LOCAL_RANK``) and destroyed when the block ends.
    """
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield current_ranks()
        return
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    try:
        yield current_ranks()
    finally:
        dist.destroy_process_group()
