"""Density anomalies under a fitted model."""

import numpy as np
from sklearn.mixture import GaussianMixture

from gmm_pipeline.anomalies import density_anomalies


def test_anomalies_are_the_points_below_the_density_percentile(three_blobs):
    X, _ = three_blobs
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    log_density, threshold, is_anomaly = density_anomalies(model, X, percentile=4)
    np.testing.assert_array_equal(log_density, model.score_samples(X))
    assert threshold == np.percentile(model.score_samples(X), 4)
    assert is_anomaly.sum() == 12  # 4 % of 300 distinct densities
    assert log_density[is_anomaly].max() < log_density[~is_anomaly].min()


def test_a_planted_outlier_is_the_first_anomaly(three_blobs):
    X, _ = three_blobs
    model = GaussianMixture(n_components=3, random_state=0).fit(X)
    with_outlier = np.vstack([X, [[30.0, 30.0]]])
    log_density, _, is_anomaly = density_anomalies(model, with_outlier, percentile=1)
    assert is_anomaly[-1] and np.argmin(log_density) == len(X)
