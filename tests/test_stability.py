"""Stability of the choice over bootstrap resamples and fresh data draws, on real refits."""

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.maths import criteria
from gmm_pipeline.maths.criteria import column
from gmm_pipeline.stages.assess_stability import (
    bootstrap_sample,
    bootstrap_weights,
    replicate_criteria,
    replicate_datasets,
    selection_frequencies,
)
from gmm_pipeline.stages.fit_models import fit_type_grid
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture


def test_bootstrap_samples_are_reproducible_and_differ_between_replicates():
    X = np.arange(200.0).reshape(100, 2)
    a = bootstrap_sample(X, seed=1, replicate=0)
    np.testing.assert_array_equal(a, bootstrap_sample(X, seed=1, replicate=0))
    assert not np.array_equal(a, bootstrap_sample(X, seed=1, replicate=1))
    assert a.shape == X.shape and len(np.unique(a[:, 0])) < 100  # drawn with replacement


def test_data_seed_replicates_redraw_the_generator_and_files_have_none():
    spec = {"generator": "moons", "n_samples": 50, "noise": 0.1, "seed": 10}
    X = np.zeros((50, 2))
    kinds = [
        (kind, r, seed)
        for kind, r, seed, _, _ in replicate_datasets(X, bootstrap=2, seed=0, spec=spec, data_seeds=3)
    ]
    assert kinds == [
        ("bootstrap", 0, None),
        ("bootstrap", 1, None),
        ("data_seed", 0, 11),
        ("data_seed", 1, 12),
        ("data_seed", 2, 13),
    ]
    assert len(list(replicate_datasets(X, bootstrap=1, seed=0, spec=None, data_seeds=3))) == 1


def test_four_separated_blobs_select_k4_by_bic_in_nearly_all_bootstrap_resamples():
    X, _ = make_blobs(
        n_samples=400, centers=[[0, 0], [10, 0], [0, 10], [10, 10]], cluster_std=1.0, random_state=3
    )
    replicates = replicate_criteria(
        X,
        covariance_types=["full", "spherical"],
        bootstrap=20,
        seed=0,
        n_components=[1, 2, 3, 4, 5, 6],
        seeds=[0, 1],
        init_params=["kmeans"],
    )
    frequencies = selection_frequencies(replicates)
    bic = frequencies[(frequencies["criterion"] == "bic") & (frequencies["resampling"] == "bootstrap")]
    assert bic["n_replicates"].eq(20).all()
    assert bic["frequency"].sum() == pytest.approx(1.0)
    k4 = bic.loc[bic["n_components"] == 4, "frequency"].sum()
    assert k4 >= 0.9, bic


def test_frequencies_count_the_lowest_criterion_of_each_replicate():
    def row(replicate, cov, k, bic):
        return {
            "dataset": "d",
            "covariance_type": cov,
            "resampling": "bootstrap",
            "replicate": replicate,
            "data_seed": None,
            "n_components": k,
            "lower_bound": -1.0,
            "converged": True,
            "degenerate": False,
            column("bic"): bic,
            column("aic"): 0.0,
            column("icl"): bic,
        }

    replicates = pd.DataFrame(
        [
            row(0, "full", 2, 10.0),
            row(0, "full", 3, 9.0),
            row(0, "diag", 3, 9.5),
            row(1, "full", 2, 8.0),
            row(1, "full", 3, 9.0),
            row(1, "diag", 3, 9.5),
            row(2, "full", 2, 10.0),
            row(2, "full", 3, 12.0),
            row(2, "diag", 3, 7.0),
        ]
    )
    frequencies = selection_frequencies(replicates)
    bic = frequencies[frequencies["criterion"] == "bic"].set_index(["covariance_type", "n_components"])
    assert bic["n_chosen"].to_dict() == {("diag", 3): 1, ("full", 2): 1, ("full", 3): 1}
    assert (bic["n_replicates"] == 3).all()


def test_weighted_bootstrap_weights_are_a_scaled_dirichlet_draw():
    weights = bootstrap_weights(500, seed=3, replicate=2)
    assert weights.shape == (500,) and (weights > 0).all()
    assert weights.sum() == pytest.approx(500)
    np.testing.assert_array_equal(weights, bootstrap_weights(500, seed=3, replicate=2))
    assert not np.array_equal(weights, bootstrap_weights(500, seed=3, replicate=3))
    # Dirichlet(1, ..., 1) times n: each weight is about Exponential(1), variance about 1.
    assert 0.8 < weights.var() < 1.2


def test_weighted_replicates_keep_every_row_and_refit_with_the_weights():
    X, _ = make_blobs(n_samples=150, centers=3, random_state=0)
    replicates = list(replicate_datasets(X, bootstrap=2, seed=0, method="weighted"))
    assert [r[0] for r in replicates] == ["bootstrap", "bootstrap"]
    assert all(r[3] is X and r[4].sum() == pytest.approx(150) for r in replicates)
    table = replicate_criteria(
        X,
        covariance_types=["full"],
        bootstrap=2,
        seed=0,
        method="weighted",
        n_components=[1, 2, 3],
        seeds=[0],
        init_params=["kmeans"],
    )
    assert len(table) == 2 * 3
    # Each replicate's BIC is the weighted likelihood's: refit the chosen k with the same
    # weights and compare.
    weights = replicates[0][4]
    starts, models = fit_type_grid(
        X, covariance_type="full", n_components=[3], seeds=[0], sample_weight=weights, init_params=["kmeans"]
    )
    bic = criteria.start_criteria(models[0], X, weights)["bic"]
    first = table[(table["replicate"] == 0) & (table["n_components"] == 3)].iloc[0]
    assert first["bic_lower_is_better"] == pytest.approx(bic)
    assert first["bic_lower_is_better"] != pytest.approx(criteria.start_criteria(models[0], X)["bic"])


def test_the_types_refitted_together_give_each_type_alone():
    # Each replicate's starts are made once for all types; the fits are those of each type alone.
    X, _ = make_blobs(n_samples=150, centers=3, random_state=2)
    options = {
        "bootstrap": 3,
        "seed": 4,
        "method": "weighted",
        "n_components": [1, 2, 3],
        "seeds": [0, 1],
        "init_params": ["kmeans"],
    }
    together = replicate_criteria(X, covariance_types=["diag", "full"], **options)
    alone = [replicate_criteria(X, covariance_types=[name], **options) for name in ("diag", "full")]
    order = ["covariance_type", "replicate", "n_components"]
    expected = pd.concat(alone, ignore_index=True).sort_values(order, kind="stable").reset_index(drop=True)
    assert together.sort_values(order, kind="stable").reset_index(drop=True).equals(expected)


def test_weighted_criteria_equal_the_criteria_of_repeated_rows():
    X, _ = make_blobs(n_samples=120, centers=3, random_state=1)
    counts = np.random.default_rng(0).integers(0, 4, size=len(X))
    model = GaussianMixture(3, random_state=0).fit(X)
    weighted = criteria.start_criteria(model, X, counts.astype(float))
    repeated = criteria.start_criteria(model, np.repeat(X, counts, axis=0))
    for name in ("log_likelihood", "bic", "aic", "icl"):
        assert weighted[name] == pytest.approx(repeated[name], rel=1e-12)


def test_weighted_fits_need_the_fast_engine():
    X, _ = make_blobs(n_samples=60, centers=2, random_state=0)
    with pytest.raises(PipelineInputError, match="need fit.engine: fast"):
        fit_type_grid(
            X,
            covariance_type="full",
            n_components=[1, 2],
            seeds=[0],
            engine="sklearn",
            sample_weight=np.ones(60),
            init_params=["kmeans"],
        )


def test_weighted_replicates_build_each_hierarchy_once_with_the_same_results(monkeypatch):
    # A weighted replicate keeps the rows and the hierarchies ignore the weights, so the
    # replicates share one build of each; a data-seed replicate has new rows and its own.
    from gmm_pipeline.stages import assess_stability, fit_models

    X, _ = make_blobs(n_samples=120, centers=3, random_state=5)
    spec = {"generator": "blobs", "n_samples": 120, "centers": 3, "seed": 5}
    options = {
        "covariance_types": ["full", "spherical"],
        "bootstrap": 3,
        "seed": 0,
        "method": "weighted",
        "spec": spec,
        "data_seeds": 1,
        "n_components": [1, 2, 3],
        "seeds": [0],
        "init_params": ["kmeans", "agglomerative", "hc_vvv"],
    }
    builds = []
    for name in ("ward_partitions", "hierarchical_partitions"):
        builder = getattr(fit_models, name)
        monkeypatch.setattr(
            fit_models,
            name,
            lambda *args, builder=builder, name=name, **kwargs: (
                builds.append(name) or builder(*args, **kwargs)
            ),
        )
    shared = replicate_criteria(X, **options)
    assert sorted(builds) == ["hierarchical_partitions"] * 2 + ["ward_partitions"] * 2

    def without_sharing(*args, hierarchies=None, **kwargs):
        return fit_models.fit_grid(*args, **kwargs)

    monkeypatch.setattr(assess_stability, "fit_grid", without_sharing)
    builds.clear()
    rebuilt = replicate_criteria(X, **options)
    assert len(builds) == 2 * 4  # every replicate builds both hierarchies
    pd.testing.assert_frame_equal(shared, rebuilt)
