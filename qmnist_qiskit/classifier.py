"""``QuantumMNISTClassifier``: a scikit-learn classifier whose classifying is done by a circuit."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qmnist_qiskit.autoencoder import MNISTAutoencoder
from qmnist_qiskit.circuits import input_scale_mask, preset_circuit
from qmnist_qiskit.encoders import make_encoder
from qmnist_qiskit.engines import ENGINES, make_qnn
from qmnist_qiskit.model import QuantumClassifierModule, initial_weights
from qmnist_qiskit.parallel import Ranks, current_ranks
from qmnist_qiskit.persistence import load_classifier, save_classifier
from qmnist_qiskit.readout import make_readout
from qmnist_qiskit.torch_utils import check_n_threads, seed_from, seeded, torch_threads
from qmnist_qiskit.training import (
    LR_SCHEDULES,
    EarlyStopping,
    make_optimizer,
    make_scheduler,
    predict_logits,
    run_epochs,
)

FINE_TUNE_FROM = 20_000
"""Training-set size from which ``fine_tune="auto"`` fine-tunes the autoencoder."""


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class QuantumMNISTClassifier(ClassifierMixin, BaseEstimator):
    """Classify images with a parameterised Qiskit circuit.

    Images are reduced by ``encoder`` to a few rotation angles, encoded into a circuit of
    ``n_qubits`` wires (``ansatz``), and the ``Z`` expectation values of the wires, through
    a readout (a learnable scale, or a small linear map when wires and classes differ in
    number), are the class scores of a softmax cross-entropy trained with a torch optimiser
    over mini-batches. Only the circuit's weights and the readout are trained after the
    (frozen) encoder, unless it is fine-tuned (``fine_tune``: from 20,000 training images
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
        Features per image that a built-in encoder makes (the circuit's inputs). ``None``:
        ``2 * n_qubits`` for ``ansatz="dense"`` (every wire meets all of them), else
        ``n_qubits``. Ignored when ``encoder`` is ``None`` or a transformer.
    reps : int
        Layers of the circuit (ignored by ``ansatz="seed"``).
    ansatz : {"dense", "reupload", "layered", "seed"}
        Circuit preset from :func:`qmnist_qiskit.circuits.preset_circuit`: ``"dense"``
        re-uploads every feature on every wire in every layer, each with a trainable scale;
        ``"seed"`` is the original forum circuit.
    entanglement : {"linear", "circular", "full"}
        CNOT pattern of the layered presets.
    readout : {"auto", "scale", "linear"}
        ``"auto"``: a scale when ``n_qubits`` equals the number of classes, else linear.
    engine : {"statevector", "aer", "pennylane"}
        Which simulator evaluates the circuit (see :func:`qmnist_qiskit.make_qnn`).
    engine_options : dict or None
        Passed to the engine, e.g. ``{"shots": 1024, "seed": 1}`` for ``engine="aer"``.
    optimizer : {"adam", "sgd", "rmsprop"}
        Torch optimiser.
    learning_rate : float
        Learning rate of the circuit weights and the readout.
    lr_schedule : {"cosine", "constant"}
        ``"cosine"``: each ``fit`` anneals the learning rates to zero over its ``epochs``
        (``partial_fit`` always uses the constant rates).
    batch_size : int
        Mini-batch size.
    epochs : int
        Passes over the training data per ``fit`` (``partial_fit`` makes one), at most
        ``max_samples // n_samples`` of them.
    max_samples : int or None
        Bound on the samples one ``fit`` trains on, counting repeats: ``fit`` makes
        ``min(epochs, max(1, max_samples // n_samples))`` passes, so its work is bounded
        whatever the data size (``None``: always ``epochs``). The default, 240,000, leaves the
        embedded 4,000 images their 8 epochs and gives 60,000 images 4: on Fashion-MNIST the
        default model then reaches 86.8% test accuracy in a 90 s fit on a 2-core machine
        (``benchmarks/results/full_size.md``).
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
        at least 20,000 samples (``FINE_TUNE_FROM``), where a frozen unsupervised code is
        what limits accuracy: on 60,000 Fashion-MNIST images the frozen codes gave 82.4%
        test accuracy in a 79 s fit, fine-tuning 86.8% in 90 s
        (``benchmarks/results/full_size_frozen.md``, ``full_size.md``). On the embedded
        4,000 images fine-tuning gained 1.7 to 2.8 points for fits of 20 to 26 s instead of 17
        to 23 (past the 20 s goal; ``embedded_fine_tuned.md``), so ``"auto"`` leaves it off
        there.
    fine_tune_learning_rate : float
        Learning rate of the encoder when fine-tuning.
    warm_start : bool
        A second ``fit`` continues from the current weights instead of starting over.
    random_state : int, RandomState or None
        Seeds the encoder, the weights, the shuffling and the validation split.
    n_threads : int or None
        Torch threads inside :meth:`fit`, :meth:`partial_fit`, :meth:`predict`,
        :meth:`predict_proba` and :meth:`decision_function` (and the built-in autoencoder's
        own), restored afterwards; ``None`` leaves torch's setting alone. The count is
        process-wide while a method runs, so estimators fitted in threads of one process
        share it. Default 1: ``QuantumMNISTClassifier(random_state=0, epochs=2)`` fitted on
        the embedded data (autoencoder included) on a shared 2-core machine in 9.1 to
        10.2 s with one thread in all four runs, and in 6.7 to 32.4 s with two: 1.4 times
        faster while the other core was idle, up to 3 times slower while it was not (minimum
        of two runs: 9.2 s against 6.7 s in one round, 9.1 s against 17.1 s in the next).
    verbose : int
        Progress bars when positive: the autoencoder's, then one over all the training
        batches (samples per second, time left, the epoch, its running loss and accuracy).
        ``0`` writes nothing.

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
        Whether the last fit was stopped with Ctrl-C.

    Examples
    --------
    >>> from qmnist_qiskit import QuantumMNISTClassifier, load_mnist
    >>> X, y = load_mnist()
    >>> clf = QuantumMNISTClassifier(encoder="pca", n_qubits=4, epochs=2, random_state=0)
    >>> clf.fit(X[:200], y[:200]).predict(X[:3]).shape
    (3,)
    """

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
        epochs: int = 8,
        max_samples: int | None = 240_000,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        tol: float = 1e-4,
        fine_tune: bool | str = "auto",
        fine_tune_learning_rate: float = 1e-3,
        warm_start: bool = False,
        random_state=None,
        n_threads: int | None = 1,
        verbose: int = 0,
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

    # -- checks -------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("n_qubits", "reps", "batch_size", "epochs", "n_iter_no_change"):
            _positive_int(name, getattr(self, name))
        if self.n_features is not None:
            _positive_int("n_features", self.n_features)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.engine_options is not None and not isinstance(self.engine_options, dict):
            raise ValueError(f"engine_options must be a dict or None, got {self.engine_options!r}")
        for name in ("learning_rate", "fine_tune_learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        if self.max_samples is not None:
            _positive_int("max_samples", self.max_samples)
        if self.fine_tune not in (True, False, "auto"):
            raise ValueError(f"fine_tune must be True, False or 'auto', got {self.fine_tune!r}")
        if self.fine_tune is True and not self._autoencoder():
            raise ValueError("fine_tune=True needs encoder='autoencoder' (an MNISTAutoencoder)")
        check_n_threads(self.n_threads)

    def _autoencoder(self) -> bool:
        return self.encoder == "autoencoder" or isinstance(self.encoder, MNISTAutoencoder)

    def _resolve_fine_tune(self, n_samples: int) -> bool:
        if self.fine_tune == "auto":
            return self._autoencoder() and n_samples >= FINE_TUNE_FROM
        return bool(self.fine_tune)

    def _epochs(self, n_samples: int) -> int:
        """Passes of one ``fit``: ``epochs``, bounded by ``max_samples``."""
        if self.max_samples is None:
            return int(self.epochs)
        return max(1, min(int(self.epochs), int(self.max_samples) // max(1, n_samples)))

    def _engine_options(self) -> dict:
        options = dict(self.engine_options or {})
        if options.get("shots") is not None:
            warnings.warn(
                f"engine {self.engine!r} runs with shots={options['shots']}: losses and "
                "gradients carry shot noise, so training is noisy",
                UserWarning,
                stacklevel=3,
            )
        return options

    # -- building -----------------------------------------------------------------------
    def _n_encoder_features(self) -> int:
        if self.n_features is not None:
            return int(self.n_features)
        return 2 * self.n_qubits if self.ansatz == "dense" else self.n_qubits

    def _build(self, X: np.ndarray, n_classes: int, seed: int, ranks: Ranks | None) -> torch.Tensor:
        """Fit the encoder, assemble the model; return the training inputs.

        In a process group the encoder is fitted on rank 0 only and sent to the others, and
        rank 0's initial weights overwrite theirs: every rank starts from the same model.
        """
        options = self._engine_options()
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
        self.encoder_ = encoder if ranks is None else ranks.broadcast_object(encoder)
        features = np.asarray(self.encoder_.transform(X), dtype=np.float64)
        self._assemble(features.shape[1], n_classes, seed, options)
        if ranks is not None:
            ranks.broadcast_module(self.module_)
        self.history_ = []
        self.n_iter_ = 0
        return self._module_inputs(X, features)

    def _assemble(self, n_features: int, n_classes: int, seed: int, options: dict) -> None:
        """Make ``circuit_``, ``qnn_`` and ``module_`` around the fitted ``encoder_``."""
        self.circuit_ = preset_circuit(
            self.ansatz,
            self.n_qubits,
            self.reps,
            n_features=n_features,
            entanglement=self.entanglement,
        )
        self.qnn_ = make_qnn(
            *self.circuit_, engine=self.engine, input_gradients=self.fine_tune_, **options
        )
        with seeded(seed) as generator:
            self.module_ = QuantumClassifierModule(
                self.qnn_,
                initial_weights(input_scale_mask(self.circuit_), generator),
                make_readout(self.readout, self.n_qubits, n_classes),
                self.encoder_.torch_encoder() if self.fine_tune_ else None,
            )

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
        return make_optimizer(self.optimizer, groups, self.learning_rate)

    def _encode_targets(self, y: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)

    # -- training -----------------------------------------------------------------------
    def _train(
        self,
        X,
        y,
        *,
        epochs: int | None,
        reset: bool,
        classes=None,
        lr_schedule: str = "constant",
    ) -> QuantumMNISTClassifier:
        """Train for ``epochs`` passes (``None``: as many as ``fit`` makes on this data)."""
        self._check_params()
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
        check_classification_targets(y)
        ranks = current_ranks()
        seed = seed_from(self.random_state)
        if ranks is not None:
            # One seed for all ranks (random_state=None draws one per process): the same
            # shuffling, hence the same global mini-batches, everywhere.
            seed = ranks.broadcast_object(seed)
        if reset:
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"the classifier needs samples of at least 2 classes; got only 1 class: "
                    f"{self.classes_.tolist()}"
                )
            inputs = self._build(X, len(self.classes_), seed, ranks)
        else:
            unknown = np.setdiff1d(y, self.classes_)
            if len(unknown):
                raise ValueError(f"labels {unknown.tolist()} were not seen in the first fit")
            inputs = self._module_inputs(X)
        targets = self._encode_targets(y)
        if epochs is None:
            epochs = self._epochs(len(targets))
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
        )
        self.n_iter_ = len(self.history_)
        self.interrupted_ = not completed
        return self

    def fit(self, X, y) -> QuantumMNISTClassifier:
        """Fit the encoder, then train the circuit for ``epochs`` epochs.

        With ``warm_start=True`` and a previous fit, training continues from the current
        weights (the encoder is kept as it is). Ctrl-C stops training and leaves a usable
        model (``interrupted_`` is then True).

        Inside a ``torch.distributed`` process group of two or more processes (``torchrun``,
        or the caller's ``init_process_group``), every process calls ``fit`` on the same
        data and training is data-parallel: each rank takes its slice of every global
        mini-batch, the gradients are all-reduced, and every rank ends with the same weights
        as one process would have on the same mini-batches. The encoder is fitted on rank 0
        and sent to the others; only rank 0 shows progress (see
        :mod:`qmnist_qiskit.parallel`).
        """
        reset = not (self.warm_start and hasattr(self, "module_"))
        with torch_threads(self.n_threads):
            return self._train(X, y, epochs=None, reset=reset, lr_schedule=self.lr_schedule)

    def partial_fit(self, X, y, classes=None) -> QuantumMNISTClassifier:
        """One epoch over ``(X, y)``; the first call fits the encoder on ``X``.

        ``classes`` (all labels that will ever be seen) is required on the first call
        unless ``y`` already holds every class.
        """
        first = not hasattr(self, "module_")
        with torch_threads(self.n_threads):
            return self._train(X, y, epochs=1, reset=first, classes=classes)

    # -- prediction ---------------------------------------------------------------------
    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
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

    # -- persistence --------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the fitted model to ``path`` as one ``.safetensors`` file (tensors + JSON).

        Built-in encoders only (``"autoencoder"``, ``"pca"``, ``None``) and JSON-serialisable
        engine options; for anything else use pickle or joblib.
        """
        check_is_fitted(self, "module_")
        return save_classifier(self, path)

    @classmethod
    def load(cls, path) -> QuantumMNISTClassifier:
        """Read a model written by :meth:`save`. Runs no code from the file; a foreign or
        altered file raises :class:`~qmnist_qiskit.QMNISTError`."""
        return load_classifier(cls, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
