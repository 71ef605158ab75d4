"""The fourteen models' M-steps against a direct maximisation of each model's constrained
expected complete-data log-likelihood, and their parameter counts against the dimension
of that direct parameterisation."""

import numpy as np
import pytest
from gmm_pipeline.maths.covariance_models import (
    ALIASES,
    MODELS,
    m_step_covariances,
    model_name,
    n_parameters,
    n_variance_parameters,
)
from scipy.linalg import expm
from scipy.optimize import minimize


def _scatters(seed, n_components=3, n_features=3):
    """Weighted scatter matrices and sizes of a soft partition of random correlated data."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, n_features)) @ rng.normal(size=(n_features, n_features))
    resp = rng.dirichlet(np.ones(n_components), size=60)
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    centred = X[None] - means[:, None]
    scatter = np.einsum("nk,kni,knj->kij", resp, centred, centred)
    return scatter, nk


def _rotation(params, d):
    skew = np.zeros((d, d))
    skew[np.triu_indices(d, 1)] = params
    return expm(skew - skew.T)


def _parameterised(model, d, G):
    """The model's covariances as a function of free parameters (Celeux and Govaert's
    ``lambda_k D_k A_k D_k'``), and how many there are."""
    volume, shape, orientation = model
    n_volume = G if volume == "V" else 1
    n_shape = {"I": 0, "E": d - 1, "V": G * (d - 1)}[shape]
    n_rotation = {"I": 0, "E": d * (d - 1) // 2, "V": G * d * (d - 1) // 2}[orientation]
    # EII and VII have no shape or orientation: their letters I I mean spherical.

    def covariances(theta):
        volumes = np.exp(theta[:n_volume]) * np.ones(G)
        raw = theta[n_volume : n_volume + n_shape].reshape(-1, d - 1) if n_shape else np.zeros((1, d - 1))
        log_shapes = np.hstack([raw, -raw.sum(axis=1, keepdims=True)]) * np.ones((G, 1))
        rest = theta[n_volume + n_shape :]
        if n_rotation:
            per = d * (d - 1) // 2
            rotations = [_rotation(rest[(k * per if orientation == "V" else 0) :][:per], d) for k in range(G)]
        else:
            rotations = [np.eye(d)] * G
        return np.array(
            [volumes[k] * rotations[k] @ np.diag(np.exp(log_shapes[k])) @ rotations[k].T for k in range(G)]
        )

    return covariances, n_volume + n_shape + n_rotation


def _objective(covariances, scatter, nk):
    """Minus twice the expected complete-data log-likelihood's covariance part."""
    sign, log_dets = np.linalg.slogdet(covariances)
    if not np.all(sign > 0):  # a search step out of range
        return 1e12
    return float(np.sum(nk * log_dets + np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))))


@pytest.mark.parametrize("model", MODELS)
def test_each_m_step_is_its_models_constrained_maximum(model):
    scatter, nk = _scatters(seed=MODELS.index(model))
    G, d, _ = scatter.shape
    ours, _ = m_step_covariances(model, scatter, nk)
    covariances, n_free = _parameterised(model, d, G)
    rng = np.random.default_rng(0)
    best = min(
        (
            minimize(
                lambda theta: _objective(covariances(theta), scatter, nk),
                rng.normal(scale=0.5, size=n_free),
                method="BFGS",
            )
            for _ in range(8)
        ),
        key=lambda result: result.fun,
    )
    # As good as the best of eight direct searches (to the inner tolerance), and the same
    # covariances.
    assert _objective(ours, scatter, nk) <= best.fun + 1e-8 * abs(best.fun) + 1e-7
    np.testing.assert_allclose(ours, covariances(best.x), rtol=2e-4, atol=2e-4)
    # The counts BIC uses are the dimension of the model's parameterisation.
    assert n_variance_parameters(model, G, d) == n_free


def test_the_parameter_counts_are_mclusts():
    # mclust's nMclustParams for G = 3, d = 4 (mixing proportions, means, variances).
    assert {model: n_parameters(model, 3, 4) for model in MODELS} == {
        "EII": 15, "VII": 17, "EEI": 18, "VEI": 20, "EVI": 24, "VVI": 26, "EEE": 24,
        "VEE": 26, "EVE": 30, "VVE": 32, "EEV": 36, "VEV": 38, "EVV": 42, "VVV": 44,
    }  # fmt: skip


def test_scikit_learns_names_are_four_of_the_models():
    assert {name: model_name(name) for name in ALIASES} == {
        "spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV",
    }  # fmt: skip
    with pytest.raises(ValueError, match="'VVX' is not one of: EII"):
        model_name("VVX")


def test_the_kernels_number_the_models_in_their_order():
    from gmm_pipeline.maths.compiled import parsimonious_kernels

    assert parsimonious_kernels.MODELS == MODELS
