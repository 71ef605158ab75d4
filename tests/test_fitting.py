"""Multi-seed fitting on real data."""

import numpy as np
import pandas as pd
import pytest
from conftest import start_rules
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.files.model_io import model_to_dict
from gmm_pipeline.maths import em
from gmm_pipeline.maths.criteria import column
from gmm_pipeline.maths.single_start import fit_start
from gmm_pipeline.stages.fit_models import (
    START_COLUMNS,
    fit_grid,
    fit_type_grid,
    grid_settings,
    resolve_seeds,
)
from sklearn.mixture import GaussianMixture

TYPES = ["full", "tied", "diag", "spherical"]


def _first_at_the_highest_bound(rows):
    """The first row (table order) whose lower bound is the highest, bounds within 1e-10
    relative counting as equal: the same optimum reached by two starts can differ in its
    last digits, and the best start is then the first (fitting.best_start)."""
    highest = rows["lower_bound"].max()
    at_highest = rows["lower_bound"] >= highest - 1e-10 * (1.0 + abs(highest))
    return rows.index[at_highest][0]


def test_every_start_is_recorded_and_the_best_is_the_highest_lower_bound(three_blobs):
    X, _ = three_blobs
    starts, models = fit_type_grid(
        X,
        covariance_type="full",
        n_components=[1, 2, 3],
        seeds=[0, 1, 2, 3],
        dataset="blobs",
        init_params="random",
    )
    assert list(starts.columns) == START_COLUMNS
    assert len(starts) == 3 * 4
    assert list(starts["seed"]) == [0, 1, 2, 3] * 3
    assert starts.groupby("n_components")["is_best"].sum().tolist() == [1, 1, 1]
    for _, rows in starts.groupby("n_components"):
        assert rows.index[rows["is_best"]].tolist() == [_first_at_the_highest_bound(rows)]
    assert [m.n_components for m in models] == [1, 2, 3]
    assert (starts["init_params"] == "random").all()
    assert (starts["fit_seconds"] > 0).all()
    assert [m.start_["seed"] for m in models] == starts.loc[starts["is_best"], "seed"].tolist()


def test_every_method_gets_its_starts_and_the_best_is_taken_across_methods(three_blobs):
    X, _ = three_blobs
    starts, models = fit_type_grid(
        X,
        covariance_type="full",
        n_components=[2, 3],
        seeds=[0, 1, 2],
        init_params=["random", "agglomerative"],
    )
    # 300 rows: the Ward tree uses them all, so the seed cannot change it and one start is enough.
    assert starts.groupby(["n_components", "init_params"]).size().to_dict() == {
        (2, "agglomerative"): 1,
        (2, "random"): 3,
        (3, "agglomerative"): 1,
        (3, "random"): 3,
    }
    for _, rows in starts.groupby("n_components"):
        assert rows.index[rows["is_best"]].tolist() == [_first_at_the_highest_bound(rows)]
    assert {m.start_["init_params"] for m in models} <= {"random", "agglomerative"}


@pytest.mark.parametrize("engine", ["fast", "sklearn"])
def test_all_types_at_once_fit_as_each_type_alone(three_blobs, engine):
    X, _ = three_blobs
    options = {
        "n_components": [1, 2, 3, 4],
        "seeds": [0, 1],
        "init_params": ["kmeans", "k-means++", "random", "agglomerative", "hc_vvv"],
        "engine": engine,
    }
    starts, models = fit_grid(X, covariance_types=TYPES, **options)
    alone = [fit_type_grid(X, covariance_type=covariance_type, **options) for covariance_type in TYPES]
    assert list(dict.fromkeys(starts["covariance_type"])) == TYPES
    shared_rows = starts.drop(columns="fit_seconds").reset_index(drop=True)
    alone_rows = [table.drop(columns="fit_seconds") for table, _ in alone]
    assert shared_rows.equals(pd.concat(alone_rows, ignore_index=True))
    assert [model_to_dict(m) for m in models] == [model_to_dict(m) for _, fits in alone for m in fits]


@pytest.mark.parametrize("engine", ["fast", "sklearn"])
def test_a_partition_without_a_usable_covariance_fails_only_its_own_starts(engine):
    # Thirty identical rows: with reg_covar 0 their cluster's covariance is singular, so the
    # hierarchies' starts for k >= 2 cannot be made; k = 1 (all rows pooled) still fits.
    X = np.vstack([np.zeros((30, 2)), np.random.default_rng(0).normal(size=(60, 2)) + 5])
    starts, models = fit_grid(
        X,
        covariance_types=["full", "tied"],
        n_components=[1, 2, 3],
        seeds=[0],
        init_params=["hc_vvv", "agglomerative"],
        reg_covar=0.0,
        engine=engine,
    )
    failed = starts[starts["error"].fillna("") != ""]
    assert set(failed["n_components"]) == {2, 3} and set(failed["covariance_type"]) == {"full"}
    assert [(m.covariance_type, m.n_components) for m in models][:1] == [("full", 1)]


def test_a_start_is_made_once_for_every_covariance_type(three_blobs, monkeypatch):
    X, _ = three_blobs
    made = []
    real = em.initial_responsibilities

    def counted(X, n_components, method, seed, *args):
        made.append((n_components, method, seed))
        return real(X, n_components, method, seed, *args)

    monkeypatch.setattr(em, "initial_responsibilities", counted)
    starts, _ = fit_grid(
        X, covariance_types=TYPES, n_components=[2, 3], seeds=[0, 1, 2], init_params=["kmeans"]
    )
    assert len(starts) == 4 * 2 * 3
    # One k-means per (k, seed), not one per covariance type.
    assert sorted(made) == [(k, "kmeans", seed) for k in (2, 3) for seed in (0, 1, 2)]


def test_each_start_reruns_alone_from_its_seed(three_blobs):
    X, _ = three_blobs
    starts, models = fit_type_grid(
        X, covariance_type="diag", n_components=[3], seeds=[5, 6, 7], init_params=["kmeans"]
    )
    best = starts[starts["is_best"]].iloc[0]
    alone = GaussianMixture(n_components=3, covariance_type="diag", random_state=int(best["seed"])).fit(X)
    # The same fit to rounding: the engine sums in its own order (tests/test_em.py).
    np.testing.assert_allclose(alone.means_, models[0].means_, rtol=1e-10, atol=1e-12)
    assert alone.bic(X) == pytest.approx(best[column("bic")], rel=1e-10)
    assert alone.aic(X) == pytest.approx(best[column("aic")], rel=1e-10)
    assert alone.score(X) == pytest.approx(best["log_likelihood"], rel=1e-10)


def test_recovers_the_parameters_of_a_known_mixture():
    truth = GaussianMixture(n_components=2, covariance_type="full", random_state=0)
    truth.weights_ = np.array([0.3, 0.7])
    truth.means_ = np.array([[-3.0, 0.0], [3.0, 1.0]])
    truth.covariances_ = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 2.0]]])
    truth.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(truth.covariances_))
    X, _ = truth.sample(4000)
    _, models = fit_type_grid(
        X, covariance_type="full", n_components=[2], seeds=range(3), init_params=["kmeans"]
    )
    fitted = models[0]
    order = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.weights_[order], truth.weights_, atol=0.02)
    np.testing.assert_allclose(fitted.means_[order], truth.means_, atol=0.1)
    np.testing.assert_allclose(fitted.covariances_[order], truth.covariances_, atol=0.15)


def test_convergence_warning_is_kept_in_the_row(three_blobs):
    X, _ = three_blobs
    model, row = fit_start(
        X, n_components=3, covariance_type="full", seed=0, init_params="random", **start_rules(max_iter=1)
    )
    assert model is not None and not row["converged"]
    assert "did not converge" in row["warnings"]


def test_too_few_points_for_k_names_the_dataset_and_key():
    X = np.random.default_rng(0).normal(size=(4, 2))
    with pytest.raises(PipelineInputError, match=r"dataset 'tiny' has 4 data points.*fit.n_components \(5\)"):
        fit_type_grid(
            X, covariance_type="full", n_components=[2, 5], seeds=[0], dataset="tiny", init_params=["kmeans"]
        )


def test_a_failing_start_is_recorded_not_fatal():
    # Two distinct points, two components and no regularisation: covariances collapse.
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    starts, models = fit_type_grid(
        X, covariance_type="full", n_components=[2], seeds=[0], reg_covar=0.0, init_params=["kmeans"]
    )
    assert len(starts) == 1
    assert starts["error"].iloc[0] != "" and models == []


def test_resolve_seeds():
    assert resolve_seeds(3) == [0, 1, 2]
    assert resolve_seeds([7, 11]) == [7, 11]
    with pytest.raises(PipelineInputError, match="fit.seeds"):
        resolve_seeds(0)


def test_grid_settings_from_the_fit_config():
    config = {
        "covariance_types": ["full"],
        "n_components": [1, 2],
        "seeds": 4,
        "init_params": "kmeans",
        "max_iter": 50,
        "tol": 1e-4,
        "reg_covar": 1e-5,
    }
    settings = grid_settings(config, n_seeds=2)
    assert settings["seeds"] == [0, 1] and settings["init_params"] == ["kmeans"]
    assert settings["max_iter"] == 50 and "covariance_types" not in settings
