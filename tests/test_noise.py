"""The Gaussian mixture with a uniform noise component (gmm_pipeline.maths.noise, em.run_starts)."""

import math

import numpy as np
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.files.model_io import noise_mixture_from_dict, noise_mixture_to_dict
from gmm_pipeline.maths.criteria import n_parameters
from gmm_pipeline.maths.em import Start, default_prior, estimate_parameters, run_starts
from gmm_pipeline.maths.noise import (
    _start,
    fit_noise_mixture,
    initial_noise,
    log_hypervolume,
)
from gmm_pipeline.maths.outlier_kinds import uniform_outliers
from gmm_pipeline.stages.extract_anomalies import detector_scores, fit_noise, flagged_by_detector
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs, make_moons


def blobs_with_noise(fraction, seed=0):
    X, _ = make_blobs(n_samples=1000, centers=4, random_state=7)
    noise = uniform_outliers(X, round(fraction * 1000), seed=seed)
    truth = np.r_[np.zeros(len(X), dtype=bool), np.ones(len(noise), dtype=bool)]
    return np.vstack([X, noise]), truth


@pytest.mark.parametrize("fraction", [0.03, 0.1, 0.2])
def test_noise_weight_recovers_the_planted_noise_fraction(fraction):
    X, truth = blobs_with_noise(fraction)
    model, table = fit_noise_mixture(X, covariance_type="full", n_components=range(1, 8))
    assert model.n_components == 4  # BIC with the noise term finds the four blobs
    assert model.noise_weight == pytest.approx(truth.mean(), abs=0.015)
    # Each count keeps its best start; the model is the count of lowest BIC.
    best = table.loc[table["bic_lower_is_better"].idxmin()]
    assert int(best["n_components"]) == model.n_components
    assert best["bic_lower_is_better"] == pytest.approx(model.bic(X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_one_em_iteration_with_noise_matches_a_direct_computation(covariance_type):
    rng = np.random.default_rng(3)
    X, _ = blobs_with_noise(0.05)
    k, d = 3, X.shape[1]
    means = X[rng.choice(len(X), size=k, replace=False)]
    full = {"full": np.stack([np.eye(d) * 2.0, np.eye(d), [[1.5, 0.3], [0.3, 1.0]]])}
    covariances = {
        "full": full["full"],
        "tied": np.array([[1.5, 0.3], [0.3, 1.0]]),
        "diag": np.array([[2.0, 1.0], [1.0, 1.0], [1.5, 0.5]]),
        "spherical": np.array([2.0, 1.0, 1.5]),
    }[covariance_type]
    weights = np.array([0.3, 0.3, 0.3, 0.1])  # the last is the noise component's
    log_volume = 6.0
    fit = run_starts(
        X,
        [Start(weights, means, covariances)],
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=0.0,
        max_iter=1,
        noise_log_density=-log_volume,
    )[0]

    # E-step by the textbook formula, then the M-step.
    def dense(j):
        c = {
            "full": covariances[j] if covariance_type == "full" else None,
            "tied": covariances,
            "diag": np.diag(covariances[j]) if covariance_type == "diag" else None,
            "spherical": np.eye(d) * covariances[j] if covariance_type == "spherical" else None,
        }[covariance_type]
        return multivariate_normal(means[j], c).pdf(X)

    joint = np.column_stack(
        [weights[j] * dense(j) for j in range(k)] + [np.full(len(X), weights[k] / math.exp(log_volume))]
    )
    assert fit.lower_bounds[0] == pytest.approx(np.mean(np.log(joint.sum(axis=1))), rel=1e-12)
    resp = joint / joint.sum(axis=1, keepdims=True)
    nk = resp.sum(axis=0)
    np.testing.assert_allclose(fit.weights, nk / len(X), rtol=1e-10)
    expected_means = resp[:, :k].T @ X / nk[:k, None]
    np.testing.assert_allclose(fit.means, expected_means, rtol=1e-10)
    scatter = [(resp[:, j, None] * (X - expected_means[j])).T @ (X - expected_means[j]) for j in range(k)]
    expected = {
        "full": np.stack([scatter[j] / nk[j] for j in range(k)]),
        "tied": sum(scatter) / nk[:k].sum(),
        "diag": np.stack([np.diag(scatter[j]) / nk[j] for j in range(k)]),
        "spherical": np.array([np.trace(scatter[j]) / (d * nk[j]) for j in range(k)]),
    }[covariance_type]
    np.testing.assert_allclose(fit.covariances, expected, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_the_compiled_loop_fits_with_noise_as_the_numpy_path(covariance_type):
    X, _ = blobs_with_noise(0.1)
    noise = initial_noise(X)
    for k in (2, 4):
        starts = [_start(X, noise, k, covariance_type, 1e-6, seed) for seed in (0, 1)]
        options = {"covariance_type": covariance_type, "reg_covar": 1e-6, "tol": 1e-6, "max_iter": 1000}
        compiled = run_starts(X, starts, noise_log_density=-log_hypervolume(X), **options)
        reference = run_starts(X, starts, noise_log_density=-log_hypervolume(X), compiled=False, **options)
        for fit, expected in zip(compiled, reference, strict=True):
            assert fit.error is None and expected.error is None
            assert len(fit.lower_bounds) == len(expected.lower_bounds) > 1
            np.testing.assert_allclose(fit.lower_bounds, expected.lower_bounds, rtol=1e-12)
            np.testing.assert_allclose(fit.weights, expected.weights, atol=1e-10)
            assert len(fit.weights) == k + 1 and fit.weights[-1] > 0.01  # the noise component's
            np.testing.assert_allclose(fit.means, expected.means, atol=1e-10)
            np.testing.assert_allclose(fit.covariances, expected.covariances, atol=1e-10)


def test_em_with_noise_never_lowers_the_likelihood():
    X, _ = blobs_with_noise(0.1)
    model, table = fit_noise_mixture(X, covariance_type="full", n_components=[4], seeds=[0])
    fit_bounds = model.gaussian.n_iter_
    assert fit_bounds > 1 and table["converged"].all()
    start = Start(np.array([0.2, 0.2, 0.2, 0.2, 0.2]), X[:4], np.stack([np.eye(2)] * 4))
    bounds = run_starts(
        X, [start], covariance_type="full", reg_covar=1e-6, tol=1e-10, max_iter=200, noise_log_density=-5.0
    )[0].lower_bounds
    assert np.all(np.diff(bounds) >= -1e-12)


def test_hypervolume_is_the_smaller_of_the_axis_box_and_the_principal_component_box():
    rng = np.random.default_rng(0)
    square = rng.uniform(0, 1, size=(2000, 2))
    assert log_hypervolume(square) == pytest.approx(0.0, abs=0.01)  # axis box: 1 x 1
    angle = np.pi / 4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    thin = rng.uniform([-5, -0.1], [5, 0.1], size=(2000, 2)) @ rotation.T
    axis_box = float(np.sum(np.log(np.ptp(thin, axis=0))))
    assert log_hypervolume(thin) == pytest.approx(math.log(10 * 0.2), abs=0.02)
    assert log_hypervolume(thin) < axis_box - 2


def test_initial_noise_takes_the_rows_farthest_from_their_neighbours():
    X, truth = blobs_with_noise(0.05)
    guess = initial_noise(X, fraction=0.05, n_neighbors=10)
    assert guess.sum() == round(0.05 * len(X))
    assert (guess & truth).sum() / truth.sum() > 0.7  # most planted points are in the guess


def test_bic_counts_the_noise_weight_as_one_more_parameter():
    X, _ = blobs_with_noise(0.05)
    model, _ = fit_noise_mixture(X, covariance_type="diag", n_components=[4], seeds=[0])
    assert model.n_parameters(2) == n_parameters("diag", 4, 2) + 1
    assert model.bic(X) == pytest.approx(
        -2 * model.score_samples(X).sum() + model.n_parameters(2) * math.log(len(X))
    )
    # The mixture density is the weighted sum of its parts.
    density = (1 - model.noise_weight) * np.exp(
        model.gaussian.score_samples(X)
    ) + model.noise_weight * math.exp(-model.log_volume)
    np.testing.assert_allclose(np.exp(model.score_samples(X)), density, rtol=1e-12)
    posterior = model.noise_weight * math.exp(-model.log_volume) / density
    np.testing.assert_allclose(model.noise_probability(X), posterior, rtol=1e-10)


def test_noise_model_round_trips_through_json_and_refuses_a_bad_record():
    X, _ = blobs_with_noise(0.05)
    model, _ = fit_noise_mixture(X, covariance_type="full", n_components=[4], seeds=[0])
    record = noise_mixture_to_dict(model)
    again = noise_mixture_from_dict(record)
    np.testing.assert_array_equal(again.noise_probability(X), model.noise_probability(X))
    with pytest.raises(PipelineInputError, match=r"noise_weight 1\.5; expected a number in \[0, 1\)"):
        noise_mixture_from_dict(record | {"noise_weight": 1.5})
    with pytest.raises(PipelineInputError, match="not a noise mixture"):
        noise_mixture_from_dict({"format": "something else"})


def test_data_without_volume_is_refused_with_a_message():
    X = np.column_stack([np.arange(50.0), np.zeros(50)])
    with pytest.raises(PipelineInputError, match="span no volume"):
        fit_noise_mixture(X, covariance_type="full", n_components=[1])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_with_a_prior_the_noise_mixture_is_at_the_posterior_mode(covariance_type):
    """fit.prior reaches the noise mixture: at its fit, the Gaussian means and covariances
    are the MAP M-step (mclust's, with the noise share left out) of the fit's own
    responsibilities, and differ from the maximum-likelihood fit's."""
    X, _ = blobs_with_noise(0.1)
    options = {"shrinkage": 50.0, "scale": 0.5}  # a strong pull, so the modes move visibly
    settings = {"covariance_type": covariance_type, "n_components": [3], "seeds": [0], "tol": 1e-13}
    model, table = fit_noise_mixture(X, prior=options, max_iter=20_000, **settings)
    unregularised, _ = fit_noise_mixture(X, max_iter=20_000, **settings)
    assert table["converged"].all()
    gaussian = model.gaussian.predict_proba(X) * (1 - model.noise_probability(X))[:, np.newaxis]
    prior = default_prior(X, 3, covariance_type, **options)
    _, means, covariances = estimate_parameters(
        X,
        gaussian[np.newaxis],
        covariance_type,
        1e-6,
        gaussian_share=gaussian.sum(axis=1)[np.newaxis],
        prior=prior,
    )
    np.testing.assert_allclose(model.gaussian.means_, means[0], atol=1e-6)
    np.testing.assert_allclose(model.gaussian.covariances_, covariances[0], atol=1e-6)
    assert np.abs(model.gaussian.means_ - unregularised.gaussian.means_).max() > 1e-3


def test_the_anomaly_step_fits_its_noise_mixture_with_the_fits_prior():
    X, _ = blobs_with_noise(0.1)
    fit_params = {"n_components": [3], "prior": "none"}
    params = {"noise": {"seeds": 1}}
    unregularised, _ = fit_noise(X, "full", params, fit_params)
    regularised, _ = fit_noise(X, "full", params, fit_params | {"prior": {"shrinkage": 50.0}})
    default, _ = fit_noise(X, "full", params, fit_params | {"prior": "default"})
    expected, _ = fit_noise_mixture(X, covariance_type="full", n_components=[3], seeds=[0], prior={})
    np.testing.assert_array_equal(default.gaussian.means_, expected.gaussian.means_)
    assert np.abs(regularised.gaussian.means_ - unregularised.gaussian.means_).max() > 1e-3


def test_a_noise_weight_driven_to_zero_leaves_the_gaussians_alone():
    """On data with no scattered points EM can drive the noise weight to exactly 0 (it
    underflows); the mixture is then its Gaussians alone, not an error (found by the
    worked sweep: moons, 4,000 rows, k 20)."""
    X, _ = make_moons(n_samples=4000, noise=0.05, random_state=2)
    model, table = fit_noise_mixture(X, covariance_type="full", n_components=[20], seeds=[0])
    assert table["noise_weight"].iloc[0] == 0.0
    assert model.noise_weight == 0.0
    np.testing.assert_array_equal(model.score_samples(X), model.gaussian.score_samples(X))
    np.testing.assert_array_equal(model.noise_probability(X), np.zeros(len(X)))
    assert np.isfinite(model.bic(X))


def blobs_with_far_points():
    """Four tight blobs and 60 points drawn from a box far wider than them: many of those
    lie where the noise posterior rounds to exactly 1."""
    X, _ = make_blobs(n_samples=1000, centers=4, cluster_std=0.5, random_state=7)
    return np.vstack([X, np.random.default_rng(0).uniform(-60, 60, size=(60, 2))])


def test_the_noise_score_ranks_as_the_posterior_without_its_ties():
    """Far from every Gaussian the noise posterior rounds to exactly 1, so a detector
    ranked by it would flag tied rows by their order in the file. The log-likelihood
    ratio ranks every row as the posterior does where the posterior is below 1, and
    keeps ranking the rest by how far they lie from the Gaussians."""
    X = blobs_with_far_points()
    model, _ = fit_noise_mixture(X, covariance_type="full", n_components=[4], seeds=[0])
    posterior, ratio = model.noise_probability(X), model.noise_log_likelihood_ratio(X)
    saturated = posterior == 1.0
    assert saturated.sum() >= 20  # the case the ratio is for: many rows tied at 1
    assert len(np.unique(ratio[saturated])) == saturated.sum()
    # Below 1, the same order as the posterior (the logistic of the ratio plus a constant).
    below = ~saturated
    np.testing.assert_array_equal(
        np.argsort(ratio[below], kind="stable"), np.argsort(posterior[below], kind="stable")
    )
    log_odds = math.log(model.noise_weight / (1 - model.noise_weight))
    np.testing.assert_allclose(posterior[below], 1 / (1 + np.exp(-(ratio[below] + log_odds))), rtol=1e-9)
    # Every saturated row is less likely under the Gaussians than every unsaturated one.
    assert ratio[saturated].min() > ratio[below].max()


def test_with_no_noise_weight_the_noise_score_still_ranks_the_rows():
    X, _ = make_moons(n_samples=4000, noise=0.05, random_state=2)
    model, _ = fit_noise_mixture(X, covariance_type="full", n_components=[20], seeds=[0])
    assert model.noise_weight == 0.0  # the posterior is 0 for every row
    ratio = model.noise_log_likelihood_ratio(X)
    np.testing.assert_array_equal(ratio, -model.log_volume - model.gaussian.score_samples(X))
    assert np.isfinite(ratio).all() and len(np.unique(ratio)) == len(X)


def test_the_noise_detector_flags_the_farthest_rows_not_the_first_tied_ones():
    X = blobs_with_far_points()
    noise_model, _ = fit_noise_mixture(X, covariance_type="full", n_components=[4], seeds=[0])
    model = noise_model.gaussian
    scores = detector_scores(model, noise_model, X, seed=0)
    budget = 20
    assert (noise_model.noise_probability(X) == 1.0).sum() > budget
    flagged = flagged_by_detector(scores, np.arange(len(X)) < budget)["noise_component"]
    farthest = np.argsort(noise_model.gaussian.score_samples(X))[:budget]
    assert set(np.flatnonzero(flagged)) == set(farthest)
