"""Shared test settings: a small torch thread count keeps parallel workers from fighting."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    # Two xdist workers on two cores: one torch thread each avoids oversubscription.
    torch.set_num_threads(1)
