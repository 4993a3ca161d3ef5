"""A grid search run, as ``qmnist search`` makes it: the grid checked against the estimator
and the output directory checked before any data is read, the fits run here or on a Dask
cluster, then ``cv_results.csv`` and ``search_scores.png`` written. Ctrl-C stops the whole
search (:class:`SearchStopped`), not only the fit that is running."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qmnist_qiskit.data.source import DataSource
from qmnist_qiskit.files import atomic_path
from qmnist_qiskit.outputs import check_output_dir

SEARCH_OUTPUTS = ("cv_results.csv", "search_scores.png")
"""The files a search writes into its output directory."""


class SearchStopped(BaseException):
    """Ctrl-C during a search: not a ``KeyboardInterrupt``, which a fit would take as
    "stop training and keep the model" before the search went on with the next fit."""


@contextmanager
def ctrl_c_stops_the_search() -> Iterator[None]:
    """Ctrl-C raises :class:`SearchStopped` in the block (main thread only: elsewhere Python
    cannot take signals), so that it ends the search instead of one fit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SearchStopped

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def search_and_save(
    estimator,
    params: Sequence[str],
    source: DataSource,
    output: Path,
    *,
    n_train: int | None = None,
    seed: int = 0,
    cv: int = 3,
    n_jobs: int | None = None,
    scheduler: str | None = None,
) -> None:
    """Grid-search ``estimator`` over ``params`` (``NAME=V1,V2,...`` each) on a stratified
    subset of ``n_train`` training images, with ``cv`` folds, ``n_jobs`` fits at once (None:
    1 here, every worker with a ``scheduler``), here or on the Dask cluster whose scheduler
    is at ``scheduler``; write :data:`SEARCH_OUTPUTS` to ``output`` and report on stdout."""
    from qmnist_qiskit.plots import save_figure, search_scores
    from qmnist_qiskit.search import dask_backend, grid_search, parameter_grid, results_frame

    grid = parameter_grid(params, estimator)
    check_output_dir(output, SEARCH_OUTPUTS)
    n_jobs = n_jobs if n_jobs is not None else (1 if scheduler is None else -1)
    with ctrl_c_stops_the_search(), dask_backend(scheduler) as client:
        X, y = source.load_subset("train", n_train, seed)
        candidates = math.prod(len(values) for values in grid.values())
        where = "here" if client is None else f"on the Dask cluster at {scheduler}"
        print(f"{candidates} candidates x {cv} folds on {len(X)} images, {where}")
        start = time.perf_counter()
        search = grid_search(estimator, grid, X, y, cv=cv, n_jobs=n_jobs)
    seconds = time.perf_counter() - start
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "cv_results.csv") as partial:
        results_frame(search.cv_results_).to_csv(partial, index=False)
    save_figure(search_scores(search.cv_results_, list(grid)), output / "search_scores.png")
    print(f"search: {seconds:.1f} s")
    best = " ".join(f"{name}={value}" for name, value in search.best_params_.items())
    print(f"best parameters: {best}")
    print(f"best cross-validated accuracy: {search.best_score_:.4f}")
    print(f"saved cv_results.csv and search_scores.png to {output}")
