"""Bootstrap uncertainty of the chosen model's parameters (gmm_pipeline.stages.estimate_uncertainty)."""

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.stages.estimate_uncertainty import match_components, parameter_table, refit_replicates
from sklearn.mixture import GaussianMixture


@pytest.fixture(scope="module")
def three_groups():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat(np.arange(3), 200)
    X = centres[labels] + rng.normal(size=(600, 2))
    return X, GaussianMixture(3, covariance_type="spherical", random_state=0).fit(X)


def test_components_are_matched_by_their_means_whatever_their_order():
    reference = np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]])
    permuted = reference[[2, 0, 1]] + 0.1
    order = match_components(reference, permuted)
    np.testing.assert_array_equal(order, [1, 2, 0])
    np.testing.assert_allclose(permuted[order], reference + 0.1)


@pytest.mark.parametrize("method", ["weighted", "resample"])
def test_standard_errors_match_their_sampling_theory(three_groups, method):
    X, model = three_groups
    weights, means, kept = refit_replicates(model, X, replicates=60, seed=0, method=method)
    assert len(kept) == 60
    table = parameter_table(model, weights, means, ["x0", "x1"]).set_index(["component", "parameter"])
    for k in (1, 2, 3):
        # A weight near 1/3 of 600 points: binomial standard error sqrt(w (1 - w) / n) = 0.019.
        assert 0.012 < table.loc[(k, "weight"), "standard_error"] < 0.03
        # A mean of about 200 points of unit variance: 1 / sqrt(200) = 0.071 per coordinate.
        for feature in ("x0", "x1"):
            row = table.loc[(k, f"mean_{feature}")]
            assert 0.045 < row["standard_error"] < 0.1
            assert row["lower_2.5"] < row["estimate"] < row["upper_97.5"]


def test_swapped_components_do_not_blur_the_intervals(three_groups):
    X, model = three_groups
    # The same model with its components listed in another order: the matched replicates
    # follow each component, so every interval stays tight around its own estimate.
    order = [2, 0, 1]
    swapped = GaussianMixture(3, covariance_type="spherical")
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(swapped, name, getattr(model, name)[order])
    swapped.n_features_in_ = 2
    weights, means, _ = refit_replicates(swapped, X, replicates=20, seed=1)
    table = parameter_table(swapped, weights, means, ["x0", "x1"])
    means_rows = table[table["parameter"].str.startswith("mean_")]
    assert (means_rows["upper_97.5"] - means_rows["lower_2.5"]).max() < 0.5
    pd.testing.assert_series_equal(
        table.loc[table["parameter"] == "weight", "estimate"].reset_index(drop=True),
        pd.Series(model.weights_[order], name="estimate"),
    )


def test_pipeline_bootstraps_the_model_used_downstream(small_run):
    from gmm_pipeline.files.model_io import load_model

    for dataset in ("moons", "blobs"):
        model = load_model(small_run / f"results/select/{dataset}/model.json")
        table = pd.read_csv(small_run / f"results/select/{dataset}/parameter_uncertainty.csv")
        assert len(table) == model.n_components * 3  # weight and two means per component
        weights = table[table["parameter"] == "weight"]
        np.testing.assert_allclose(weights["estimate"], model.weights_)
        assert (table["replicates"] == 4).all()  # tests/config/small.yaml: 4 bootstrap replicates
        replicates = pd.read_csv(small_run / f"results/select/{dataset}/parameter_replicates.csv")
        assert sorted(replicates["replicate"].unique()) == [0, 1, 2, 3]
        assert (small_run / f"results/figures/{dataset}/parameter_uncertainty.png").stat().st_size > 1000
