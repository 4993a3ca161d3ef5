"""Outputs under a shared machine's conditions: a full disk or a file-size limit mid-write, a
umask, and two runs writing to one directory at once. Real processes, real limits, real
signals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qmnist_qiskit import QuantumMNISTClassifier
from qmnist_qiskit.cli import main
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import atomic_path, write_text
from qmnist_qiskit.output_lock import LOCK_FILE, output_lock
from qmnist_qiskit.train_run import TRAIN_OUTPUTS

TINY = ["--n-train", "40", "--n-test", "20", "--epochs", "1", "--encoder", "pca"]
TINY += ["--n-qubits", "2", "--reps", "1", "--quiet"]
QMNIST = [sys.executable, "-m", "qmnist_qiskit"]


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("qmnist: warning:")]


# -- permissions ----------------------------------------------------------------------------
@contextlib.contextmanager
def _umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask", [0o027, 0o002], ids=["umask-027", "umask-002"])
def test_every_output_follows_the_umask_as_open_would(tmp_path, capsys, mask):
    output = tmp_path / "run"
    with _umask(mask):
        assert main(["train", "--output", str(output), *TINY]) == 0
        plain = tmp_path / "plain"
        plain.write_text("x")
    capsys.readouterr()
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~mask
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in output.iterdir()}
    # model.safetensors used to be 0600 whatever the umask, the others 0644 (the umask at import).
    assert modes == dict.fromkeys(TRAIN_OUTPUTS, expected)


def test_a_model_saved_by_the_library_follows_the_umask(tmp_path):
    X = np.random.default_rng(0).uniform(0, np.pi, (12, 2))
    classifier = QuantumMNISTClassifier(encoder=None, n_qubits=2, reps=1, epochs=1)
    classifier.fit(X, np.arange(12) % 2)
    with _umask(0o007):
        path = classifier.save(tmp_path / "model.safetensors")
    assert stat.S_IMODE(path.stat().st_mode) == 0o660


# -- a file-size limit and a full disk --------------------------------------------------------
@contextlib.contextmanager
def _file_size_limit(size: int):
    """RLIMIT_FSIZE in this process for the block (SIGXFSZ is ignored by Python, so a write
    past it fails with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_write_past_the_file_size_limit_names_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with _file_size_limit(1000), pytest.raises(QMNISTError) as info:
        write_text(target, "x" * 5000)
    assert str(info.value) == f"cannot write {target}: File too large"
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]


def test_a_model_past_the_file_size_limit_is_one_error_naming_it(tmp_path):
    X = np.random.default_rng(0).uniform(0, np.pi, (12, 2))
    classifier = QuantumMNISTClassifier(encoder=None, n_qubits=2, reps=1, epochs=1)
    classifier.fit(X, np.arange(12) % 2)
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"previous model")
    # safetensors' own writer raised its SafetensorError here, which named no file.
    with _file_size_limit(1000), pytest.raises(QMNISTError) as info:
        classifier.save(target)
    assert str(info.value) == f"cannot write {target}: File too large"
    assert target.read_bytes() == b"previous model"
    assert [path.name for path in tmp_path.iterdir()] == ["model.safetensors"]


def test_train_under_a_file_size_limit_fails_in_one_line_and_keeps_the_previous_run(
    tmp_path, capsys, children
):
    output = tmp_path / "run"
    assert main(["train", "--output", str(output), *TINY]) == 0
    capsys.readouterr()
    previous = _contents(output)
    spare = tmp_path / "system-temp"
    spare.mkdir()
    # Large enough for Python to start, too small for the model (and for its rescue copy).
    status, out, err = children.run(
        [*QMNIST, "train", "--output", str(output), *TINY, "--random-state", "1"],
        limits={resource.RLIMIT_FSIZE: 4096},
        env={**os.environ, "TMPDIR": str(spare), "MPLBACKEND": "Agg"},
        cwd=tmp_path,
        text=True,
    )
    # Not killed by SIGXFSZ (-25): the write failed with EFBIG and the CLI said so.
    assert status == 2, err
    (line,) = _error_lines(err)
    assert line.startswith(f"qmnist: error: cannot save the trained model to {output}/model.")
    # The rescue copy in the temporary directory failed too, and was removed.
    assert "failed too" in line and line.count("File too large") == 2, line
    assert _contents(output) == previous
    assert not list(tmp_path.rglob("*.partial")) and not any(spare.iterdir())


def _mount_tmpfs(children, where: Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    status, _, err = children.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], timeout=60
    )
    if status != 0:
        pytest.skip(f"cannot mount a tmpfs here: {err!r}")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, children):
    disk = tmp_path / "small-disk"
    _mount_tmpfs(children, disk, "64k")
    try:
        target = disk / "history.json"
        target.write_text("old")
        with pytest.raises(QMNISTError) as info:
            write_text(target, "x" * 200_000)
        assert str(info.value) == f"cannot write {target}: No space left on device"
        assert target.read_text() == "old"
        assert [path.name for path in disk.iterdir()] == ["history.json"]
    finally:
        children.run(["umount", "-l", str(disk)], timeout=60)


def test_the_cli_ignores_the_file_size_signal():
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    try:
        assert main(["--help"]) == 0
        assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGXFSZ, previous)


def test_atomic_path_removes_its_partial_when_the_write_fails(tmp_path):
    target = tmp_path / "loss_curve.png"
    with _file_size_limit(100), pytest.raises(QMNISTError, match="File too large"):
        with atomic_path(target) as partial:
            partial.write_bytes(b"\0" * 1000)
    assert not any(tmp_path.iterdir())


# -- two runs, one output directory -------------------------------------------------------------
def test_a_held_lock_is_refused_at_once_naming_its_pid(tmp_path):
    with output_lock(tmp_path / "run") as lock:
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(QMNISTError) as info:
            with output_lock(tmp_path / "run"):
                pass
    assert f"process {os.getpid()} holds {lock}" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_the_lock_of_a_dead_run_is_taken_over(tmp_path, capsys, children):
    status, out, _ = children.run([sys.executable, "-c", "import os; print(os.getpid())"])
    dead = int(out)
    output = tmp_path / "run"
    output.mkdir()
    (output / LOCK_FILE).write_text(str(dead))
    assert main(["train", "--output", str(output), *TINY]) == 0
    capsys.readouterr()
    assert sorted(path.name for path in output.iterdir()) == sorted(TRAIN_OUTPUTS)


def _wait_for(process: subprocess.Popen, text: str, seen: bytearray, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{text!r} not on stderr ({process.poll()=}): {bytes(seen[-1500:])}")
        time.sleep(0.05)


def test_a_second_run_into_the_same_directory_is_refused_while_the_first_runs(tmp_path, children):
    output = tmp_path / "run"
    slow = ["--n-train", "400", "--n-test", "100", "--encoder", "pca", "--n-qubits", "4"]
    slow += ["--reps", "1", "--batch-size", "8", "--epochs", "10000", "--max-samples", "none"]
    first = children.start(
        [*QMNIST, "train", "--output", str(output), *slow],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()

    def read() -> None:
        while chunk := first.stderr.read1(4096):
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _wait_for(first, "epoch=", seen, timeout=180)
    status, out, err = children.run(
        [*QMNIST, "train", "--output", str(output), *TINY], cwd=tmp_path, text=True, timeout=120
    )
    assert status == 2 and out == "", err
    (line,) = _error_lines(err)
    assert line == (
        f"qmnist: error: {output} is in use by another run (process {first.pid} holds "
        f"{output / LOCK_FILE}); wait for it to end, or choose another --output"
    )
    first.send_signal(signal.SIGINT)
    try:
        assert first.wait(timeout=120) == 130
    except subprocess.TimeoutExpired:
        children.kill(first)
        pytest.fail("the first run did not end after Ctrl-C")
    reader.join(timeout=30)
    # Only the first run's files, as a set: its metrics describe its model.
    assert sorted(path.name for path in output.iterdir()) == sorted(TRAIN_OUTPUTS)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["n_train"] == 400
    history = json.loads((output / "history.json").read_text())
    assert len(history) == metrics["epochs"]
    assert QuantumMNISTClassifier.load(output / "model.safetensors").n_features_in_ == 784
    assert not re.search(r"partial", " ".join(p.name for p in tmp_path.rglob("*")))
