"""The ``qmnist`` command: train, search, evaluate, gradcheck, benchmark, report.

How a command ends when something goes wrong:

* Every error is one line on stderr and a non-zero exit status: ``qmnist COMMAND: error: ...``
  for a bad option (checked by the parser, before anything runs), ``qmnist: error: ...``
  for any other failure (exit status 2), and ``qmnist: error: internal error (TYPE): ...``
  for an exception of a type the package does not raise on purpose (exit status 1).
  ``qmnist --debug`` or ``QMNIST_DEBUG=1`` lets such exceptions raise with their traceback.
  Warnings are one line too: ``qmnist: warning: ...``.
* ``train`` and ``search`` check their estimator's parameters, then the output directory
  (creatable, writable, not a file), before loading any data.
* Ctrl-C prints ``qmnist: interrupted`` on stderr and exits with status 130, at any stage.
  Ctrl-C during training stops it and first writes the model as trained so far, its metrics
  (``"interrupted": true``) and history, saying so on stdout; at any other stage nothing more
  is written. Every file is written whole or not at all (:mod:`qmnist_qiskit.files`), so a
  second Ctrl-C while writing leaves each output complete or absent. In ``search``, Ctrl-C
  stops the whole search, not only the fit that is running. SIGTERM (what SLURM and
  Kubernetes send) does the same, printing ``qmnist: terminated``, exit status 143
  (:mod:`qmnist_qiskit.interrupts`); with ``--checkpoint DIR`` the checkpoint is written too,
  and ``--resume`` goes on from it.
* A job that fails for good, or a divergence, stops training: ``train`` saves the model as of
  the last good step, then ends with the error line (exit status 2) saying where it went.
* If the trained model cannot be written to ``--output``, it is saved in a fresh directory
  ``qmnist-model-*`` of the system's temporary directory (``$TMPDIR``, else ``/tmp``) and
  the error says where.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from qmnist_qiskit.circuits import PRESETS
from qmnist_qiskit.cli_options import (
    HelpFormatter,
    Parser,
    add_data_options,
    add_estimator_options,
    add_table_options,
    add_train_options,
    add_training_data_options,
    classifier_from_args,
    data_source,
    defaults_of,
    estimator_defaults,
    integer,
    n_jobs_count,
    n_threads,
    positive_int,
    seed,
)
from qmnist_qiskit.console import debugging, one_line_warnings, report_error, report_interrupt
from qmnist_qiskit.engines.registry import VARIANT_NAMES
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import check_writable, ignore_file_size_signal
from qmnist_qiskit.gradcheck import gradcheck
from qmnist_qiskit.noise import PATHS, noisy_accuracy
from qmnist_qiskit.persistence import MODEL_FILE
from qmnist_qiskit.search_run import SearchStopped, search_and_save
from qmnist_qiskit.speed import DEFAULT_ENGINES, engine_timings
from qmnist_qiskit.train_run import train_and_save

REPORT_OUTPUTS = (
    "training_curves.png",
    "confusion_matrix.png",
    "circuit.png",
    "engine_speed.png",
    "report.md",
)

# Exceptions the package (and the libraries under it) raise for bad input or an environment
# that cannot do what was asked; any other type is an internal error.
_USER_ERRORS = (QMNISTError, ValueError, OSError)


# -- commands -----------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    classifier = classifier_from_args(args)
    source = data_source(args)
    if args.dry_run:
        X_train, _ = source.load_subset("train", args.n_train, args.random_state)
        print(classifier.estimate_cost(X_train).table())
        return 0
    interrupted = train_and_save(
        classifier,
        source,
        args.output,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.random_state,
        device=args.device,
    )
    return report_interrupt() if interrupted else 0


def _search(args: argparse.Namespace) -> int:
    # Progress bars of fits running side by side, in other processes, would only interleave.
    estimator = classifier_from_args(args).set_params(verbose=0)
    search_and_save(
        estimator,
        args.param,
        data_source(args),
        args.output,
        n_train=args.n_train,
        seed=args.random_state,
        cv=args.cv,
        n_jobs=args.n_jobs,
        scheduler=args.scheduler,
    )
    return 0


def _model_path(path: Path) -> Path:
    return path / MODEL_FILE if path.is_dir() else path


def _evaluate(args: argparse.Namespace) -> int:
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    backend = None
    if args.backend is not None:
        from qmnist_qiskit.noise import fake_backend

        backend = fake_backend(args.backend)  # a misspelt name fails before any loading
    elif args.shots is not None:
        raise ValueError("--shots needs --backend: without a device, evaluation is exact")
    classifier = QuantumMNISTClassifier.load(_model_path(args.model))
    # This machine's --threads, not the one the model was trained with.
    classifier.set_params(n_threads=n_threads(args))
    X, y = data_source(args).load_subset(args.subset, args.n_test, args.seed)
    if backend is None:
        accuracy = classifier.score(X, y)
        print(f"{args.subset} accuracy on {len(X)} images: {accuracy:.4f}")
        return 0
    report = noisy_accuracy(
        classifier,
        X,
        y,
        backend,
        shots=args.shots or defaults_of(noisy_accuracy)["shots"],
        path=args.path,
        mitigation=args.mitigation,
        seed=args.seed,
    )
    print(f"{args.subset} images: " + report.to_text())
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    report = gradcheck(
        preset=args.preset,
        n_qubits=args.n_qubits,
        reps=args.reps,
        batch_size=args.batch_size,
        seed=args.seed,
        shots=args.shots,
        backend=args.backend,
    )
    print(report.to_text())
    if not report.ok:
        return report_error(
            "gradcheck: the engines' gradients disagree beyond tolerance (table above)", 1
        )
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from qmnist_qiskit.plots import save_figure
    from qmnist_qiskit.speed import timings_chart, timings_table

    if args.plot is not None:
        # Before minutes of timing, not after.
        check_writable(args.plot)
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

    model = args.model_dir / MODEL_FILE
    if not model.is_file():
        raise QMNISTError(f"{model}: no such model file (the output directory of qmnist train)")
    for name in REPORT_OUTPUTS:
        check_writable(args.model_dir / name)
    timings = None
    if args.benchmark:
        timings = engine_timings()
    source = data_source(args)
    X, y = source.load_subset("test", args.n_test, 0)
    path = write_report(
        args.model_dir, X, y, engine_timings=timings, class_names=source.class_names()
    )
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qmnist`` (also ``python -m qmnist_qiskit``).

    The model and training options take their defaults from ``QuantumMNISTClassifier()``
    (``--random-state`` excepted: 0, so that runs repeat) and their choices from the
    package's own lists.
    """
    defaults = estimator_defaults()
    parser = Parser(
        prog="qmnist",
        formatter_class=HelpFormatter,
        description="Train and check quantum MNIST classifiers built on Qiskit circuits.",
    )
    cpus = os.cpu_count() or 1
    parser.add_argument(
        "--threads",
        type=integer(0, cpus),
        default=defaults["n_threads"] or 0,
        help="torch threads while the command runs, the estimators' n_threads, at most the "
        f"{cpus} CPUs here (default %(default)s, so that commands side by side do not "
        "oversubscribe the cores; 0 keeps torch's own default)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="let an error raise with its traceback instead of one line (also QMNIST_DEBUG=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser(
        "train",
        formatter_class=HelpFormatter,
        help="train a classifier (default: embedded data, statevector engine)",
        description="Train QuantumMNISTClassifier, print train/test accuracy, save the model "
        "(model.safetensors), metrics.json, history.json and loss_curve.png in --output. "
        "Ctrl-C stops training and saves the model as trained so far (exit status 130).",
    )
    add_train_options(train, defaults)
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="print what training would send (PUBs, circuits, parameter sets, shots, estimated "
        "QPU seconds) and stop: no job is sent, nothing is written",
    )
    train.set_defaults(handler=_train)

    search = commands.add_parser(
        "search",
        formatter_class=HelpFormatter,
        help="cross-validated grid search over the classifier's parameters, here or on Dask",
        description="Grid search with GridSearchCV: every --param NAME=V1,V2,... is a grid "
        "axis over the estimator that the other options describe. Fits run in local processes "
        "(--n-jobs), or on a Dask cluster (--scheduler). Writes cv_results.csv and "
        "search_scores.png (score against each parameter) to --output; prints the best "
        "parameters.",
    )
    add_training_data_options(search, "qmnist-search")
    add_estimator_options(search, defaults)
    grid = search.add_argument_group("search")
    grid.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="a parameter of QuantumMNISTClassifier and its values (ints, floats, None, "
        "true/false or text), e.g. --param reps=1,2,3 --param learning_rate=0.05,0.15; repeat",
    )
    grid.add_argument("--cv", type=integer(2), default=3, help="cross-validation folds")
    grid.add_argument(
        "--n-jobs",
        type=n_jobs_count,
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

    evaluate = commands.add_parser(
        "evaluate", help="accuracy of a saved model", formatter_class=HelpFormatter
    )
    evaluate.add_argument("model", type=Path, help="model file or the output directory of train")
    evaluate.add_argument(
        "--subset", choices=("train", "test"), default="test", help="which images to score"
    )
    evaluate.add_argument(
        "--n-test",
        type=positive_int,
        help="score a stratified random subset of this many images (default: all)",
    )
    noisy = defaults_of(noisy_accuracy)
    evaluate.add_argument(
        "--seed",
        type=seed,
        default=noisy["seed"],
        help="seed of the subset and, with --backend, of the layout, shots and calibration",
    )
    device = evaluate.add_argument_group("device (a fake IBM backend in local testing mode)")
    device.add_argument(
        "--backend",
        help="fake backend name (qiskit_ibm_runtime.fake_provider, e.g. fake_manila): report "
        "the exact, noisy and readout-mitigated accuracy and the cost per image",
    )
    device.add_argument(
        "--shots",
        type=positive_int,
        help=f"shots per image with --backend (default {noisy['shots']})",
    )
    device.add_argument(
        "--path",
        choices=PATHS,
        default=noisy["path"],
        help="who runs the noisy circuits: qiskit-ibm-runtime's SamplerV2 in local mode, or "
        "the aer engine's simulator of the backend",
    )
    device.add_argument(
        "--no-mitigation",
        dest="mitigation",
        action="store_false",
        help="skip readout-error mitigation (M3, from the mthree package)",
    )
    add_data_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    check = commands.add_parser(
        "gradcheck",
        formatter_class=HelpFormatter,
        help="compare the loss gradient of every engine available here",
        description="Exit status 1 when exact engines differ by more than 1e-8 or shot "
        "engines by more than 5 standard errors.",
    )
    checked = [
        ("--preset", "preset", PRESETS, "circuit preset"),
        ("--n-qubits", "n_qubits", positive_int, "wires of the circuit"),
        ("--reps", "reps", positive_int, "layers (layered presets)"),
        ("--batch-size", "batch_size", positive_int, "images in the loss"),
        ("--seed", "seed", seed, "seed of inputs, weights, labels"),
        ("--shots", "shots", integer(2), "shots of the shot engines (2 or more, for errors)"),
    ]
    add_table_options(check, checked, defaults_of(gradcheck))
    check.add_argument(
        "--backend",
        help="also check a fake IBM backend's path (qiskit_ibm_runtime.fake_provider, e.g. "
        "fake_manila): Runtime's EstimatorV2 in local mode, the circuit transpiled to the "
        "device, --shots shots, without the device's noise",
    )
    check.set_defaults(handler=_gradcheck)

    bench = commands.add_parser(
        "benchmark",
        formatter_class=HelpFormatter,
        help="time the seed circuit's loss gradient per image on each engine",
        description="A quick in-process timing; the full studies are the scripts in benchmarks/.",
    )
    timed = [
        ("--n-qubits", "n_qubits", positive_int, "wires of the seed circuit"),
        ("--batch-size", "batch_size", positive_int, "images per gradient"),
        ("--repeats", "repeats", positive_int, "timings per engine (min kept)"),
        ("--seed", "seed", seed, "seed of inputs and weights"),
    ]
    add_table_options(bench, timed, defaults_of(engine_timings))
    bench.add_argument(
        "--engines",
        help=f"comma-separated engine variants, of {', '.join(VARIANT_NAMES)} (default: "
        f"{','.join(DEFAULT_ENGINES)})",
    )
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
        formatter_class=HelpFormatter,
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
        "--n-test", type=positive_int, help="use a stratified random subset of N test images"
    )
    add_data_options(report)
    report.set_defaults(handler=_report)
    return parser


# -- running a command --------------------------------------------------------------------------
def _run(argv: Sequence[str] | None) -> int:
    args = None
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:
            # --help, or a usage error already printed as one line.
            return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
        from qmnist_qiskit.torch_utils import torch_threads

        # gradcheck and benchmark run torch with no estimator of ours: the block gives them
        # the same count, restored on return. A model that report loads keeps its saved
        # n_threads inside predict.
        with torch_threads(n_threads(args)):
            return args.handler(args)
    except _USER_ERRORS as exc:
        if debugging(args):
            raise
        return report_error(str(exc) or type(exc).__name__, 2)
    except Exception as exc:
        if debugging(args):
            raise
        return report_error(f"internal error ({type(exc).__name__}): {exc}", 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qmnist`` command line; returns the exit status (never raises, unless
    ``--debug`` or ``QMNIST_DEBUG=1`` asks for an error's traceback)."""
    ignore_file_size_signal()
    from qmnist_qiskit.interrupts import stop_on_signals

    try:
        with one_line_warnings(), stop_on_signals():
            return _run(argv)
    except (KeyboardInterrupt, SearchStopped):
        return report_interrupt()


if __name__ == "__main__":
    raise SystemExit(main())
