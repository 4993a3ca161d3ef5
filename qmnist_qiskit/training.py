"""Mini-batch training of a classifier module with softmax cross-entropy.

One epoch loop serves ``fit`` and ``partial_fit``; it records per-epoch history, keeps
the best weights under early stopping, shows progress per mini-batch, and stops cleanly:
on Ctrl-C or SIGTERM (the model keeps its last completed step), on a job that failed for
good (:class:`~qmnist_qiskit.exceptions.JobFailedError`) and on a loss, gradient or weight
that is no longer finite (the model keeps the last weights whose loss was finite). It can
start from a :class:`Position` (a checkpoint's) and hands its position to a checkpoint
writer every so many steps, at every epoch's end and when it is stopped.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from qmnist_qiskit.exceptions import JobFailedError, TrainingDivergedError, TrainingStoppedError
from qmnist_qiskit.interrupts import held, stop_on_signals
from qmnist_qiskit.parallel import Ranks

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
LR_SCHEDULES = ("constant", "cosine")


def sample_progress(total: int, desc: str, verbose: int) -> tqdm:
    """A progress bar of samples (rate per second, time left); silent when ``verbose <= 0``.

    Training loops advance it by each mini-batch's size, so a one-epoch fit on a large
    dataset still moves, and the rate and ETA are those of the actual work.
    """
    return tqdm(total=total, desc=desc, unit="sample", unit_scale=True, disable=verbose <= 0)


def optimizer_class(optimizer: str | type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """The torch optimiser class for a name (``"adam"``, ``"sgd"``, ``"rmsprop"``) or a class."""
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]
    raise ValueError(
        f"optimizer must be one of {tuple(OPTIMIZERS)} or a torch.optim.Optimizer class, "
        f"got {optimizer!r}"
    )


def check_optimizer_arguments(optimizer, arguments: dict, learning_rate: float = 1e-3) -> None:
    """:class:`ValueError` unless ``optimizer`` can train with ``arguments`` (the estimator's
    ``optimizer__*`` parameters, prefix removed): every name one it takes (naming the ones it
    does), and one step on a dummy weight going through, so values it refuses
    (``momentum=-1``), optimisers that need a closure (``LBFGS``) or sparse gradients
    (``SparseAdam``) fail here, before any training.

    Examples
    --------
    >>> check_optimizer_arguments("sgd", {"momentum": -1})
    Traceback (most recent call last):
    ...
    ValueError: torch.optim.sgd.SGD cannot train with {'momentum': -1}: Invalid momentum value: -1
    """
    cls = optimizer_class(optimizer)
    name = f"{cls.__module__}.{cls.__qualname__}"
    signature = inspect.signature(cls.__init__)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    valid = [p for p in signature.parameters if p not in ("self", "params", "lr")]
    unknown = [p for p in arguments if p in ("params", "lr") or (p not in valid and not takes_any)]
    if unknown:
        raise ValueError(
            f"{name} takes no argument {', '.join(repr(p) for p in unknown)} (given as "
            f"optimizer__{unknown[0]}); its arguments are {', '.join(valid)} (the learning rate "
            "is learning_rate)"
        )
    weight = torch.zeros(1, requires_grad=True)
    try:
        trial = cls([weight], lr=learning_rate, **arguments)
        weight.grad = torch.ones(1)
        trial.step()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} cannot train with {arguments}: {exc}") from exc


def make_optimizer(
    optimizer: str | type[torch.optim.Optimizer],
    parameter_groups: list[dict],
    learning_rate: float,
    **arguments,
) -> torch.optim.Optimizer:
    """A torch optimiser by name (``"adam"``, ``"sgd"``, ``"rmsprop"``) or class, with
    ``arguments`` passed to it (``momentum=0.9`` for SGD, say).

    Examples
    --------
    >>> import torch
    >>> weights = [torch.zeros(2, requires_grad=True)]
    >>> sgd = make_optimizer(torch.optim.SGD, [{"params": weights}], 0.1, momentum=0.9)
    >>> type(sgd).__name__, sgd.param_groups[0]["momentum"]
    ('SGD', 0.9)
    """
    check_optimizer_arguments(optimizer, arguments, learning_rate)
    return optimizer_class(optimizer)(parameter_groups, lr=learning_rate, **arguments)


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A learning-rate schedule stepped once per mini-batch, or ``None`` for ``"constant"``.

    Every parameter group first gets back the rate it was created with, so a schedule
    that a previous ``fit`` annealed does not carry over. ``"cosine"`` then anneals each
    rate to zero over ``total_steps`` steps (against a constant rate on the default circuit:
    ``benchmarks/results/accuracy.md``).

    Parameters
    ----------
    name : {"constant", "cosine"}
        The schedule.
    optimizer : torch.optim.Optimizer
        Its parameter groups' rates are reset, then scheduled.
    total_steps : int
        Optimiser steps the schedule spans (epochs times batches per epoch).

    Returns
    -------
    torch.optim.lr_scheduler.LRScheduler or None
        Call its ``step()`` after every optimiser step; ``None`` for ``"constant"``.

    Examples
    --------
    >>> import torch
    >>> optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> scheduler = make_scheduler("cosine", optimizer, total_steps=4)
    >>> for _ in range(2):
    ...     optimizer.step()
    ...     scheduler.step()
    >>> round(optimizer.param_groups[0]["lr"], 6)
    0.05
    """
    if name not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {name!r}")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    for group in optimizer.param_groups:
        group["lr"] = group.setdefault("initial_lr", group["lr"])
    if name == "constant":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)


@dataclass
class EarlyStopping:
    """Stop when the validation loss has not improved by ``tol`` for ``patience`` epochs."""

    inputs: torch.Tensor
    targets: torch.Tensor
    patience: int
    tol: float
    best_loss: float = float("inf")
    best_state: dict | None = None
    epochs_without_improvement: int = 0
    stopped: bool = field(default=False)

    def update(self, module: nn.Module, loss: float) -> None:
        if loss < self.best_loss - self.tol:
            self.best_loss = loss
            self.best_state = copy.deepcopy(module.state_dict())
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
            self.stopped = self.epochs_without_improvement >= self.patience


# Rows per forward pass when predicting: bounds the memory of binding a whole data set at once
# (the default circuit's 660 per-sample rotations take tens of kilobytes per row).
PREDICT_BATCH = 1024


def predict_logits(
    module: nn.Module, inputs: torch.Tensor, batch_size: int = PREDICT_BATCH
) -> torch.Tensor:
    """``module(inputs)`` without gradients, ``batch_size`` rows at a time."""
    with torch.no_grad():
        return torch.cat(
            [
                module(inputs[start : start + batch_size])
                for start in range(0, len(inputs), batch_size)
            ]
        )


def evaluate(
    module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int = PREDICT_BATCH
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``module`` on ``(inputs, targets)``."""
    logits = predict_logits(module, inputs, batch_size)
    loss = nn.functional.cross_entropy(logits, targets, reduction="sum").item()
    return loss / len(inputs), int((logits.argmax(dim=1) == targets).sum()) / len(inputs)


def _step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch: torch.Tensor,
    ranks: Ranks | None,
) -> tuple[float, int]:
    """Forward and backward on a global mini-batch, gradients ready for the optimiser's step
    (all-reduced over ``ranks``); its summed loss and correct predictions."""
    optimizer.zero_grad()
    if ranks is None:
        logits = module(inputs[batch])
        loss = nn.functional.cross_entropy(logits, targets[batch])
        loss.backward()
        return loss.item() * len(batch), int(
            (logits.detach().argmax(dim=1) == targets[batch]).sum()
        )
    part = ranks.shard(batch)
    loss_sum, correct = 0.0, 0
    if len(part):
        logits = module(inputs[part])
        loss = nn.functional.cross_entropy(logits, targets[part], reduction="sum")
        # Scaled by the whole batch: the ranks' gradients then add up to the batch mean's.
        (loss / len(batch)).backward()
        loss_sum = loss.item()
        correct = int((logits.detach().argmax(dim=1) == targets[part]).sum())
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    loss_sum, correct = ranks.all_reduce_gradients(parameters, loss_sum, correct)
    return loss_sum, round(correct)


def _all_finite(tensors) -> bool:
    checks = [torch.isfinite(t).all() for t in tensors if t is not None]
    return not checks or bool(torch.stack(checks).all())


class FiniteSteps:
    """An optimiser's steps, taken only while the loss, the gradients and the weights stay
    finite. :meth:`step` returns what became NaN or infinite (``"the loss"``, ``"a
    gradient"``, ``"the weights"``), or None when the step was taken; when something did,
    the weights are put back to the last ones whose loss was finite (weights that are
    finite but already give a NaN loss are not kept). The optimiser's own state is then
    that of the last step taken: make a new one before training further.

    Examples
    --------
    >>> weight = torch.ones(1, requires_grad=True)
    >>> steps = FiniteSteps(torch.optim.SGD([weight], lr=1e30))
    >>> weight.grad = torch.full((1,), -10.0)
    >>> steps.step(loss=1.0), weight.item() > 1e30
    (None, True)
    >>> steps.step(loss=float("inf")), weight.item()
    ('the loss', 1.0)
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self._parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self._last_finite: list[torch.Tensor] | None = None

    def _put_back(self) -> None:
        if self._last_finite is not None:
            with torch.no_grad():
                for parameter, value in zip(self._parameters, self._last_finite, strict=True):
                    parameter.copy_(value)

    def step(self, loss: float) -> str | None:
        """The optimiser's step for gradients of ``loss`` (already back-propagated)."""
        if not math.isfinite(loss):
            self._put_back()
            return "the loss"
        # These weights gave a finite loss: the ones to keep if anything below is not finite.
        self._last_finite = [p.detach().clone() for p in self._parameters]
        if not _all_finite(p.grad for p in self._parameters):
            return "a gradient"
        self.optimizer.step()
        if _all_finite(self._parameters):
            return None
        self._put_back()
        return "the weights"


@dataclass
class Position:
    """Where a fit stands, as a checkpoint records it: ``epoch`` epochs of this fit done,
    ``batch`` mini-batches of the next one done (its summed ``loss`` and ``correct``
    predictions so far, ``seconds`` spent on it), and ``epoch_rng``, the shuffling
    generator's state when that epoch began (its order is drawn again from it)."""

    epoch: int = 0
    batch: int = 0
    loss: float = 0.0
    correct: int = 0
    seconds: float = 0.0
    epoch_rng: torch.Tensor | None = None

    def step(self, batches_per_epoch: int) -> int:
        """Optimiser steps of this fit done."""
        return self.epoch * batches_per_epoch + self.batch


def run_epochs(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    history: list[dict],
    early_stopping: EarlyStopping | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    verbose: int = 0,
    ranks: Ranks | None = None,
    position: Position | None = None,
    checkpoint: Callable[[Position], None] | None = None,
    checkpoint_every: int | None = None,
) -> bool:
    """Train for up to ``epochs`` epochs, appending one dict per epoch to ``history``.

    Each entry holds ``epoch``, ``loss`` (mean training loss over the epoch's batches),
    ``accuracy`` (on the batches as they were seen), ``seconds`` and, with early
    stopping, ``val_loss`` and ``val_accuracy``. ``scheduler`` (if any) steps after every
    optimiser step. With ``verbose > 0`` a bar counts the samples of all epochs (rate and
    ETA) and shows the epoch, its running loss and accuracy.

    Returns ``False`` when interrupted with Ctrl-C (or SIGTERM, see
    :mod:`qmnist_qiskit.interrupts`): the module then keeps the weights of its last
    completed step (or, with early stopping, its best ones); the update of a step (weights,
    optimiser, schedule, position) is never cut in two. A
    :class:`~qmnist_qiskit.exceptions.JobFailedError` from the engine stops training the
    same way and raises :class:`~qmnist_qiskit.exceptions.TrainingStoppedError`; a loss,
    gradient or weight that is no longer finite raises
    :class:`~qmnist_qiskit.exceptions.TrainingDivergedError`, the weights being those of the
    last finite loss (see :class:`FiniteSteps`). Both name the epoch and the step.

    ``position`` (a checkpoint's) resumes a fit part-way: ``history`` and the module,
    optimiser, schedule and ``early_stopping`` must then be as they were at that position.
    ``checkpoint`` is called with the current position every ``checkpoint_every`` optimiser
    steps, at the end of every epoch, and when Ctrl-C or a failed job stops training (not
    after a divergence: the last checkpoint is then the last finite one).

    With ``ranks`` (a ``torch.distributed`` group, see :mod:`qmnist_qiskit.parallel`), every
    process passes the same ``inputs``, ``targets`` and seeded ``generator``, so all draw the
    same global mini-batches; each computes the gradient of its slice, the slices' gradients
    are summed, each scaled by its share of the batch, and every rank takes the same step.
    The history holds the whole batches' loss and accuracy on every rank.
    """
    position = Position() if position is None else position
    n_batches = math.ceil(len(inputs) / batch_size)
    progress = sample_progress(epochs * len(inputs), "training", verbose)
    done = min(position.epoch * len(inputs) + position.batch * batch_size, progress.total)
    if done:
        progress.update(done)
    started = time.perf_counter() - position.seconds

    def save() -> None:
        if checkpoint is not None:
            position.seconds = time.perf_counter() - started
            checkpoint(position)

    steps = FiniteSteps(optimizer)
    completed = True
    try:
        with stop_on_signals(sigterm=False):
            while position.epoch < epochs and not (early_stopping and early_stopping.stopped):
                if position.epoch_rng is None:
                    position.epoch_rng = generator.get_state()
                else:
                    generator.set_state(position.epoch_rng)
                order = torch.randperm(len(inputs), generator=generator)
                for index, batch in enumerate(order.split(batch_size)):
                    if index < position.batch:
                        continue
                    batch_loss, batch_correct = _step(
                        module, optimizer, inputs, targets, batch, ranks
                    )
                    with held():
                        became = steps.step(batch_loss)
                        if became is not None:
                            raise TrainingDivergedError(
                                f"training diverged at epoch {position.epoch + 1}, step "
                                f"{index + 1} of {n_batches}: {became} became NaN or infinite; "
                                "the model keeps the last weights whose loss was finite (try "
                                "a smaller learning_rate)",
                                epoch=position.epoch + 1,
                                step=index + 1,
                            )
                        if scheduler is not None:
                            scheduler.step()
                        position.loss += batch_loss
                        position.correct += batch_correct
                        position.batch = index + 1
                    seen = min(position.batch * batch_size, len(inputs))
                    # Without a refresh here the bar redraws at tqdm's own pace, not per batch.
                    progress.set_postfix(
                        {
                            "epoch": f"{position.epoch + 1}/{epochs}",
                            "loss": f"{position.loss / seen:.4f}",
                            "acc": f"{position.correct / seen:.3f}",
                        },
                        refresh=False,
                    )
                    progress.update(len(batch))
                    if (
                        checkpoint_every
                        and position.batch < n_batches
                        and position.step(n_batches) % checkpoint_every == 0
                    ):
                        save()
                with held():
                    record = {
                        "epoch": len(history) + 1,
                        "loss": position.loss / len(inputs),
                        "accuracy": position.correct / len(inputs),
                    }
                    if early_stopping is not None:
                        val_loss, val_accuracy = evaluate(
                            module, early_stopping.inputs, early_stopping.targets
                        )
                        if ranks is not None:
                            # Rank 0's figures everywhere: every rank stops at the same epoch.
                            val_loss, val_accuracy = ranks.broadcast_object(
                                (val_loss, val_accuracy)
                            )
                        record.update(val_loss=val_loss, val_accuracy=val_accuracy)
                        early_stopping.update(module, val_loss)
                    record["seconds"] = time.perf_counter() - started
                    history.append(record)
                    started = time.perf_counter()
                    position.epoch += 1
                    position.batch, position.loss, position.correct = 0, 0.0, 0
                    position.epoch_rng = generator.get_state()
                save()
    except JobFailedError as exc:
        # Raised before the step's update (or in the epoch's validation): the position is
        # that of the last completed step, and a resumed fit runs the failed one again.
        save()
        where = (
            f"step {position.batch + 1} of {n_batches}"
            if position.batch < n_batches
            else "its validation"
        )
        raise TrainingStoppedError(
            f"training stopped at epoch {position.epoch + 1}, {where}: {exc}; the model keeps "
            "the weights of its last completed step",
            epoch=position.epoch + 1,
            step=position.batch + 1,
        ) from exc
    except KeyboardInterrupt:
        completed = False
        save()
        warnings.warn(
            f"training interrupted after {len(history)} epoch(s); the model keeps its "
            "current weights and can be used or trained further",
            UserWarning,
            stacklevel=3,
        )
    finally:
        progress.close()
    if early_stopping is not None and early_stopping.best_state is not None:
        module.load_state_dict(early_stopping.best_state)
    return completed
