"""Grid search over the classifier's parameters, on this machine or on a Dask cluster.

Nothing is scheduled here: scikit-learn's ``GridSearchCV`` hands its fits to joblib, which runs
them in local processes or, given a scheduler's address, on a Dask cluster through joblib's
Dask backend (``joblib.parallel_config(backend="dask")``). Each fit runs the estimator's
``n_threads`` torch threads (default 1), so a worker process with one thread per task runs
one torch thread per core it was given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, ParameterGrid

from qmnist_qiskit.exceptions import QMNISTError

_WORDS = {"none": None, "true": True, "false": False}


def parse_value(text: str) -> int | float | bool | str | None:
    """A grid value from the command line: an int, a float, ``None``, a bool, or the text.

    Examples
    --------
    >>> [parse_value(text) for text in ("3", "0.05", "1e-3", "None", "true", "pca")]
    [3, 0.05, 0.001, None, True, 'pca']
    """
    text = text.strip()
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_param(spec: str) -> tuple[str, list]:
    """``"name=v1,v2,..."`` as ``(name, [v1, v2, ...])``, each value through :func:`parse_value`.

    Examples
    --------
    >>> parse_param("learning_rate=0.05,0.15")
    ('learning_rate', [0.05, 0.15])
    """
    name, equals, values = spec.partition("=")
    name = name.strip()
    if not equals or not name or not values.strip():
        raise ValueError(f"--param takes NAME=VALUE[,VALUE...], got {spec!r}")
    return name, [parse_value(value) for value in values.split(",")]


def parameter_grid(specs: Sequence[str], estimator: BaseEstimator) -> dict[str, list]:
    """The grid of ``--param`` specs, checked against ``estimator`` before any fit.

    Every name must be one of ``estimator.get_params()``, at most once; every candidate must
    pass the estimator's own checks (a ``ValueError`` names the first that does not).
    """
    if not specs:
        raise ValueError("give at least one --param NAME=VALUE[,VALUE...]")
    known = estimator.get_params()
    grid: dict[str, list] = {}
    for spec in specs:
        name, values = parse_param(spec)
        # optimizer__NAME: an argument of the optimiser (skorch's routing), checked below.
        if name not in known and not name.startswith("optimizer__"):
            raise ValueError(
                f"unknown parameter {name!r}; parameters: {', '.join(sorted(known))} "
                "(and optimizer__NAME for an argument of the optimiser)"
            )
        if name in grid:
            raise ValueError(f"parameter {name!r} is given twice")
        grid[name] = values
    check = getattr(estimator, "_check_params", None)
    if check is not None:
        for candidate in ParameterGrid(grid):
            try:
                clone(estimator).set_params(**candidate)._check_params()
            except (ValueError, QMNISTError) as exc:
                raise type(exc)(f"candidate {candidate}: {exc}") from exc
    return grid


@contextmanager
def dask_backend(scheduler: str | None, *, timeout: str = "10s") -> Iterator[object | None]:
    """joblib's Dask backend on the cluster whose scheduler is at ``scheduler``, for the block.

    Yields the ``distributed.Client`` (closed on exit), or ``None`` without a scheduler, when
    joblib keeps its default local processes.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise QMNISTError(
            "a Dask scheduler needs the distributed extra (missing dask or distributed): "
            "pip install 'qmnist_qiskit[distributed]'"
        ) from exc
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise QMNISTError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client, joblib.parallel_config(backend="dask", client=client):
        yield client


def grid_search(
    estimator: BaseEstimator, grid: dict[str, list], X, y, *, cv: int = 3, n_jobs: int = 1
) -> GridSearchCV:
    """Cross-validate every candidate of ``grid`` with ``GridSearchCV``; a failing fit raises.

    The fits run on joblib's current backend: local processes, or a Dask cluster inside
    :func:`dask_backend` (or any ``joblib.parallel_config``).

    Parameters
    ----------
    estimator : BaseEstimator
        The base estimator; ``grid`` overrides its parameters.
    grid : dict
        Parameter name to the list of its values.
    X, y : array-like
        Training data.
    cv : int
        Stratified folds.
    n_jobs : int
        Fits at once; ``-1``: one per core here, or one per worker thread of a cluster.

    Returns
    -------
    GridSearchCV
        Fitted without a refit: ``cv_results_``, ``best_params_`` and ``best_score_``.

    Examples
    --------
    >>> import numpy as np
    >>> from qmnist_qiskit import QuantumMNISTClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.uniform(0, np.pi, (40, 4)), np.arange(40) % 2
    >>> base = QuantumMNISTClassifier(encoder=None, n_qubits=4, reps=1, epochs=1, random_state=0)
    >>> search = grid_search(base, {"learning_rate": [0.05, 0.2]}, X, y, cv=2)
    >>> len(search.cv_results_["params"])
    2
    """
    search = GridSearchCV(estimator, grid, cv=cv, n_jobs=n_jobs, refit=False, error_score="raise")
    return search.fit(X, y)


def results_frame(cv_results: dict) -> pd.DataFrame:
    """``cv_results_`` as a table: one row per candidate, best first, without the dict column.

    ``param_*`` columns hold the values as text, so the table round-trips through CSV.
    """
    frame = pd.DataFrame({key: value for key, value in cv_results.items() if key != "params"})
    for column in frame.columns:
        if column.startswith("param_"):
            frame[column] = [str(value) for value in np.asarray(frame[column], dtype=object)]
    return frame.sort_values(["rank_test_score", "mean_test_score"], ascending=[True, False])
