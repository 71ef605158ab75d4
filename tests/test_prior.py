"""Conjugate-prior (MAP) fitting, as mclust's priorControl (gmm_pipeline.maths.em, fitting)."""

import numpy as np
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.maths.em import default_prior, estimate_parameters
from gmm_pipeline.stages.fit_models import fit_type_grid
from sklearn.datasets import make_blobs


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=90, centers=3, n_features=3, random_state=0)
    resp = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    return X, resp


def test_default_prior_is_mclusts():
    X, _ = make_blobs(n_samples=50, centers=2, n_features=4, random_state=0)
    full = default_prior(X, 3, "full")
    assert full["shrinkage"] == 0.01 and full["dof"] == 4 + 2
    np.testing.assert_allclose(full["mean"], X.mean(axis=0))
    np.testing.assert_allclose(full["scale"], np.cov(X, rowvar=False) * (1 / 3) ** (2 / 4))
    spherical = default_prior(X, 3, "spherical")
    assert spherical["scale"] == pytest.approx((1 / 3) ** (2 / 4) * X.var(axis=0, ddof=1).sum() / 4)
    given = default_prior(X, 3, "tied", shrinkage=0.1, dof=10, scale=2.0)
    assert given["shrinkage"] == 0.1 and given["dof"] == 10
    np.testing.assert_array_equal(given["scale"], 2.0 * np.eye(4))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_map_m_step_matches_a_direct_computation(data, covariance_type):
    X, resp = data
    n, d = X.shape
    prior = default_prior(X, 3, covariance_type)
    kappa, mu, nu, scale = prior["shrinkage"], prior["mean"], prior["dof"], prior["scale"]
    nk_, means_, covariances_ = estimate_parameters(X, resp[np.newaxis], covariance_type, 0.0, prior=prior)
    nk = resp.sum(axis=0)
    xbar = resp.T @ X / nk[:, None]
    scatter = [(resp[:, k, None] * (X - xbar[k])).T @ (X - xbar[k]) for k in range(3)]
    c = nk * kappa / (nk + kappa)
    delta = xbar - mu
    np.testing.assert_allclose(
        means_[0], (nk[:, None] * xbar + kappa * mu) / (nk + kappa)[:, None], rtol=1e-10
    )
    if covariance_type == "full":
        expected = np.stack(
            [
                (scale + scatter[k] + c[k] * np.outer(delta[k], delta[k])) / (nu + nk[k] + d + 2)
                for k in range(3)
            ]
        )
    elif covariance_type == "tied":
        total = scale + sum(scatter) + sum(c[k] * np.outer(delta[k], delta[k]) for k in range(3))
        expected = total / (nu + n + d + 1 + 3)
    elif covariance_type == "diag":
        expected = np.stack(
            [(scale + np.diag(scatter[k]) + c[k] * delta[k] ** 2) / (nu + nk[k] + 3) for k in range(3)]
        )
    else:
        expected = np.array(
            [
                (scale + np.trace(scatter[k]) + c[k] * delta[k] @ delta[k]) / (nu + nk[k] * d + 2 + d)
                for k in range(3)
            ]
        )
    np.testing.assert_allclose(covariances_[0], expected, rtol=1e-8)


def test_the_prior_keeps_flexible_fits_on_few_rows_sound():
    # 60 rows in 10 dimensions: full covariances with k = 4 have under 16 points each.
    X, _ = make_blobs(n_samples=60, centers=2, n_features=10, random_state=3)
    sweep = {"covariance_type": "full", "n_components": [4], "seeds": [0, 1, 2], "init_params": ["kmeans"]}
    mle, _ = fit_type_grid(X, **sweep)
    map_, _ = fit_type_grid(X, prior="default", **sweep)
    assert mle["degenerate"].all() or mle["error"].astype(bool).any()
    assert not map_["degenerate"].any() and not map_["error"].astype(bool).any()
    assert (map_["min_covariance_eigenvalue"] > 100 * mle["min_covariance_eigenvalue"].fillna(0).max()).all()


def test_prior_needs_the_fast_engine():
    X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    with pytest.raises(PipelineInputError, match="fit.prior needs fit.engine: fast"):
        fit_type_grid(
            X,
            covariance_type="full",
            n_components=[1, 2],
            seeds=[0],
            engine="sklearn",
            prior="default",
            init_params=["kmeans"],
        )
