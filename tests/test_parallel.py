"""Data-parallel training: two gloo processes on 127.0.0.1 against one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from qmnist_qiskit import QuantumMNISTClassifier
from qmnist_qiskit.cli import main
from qmnist_qiskit.parallel import Ranks, backend_for, current_ranks

# 49 samples in batches of 16: the last batch has one sample, so rank 1's slice of it is empty.
N_SAMPLES, N_FEATURES, BATCH_SIZE = 49, 4, 16
SETTINGS = dict(
    encoder=None,
    n_qubits=4,
    reps=1,
    epochs=2,
    batch_size=BATCH_SIZE,
    learning_rate=0.1,
    random_state=3,
)

WORKER = """
import json, sys
import numpy as np
import torch
import torch.distributed as dist
from qmnist_qiskit import QuantumMNISTClassifier

dist.init_process_group("gloo")
rng = np.random.default_rng(0)
X = rng.uniform(0, np.pi, ({n_samples}, {n_features}))
y = rng.integers(0, 3, {n_samples})
clf = QuantumMNISTClassifier(**json.loads(sys.argv[2]), verbose=1).fit(X, y)
rank = dist.get_rank()
weights = torch.nn.utils.parameters_to_vector(clf.module_.parameters()).detach().numpy()
np.save(f"{{sys.argv[1]}}/weights{{rank}}.npy", weights)
with open(f"{{sys.argv[1]}}/history{{rank}}.json", "w") as file:
    json.dump(clf.history_, file)
dist.destroy_process_group()
"""


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, np.pi, (N_SAMPLES, N_FEATURES))
    return X, rng.integers(0, 3, N_SAMPLES)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _loopback_env(**extra: str) -> dict[str, str]:
    """The environment of a child process whose gloo traffic stays on 127.0.0.1."""
    return {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def test_two_ranks_end_with_the_weights_of_one_process(tmp_path, children):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(n_samples=N_SAMPLES, n_features=N_FEATURES))
    port = str(_free_port())
    workers = [
        children.start(
            [sys.executable, str(script), str(tmp_path), json.dumps(SETTINGS)],
            env=_loopback_env(RANK=str(rank), WORLD_SIZE="2", MASTER_PORT=port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    # Bounded: a rank stuck waiting for the other is killed (both are, when the test ends).
    outputs = [children.finish(worker, timeout=300)[1:] for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err

    single = QuantumMNISTClassifier(**SETTINGS).fit(*_data())
    expected = torch.nn.utils.parameters_to_vector(single.module_.parameters()).detach().numpy()
    rank0, rank1 = (np.load(tmp_path / f"weights{rank}.npy") for rank in range(2))
    np.testing.assert_array_equal(rank0, rank1)
    # The all-reduce sums the two halves' gradients in another order than one process sums
    # the batch; Adam's steps carry the rounding on (2.7e-10 after 2 epochs on an Intel Xeon).
    np.testing.assert_allclose(rank0, expected, rtol=0, atol=1e-8)
    for rank in range(2):
        history = json.loads((tmp_path / f"history{rank}.json").read_text())
        for mine, theirs in zip(history, single.history_, strict=True):
            assert mine["loss"] == pytest.approx(theirs["loss"], abs=1e-12)
            assert mine["accuracy"] == theirs["accuracy"]
    # Progress bars (verbose=1) on rank 0 only.
    assert "training" in outputs[0][1]
    assert "training" not in outputs[1][1]


def test_torchrun_train_matches_one_process(tmp_path, capsys, children):
    options = [
        "train",
        "--n-train",
        "200",
        "--n-test",
        "100",
        "--epochs",
        "1",
        "--encoder",
        "pca",
        "--n-qubits",
        "4",
        "--reps",
        "1",
        "--batch-size",
        "32",
        "--quiet",
    ]
    # torchrun's workers are in its process group, which a timeout kills with it.
    status, out, err = children.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "--local-addr",
            "127.0.0.1",
            "-m",
            "qmnist_qiskit",
            *options,
            "--output",
            str(tmp_path / "torchrun"),
        ],
        env=_loopback_env(),
        text=True,
        timeout=300,
    )
    assert status == 0, err
    # Only rank 0 prints and writes.
    assert out.count("test accuracy") == 1

    assert main([*options, "--output", str(tmp_path / "single")]) == 0
    capsys.readouterr()
    models = [
        QuantumMNISTClassifier.load(tmp_path / name / "model.safetensors")
        for name in ("torchrun", "single")
    ]
    weights = [
        torch.nn.utils.parameters_to_vector(model.module_.parameters()).detach().numpy()
        for model in models
    ]
    # Seven Adam steps at lr 0.15 after PCA amplify rounding to about 2.5e-10 here: as much as
    # one process run twice with different BLAS thread counts differs from itself.
    np.testing.assert_allclose(weights[0], weights[1], rtol=0, atol=1e-8)
    metrics = [
        json.loads((tmp_path / name / "metrics.json").read_text())
        for name in ("torchrun", "single")
    ]
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"]
    assert metrics[0]["train_accuracy"] == metrics[1]["train_accuracy"]


def test_outside_a_group_there_are_no_ranks():
    assert current_ranks() is None


def test_the_slices_of_a_batch_cover_it_in_order():
    batches = [torch.arange(6), torch.arange(6, 11), torch.arange(11, 12)]
    for batch in batches:
        slices = [Ranks(rank, 2, rank, torch.device("cpu")).shard(batch) for rank in range(2)]
        assert torch.equal(torch.cat(slices), batch)
        assert len(slices[0]) - len(slices[1]) in (0, 1)


def test_backend_follows_the_device():
    assert backend_for("cuda:1") == "nccl"
    assert backend_for("cpu") == backend_for("GPU") == backend_for(None) == "gloo"
