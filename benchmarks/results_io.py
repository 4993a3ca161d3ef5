"""What every benchmark script records and how it writes its results.

Each script writes ``results/<name>.json`` (the numbers) and ``results/<name>.md`` (the same
as a table for people), and prints the Markdown.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    """The facts that decide a timing here: cores, torch threads and versions."""
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def write_results(name: str, result: dict, markdown: str) -> None:
    """Write ``results/<name>.json`` and ``.md``, and print the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
