"""``QuantumMNISTClassifier``: a scikit-learn classifier whose classifying is done by a circuit."""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from qmnist_qiskit.autoencoder import MNISTAutoencoder
from qmnist_qiskit.checkpoints import (
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    Checkpoint,
    data_fingerprint,
    read_checkpoint,
    restore_training,
    write_checkpoint,
)
from qmnist_qiskit.circuits import (
    ENTANGLEMENTS,
    PRESETS,
    CircuitSpec,
    get_preset,
    input_scale_mask,
    preset_circuit,
)
from qmnist_qiskit.classifier_state import (
    export_state,
    import_state,
    load_weights,
    savable_params,
    state_params,
)
from qmnist_qiskit.codecs import stored_layout
from qmnist_qiskit.cost import TrainingCost, training_cost
from qmnist_qiskit.encoders import (
    ENCODER_NAMES,
    check_angle_range,
    check_pixel_range,
    is_image_encoder,
    make_encoder,
)
from qmnist_qiskit.engines import (
    ENGINES,
    check_circuit,
    check_engine_options,
    make_qnn,
    require_engine,
)
from qmnist_qiskit.engines.registry import engine_record
from qmnist_qiskit.exceptions import QMNISTError, TrainingDivergedError, TrainingStoppedError
from qmnist_qiskit.files import check_writable
from qmnist_qiskit.model import QuantumClassifierModule, initial_weights
from qmnist_qiskit.parallel import Ranks, current_ranks
from qmnist_qiskit.parameters import (
    BOOLEAN,
    NONE,
    HasMethods,
    Instance,
    Interval,
    Options,
    Satisfies,
    Subclass,
    check_estimator_parameters,
)
from qmnist_qiskit.persistence import (
    MODEL_FORMAT,
    FieldError,
    inconsistent_file,
    json_field,
    read_state,
    write_state,
)
from qmnist_qiskit.readout import READOUTS, make_readout
from qmnist_qiskit.torch_utils import seed_from, seeded, torch_threads
from qmnist_qiskit.training import (
    LR_SCHEDULES,
    OPTIMIZERS,
    EarlyStopping,
    Position,
    check_optimizer_arguments,
    make_optimizer,
    make_scheduler,
    predict_logits,
    run_epochs,
)

FINE_TUNE_FROM = 2_000
"""Training-set size from which ``fine_tune="auto"`` fine-tunes the autoencoder: chosen on a
validation split of the embedded training images (3,200 / 800,
``benchmarks/results/validation.md``); smaller sets, not measured, keep a frozen one."""
MAX_QUBITS = 24
"""The widest circuit the classifier builds: one 24-qubit sample's state is 256 MiB on the
statevector engine (about 2 GiB with its working copies), so a mini-batch already needs a
large machine; wider requests, in parameters or in a model file, fail before any work."""
MAX_FEATURES = 256
"""The most features a built-in circuit takes per sample (rotation angles from an encoder):
more means raw pixels reached the circuit (784 with ``encoder=None`` on MNIST rows), which
the encoders exist to reduce."""
OPTIMIZER_PREFIX = "optimizer__"
# What makes a classifier usable: initialize() alone makes only the module.
_FITTED = ["module_", "encoder_", "classes_"]
# The fitted attributes that make up the model's state (get_state / set_state); n_iter_ and
# interrupted_ follow from them.
_STATE = ["encoder_", "module_", "classes_", "n_features_in_", "circuit_", "fine_tune_", "history_"]


# Parameters that change how a fit runs, not what it computes: a resumed fit may differ in them.
_OPERATIONAL = frozenset({"verbose", "n_threads", "checkpoint", "checkpoint_every", "resume"})
_ROUTED = re.compile(r"optimizer__[A-Za-z_][A-Za-z0-9_]*")


def _check_routed(names) -> None:
    """Only ``optimizer__NAME`` may go beyond the named parameters (skorch's routing)."""
    for name in names:
        if not (isinstance(name, str) and _ROUTED.fullmatch(name)):
            raise ValueError(
                f"QuantumMNISTClassifier got an unexpected keyword argument {name!r} (beyond "
                f"its parameters it takes optimiser arguments as {OPTIMIZER_PREFIX}NAME)"
            )


def _is_fitted_name(name: str) -> bool:
    """scikit-learn's convention: fitted attributes end in ``_`` (and are not private)."""
    return name.endswith("_") and not name.startswith("_")


def _encoder_name(encoder) -> str:
    return repr(encoder) if isinstance(encoder, str) else type(encoder).__name__


class QuantumMNISTClassifier(ClassifierMixin, BaseEstimator):
    """Classify images with a parameterised Qiskit circuit.

    Images are reduced by ``encoder`` to a few rotation angles, encoded into a circuit of
    ``n_qubits`` wires (``ansatz``), and the ``Z`` expectation values of the wires, through
    a readout (a learnable scale, or a small linear map when wires and classes differ in
    number), are the class scores of a softmax cross-entropy trained with a torch optimiser
    over mini-batches. Only the circuit's weights and the readout are trained after the
    (frozen) encoder, unless it is fine-tuned (``fine_tune``: from 2,000 training images
    by default).

    Parameters
    ----------
    encoder : {"autoencoder", "pca"}, transformer or None
        ``"autoencoder"``: an :class:`MNISTAutoencoder` trained without labels, then frozen;
        ``"pca"``: PCA scaled into ``[0, pi]``; ``None``: ``X`` already holds the features;
        any scikit-learn transformer: cloned and fitted on ``X``.
    n_qubits : int
        Wires of the circuit.
    n_features : int or None
        Features per image that a built-in encoder makes (the circuit's inputs, at most
        256). ``None``: the preset's own default (``2 * n_qubits`` for ``ansatz="dense"``,
        where every wire meets all of them, else ``n_qubits``; the number of input
        parameters of a ``CircuitSpec`` ansatz). Ignored when ``encoder`` is ``None`` or a
        transformer.
    reps : int
        Layers of the circuit (ignored by ``ansatz="seed"``).
    ansatz : {"dense", "reupload", "layered", "seed"}, CircuitSpec or callable
        Circuit preset from :func:`qmnist_qiskit.circuits.preset_circuit`: ``"dense"``
        re-uploads every feature on every wire in every layer, each with a trainable scale;
        ``"seed"`` is the original forum circuit. Or your own circuit: a
        :class:`~qmnist_qiskit.circuits.CircuitSpec` (``(circuit, input_params,
        weight_params, observables)``), or a callable that takes the number of features
        and returns one; its observables are the readout's inputs, and ``n_qubits``,
        ``reps`` and ``entanglement`` are then not used.
    entanglement : {"linear", "circular", "full"}
        CNOT pattern of the layered presets.
    readout : {"auto", "scale", "linear"}
        ``"auto"``: a scale when the circuit's outputs (``n_qubits`` for the presets) equal
        the number of classes in number, else linear.
    engine : {"statevector", "aer", "pennylane", "estimator"}
        Which simulator evaluates the circuit (see :func:`qmnist_qiskit.make_qnn`);
        ``"estimator"`` runs it on the Qiskit V2 estimator in ``engine_options`` (a device
        through qiskit-ibm-runtime, or a fake one in local mode).
    engine_options : dict or None
        Passed to the engine, e.g. ``{"shots": 1024, "seed": 1}`` for ``engine="aer"``,
        ``{"estimator": EstimatorV2(mode=backend), "shots": 1000}`` for
        ``engine="estimator"``; checked by the engine's own table before any work (an
        unknown key is a ``ValueError`` naming the valid ones), once per fit. A saved model
        keeps no estimator: one trained on ``"estimator"`` loads on ``"statevector"``.
    optimizer : {"adam", "sgd", "rmsprop"} or torch.optim.Optimizer class
        Torch optimiser, by name or class (``torch.optim.SGD``). Its other arguments are
        set as ``optimizer__NAME=value`` (skorch's convention: ``optimizer__momentum=0.9``),
        also in ``set_params`` and grid searches; the learning rate is ``learning_rate``.
    learning_rate : float
        Learning rate of the circuit weights and the readout.
    lr_schedule : {"cosine", "constant"}
        ``"cosine"``: each ``fit`` anneals the learning rates to zero over its ``epochs``
        (``partial_fit`` always uses the constant rates).
    batch_size : int
        Mini-batch size.
    epochs : int
        Passes over the training data per ``fit`` (``partial_fit`` makes one), at most
        ``max_samples // n_samples`` of them. The default was chosen on validation splits
        of the embedded training images (3,200 / 800;
        ``benchmarks/results/validation_fashion.md``), mean accuracy: 12 epochs 0.929 (seeds
        0 to 4), 16 epochs 0.935 (seeds 0 to 2); 20, 24 and 32 epochs 0.934 to 0.938, within
        the split's noise, for more time. Full-size data stops at ``max_samples`` first (8
        passes over 60,000 images).
    max_samples : int or None
        Bound on the samples one ``fit`` trains on, counting repeats: ``fit`` makes
        ``min(epochs, max(1, max_samples // n_samples))`` passes, so its work is bounded
        whatever the data size (``None``: always ``epochs``). The default, 480,000, leaves the
        embedded 4,000 images their 16 epochs and gives 60,000 images 8. It was chosen on a
        Fashion-MNIST validation split (50,000 / 10,000 of the training images, seeds 0 and 1;
        ``benchmarks/results/validation_fashion.md``), mean accuracy by ``max_samples``:
        240,000 0.885, 360,000 0.894, 480,000 0.898, 600,000 0.897 (a quarter more time).
        The fit time and test accuracy it gives are in
        ``benchmarks/results/default_fashion.md``.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data and stop when its loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; the best weights are kept.
    validation_fraction : float
        Fraction held out for early stopping.
    n_iter_no_change : int
        Patience of early stopping, in epochs.
    tol : float
        Improvement that resets the patience.
    fine_tune : bool or "auto"
        Also train the autoencoder's encoder end to end through the quantum layer (input
        gradients, the encoder's codes learning from the labels); ``True`` needs
        ``encoder="autoencoder"``. ``"auto"``: on when the built-in autoencoder is fitted on
        at least 2,000 samples (``FINE_TUNE_FROM``): fine-tuning beat the frozen
        unsupervised code on a validation split of the embedded training images
        (``benchmarks/results/validation.md``), as it had on Fashion-MNIST
        (``full_size_frozen.md``). Below that size, not measured, the autoencoder stays
        frozen. What the circuit adds over a classical layer
        on the same pipeline is measured in ``benchmarks/results/ablation.md``.
    fine_tune_learning_rate : float
        Learning rate of the encoder when fine-tuning (Adam's: its own parameter group),
        chosen on the validation splits of ``benchmarks/results/validation.md``.
    warm_start : bool
        A second ``fit`` continues from the current weights instead of starting over.
    random_state : int, RandomState or None
        Seeds the encoder, the weights, the shuffling and the validation split.
    n_threads : int or None
        Torch threads inside :meth:`fit`, :meth:`partial_fit`, :meth:`predict`,
        :meth:`predict_proba` and :meth:`decision_function` (and the built-in autoencoder's
        own), restored afterwards; ``None`` leaves torch's setting alone. The count is
        process-wide while a method runs, so estimators fitted in threads of one process
        share it. Default 1, so that fits side by side (a grid search, Dask workers) do not
        oversubscribe the cores. The statevector engine's compiled path runs on one thread
        whatever this says (a second thread: 0.99x, ``benchmarks/results/statevector.md``);
        the torch path and the other engines use them.
    verbose : int
        Progress bars when positive: the autoencoder's, then one over all the training
        batches (samples per second, time left, the epoch, its running loss and accuracy).
        ``0`` writes nothing.
    max_shots : int or None
        Budget: :meth:`fit` and :meth:`partial_fit` refuse, before any work (before the
        encoder trains), a run whose shots (:meth:`estimate_cost`) would exceed it, with a
        :class:`~qmnist_qiskit.cost.BudgetExceededError` giving the figures.
    max_qpu_seconds : float or None
        Budget on the estimated QPU seconds, refused the same way.
    checkpoint : str, path or None
        A directory where :meth:`fit` keeps a checkpoint (``checkpoint.safetensors``,
        replaced atomically) every ``checkpoint_every`` mini-batches, at the end of every
        epoch and when training is stopped (Ctrl-C, SIGTERM, a failed job): the model with
        its fitted encoder and history, the optimiser's and learning-rate schedule's state,
        every random state, and the epoch and mini-batch reached. Checked like a model
        file when read (checksum, every field; no code run). One directory per estimator:
        leave it ``None`` in a grid search. ``partial_fit`` neither writes nor reads it.
    checkpoint_every : int
        Mini-batches between two checkpoints (epoch ends always write one).
    resume : bool
        :meth:`fit` continues from the checkpoint in ``checkpoint`` when there is one (else
        starts afresh, so that one command serves a job's first start and its restarts):
        on exact engines the result equals the uninterrupted fit's, weights and history
        (``seconds`` aside). The checkpoint must come from a fit of the same parameters
        (``verbose``, ``n_threads``, ``checkpoint``, ``checkpoint_every`` and ``resume``
        aside) on the same data; anything else is refused before training. A checkpoint
        of a finished fit gives that fit's model at once. A parameter, like
        ``warm_start``, because scikit-learn's ``fit`` takes data only.
    **optimizer_arguments
        ``optimizer__NAME=value``: arguments of the optimiser (see ``optimizer``).

    Every parameter is checked against one table, ``_parameter_constraints``, at the start
    of :meth:`fit` and :meth:`partial_fit` (and by the CLI and :meth:`load`), before the
    encoder trains. The image encoders (``"autoencoder"``, ``"pca"``, an
    :class:`MNISTAutoencoder`) take pixels in ``[0, 1]``: ``X`` with values outside (0..255
    images, say) is refused in ``fit`` and ``predict`` with a message saying to divide by
    255. With ``encoder=None``, features far outside a rotation angle's range (beyond
    ``4 pi``) get a warning.

    Attributes
    ----------
    fine_tune_ : bool
        Whether this fit fine-tunes the encoder (``fine_tune`` with ``"auto"`` resolved).
    classes_ : ndarray
        Class labels seen in ``fit``.
    n_features_in_ : int
        Number of features of ``X`` seen in ``fit``.
    encoder_ : transformer
        The fitted encoder.
    circuit_ : CircuitSpec
        ``(circuit, input_params, weight_params, observables)`` of the trained circuit.
    qnn_ : qiskit_machine_learning.neural_networks.NeuralNetwork
        The circuit on its engine.
    module_ : torch.nn.Module
        Weights and readout; ``module_.weights`` are the circuit's trained angles.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss``, ``accuracy``, ``seconds`` (and ``val_loss``,
        ``val_accuracy`` with early stopping).
    n_iter_ : int
        Epochs trained.
    interrupted_ : bool
        Whether the last fit was stopped before its end: by Ctrl-C or SIGTERM (``fit``
        returns), or by a failed job or a divergence (``fit`` raises
        :class:`~qmnist_qiskit.exceptions.TrainingStoppedError` naming the epoch and step,
        after keeping the model as of the last good step).

    Examples
    --------
    >>> from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
    >>> X, y = load_mnist()
    >>> clf = QuantumMNISTClassifier(encoder="pca", n_qubits=4, epochs=2, random_state=0)
    >>> clf.fit(X[:200], y[:200]).predict(X[:3]).shape
    (3,)
    """

    # The optimizer__* arguments (and any other keyword __init__ was given, refused in fit);
    # replaced, never changed in place, so this class-level default stays empty.
    _routed: dict = {}

    _parameter_constraints: dict = {
        "encoder": [
            Options(*ENCODER_NAMES),
            NONE,
            HasMethods(("fit", "transform"), "a scikit-learn transformer"),
        ],
        "n_qubits": [Interval(Integral, 1, MAX_QUBITS)],
        "n_features": [Interval(Integral, 1, MAX_FEATURES), NONE],
        "reps": [Interval(Integral, 1, None)],
        "ansatz": [
            Options(*PRESETS),
            Instance(CircuitSpec, "a CircuitSpec"),
            Satisfies(
                lambda value: callable(value) and not isinstance(value, str | type),
                "a callable returning a CircuitSpec",
            ),
        ],
        "entanglement": [Options(*ENTANGLEMENTS)],
        "readout": [Options(*READOUTS)],
        "engine": [Options(*ENGINES)],
        "engine_options": [NONE, Instance(dict, "a dict")],
        "optimizer": [
            Options(*OPTIMIZERS),
            Subclass(torch.optim.Optimizer, "a torch.optim.Optimizer class"),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [Options(*LR_SCHEDULES)],
        "batch_size": [Interval(Integral, 1, None)],
        "epochs": [Interval(Integral, 1, None)],
        "max_samples": [Interval(Integral, 1, None), NONE],
        "early_stopping": [BOOLEAN],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None)],
        "tol": [Interval(Real, 0, None)],
        "fine_tune": [BOOLEAN, Options("auto")],
        "fine_tune_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "warm_start": [BOOLEAN],
        "random_state": [
            NONE,
            Interval(Integral, 0, 2**32 - 1),
            Instance(np.random.RandomState, "a numpy RandomState"),
        ],
        "n_threads": [Interval(Integral, 1, None), NONE],
        "verbose": [Interval(Integral, 0, None), BOOLEAN],
        "max_shots": [Interval(Integral, 1, None), NONE],
        "max_qpu_seconds": [Interval(Real, 0, None, closed="neither"), NONE],
        "checkpoint": [NONE, Instance((str, os.PathLike), "a directory path")],
        "checkpoint_every": [Interval(Integral, 1, None)],
        "resume": [BOOLEAN],
    }

    def __init__(
        self,
        encoder="autoencoder",
        *,
        n_qubits: int = 10,
        n_features: int | None = None,
        reps: int = 3,
        ansatz: str = "dense",
        entanglement: str = "linear",
        readout: str = "auto",
        engine: str = "statevector",
        engine_options: dict | None = None,
        optimizer: str = "adam",
        learning_rate: float = 0.15,
        lr_schedule: str = "cosine",
        batch_size: int = 256,
        epochs: int = 16,
        max_samples: int | None = 480_000,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        tol: float = 1e-4,
        fine_tune: bool | str = "auto",
        fine_tune_learning_rate: float = 3e-3,
        warm_start: bool = False,
        random_state=None,
        n_threads: int | None = 1,
        verbose: int = 0,
        max_shots: int | None = None,
        max_qpu_seconds: float | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 100,
        resume: bool = False,
        **optimizer_arguments,
    ) -> None:
        self.encoder = encoder
        self.n_qubits = n_qubits
        self.n_features = n_features
        self.reps = reps
        self.ansatz = ansatz
        self.entanglement = entanglement
        self.readout = readout
        self.engine = engine
        self.engine_options = engine_options
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.max_samples = max_samples
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.fine_tune = fine_tune
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.warm_start = warm_start
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.max_shots = max_shots
        self.max_qpu_seconds = max_qpu_seconds
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        # Kept as given, apart from the attributes (so no name can shadow a method), and
        # checked in fit, as scikit-learn asks of __init__; get_params returns them, so clone
        # keeps them (a misspelt name is refused by the clone's fit too).
        self._routed = dict(optimizer_arguments)

    # -- parameters (scikit-learn's, plus skorch's routed optimizer__*) -------------------
    def _optimizer_arguments(self) -> dict:
        """The ``optimizer__*`` parameters, prefix removed."""
        return {
            name[len(OPTIMIZER_PREFIX) :]: value
            for name, value in self._routed.items()
            if isinstance(name, str) and _ROUTED.fullmatch(name)
        }

    def get_params(self, deep: bool = True) -> dict:
        """The estimator's parameters, ``optimizer__*`` arguments included."""
        return super().get_params(deep=deep) | dict(self._routed)

    def set_params(self, **params) -> QuantumMNISTClassifier:
        """Set parameters; ``optimizer__NAME=value`` sets an argument of the optimiser. Any
        other unknown name is scikit-learn's ``ValueError``, at once."""
        routed = {
            k: params.pop(k)
            for k in list(params)
            if k in self._routed or k.startswith(OPTIMIZER_PREFIX)
        }
        self._routed = self._routed | routed
        return super().set_params(**params)

    # -- checks -------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Every parameter against ``_parameter_constraints``, then the rules that tie
        parameters together: before any data is read or any encoder trains."""
        _check_routed(self._routed)
        check_estimator_parameters(self)
        if self.fine_tune is True and not self._autoencoder():
            raise ValueError("fine_tune=True needs encoder='autoencoder' (an MNISTAutoencoder)")
        # Parsed once per fit; the parsed object travels down to make_qnn.
        self._engine_config = check_engine_options(self.engine, self.engine_options)
        require_engine(self.engine, self._engine_config)
        check_optimizer_arguments(
            self.optimizer, self._optimizer_arguments(), float(self.learning_rate)
        )

    def check_params(self) -> QuantumMNISTClassifier:
        """Check the parameters now, as :meth:`fit` will, before any data is read.

        Each parameter against its rule, the rules that tie parameters together, the
        engine's options and device, and, when a built-in encoder is named (so the circuit's
        inputs are known before the data), the circuit itself.

        Returns
        -------
        QuantumMNISTClassifier
            ``self``, checked.

        Raises
        ------
        ValueError or QMNISTError
            Naming the first thing that is wrong.

        Examples
        --------
        >>> QuantumMNISTClassifier(n_qubits=4, ansatz="seed").check_params().n_qubits
        4
        >>> QuantumMNISTClassifier(n_qubits=0).check_params()
        Traceback (most recent call last):
        ...
        ValueError: QuantumMNISTClassifier: n_qubits must be an integer in [1, 24], got 0
        """
        self._check_params()
        if isinstance(self.encoder, str):
            self._circuit(self._n_encoder_features())
        return self

    def _autoencoder(self) -> bool:
        return self.encoder == "autoencoder" or isinstance(self.encoder, MNISTAutoencoder)

    def _trained(self) -> bool:
        """Whether a fit (or load) made the whole model; ``initialize`` alone makes only the
        module, so the next ``fit``/``partial_fit`` starts afresh."""
        return all(hasattr(self, name) for name in _FITTED)

    def _check_input_range(self, X: np.ndarray) -> None:
        """Pixels in ``[0, 1]`` for the image encoders; a warning for features that are far
        from rotation angles with ``encoder=None``."""
        if is_image_encoder(self.encoder):
            check_pixel_range(X, f"encoder={_encoder_name(self.encoder)}")
        elif self.encoder is None:
            check_angle_range(X)

    def _resolve_fine_tune(self, n_samples: int) -> bool:
        if self.fine_tune == "auto":
            return self._autoencoder() and n_samples >= FINE_TUNE_FROM
        return bool(self.fine_tune)

    def _epochs(self, n_samples: int) -> int:
        """Passes of one ``fit``: ``epochs``, bounded by ``max_samples``."""
        if self.max_samples is None:
            return int(self.epochs)
        return max(1, min(int(self.epochs), int(self.max_samples) // max(1, n_samples)))

    def _training_cost(self, X: np.ndarray, epochs: int | None, *, reset: bool) -> TrainingCost:
        """What training on ``X`` for ``epochs`` (``None``: as ``fit``) would send."""
        n_features = self._circuit_features(X) if reset or not hasattr(self, "circuit_") else None
        if n_features is not None:
            spec = self._circuit(n_features)
        elif hasattr(self, "circuit_"):
            spec = self.circuit_
        else:
            raise ValueError(
                "with a transformer encoder the circuit's inputs are known once the encoder is "
                "fitted: fit first, or give a CircuitSpec ansatz"
            )
        n_samples = len(X)
        epochs = self._epochs(n_samples) if epochs is None else int(epochs)
        n_validation = 0
        if self.early_stopping and epochs > 1:
            n_validation = math.ceil(n_samples * float(self.validation_fraction))
        fine_tune = (
            self._resolve_fine_tune(n_samples) if reset else bool(getattr(self, "fine_tune_", 0))
        )
        view = engine_record(self.engine).device_view(
            self._engine_config, spec.circuit, list(spec.observables)
        )
        differentiated = [*spec.weight_params]
        if fine_tune:
            differentiated = [*spec.input_params, *differentiated]
        return training_cost(
            view.circuit,
            view.observables,
            differentiated,
            n_train=n_samples - n_validation,
            batch_size=int(self.batch_size),
            epochs=epochs,
            shots=view.shots,
            backend=view.backend,
            gradient=view.gradient,
            spsa_batch_size=view.spsa_batch_size,
            n_validation=n_validation,
        )

    def estimate_cost(self, X, *, epochs: int | None = None) -> TrainingCost:
        """What :meth:`fit` on ``X`` would send to the engine, before anything is sent:
        PUBs, circuits, parameter sets and shots per epoch and in all, and the estimated QPU
        seconds from the backend's ``Target``, for parameter shift and for SPSA
        (:mod:`qmnist_qiskit.cost` has the formulas). Runs no job and fits nothing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data ``fit`` would get.
        epochs : int, optional
            Epochs to count (default: as many as ``fit`` makes on ``X``).

        Returns
        -------
        TrainingCost
            ``.table()`` prints it; ``.total`` is the run's cost with its gradient.

        Examples
        --------
        >>> import numpy as np
        >>> from qiskit.primitives import StatevectorEstimator
        >>> clf = QuantumMNISTClassifier(encoder=None, n_qubits=3, ansatz="seed", epochs=2,
        ...     batch_size=4, engine="estimator",
        ...     engine_options={"estimator": StatevectorEstimator(), "shots": 100})
        >>> cost = clf.estimate_cost(np.zeros((10, 3)))
        >>> cost.total.pubs, cost.total.shots
        (6, 26000)
        """
        from sklearn.utils import check_array

        self._check_params()
        X = check_array(X, dtype=np.float64)
        return self._training_cost(X, epochs, reset=True)

    def _engine_options(self):
        """The parsed engine options, with a warning when they make training noisy."""
        options = self._engine_config
        shots = getattr(options, "shots", None)
        if shots is not None:
            warnings.warn(
                f"engine {self.engine!r} runs with shots={shots}: losses and "
                "gradients carry shot noise, so training is noisy",
                UserWarning,
                stacklevel=3,
            )
        return options

    # -- building -----------------------------------------------------------------------
    def _n_encoder_features(self) -> int:
        """The features a built-in encoder makes: ``n_features``, else the ansatz's default."""
        if self.n_features is not None:
            return int(self.n_features)
        if isinstance(self.ansatz, str):
            return get_preset(self.ansatz).default_n_features(int(self.n_qubits))
        if isinstance(self.ansatz, CircuitSpec):
            return len(self.ansatz.input_params)
        return int(self.n_qubits)

    def _circuit_features(self, X: np.ndarray) -> int | None:
        """The circuit's inputs per sample, when known before the encoder is fitted."""
        if self.encoder is None:
            return X.shape[1]
        if isinstance(self.encoder, str):
            return self._n_encoder_features()
        if isinstance(self.encoder, MNISTAutoencoder):
            return int(self.encoder.n_components)
        if isinstance(self.ansatz, CircuitSpec):  # a transformer must make what it takes
            return len(self.ansatz.input_params)
        return None

    def _circuit(self, n_features: int) -> CircuitSpec:
        """The circuit for ``n_features`` inputs: the preset, or the user's own."""
        if n_features > MAX_FEATURES and isinstance(self.ansatz, str):
            raise ValueError(
                f"{n_features} features per sample would reach the circuit; it takes at most "
                f"{MAX_FEATURES} (rotation angles, not pixels): reduce the data with an "
                "encoder ('autoencoder' or 'pca') or a transformer first"
            )
        if isinstance(self.ansatz, str):
            return preset_circuit(
                self.ansatz,
                int(self.n_qubits),
                int(self.reps),
                n_features=n_features,
                entanglement=self.entanglement,
            )
        spec = self.ansatz if isinstance(self.ansatz, CircuitSpec) else self.ansatz(n_features)
        if not isinstance(spec, CircuitSpec):
            if not (isinstance(spec, tuple) and len(spec) == 4):
                raise ValueError(
                    "ansatz must return a CircuitSpec (circuit, input_params, weight_params, "
                    f"observables), got {type(spec).__name__}"
                )
            spec = CircuitSpec(*spec)
        if len(spec.input_params) != n_features:
            raise ValueError(
                f"the ansatz circuit takes {len(spec.input_params)} input parameters, but "
                f"there are {n_features} features per sample"
            )
        return spec

    def _plan(self, n_features: int, n_classes: int) -> CircuitSpec:
        """The circuit, checked as its engine will check it (parameters, observables, memory)
        and with its readout checked against the classes, before any training."""
        spec = self._circuit(n_features)
        check_circuit(self.engine, self._engine_config, *spec)
        make_readout(self.readout, len(spec.observables), n_classes)
        return spec

    def _build(self, X: np.ndarray, n_classes: int, seed: int, ranks: Ranks | None) -> torch.Tensor:
        """Fit the encoder, assemble the model; return the training inputs.

        The circuit and its readout are built first when the circuit's input count is known
        before the encoder (built-in encoders, ``None``), so a circuit that cannot work fails
        before the encoder trains. In a process group the encoder is fitted on rank 0 only
        and sent to the others, and rank 0's initial weights overwrite theirs: every rank
        starts from the same model.
        """
        known = self._circuit_features(X)
        spec = None if known is None else self._plan(known, n_classes)
        self._engine_options()
        self.fine_tune_ = self._resolve_fine_tune(len(X))
        encoder = None
        if ranks is None or ranks.is_main:
            encoder = make_encoder(
                self.encoder,
                self._n_encoder_features(),
                seed,
                n_threads=self.n_threads,
                verbose=self.verbose,
            ).fit(X)
            encoder = stored_layout(encoder)
        self.encoder_ = encoder if ranks is None else ranks.broadcast_object(encoder)
        features = np.asarray(self.encoder_.transform(X), dtype=np.float64)
        if spec is None or len(spec.input_params) != features.shape[1]:
            spec = self._plan(features.shape[1], n_classes)
        self._initialize(spec, n_classes, seed)
        if ranks is not None:
            ranks.broadcast_module(self.module_)
        self.history_ = []
        self.n_iter_ = 0
        return self._module_inputs(X, features)

    def initialize(
        self, n_features: int, n_classes: int, *, seed: int | None = None
    ) -> QuantumMNISTClassifier:
        """Build the circuit (``circuit_``), its engine (``qnn_``) and the module
        (``module_``, fresh initial weights) for ``n_features`` circuit inputs and
        ``n_classes`` classes, as skorch's ``initialize`` does: what :meth:`fit` does once
        the encoder is fitted, and what :meth:`load` does before loading the saved state.

        The parameters are checked first. A fine-tuned model (``fine_tune_``) needs the
        fitted ``encoder_``; otherwise the encoder is not used. ``seed`` (default: from
        ``random_state``) draws the initial weights.

        Examples
        --------
        >>> clf = QuantumMNISTClassifier(encoder=None, n_qubits=3, ansatz="seed")
        >>> clf.initialize(n_features=3, n_classes=3).module_.weights.shape
        torch.Size([6])
        """
        self._check_params()
        if isinstance(self.fine_tune, bool):
            self.fine_tune_ = self.fine_tune
        else:  # "auto" resolves by the training set's size: what fit (or the file) said
            self.fine_tune_ = bool(getattr(self, "fine_tune_", False))
        if self.fine_tune_ and not hasattr(self, "encoder_"):
            raise ValueError(
                "initialize with fine-tuning needs the fitted encoder (encoder_): fit the model "
                "first, or set fine_tune=False"
            )
        spec = self._plan(int(n_features), int(n_classes))
        self._initialize(
            spec, int(n_classes), seed_from(self.random_state) if seed is None else seed
        )
        return self

    def _initialize(self, spec: CircuitSpec, n_classes: int, seed: int) -> None:
        self.circuit_ = spec
        self.qnn_ = make_qnn(
            *spec,
            engine=self.engine,
            input_gradients=self.fine_tune_,
            options=self._engine_config,
        )
        with seeded(seed) as generator:
            self.module_ = QuantumClassifierModule(
                self.qnn_,
                initial_weights(input_scale_mask(spec), generator),
                make_readout(self.readout, len(spec.observables), n_classes),
                self.encoder_.torch_encoder() if self.fine_tune_ else None,
            )
        # A new module: the next fit makes its own optimiser.
        vars(self).pop("optimizer_", None)

    def _module_inputs(self, X: np.ndarray, features: np.ndarray | None = None) -> torch.Tensor:
        if self.fine_tune_:
            return torch.as_tensor(np.asarray(X, dtype=np.float32))
        if features is None:
            features = self.encoder_.transform(X)
        return torch.as_tensor(np.asarray(features, dtype=np.float64))

    def _optimizer(self) -> torch.optim.Optimizer:
        module = self.module_
        groups = [{"params": [module.weights, *module.readout.parameters()]}]
        if module.encoder is not None:
            groups.append(
                {"params": list(module.encoder.parameters()), "lr": self.fine_tune_learning_rate}
            )
        return make_optimizer(
            self.optimizer, groups, self.learning_rate, **self._optimizer_arguments()
        )

    def _encode_targets(self, y: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)

    # -- training -----------------------------------------------------------------------
    def _train(self, X, y, *, reset: bool, **how) -> QuantumMNISTClassifier:
        """:meth:`_fit_steps`, all or nothing: when it raises, the fitted attributes are
        those from before the call (a failed refit keeps the previous model, not a mix of a new
        encoder and old weights; a failed first fit leaves an unfitted estimator). Ctrl-C in
        training is not a failure: the loop stops and the model trained so far stays. Nor is
        a failed job or a divergence: the model as of the last good step stays, then their
        :class:`~qmnist_qiskit.exceptions.TrainingStoppedError` is raised."""
        before = {name: value for name, value in vars(self).items() if _is_fitted_name(name)}
        try:
            stopped = self._fit_steps(X, y, reset=reset, **how)
        except BaseException:
            for name in [name for name in vars(self) if _is_fitted_name(name)]:
                delattr(self, name)
            vars(self).update(before)
            raise
        if stopped is not None:
            if isinstance(stopped, TrainingDivergedError):
                # Its state may hold the diverged step: the next fit makes a fresh one.
                vars(self).pop("optimizer_", None)
            raise stopped
        return self

    def _checkpoint_directory(self) -> Path:
        """The checkpoint directory, created, with a checkpoint writable in it; the
        parameters checked savable (a checkpoint holds the model as a model file does)."""
        savable_params(self.get_params(deep=False), "identity")
        if not (self.encoder is None or isinstance(self.encoder, str | MNISTAutoencoder)):
            raise ValueError(
                "checkpoint needs a built-in encoder ('autoencoder', 'pca' or None): a "
                f"{type(self.encoder).__name__} cannot be saved as tensors and JSON"
            )
        directory = Path(self.checkpoint)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QMNISTError(f"cannot create the checkpoint directory {directory}: {exc}") from exc
        check_writable(directory / CHECKPOINT_FILE)
        return directory

    def _resume_from(self, saved, directory: Path, fingerprint: str) -> dict:
        """Make this estimator the checkpoint's model, once its parameters and data are
        this fit's; the checkpoint's training part."""
        model_fields, model_tensors, training, _ = saved
        path = directory / CHECKPOINT_FILE
        with inconsistent_file(path, CHECKPOINT_FORMAT):
            fit = training.get("fit")
            if not isinstance(fit, dict):
                raise FieldError("field 'training.fit' must be an object")
            mine = savable_params(self.get_params(deep=False), "identity")
            kept = json_field(model_fields, "params", dict)
            differ = sorted(
                name
                for name in set(mine) | set(kept)
                if name not in _OPERATIONAL and mine.get(name) != kept.get(name)
            )
            if differ:
                raise ValueError(
                    f"{path}: the checkpoint was written by a fit with other parameters ("
                    + ", ".join(f"{n}={kept.get(n)!r}, here {mine.get(n)!r}" for n in differ)
                    + "): resume with the same parameters, or use another checkpoint directory"
                )
            if fit.get("data") != fingerprint:
                raise ValueError(
                    f"{path}: the checkpoint was written by a fit on other training data: "
                    "resume on the same data, or use another checkpoint directory"
                )
            if not isinstance(fit.get("seed"), int) or isinstance(fit.get("seed"), bool):
                raise FieldError("field 'training.fit': seed must be an integer")
            self.set_state(model_fields, model_tensors)
        return fit

    def _fit_steps(
        self,
        X,
        y,
        *,
        epochs: int | None,
        reset: bool,
        classes=None,
        lr_schedule: str = "constant",
    ) -> QuantumMNISTClassifier:
        """Train for ``epochs`` passes (``None``: as many as ``fit`` makes on this data).
        Returns the :class:`TrainingStoppedError` that stopped training, if one did."""
        self._check_params()
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
        self._check_input_range(X)
        if self.max_shots is not None or self.max_qpu_seconds is not None:
            cost = self._training_cost(X, epochs, reset=reset)
            cost.check_budget(self.max_shots, self.max_qpu_seconds)
        check_classification_targets(y)
        ranks = current_ranks()
        # Checkpoints are fit's (epochs None): partial_fit neither writes nor reads them.
        directory = None
        if epochs is None and self.checkpoint is not None:
            directory = self._checkpoint_directory()
        saved = fingerprint = fit = None
        if directory is not None:
            fingerprint = data_fingerprint(X, y)
            if self.resume and reset:
                saved = read_checkpoint(directory)
        seed = seed_from(self.random_state)
        if ranks is not None:
            # One seed for all ranks (random_state=None draws one per process): the same
            # shuffling, hence the same global mini-batches, everywhere.
            seed = ranks.broadcast_object(seed)
        if saved is not None:
            fit = self._resume_from(saved, directory, fingerprint)
            seed = fit["seed"]
            inputs = self._module_inputs(X)
        elif reset:
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"the classifier needs samples of at least 2 classes; got only 1 class: "
                    f"{self.classes_.tolist()}"
                )
            # Labels outside the classes given to partial_fit had no output to train.
            self._check_known_labels(
                y, "that are not among the classes given", "list every label in classes"
            )
            inputs = self._build(X, len(self.classes_), seed, ranks)
        else:
            self._check_known_labels(
                y, "that were not seen in the first fit", "fit again to learn new classes"
            )
            inputs = self._module_inputs(X)
        targets = self._encode_targets(y)
        if epochs is None:
            epochs = self._epochs(len(targets))
        if fit is not None and fit.get("epochs") != epochs:
            raise QMNISTError(
                f"{directory / CHECKPOINT_FILE}: inconsistent checkpoint: field 'training.fit': "
                f"epochs={fit.get('epochs')!r}, this fit makes {epochs}"
            )
        generator = torch.Generator().manual_seed(seed + 2 + self.n_iter_)
        stopper = None
        if self.early_stopping and epochs > 1:
            train_index, val_index = train_test_split(
                np.arange(len(targets)),
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=targets.numpy() if np.bincount(targets.numpy()).min() > 1 else None,
            )
            stopper = EarlyStopping(
                inputs[val_index], targets[val_index], self.n_iter_no_change, self.tol
            )
            inputs, targets = inputs[train_index], targets[train_index]
        if not hasattr(self, "optimizer_") or reset:
            self.optimizer_ = self._optimizer()
        scheduler = make_scheduler(
            lr_schedule,
            self.optimizer_,
            epochs * math.ceil(len(targets) / int(self.batch_size)),
        )
        position = write = None
        if saved is not None:
            with inconsistent_file(directory / CHECKPOINT_FILE, CHECKPOINT_FORMAT):
                position = restore_training(
                    saved[2],
                    saved[3],
                    optimizer=self.optimizer_,
                    scheduler=scheduler,
                    module=self.module_,
                    early_stopping=stopper,
                )
        if directory is not None and (ranks is None or ranks.is_main):
            about = {"seed": seed, "epochs": epochs, "data": fingerprint}
            self.get_state()  # what cannot be saved fails here, before training

            def write(at: Position) -> None:
                checkpoint = Checkpoint(at, self.optimizer_, scheduler, stopper, about)
                write_checkpoint(directory, *self.get_state(), checkpoint)

        stopped = None
        try:
            completed = run_epochs(
                self.module_,
                self.optimizer_,
                inputs,
                targets,
                epochs=epochs,
                batch_size=int(self.batch_size),
                generator=generator,
                history=self.history_,
                early_stopping=stopper,
                scheduler=scheduler,
                verbose=self.verbose if ranks is None or ranks.is_main else 0,
                ranks=ranks,
                position=position,
                checkpoint=write,
                checkpoint_every=int(self.checkpoint_every),
            )
        except TrainingStoppedError as exc:
            completed, stopped = False, exc
        self.n_iter_ = len(self.history_)
        self.interrupted_ = not completed
        return stopped

    def fit(self, X, y) -> QuantumMNISTClassifier:
        """Fit the encoder, then train the circuit for ``epochs`` epochs.

        With ``warm_start=True`` and a previous fit, training continues from the current
        weights (the encoder is kept as it is). Ctrl-C (and SIGTERM under the ``qmnist``
        command) stops training and leaves a usable model (``interrupted_`` is then True).
        With ``checkpoint``, checkpoints are written as training goes; with ``resume``, a
        fit goes on from the last one.

        Raises
        ------
        TrainingStoppedError
            A job failed for good (:class:`~qmnist_qiskit.exceptions.JobFailedError`):
            training stopped, the model keeps the weights of its last completed step (and
            the checkpoint is written). The message names the epoch, the step and the error.
        TrainingDivergedError
            The loss, a gradient or the weights became NaN or infinite: training stopped,
            the model keeps the last weights whose loss was finite. The message names the epoch
            and step.

        Inside a ``torch.distributed`` process group of two or more processes (``torchrun``,
        or the caller's ``init_process_group``), every process calls ``fit`` on the same
        data and training is data-parallel: each rank takes its slice of every global
        mini-batch, the gradients are all-reduced, and every rank ends with the same weights
        as one process would have on the same mini-batches. The encoder is fitted on rank 0
        and sent to the others; only rank 0 shows progress (see
        :mod:`qmnist_qiskit.parallel`).
        """
        reset = not (self.warm_start and self._trained())
        with torch_threads(self.n_threads):
            return self._train(X, y, epochs=None, reset=reset, lr_schedule=self.lr_schedule)

    def partial_fit(self, X, y, classes=None) -> QuantumMNISTClassifier:
        """One epoch over ``(X, y)``; the first call fits the encoder on ``X``.

        ``classes`` (all labels that will ever be seen) is required on the first call
        unless ``y`` already holds every class.
        """
        first = not self._trained()
        with torch_threads(self.n_threads):
            return self._train(X, y, epochs=1, reset=first, classes=classes)

    # -- prediction ---------------------------------------------------------------------
    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self, _FITTED)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        self._check_input_range(X)
        with torch_threads(self.n_threads):
            return predict_logits(self.module_, self._module_inputs(X)).cpu().numpy()

    def decision_function(self, X) -> np.ndarray:
        """Class scores (logits), ``(n_samples, n_classes)``; ``(n_samples,)`` for 2 classes."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of the class scores: ``(n_samples, n_classes)``, rows sum to 1."""
        logits = torch.as_tensor(self._logits(X))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The class with the highest score."""
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def _check_known_labels(
        self,
        y,
        problem: str = "the model was not fitted on",
        remedy: str = "score it on data of the classes it was fitted on",
    ) -> None:
        """ValueError for labels of ``y`` that are not among ``classes_``: the model can never
        predict them, so a score with them would be wrong in silence (and labels of another
        type, strings against numbers, used to fail only after predicting)."""
        y = np.asarray(y)
        if y.ndim != 1:
            return
        known = set(self.classes_.tolist())
        unseen = [label for label in dict.fromkeys(y.tolist()) if label not in known]
        with contextlib.suppress(TypeError):
            unseen.sort()
        if unseen:
            shown = ", ".join(repr(label) for label in unseen[:10])
            more = f" and {len(unseen) - 10:,} more" if len(unseen) > 10 else ""
            classes = ", ".join(repr(label) for label in self.classes_.tolist()[:10])
            classes += ", ..." if len(self.classes_) > 10 else ""
            raise ValueError(
                f"y has labels {problem}: {shown}{more} (its classes_ are {classes}); {remedy}"
            )

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy on ``(X, y)``, as :class:`~sklearn.base.ClassifierMixin` computes it.

        Checked before anything runs: the model is fitted, ``X`` and ``y`` have the same
        length, ``X`` has the fitted feature count, and every label of ``y`` is one of
        ``classes_`` (each a ``ValueError``, or ``NotFittedError``).
        """
        check_is_fitted(self, _FITTED)
        check_consistent_length(X, y, sample_weight)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        self._check_known_labels(y)
        return super().score(X, y, sample_weight=sample_weight)

    # -- state and persistence (the estimator lists its state; the file format is generic) -
    def get_state(self) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
        """The fitted model as text fields (JSON, counts) and tensors (CPU, contiguous), as
        skorch's nets give their own state: what :meth:`save` writes and :meth:`set_state`
        takes back. Runs no engine; ``ValueError`` for what tensors and JSON cannot hold
        (a user's transformer or circuit, an optimiser class outside :mod:`torch.optim`).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).random((40, 3)) * np.pi
        >>> clf = QuantumMNISTClassifier(encoder=None, n_qubits=3, ansatz="seed", epochs=1)
        >>> fields, tensors = clf.fit(X, np.arange(40) % 2).get_state()
        >>> sorted(tensors)
        ['model.readout.linear.bias', 'model.readout.linear.weight', 'model.weights']
        """
        check_is_fitted(self, _FITTED)
        return export_state(
            self.get_params(deep=False), {name: getattr(self, name) for name in _STATE}
        )

    def set_state(
        self,
        fields: dict[str, str],
        tensors: dict[str, torch.Tensor],
        *,
        version: int = MODEL_FORMAT.version,
    ) -> QuantumMNISTClassifier:
        """Make this estimator the model that :meth:`get_state` gave: every field parsed,
        typed, bounded and held against the others and the tensors, then :meth:`initialize`
        (this estimator's parameters: :meth:`load` builds it from the state's own), then the
        weights loaded (exactly the module's names, shapes and dtypes, finite). Nothing from
        the state is run or imported beyond :mod:`torch.optim` classes. A field that is wrong
        is a ``ValueError`` (:class:`~qmnist_qiskit.persistence.FieldError`) naming it."""
        fitted, n_circuit_features = import_state(fields, tensors, version=version)
        vars(self).update(fitted)
        try:
            self.initialize(n_circuit_features, len(self.classes_), seed=0)
        except FieldError:
            raise
        except ValueError as exc:
            raise FieldError(
                f"field 'params': the saved parameters do not build a model: {exc}"
            ) from exc
        load_weights(self.module_, tensors)
        return self

    def save(self, path) -> Path:
        """Write the fitted model to ``path`` as one ``.safetensors`` file (tensors + JSON,
        with a SHA-256 checksum over both), whole or not at all.

        Built-in encoders (``"autoencoder"``, ``"pca"``, ``None``), preset ansatzes,
        optimisers by name or from :mod:`torch.optim`, and JSON-serialisable engine options
        only; anything else is a ``ValueError`` before anything is written (use pickle or
        joblib). A path that cannot be written (no such directory, a directory, an empty
        name) is a :class:`~qmnist_qiskit.QMNISTError` naming it.
        """
        fields, tensors = self.get_state()
        return write_state(path, MODEL_FORMAT, fields, tensors)

    @classmethod
    def load(cls, path) -> QuantumMNISTClassifier:
        """Read a model written by :meth:`save`: read, check (checksum, every field against
        the others, the tensors and the parameter table), :meth:`initialize`, load the
        weights (:meth:`set_state`). Runs no code from the file; a foreign, damaged, altered
        or inconsistent file raises :class:`~qmnist_qiskit.QMNISTError` naming the field."""
        fields, tensors, version = read_state(path, MODEL_FORMAT)
        with inconsistent_file(path, MODEL_FORMAT):
            return cls._from_state(fields, tensors, version)

    @classmethod
    def _from_state(cls, fields: dict[str, str], tensors: dict, version: int):
        """An estimator built from the state's parameters, given the state."""
        params = state_params(fields)
        try:
            classifier = cls(**params)
            check_estimator_parameters(classifier)
        except (TypeError, ValueError) as exc:
            raise FieldError(f"field 'params': {exc}") from exc
        return classifier.set_state(fields, tensors, version=version)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
