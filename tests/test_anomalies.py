"""Density anomalies under a fitted model, and the detectors scored against truth."""

import numpy as np
import pytest
from gmm_pipeline.maths.noise import fit_noise_mixture
from gmm_pipeline.stages.extract_anomalies import (
    DETECTORS,
    METRIC_COLUMNS,
    compare_by_kind,
    compare_detectors,
    detector_scores,
    flag_highest,
    holdout_split,
    local_outlier_factor_scores,
    log_density_threshold,
)
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture


def _noise_model(X):
    return fit_noise_mixture(X, covariance_type="full", n_components=[3], seeds=[0])[0]


def test_anomalies_are_the_points_below_the_density_percentile(three_blobs):
    X, _ = three_blobs
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    log_density = model.score_samples(X)
    threshold, _ = log_density_threshold(log_density, rule="percentile", percentile=4)
    is_anomaly = log_density < threshold
    assert threshold == np.percentile(log_density, 4)
    assert is_anomaly.sum() == 12  # 4 % of 300 distinct densities
    assert log_density[is_anomaly].max() < log_density[~is_anomaly].min()


def test_a_planted_outlier_is_the_first_anomaly(three_blobs):
    X, _ = three_blobs
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    with_outlier = np.vstack([X, [[30.0, 30.0]]])
    log_density = model.score_samples(with_outlier)
    is_anomaly = log_density < log_density_threshold(log_density, rule="percentile", percentile=1)[0]
    assert is_anomaly[-1] and np.argmin(log_density) == len(X)


def _planted(three_blobs, n_outliers=15):
    X, _ = three_blobs
    rng = np.random.default_rng(4)
    outliers = rng.uniform(-14, 22, size=(200, 2))
    # Keep planted points far from every blob centre, so the truth is unambiguous.
    far = np.min(np.linalg.norm(outliers[:, None] - np.array([[0, 0], [8, 0], [0, 8]]), axis=2), axis=1) > 5
    outliers = outliers[far][:n_outliers]
    data = np.vstack([X, outliers])
    truth = np.r_[np.zeros(len(X), bool), np.ones(len(outliers), bool)]
    return data, truth


def test_threshold_rules():
    log_density = np.linspace(-10, 0, 101)
    truth = np.zeros(101, bool)
    truth[:7] = True
    assert log_density_threshold(log_density, rule="percentile", percentile=4) == (
        np.percentile(log_density, 4),
        "percentile 4",
    )
    assert log_density_threshold(log_density, rule="log_density", log_density_value=-8.5)[0] == -8.5
    threshold, text = log_density_threshold(
        log_density, rule="contamination", contamination="truth", truth=truth
    )
    assert threshold == np.quantile(log_density, 7 / 101) and "true anomaly fraction" in text
    assert log_density_threshold(log_density, rule="contamination", contamination=0.1)[0] == np.quantile(
        log_density, 0.1
    )
    # No truth to take the rate from: the percentile, and the summary says so.
    threshold, text = log_density_threshold(
        log_density, rule="contamination", contamination="truth", percentile=4
    )
    assert threshold == np.percentile(log_density, 4) and "no ground truth" in text


def test_detector_metrics_match_a_direct_count(three_blobs):
    X, truth = _planted(three_blobs)
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    noise_model = _noise_model(X)
    scores = detector_scores(model, noise_model, X, seed=0)
    np.testing.assert_array_equal(scores["gmm"], -model.score_samples(X))
    np.testing.assert_array_equal(scores["noise_component"], noise_model.noise_log_likelihood_ratio(X))
    forest = IsolationForest(random_state=0).fit(X)
    np.testing.assert_array_equal(scores["isolation_forest"], -forest.score_samples(X))
    is_anomaly = model.score_samples(X) < np.percentile(model.score_samples(X), 5)
    table = compare_detectors(scores, is_anomaly, truth).set_index("detector")
    assert list(table.columns) == METRIC_COLUMNS[1:]
    assert (table["n_flagged"] == is_anomaly.sum()).all()  # one alert budget for all detectors
    true_positives = (is_anomaly & truth).sum()
    assert table.loc["gmm", "precision"] == true_positives / is_anomaly.sum()
    assert table.loc["gmm", "recall"] == true_positives / truth.sum()
    # ROC-AUC from its definition: how often an anomaly outscores a normal point.
    pairs = scores["gmm"][truth][:, None] > scores["gmm"][~truth][None, :]
    assert table.loc["gmm", "roc_auc"] == pytest.approx(pairs.mean())
    # Far-away planted points: the density finds them all, as do the baselines mostly.
    assert table.loc["gmm", "roc_auc"] > 0.99 and table.loc["gmm", "recall"] >= 0.9
    assert table["roc_auc"].min() > 0.9


def test_without_truth_only_the_counts_are_reported(three_blobs):
    X, _ = three_blobs
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    scores = detector_scores(model, _noise_model(X), X)
    table = compare_detectors(scores, flag_highest(scores["gmm"], 9), None)
    assert table["detector"].tolist() == list(DETECTORS)
    assert table["n_flagged"].tolist() == [9, 9, 9, 9] and table["roc_auc"].isna().all()
    assert (table["evaluated_on"] == "all").all() and (table["n_rows"] == 300).all()


def test_lof_on_large_data_scores_every_row_against_a_sample():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(3000, 2)), [[9.0, 9.0], [-9.0, 8.0]]])
    exact = local_outlier_factor_scores(X, max_rows=5000)
    sampled = local_outlier_factor_scores(X, max_rows=1000, seed=1)
    assert sampled.shape == (3002,)
    # Both put the two far points on top, and agree on the ranking of the rest.
    assert set(np.argsort(-sampled)[:2]) == set(np.argsort(-exact)[:2]) == {3000, 3001}
    assert np.corrcoef(exact, sampled)[0, 1] > 0.8


def test_held_out_detectors_are_fitted_on_the_fit_part_and_score_only_test_rows(three_blobs):
    X, truth = _planted(three_blobs)
    is_test = holdout_split(truth, fraction=0.3, seed=0)
    assert is_test.sum() == np.ceil(0.3 * len(X))  # scikit-learn rounds the test part up
    # Stratified: the test part has the data's share of anomalies, to one row.
    assert abs(truth[is_test].sum() - 0.3 * truth.sum()) <= 1
    np.testing.assert_array_equal(is_test, holdout_split(truth, fraction=0.3, seed=0))
    assert not np.array_equal(is_test, holdout_split(truth, fraction=0.3, seed=1))

    X_fit, X_test = X[~is_test], X[is_test]
    model = GaussianMixture(n_components=3, random_state=0).fit(X_fit)
    scores = detector_scores(model, _noise_model(X_fit), X_fit, X_test=X_test, seed=0)
    assert {len(values) for values in scores.values()} == {len(X_test)}
    # A test row's scores do not depend on any other test row: the detectors saw none.
    moved = X_test.copy()
    moved[0] += 50.0
    again = detector_scores(model, _noise_model(X_fit), X_fit, X_test=moved, seed=0)
    for name in DETECTORS:
        np.testing.assert_allclose(again[name][1:], scores[name][1:], rtol=1e-12, err_msg=name)
        assert again[name][0] != scores[name][0]


def test_scores_by_kind_rank_each_kind_against_the_normal_rows_only():
    rng = np.random.default_rng(0)
    kinds = np.array(["normal"] * 90 + ["uniform"] * 5 + ["cluster"] * 5, dtype=object)
    # A detector that finds the uniform kind perfectly and ranks the cluster kind lowest.
    score = np.r_[rng.uniform(1, 2, 90), rng.uniform(5, 6, 5), rng.uniform(0, 0.5, 5)]
    scores = {name: score for name in DETECTORS}
    is_anomaly = score > 4
    table = compare_by_kind(scores, is_anomaly, kinds).set_index(["detector", "kind"])
    assert table.loc[("gmm", "uniform"), "roc_auc"] == 1.0
    assert table.loc[("gmm", "uniform"), "recall"] == 1.0
    assert table.loc[("gmm", "cluster"), "roc_auc"] == 0.0
    assert table.loc[("gmm", "cluster"), "recall"] == 0.0
    assert (
        table.loc[("gmm", "cluster"), "n_anomalies"] == 5 and table.loc[("gmm", "cluster"), "n_normal"] == 90
    )
    assert compare_by_kind(scores, is_anomaly, None).empty
