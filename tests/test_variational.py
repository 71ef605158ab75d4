"""The compiled variational engine against scikit-learn's BayesianGaussianMixture."""

import warnings

import numpy as np
import pytest
from gmm_pipeline.maths.variational import VariationalFit, fit_variational
from gmm_pipeline.stages.prune_weights import fit_bayesian
from sklearn.datasets import load_breast_cancer, load_iris, make_blobs, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from sklearn.preprocessing import StandardScaler

DATASETS = {
    "moons": lambda: make_moons(1000, noise=0.05, random_state=42)[0],
    "blobs": lambda: make_blobs(1000, centers=4, random_state=7)[0],
    "iris": lambda: load_iris().data,
    "breast_cancer": lambda: StandardScaler().fit_transform(load_breast_cancer().data),
    "blobs_20_features": lambda: make_blobs(600, n_features=20, centers=5, random_state=1)[0],
}
PRIORS = ("dirichlet_process", "dirichlet_distribution")


def _reference(X, prior, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianGaussianMixture(
            n_components=10, random_state=0, weight_concentration_prior_type=prior, **options
        ).fit(X)


def test_the_fits_are_scikit_learns():
    # Every dataset and weight prior, three k-means starts each, against the estimator.
    same_start = 0
    for name, make in DATASETS.items():
        X = make()
        for prior in PRIORS:
            reference = _reference(X, prior, n_init=3, max_iter=1000)
            fit = fit_variational(
                X, n_components=10, weight_concentration_prior_type=prior, n_init=3, max_iter=1000, seed=0
            )
            where = f"{name}, {prior}"
            assert fit.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-10, abs=1e-8), where
            assert fit.converged_ == reference.converged_, where
            np.testing.assert_allclose(
                np.sort(fit.weights_), np.sort(reference.weights_), atol=1e-8, err_msg=where
            )
            if np.allclose(fit.weights_, reference.weights_, atol=1e-8):
                # The same start chosen: the same iterations and parameters.
                same_start += 1
                assert fit.n_iter_ == reference.n_iter_, where
                np.testing.assert_allclose(fit.means_, reference.means_, atol=1e-8, err_msg=where)
                np.testing.assert_allclose(fit.covariances_, reference.covariances_, atol=1e-8, err_msg=where)
                np.testing.assert_allclose(fit.degrees_of_freedom_, reference.degrees_of_freedom_, rtol=1e-10)
                np.testing.assert_allclose(fit.mean_precision_, reference.mean_precision_, rtol=1e-10)
    # Two starts can reach one optimum with the components in another order; which of them
    # the estimator keeps then rests on the bound's last digits (measured: blobs with the
    # Dirichlet distribution prior, bounds 9e-13 apart). Every other case keeps the same start.
    assert same_start >= 2 * len(DATASETS) - 1


def test_a_fit_that_runs_out_of_iterations_says_so_as_the_estimator_does():
    X = DATASETS["moons"]()
    reference = _reference(X, "dirichlet_process", n_init=2, max_iter=5)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = fit_variational(X, n_components=10, n_init=2, max_iter=5, seed=0)
    assert not fit.converged_ and not reference.converged_
    assert fit.n_iter_ == reference.n_iter_ == 5
    np.testing.assert_allclose(fit.weights_, reference.weights_, atol=1e-10)
    assert fit.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-12)


def test_the_step_uses_the_engine_for_full_covariances_and_the_estimator_otherwise():
    X = DATASETS["iris"]()
    fast, _ = fit_bayesian(X, max_components=6, n_init=2, seed=3)
    reference, _ = fit_bayesian(X, max_components=6, n_init=2, seed=3, engine="sklearn")
    assert isinstance(fast, VariationalFit) and isinstance(reference, BayesianGaussianMixture)
    np.testing.assert_allclose(fast.weights_, reference.weights_, atol=1e-8)
    assert fast.n_iter_ == reference.n_iter_
    diagonal, _ = fit_bayesian(X, max_components=6, n_init=2, seed=3, covariance_type="diag")
    assert isinstance(diagonal, BayesianGaussianMixture)


def test_too_few_rows_are_refused():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        fit_variational(np.zeros((5, 2)), n_components=10)
