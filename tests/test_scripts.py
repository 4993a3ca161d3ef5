"""The shell scripts in scripts/ select what they claim to run."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_CHECK = ROOT / "scripts" / "gpu_check.sh"


def _marks_gpu(path: Path) -> bool:
    """Whether a test file uses the ``gpu`` marker, as a decorator or in ``pytestmark``."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "gpu"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_gpu_check_runs_every_gpu_marked_test_file():
    script = GPU_CHECK.read_text()
    assert subprocess.run(["bash", "-n", str(GPU_CHECK)], timeout=60).returncode == 0
    assert '-m gpu "${gpu_test_files[@]}"' in script
    listing = re.search(r"grep -rlE --include='test_\*\.py' '([^']+)' tests", script)
    assert listing is not None, "gpu_check.sh no longer lists the gpu test files with grep"
    # Run the script's own grep, as the script does, from the repository root.
    found = subprocess.run(
        ["bash", "-c", listing.group(0)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    marked = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if _marks_gpu(path)
    )
    assert "tests/engines/aer/test_gpu.py" in marked
    assert sorted(found) == marked
