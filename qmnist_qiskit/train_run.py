"""A training run, as ``qmnist train`` makes it: the output directory checked and held, the
data loaded, the model fitted, then written first (what a second Ctrl-C, or a failure while
scoring, would lose), then its metrics, history and loss curve.

Ctrl-C or SIGTERM during the fit stops training and leaves a usable model, which is written
with ``"interrupted": true`` in its metrics. A stopped training (a failed job, a divergence)
keeps the model of its last good step: it is written, then the error says where. Under
torchrun every rank trains its share of each mini-batch; only rank 0 writes and reports.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from qmnist_qiskit.data.source import DataSource
from qmnist_qiskit.exceptions import QMNISTError, TrainingStoppedError
from qmnist_qiskit.output_lock import output_lock
from qmnist_qiskit.outputs import check_output_dir, save_model, write_json
from qmnist_qiskit.persistence import MODEL_FILE

TRAIN_OUTPUTS = (MODEL_FILE, "metrics.json", "history.json", "loss_curve.png")
"""The files a training run writes into its output directory."""


def _fit_and_write(
    classifier,
    output: Path,
    source: DataSource,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> bool:
    from qmnist_qiskit.plots import save_figure, training_curves

    (X_train, y_train), (X_test, y_test) = train, test
    print(f"training on {len(X_train)} images, testing on {len(X_test)}", flush=True)
    start = time.perf_counter()
    try:
        classifier.fit(X_train, y_train)
    except TrainingStoppedError as stop:
        # A failed job or a divergence: the model as of the last good step is kept.
        saved = save_model(classifier, output)
        raise QMNISTError(f"{stop}; that model was saved to {saved}") from stop
    seconds = time.perf_counter() - start
    interrupted = bool(classifier.interrupted_)
    if interrupted:
        print(
            f"training interrupted after {classifier.n_iter_} epoch(s): "
            "saving the model as trained so far",
            flush=True,
        )
    # The model first: it is what a second Ctrl-C, or a failure while scoring, would lose.
    model_path = save_model(classifier, output)
    print(f"saved the model to {model_path}", flush=True)
    metrics = {
        "train_accuracy": float(classifier.score(X_train, y_train)),
        "test_accuracy": float(classifier.score(X_test, y_test)),
        "fit_seconds": seconds,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs": classifier.n_iter_,
        "interrupted": interrupted,
        "class_names": source.class_names(),
    }
    write_json(output / "metrics.json", metrics)
    write_json(output / "history.json", classifier.history_)
    written = "metrics.json, history.json"
    # An interrupt in the first epoch leaves no epoch to draw.
    if classifier.history_:
        save_figure(training_curves(classifier.history_), output / "loss_curve.png")
        written += ", loss_curve.png"
    print(f"fit: {seconds:.1f} s")
    print(f"train accuracy: {metrics['train_accuracy']:.4f}")
    print(f"test accuracy:  {metrics['test_accuracy']:.4f}")
    print(f"saved {written} to {output}", flush=True)
    return interrupted


def train_and_save(
    classifier,
    source: DataSource,
    output: Path,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    device: str | None = None,
) -> bool:
    """Train ``classifier`` on a stratified subset of ``n_train`` training images (None:
    all), score it on ``n_test`` test images, and write :data:`TRAIN_OUTPUTS` to ``output``,
    reporting on stdout. Returns whether training was interrupted (the model as trained so
    far is written all the same).

    ``output`` is checked (:func:`~qmnist_qiskit.outputs.check_output_dir`) before any data
    is loaded, and held (:func:`~qmnist_qiskit.output_lock.output_lock`) while the run
    goes on: a second run there is refused at once. ``device`` is the engine device that a
    torchrun process group uses.
    """
    from qmnist_qiskit.parallel import process_group_from_env

    check_output_dir(output, TRAIN_OUTPUTS)
    # Under torchrun: every rank trains its share of each mini-batch, only rank 0 reports
    # (and holds the output directory: a second run there is refused at once).
    with (
        process_group_from_env(device) as ranks,
        output_lock(output, hold=ranks is None or ranks.is_main),
    ):
        # With --download, one process per node fills the cache; the others then read it.
        with nullcontext() if ranks is None else ranks.local_leader_first():
            train = source.load_subset("train", n_train, seed)
            test = source.load_subset("test", n_test, seed)
        if ranks is not None and not ranks.is_main:
            classifier.fit(*train)
            return False
        if ranks is not None:
            print(f"data-parallel over {ranks.world_size} processes")
        return _fit_and_write(classifier, output, source, train, test)
