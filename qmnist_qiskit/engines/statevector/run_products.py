"""Products of runs of 2x2 matrices as a batched tree: each level multiplies neighbouring pairs
of every run at once, so a run of ``L`` matrices costs ``ceil(log2 L)`` batched products."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class RunProducts:
    """Products of runs of 2x2 matrices, as a batched tree of matrix products.

    Parameters
    ----------
    runs : sequence of sequence of int
        Each run's matrices, by position in the stack given to :meth:`__call__`, in the order
        they are applied (the first one acts first). Empty runs need ``identity``.
    identity : int or None
        Position of an identity matrix in the stack.
    device : torch.device
        Where the index tensors live.

    Examples
    --------
    >>> import torch
    >>> stack = torch.randn(1, 4, 2, 2, dtype=torch.complex128)
    >>> products = RunProducts([[0, 1, 2], [3]], identity=None)(stack)
    >>> bool(torch.allclose(products[0, 0], stack[0, 2] @ stack[0, 1] @ stack[0, 0]))
    True
    """

    def __init__(
        self,
        runs: Sequence[Sequence[int]],
        identity: int | None,
        device: torch.device | str = "cpu",
    ) -> None:
        current = []
        for run in runs:
            if not run and identity is None:
                raise ValueError("an empty run needs an identity matrix")
            current.append(list(run) if run else [identity])
        self._levels: list[tuple[list[int], list[int], list[int]]] = []
        while any(len(run) > 1 for run in current):
            later, earlier, carried = [], [], []
            plan = []
            for run in current:
                pairs = [(run[i + 1], run[i]) for i in range(0, len(run) - 1, 2)]
                later += [pair[0] for pair in pairs]
                earlier += [pair[1] for pair in pairs]
                plan.append(
                    (len(later) - len(pairs), len(pairs), run[-1] if len(run) % 2 else None)
                )
            next_runs = []
            for start, count, odd in plan:
                run = list(range(start, start + count))
                if odd is not None:
                    run.append(-(len(carried) + 1))
                    carried.append(odd)
                next_runs.append(run)
            # Carried matrices sit after the products in the next level's stack.
            current = [[p if p >= 0 else len(later) - p - 1 for p in run] for run in next_runs]
            self._levels.append((later, earlier, carried))
        self.levels = [
            tuple(torch.as_tensor(index, dtype=torch.long, device=device) for index in level)
            for level in self._levels
        ]
        self.result = torch.as_tensor([run[0] for run in current], dtype=torch.long, device=device)

    @property
    def depth(self) -> int:
        """Number of batched product levels."""
        return len(self._levels)

    def __call__(self, stack: torch.Tensor) -> torch.Tensor:
        """``(N, R, 2, 2)``: the product of each run, from ``stack`` ``(N, G, 2, 2)``."""
        for later, earlier, carried in self.levels:
            products = stack[:, later] @ stack[:, earlier]
            stack = torch.cat([products, stack[:, carried]], dim=1) if len(carried) else products
        return stack[:, self.result]
