"""The bootstrap likelihood-ratio test for the number of components (gmm_pipeline.stages.test_components)."""

import numpy as np
import pandas as pd
import pytest
from conftest import LIGHT_SELECTION, run_snakemake, write_config
from gmm_pipeline.stages.test_components import bootstrap_lrt, supported_components
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture


@pytest.fixture(scope="module")
def four_blobs():
    X, _ = make_blobs(n_samples=400, centers=4, random_state=7)
    return X


def best_fits(X, covariance_type, counts=range(1, 7)):
    return {
        k: GaussianMixture(
            k, covariance_type=covariance_type, n_init=3, random_state=0, tol=1e-6, max_iter=1000
        ).fit(X)
        for k in counts
    }


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_on_four_blobs_the_test_rejects_fewer_than_four_and_not_four(four_blobs, covariance_type):
    tests, statistics = bootstrap_lrt(
        four_blobs, best_fits(four_blobs, covariance_type), replicates=39, seed=0
    )
    assert tests["n_components"].tolist() == [1, 2, 3, 4]  # stops at the first k not rejected
    assert tests["rejected"].tolist() == [True, True, True, False]
    assert supported_components(tests) == 4
    # k < 4: every replicate's statistic is far below the observed one.
    assert (tests["p_value"].iloc[:3] == 1 / 40).all()
    assert (tests["statistic"].iloc[:3] > 10 * tests["bootstrap_q99"].iloc[:3]).all()
    assert len(statistics) == 4 * 39


def test_p_value_and_quantiles_follow_from_the_replicates(four_blobs):
    models = best_fits(four_blobs, "diag")
    tests, statistics = bootstrap_lrt(four_blobs, models, replicates=29, seed=3)
    for _, test in tests.iterrows():
        boot = statistics.loc[statistics["n_components"] == test["n_components"], "statistic"].dropna()
        assert test["p_value"] == (1 + np.sum(boot >= test["statistic"])) / (len(boot) + 1)
        assert test["bootstrap_q95"] == pytest.approx(np.quantile(boot, 0.95))
    # The observed statistic is twice the log-likelihood gain of the best fits.
    first = tests.iloc[0]
    gain = models[2].score_samples(four_blobs).sum() - models[1].score_samples(four_blobs).sum()
    assert first["statistic"] == pytest.approx(2 * gain)


def test_replicates_are_reproducible_from_the_seed(four_blobs):
    models = best_fits(four_blobs, "spherical", counts=[1, 2, 3, 4, 5])
    _, first = bootstrap_lrt(four_blobs, models, replicates=5, seed=1, max_k=2, level=0.5)
    _, again = bootstrap_lrt(four_blobs, models, replicates=5, seed=1, max_k=2, level=0.5)
    _, other = bootstrap_lrt(four_blobs, models, replicates=5, seed=2, max_k=2, level=0.5)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["statistic"], other["statistic"])
    assert first["n_components"].max() == 2  # max_k bounds the tests


def test_pipeline_writes_the_tests_per_type_and_a_summary(tmp_path):
    config = {
        "datasets": {"blobs": {"generator": "blobs", "n_samples": 200, "centers": 3, "seed": 7}},
        "fit": {
            "covariance_types": ["full", "diag"],
            "n_components": [1, 2, 3, 4, 5],
            "seeds": 2,
            "init_params": ["kmeans"],
        },
        "selection": {**LIGHT_SELECTION, "lrt": {"replicates": 19, "seed": 4}},
        "bayesian": {"max_components": 3, "n_init": 1, "max_iter": 100},
        "figures": {"grid_resolution": 30, "dpi": 30},
    }
    run_snakemake(tmp_path, "--configfile", write_config(tmp_path / "config.yaml", config), "--cores", 2)
    table = pd.read_csv(tmp_path / "results/select/blobs/lrt.csv")
    assert set(table["covariance_type"]) == {"full", "diag"}
    for covariance_type, group in table.groupby("covariance_type"):
        per_type = pd.read_csv(tmp_path / f"results/select/blobs/lrt/{covariance_type}.csv")
        pd.testing.assert_frame_equal(
            group.drop(columns="supported_n_components").reset_index(drop=True), per_type
        )
        assert (group["supported_n_components"] == supported_components(per_type)).all()
        replicates = pd.read_csv(tmp_path / f"results/select/blobs/lrt/{covariance_type}_replicates.csv")
        assert len(replicates) == 19 * len(per_type)
    assert (table["supported_n_components"] == 3).all()
    assert (tmp_path / "results/figures/blobs/lrt.png").stat().st_size > 1000
