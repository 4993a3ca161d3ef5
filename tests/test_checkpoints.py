"""Checkpoints, resume, SIGTERM, failed jobs and divergence (issues 18 and 19).

Resumed fits are compared with uninterrupted ones to 1e-12: weights, readout and history
(``seconds`` aside). Failed jobs come from a real engine wrapped so that its k-th forward or
backward raises :class:`JobFailedError`, as a device's job does when its retries run out.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import qmnist_qiskit.classifier as classifier_module
from qmnist_qiskit import MNISTAutoencoder, QMNISTError, QuantumMNISTClassifier, load_mnist
from qmnist_qiskit.checkpoints import CHECKPOINT_FILE
from qmnist_qiskit.engines.base import EngineQNN
from qmnist_qiskit.exceptions import JobFailedError, TrainingDivergedError, TrainingStoppedError
from qmnist_qiskit.persistence import CHECKSUM_FIELD, model_checksum

SMALL = dict(encoder=None, n_qubits=3, ansatz="seed", epochs=3, batch_size=8, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((60, 3)) * np.pi
    return X, (X[:, 0] > 1.5).astype(int) + (X[:, 1] > 1.5)


class FailingQNN(EngineQNN):
    """A real engine whose ``where`` ("forward" or "backward") fails for good at its
    ``fail_at``-th call: a device job whose retries ran out."""

    def __init__(self, qnn, *, where: str, fail_at: int) -> None:
        self._qnn, self._where, self._fail_at = qnn, where, fail_at
        self.calls = {"forward": 0, "backward": 0}
        super().__init__(
            num_inputs=qnn.num_inputs,
            num_weights=qnn.num_weights,
            sparse=False,
            output_shape=qnn.output_shape,
            input_gradients=qnn.input_gradients,
        )

    def _count(self, where: str) -> None:
        self.calls[where] += 1
        if where == self._where and self.calls[where] == self._fail_at:
            raise JobFailedError(f"job {self.calls[where]} failed after 3 retries (injected)")

    def _forward(self, input_data, weights):
        self._count("forward")
        return self._qnn.forward(input_data, weights)

    def _backward(self, input_data, weights):
        self._count("backward")
        return self._qnn.backward(input_data, weights)


def _failing_engine(monkeypatch, where: str, fail_at: int) -> None:
    real = classifier_module.make_qnn
    monkeypatch.setattr(
        classifier_module,
        "make_qnn",
        lambda *a, **k: FailingQNN(real(*a, **k), where=where, fail_at=fail_at),
    )


def _assert_same_fit(resumed, reference) -> None:
    mine, theirs = resumed.get_state()[1], reference.get_state()[1]
    assert sorted(mine) == sorted(theirs)
    for name in mine:
        np.testing.assert_allclose(mine[name], theirs[name], rtol=0, atol=1e-12, err_msg=name)
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in reference.history_]
    got = [{k: v for k, v in e.items() if k != "seconds"} for e in resumed.history_]
    assert len(got) == len(strip)
    for a, b in zip(got, strip, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-12), key


@pytest.mark.parametrize(
    ("where", "settings"),
    [("forward", {}), ("backward", {"early_stopping": True, "optimizer": "sgd"})],
)
def test_a_failed_job_keeps_the_model_and_resume_equals_the_uninterrupted_fit(
    data, tmp_path, monkeypatch, where, settings
):
    X, y = data
    reference = QuantumMNISTClassifier(**SMALL, **settings).fit(X, y)
    batches = len(reference.history_) and int(np.ceil(len(X) / 8))
    if settings.get("early_stopping"):
        batches = int(np.ceil(54 / 8))  # the 10% held out for validation
    # The 3rd step of the 2nd epoch fails (one forward and one backward per step).
    _failing_engine(monkeypatch, where, fail_at=batches + 3)
    stopped = QuantumMNISTClassifier(
        **SMALL, **settings, checkpoint=tmp_path / "ckpt", checkpoint_every=2
    )
    with pytest.raises(TrainingStoppedError, match="epoch 2, step 3 of .*injected") as error:
        stopped.fit(X, y)
    assert isinstance(error.value.__cause__, JobFailedError)
    assert (error.value.epoch, error.value.step) == (2, 3)
    assert stopped.interrupted_ and stopped.n_iter_ == 1
    assert stopped.predict(X).shape == (len(X),)
    assert (tmp_path / "ckpt" / CHECKPOINT_FILE).is_file()
    assert not list((tmp_path / "ckpt").glob("*partial*"))
    monkeypatch.undo()
    resumed = QuantumMNISTClassifier(
        **SMALL, **settings, checkpoint=tmp_path / "ckpt", resume=True
    ).fit(X, y)
    assert not resumed.interrupted_
    _assert_same_fit(resumed, reference)
    # A checkpoint of a finished fit gives that fit's model at once.
    again = QuantumMNISTClassifier(**SMALL, **settings, checkpoint=tmp_path / "ckpt", resume=True)
    _assert_same_fit(again.fit(X, y), reference)


def test_resume_without_a_checkpoint_starts_afresh_and_partial_fit_ignores_it(data, tmp_path):
    X, y = data
    reference = QuantumMNISTClassifier(**SMALL).fit(X, y)
    fresh = QuantumMNISTClassifier(**SMALL, checkpoint=tmp_path / "new", resume=True).fit(X, y)
    _assert_same_fit(fresh, reference)
    assert (tmp_path / "new" / CHECKPOINT_FILE).is_file()
    QuantumMNISTClassifier(**SMALL, checkpoint=tmp_path / "other").partial_fit(X, y)
    assert not (tmp_path / "other").exists()


def test_qmnist_train_saves_the_model_of_a_failed_job_and_says_where(
    tmp_path, monkeypatch, capsys
):
    from qmnist_qiskit.cli import main

    _failing_engine(monkeypatch, "forward", fail_at=6)
    output = tmp_path / "run"
    arguments = ["train", "--quiet", "--n-train", "40", "--n-test", "20", "--encoder", "pca"]
    arguments += ["--n-qubits", "2", "--reps", "1", "--batch-size", "8", "--epochs", "3"]
    arguments += ["--output", str(output), "--checkpoint", str(tmp_path / "c")]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.startswith("qmnist: error: training stopped at epoch 2, step 1 of 5: job 6 failed")
    assert f"that model was saved to {output / 'model.safetensors'}" in err
    assert len(err.strip().splitlines()) == 1
    assert _model(output).n_iter_ == 1
    assert (tmp_path / "c" / CHECKPOINT_FILE).is_file()


def _checkpoint(data, tmp_path) -> Path:
    X, y = data
    folder = tmp_path / "ckpt"
    QuantumMNISTClassifier(**SMALL, checkpoint=folder).fit(X, y)
    return folder


def _edit(folder: Path, change, sign: bool = True) -> None:
    path = folder / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    change(metadata, tensors)
    if sign:
        metadata[CHECKSUM_FIELD] = model_checksum(metadata, tensors)
    save_file(tensors, str(path), metadata)


def _training(change):
    def edit(metadata, tensors):
        training = json.loads(metadata["training"])
        change(training)
        metadata["training"] = json.dumps(training)

    return edit


@pytest.mark.parametrize(
    ("change", "sign", "message"),
    [
        (lambda m, t: m.update(training=m["training"].replace('"epoch": 3', '"epoch": 2')),
         False, "checksum mismatch"),
        (_training(lambda t: t["position"].update(epoch=-1)), True, "'epoch' out of range"),
        (_training(lambda t: t["optimizer"]["param_groups"][0].update(lr="x")), True,
         "training.optimizer.lr"),
        (_training(lambda t: t["optimizer"]["param_groups"][0].update(code=1)), True,
         "parameter group"),
        (_training(lambda t: t["rng"]["python"].__setitem__(0, 99)), True, "training.rng"),
        (_training(lambda t: t.pop("scheduler")), True, "training.scheduler"),
        (lambda m, t: t.update({"optimizer.state.0.exp_avg": torch.zeros(7)}), True,
         "optimizer.state.0.exp_avg"),
        (lambda m, t: t.update({"rng.torch": torch.zeros(3, dtype=torch.uint8)}), True,
         "rng.torch"),
        (lambda m, t: t["model.weights"].__setitem__(0, float("nan")), True, "NaN"),
        (lambda m, t: m.update(code="import os"), True, "unexpected fields"),
    ],
)
def test_a_checkpoint_is_checked_like_a_model_file(data, tmp_path, change, sign, message):
    X, y = data
    folder = _checkpoint(data, tmp_path)
    _edit(folder, change, sign)
    with pytest.raises(QMNISTError, match=message) as error:
        QuantumMNISTClassifier(**SMALL, checkpoint=folder, resume=True).fit(X, y)
    assert str(folder / CHECKPOINT_FILE) in str(error.value)


def test_resume_refuses_other_parameters_or_data(data, tmp_path):
    X, y = data
    folder = _checkpoint(data, tmp_path)
    other = dict(SMALL, learning_rate=0.2)
    with pytest.raises(ValueError, match=r"other parameters \(learning_rate=0.15, here 0.2\)"):
        QuantumMNISTClassifier(**other, checkpoint=folder, resume=True).fit(X, y)
    with pytest.raises(ValueError, match="other training data"):
        QuantumMNISTClassifier(**SMALL, checkpoint=folder, resume=True).fit(X[1:], y[1:])
    # Parameters that change how a fit runs, not what it computes, may differ.
    QuantumMNISTClassifier(**SMALL, checkpoint=folder, resume=True, verbose=0, n_threads=2).fit(
        X, y
    )


# -- divergence -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_mnist()
    return X[:120], y[:120]


def _finite_state(model) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.get_state()[1].values())


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_stops_with_the_last_finite_weights(digits, tmp_path, method):
    X, y = digits
    encoder = MNISTAutoencoder(3, hidden_layer_sizes=(16,), epochs=1, random_state=0)
    # A fine-tuned encoder with a huge rate: its codes, hence the loss, become NaN.
    clf = QuantumMNISTClassifier(
        encoder=encoder, n_qubits=3, reps=1, epochs=2, batch_size=16, fine_tune=True,
        fine_tune_learning_rate=1e30, random_state=0, checkpoint=tmp_path / "ckpt",
    )
    # Which step first overflows depends on the CPU's arithmetic (step 2 on an AMD EPYC,
    # step 8 on an Intel Xeon): the error names it, whichever it is.
    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch 1, step \d of 8: the loss"):
        getattr(clf, method)(X, y)
    assert clf.interrupted_ and _finite_state(clf)
    loaded = QuantumMNISTClassifier.load(clf.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert not np.isnan(clf.predict_proba(X)).any()


def test_autoencoder_divergence_keeps_its_last_finite_weights(digits):
    X, _ = digits
    encoder = MNISTAutoencoder(3, hidden_layer_sizes=(16,), epochs=2, learning_rate=1e30)
    with pytest.raises(TrainingDivergedError, match=r"autoencoder training diverged at epoch \d"):
        encoder.fit(X)
    fields, tensors = encoder.get_state()
    assert all(bool(torch.isfinite(t).all()) for t in tensors.values())
    assert np.isfinite(encoder.transform(X)).all()


# -- real processes: SIGKILL then --resume, SIGTERM ----------------------------------------------
TRAIN = ["train", "--quiet", "--n-train", "64", "--n-test", "20", "--encoder", "pca"]
TRAIN += ["--n-qubits", "4", "--reps", "1", "--batch-size", "16"]
QMNIST = [sys.executable, "-m", "qmnist_qiskit"]


def _wait_for(path: Path, process, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the child ended ({process.returncode}) before {path}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)


def _model(path: Path) -> QuantumMNISTClassifier:
    return QuantumMNISTClassifier.load(path / "model.safetensors")


def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path, children):
    # Every run is a fresh process started the same way, as a scheduler's restarts are: the
    # comparison is then of the resume alone, not of a test process's state against a new one's.
    arguments = [*TRAIN, "--epochs", "3"]
    code, _, err = children.run([*QMNIST, *arguments, "--output", str(tmp_path / "whole")])
    assert code == 0, err[-2000:]
    killed = [*arguments, "--output", str(tmp_path / "run"), "--checkpoint", str(tmp_path / "c")]
    process = children.start([*QMNIST, *killed, "--checkpoint-every", "1"], cwd=tmp_path)
    # Every step writes one: the first is there after the first of the 4 steps of epoch 1.
    _wait_for(tmp_path / "c" / CHECKPOINT_FILE, process)
    children.kill(process)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "model.safetensors").exists()
    with safe_open(str(tmp_path / "c" / CHECKPOINT_FILE), framework="pt") as handle:
        reached = json.loads(handle.metadata()["training"])["position"]
    assert (reached["epoch"], reached["batch"]) < (3, 0)
    # The restart: a new run of the same command, with --resume, from what is on disk.
    code, _, err = children.run([*QMNIST, *killed, "--resume"], cwd=tmp_path)
    assert code == 0, err[-2000:]
    _assert_same_fit(_model(tmp_path / "run"), _model(tmp_path / "whole"))


def test_sigterm_saves_the_model_and_checkpoint_and_exits_143(tmp_path, children):
    arguments = [*QMNIST, *TRAIN, "--epochs", "10000", "--max-samples", "none"]
    arguments += ["--output", str(tmp_path), "--checkpoint", str(tmp_path / "c")]
    arguments += ["--checkpoint-every", "1000000"]
    process = children.start(
        arguments, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # The first epoch's end writes the first checkpoint: training is under way.
    _wait_for(tmp_path / "c" / CHECKPOINT_FILE, process)
    process.send_signal(signal.SIGTERM)
    code, out, err = children.finish(process, timeout=180)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == "qmnist: terminated"
    assert err.count("qmnist:") == 1 and "Traceback" not in err
    assert "training interrupted after" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["interrupted"] is True
    # The checkpoint written on SIGTERM holds the model that was saved.
    saved = _model(tmp_path)
    with safe_open(str(tmp_path / "c" / CHECKPOINT_FILE), framework="pt") as handle:
        weights = handle.get_tensor("model.weights")
        reached = json.loads(handle.metadata()["training"])["position"]
    np.testing.assert_array_equal(weights, saved.module_.weights.detach())
    assert reached["epoch"] == saved.n_iter_ >= 1
