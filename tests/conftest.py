"""Shared test settings: a small torch thread count keeps parallel workers from fighting."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
