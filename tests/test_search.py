"""Grid search here and on a local Dask cluster of two worker processes."""

from __future__ import annotations

import csv

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

from qmnist_qiskit import QMNISTError, QuantumMNISTClassifier
from qmnist_qiskit.cli import main
from qmnist_qiskit.search import (
    dask_backend,
    grid_search,
    parameter_grid,
    parse_param,
    parse_value,
    results_frame,
)

GRID = {"reps": [1, 2], "learning_rate": [0.05, 0.3]}
CLI_MODEL = ["--encoder", "pca", "--n-qubits", "4", "--epochs", "1", "--batch-size", "32"]
CLI_GRID = ["--param", "reps=1,2", "--param", "learning_rate=0.05,0.3", "--cv", "2"]


def _estimator() -> QuantumMNISTClassifier:
    return QuantumMNISTClassifier(
        encoder=None, n_qubits=4, reps=1, epochs=2, batch_size=16, random_state=0
    )


@pytest.fixture(scope="module")
def angles() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(0, np.pi, (60, 4)), np.arange(60) % 3


@pytest.fixture(scope="module")
def local_search(angles) -> GridSearchCV:
    return GridSearchCV(_estimator(), GRID, cv=2, n_jobs=1).fit(*angles)


@pytest.fixture(scope="module")
def dask_client():
    """A client of a two-process, one-thread-per-worker cluster on 127.0.0.1, closed after."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_values_are_parsed_as_numbers_none_bools_or_text():
    assert [parse_value(text) for text in ("2", "-1", "0.5", "none", "False", "dense")] == [
        2,
        -1,
        0.5,
        None,
        False,
        "dense",
    ]
    assert parse_param("encoder=pca, None") == ("encoder", ["pca", None])


@pytest.mark.parametrize(
    "specs, message",
    [
        ([], "at least one --param"),
        (["reps"], "NAME=VALUE"),
        (["reps="], "NAME=VALUE"),
        (["depth=1,2"], "unknown parameter 'depth'"),
        (["reps=1", "reps=2"], "given twice"),
        (["reps=1,0"], "reps must be a positive integer"),
        (["optimizer__momentum=0.9"], "torch.optim.adam.Adam takes no argument 'momentum'"),
    ],
)
def test_bad_grids_are_refused_before_any_fit(specs, message):
    with pytest.raises(ValueError, match=message):
        parameter_grid(specs, _estimator())


def test_optimizer_arguments_are_grid_axes():
    grid = parameter_grid(["optimizer=sgd", "optimizer__momentum=0,0.9"], _estimator())
    assert grid == {"optimizer": ["sgd"], "optimizer__momentum": [0, 0.9]}


def test_grid_search_ranks_every_candidate(angles, local_search):
    search = grid_search(_estimator(), GRID, *angles, cv=2)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], local_search.cv_results_["mean_test_score"]
    )
    frame = results_frame(search.cv_results_)
    assert list(frame["rank_test_score"]) == sorted(frame["rank_test_score"])
    assert "params" not in frame and set(frame["param_reps"]) == {"1", "2"}


def test_grid_search_on_dask_equals_the_local_run(angles, local_search, dask_client):
    search = GridSearchCV(_estimator(), GRID, cv=2, n_jobs=-1)
    with joblib.parallel_config(backend="dask"):
        search.fit(*angles)
    assert search.cv_results_["params"] == local_search.cv_results_["params"]
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"],
        local_search.cv_results_["mean_test_score"],
        rtol=0,
        atol=1e-12,
    )
    workers = {info["id"] for info in dask_client.scheduler_info()["workers"].values()}
    assert len(workers) == 2


def test_cross_val_score_on_dask_equals_the_local_run(angles, dask_client):
    with joblib.parallel_config(backend="dask"):
        on_dask = cross_val_score(_estimator(), *angles, cv=3, n_jobs=-1)
    np.testing.assert_allclose(on_dask, cross_val_score(_estimator(), *angles, cv=3), atol=1e-12)


def test_each_dask_fit_runs_one_torch_thread(angles, dask_client):
    def threads_inside_fit(X, y):
        import torch

        seen = []
        estimator = _estimator()
        original = estimator._train

        def train(*args, **kwargs):
            seen.append(torch.get_num_threads())
            return original(*args, **kwargs)

        estimator._train = train
        estimator.fit(X, y)
        return seen

    assert dask_client.submit(threads_inside_fit, *angles).result() == [1]


def test_an_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    with pytest.raises(QMNISTError, match="cannot reach the Dask scheduler"):
        with dask_backend("tcp://127.0.0.1:9", timeout="1s"):
            pass


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_search_command_writes_results_and_plot(tmp_path, capsys):
    output = tmp_path / "here"
    assert main(["search", *CLI_MODEL, *CLI_GRID, "--n-train", "120", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "4 candidates x 2 folds on 120 images, here" in printed
    assert "best parameters: learning_rate=" in printed
    rows = _read_csv(output / "cv_results.csv")
    assert len(rows) == 4 and rows[0]["rank_test_score"] == "1"
    assert (output / "search_scores.png").stat().st_size > 1000


def test_search_command_on_a_scheduler_equals_the_local_run(tmp_path, capsys, dask_client):
    runs = {"here": [], "dask": ["--scheduler", dask_client.scheduler.address]}
    for name, extra in runs.items():
        arguments = [*CLI_MODEL, *CLI_GRID, "--n-train", "120", "--output", str(tmp_path / name)]
        assert main(["search", *arguments, *extra]) == 0
    assert "on the Dask cluster at tcp://127.0.0.1:" in capsys.readouterr().out
    here, dask = (_read_csv(tmp_path / name / "cv_results.csv") for name in runs)
    for key in ("param_reps", "param_learning_rate", "mean_test_score", "rank_test_score"):
        assert [row[key] for row in here] == [row[key] for row in dask]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--param", "depth=1,2"], "unknown parameter 'depth'"),
        (["--param", "reps=1", "--cv", "1"], "argument --cv: expected an integer >= 2"),
        (["--param", "learning_rate=fast"], "learning_rate must be a positive number"),
    ],
)
def test_search_command_errors_are_one_line(tmp_path, capsys, arguments, message):
    assert main(["search", "--output", str(tmp_path / "out"), *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
