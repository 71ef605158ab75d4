"""EM for any of mclust's fourteen covariance models, from a start's responsibilities.

The loop is mclust's ``me``: an M-step (:func:`~gmm_pipeline.maths.covariance_models.m_step_covariances`
for the covariances, weighted means and proportions), then an E-step that gives the
responsibilities and the log-likelihood, until the relative change of the log-likelihood
``|L_t - L_(t-1)| / (1 + |L_t|)`` is at most ``tol`` (mclust's default 1e-5) or
``max_iter`` iterations have run. Rows may carry weights; integer weights give the fit of
the data with rows repeated.

A fit is *singular*, and EM stops with no result, where mclust's would: when a component's
total responsibility falls below ``sqrt(eps)`` or its covariance is numerically singular
(its Cholesky factor's smallest squared diagonal at most ``sqrt(eps)`` times the largest,
as mclust's VVV tests, or a volume ``det(Sigma_k) ** (1 / d)`` at most ``sqrt(eps)``).

The loop is compiled (:func:`gmm_pipeline.maths.parsimonious_kernels.em`); :func:`m_step`,
:func:`e_step` and :func:`log_gaussian_densities` are numpy forms of its steps, which the
estimator scores and starts with and the loop is tested against.
"""

import math
from dataclasses import dataclass

import numpy as np

from .compiled import parsimonious_kernels as kernels
from .covariance_models import INNER_MAX_ITER, INNER_TOL, MODELS, m_step_covariances, model_name

_LOG_2PI = math.log(2 * math.pi)
_SMALL = math.sqrt(np.finfo(float).eps)


@dataclass
class ParsimoniousFit:
    """The end of one EM run. ``singular`` fits carry the last sound iteration's parameters
    (NaN if there was none) and its log-likelihood (``-inf`` if none)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    singular: bool
    final_relative_change: float = float("nan")


def log_gaussian_densities(X, means, covariances):
    """``log N(x_i | mu_k, Sigma_k)`` for every row and component, shape (n_samples, n_components)."""
    factors = np.linalg.cholesky(covariances)  # (G, d, d), lower
    d = X.shape[1]
    inverse_factors = np.linalg.inv(factors)
    centred = X[None, :, :] - means[:, None, :]  # (G, n, d)
    whitened = centred @ np.swapaxes(inverse_factors, 1, 2)
    half_log_det = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    return (-0.5 * (whitened**2).sum(axis=2) - half_log_det[:, None] - 0.5 * d * _LOG_2PI).T


def e_step(X, weights, means, covariances, sample_weight, noise_log_density=None):
    """Responsibilities and the (weighted) total log-likelihood. With ``noise_log_density``,
    ``weights`` has the noise component's weight last, and the responsibilities a last
    column for it."""
    joint = log_gaussian_densities(X, means, covariances)
    if noise_log_density is not None:
        joint = np.column_stack([joint, np.full(len(X), noise_log_density)])
    with np.errstate(divide="ignore"):  # a weight EM drove to 0
        joint = joint + np.log(weights)[None, :]
    largest = joint.max(axis=1, keepdims=True)
    row_log = largest[:, 0] + np.log(np.exp(joint - largest).sum(axis=1))
    return np.exp(joint - row_log[:, None]), float(row_log @ sample_weight)


def m_step(X, resp, model, sample_weight, state=None, reg_covar=0.0):
    """Proportions, means and covariances from responsibilities (mclust's ``mstep``).

    ``reg_covar`` adds ``n_k * reg_covar`` to each scatter's diagonal before the model's
    M-step: for scikit-learn's four models that is exactly its ``reg_covar`` (added to each
    covariance's diagonal), and for the others it keeps the model's form."""
    weighted = resp * sample_weight[:, None]
    nk = weighted.sum(axis=0)
    means = (weighted.T @ X) / nk[:, None]
    centred = X[None, :, :] - means[:, None, :]  # (G, n, d)
    scatter = np.swapaxes(centred * weighted.T[:, :, None], 1, 2) @ centred
    if reg_covar:
        d = X.shape[1]
        scatter[:, np.arange(d), np.arange(d)] += reg_covar * nk[:, None]
    if nk.min() < _SMALL:  # an empty component: nothing to estimate
        return nk, nk / nk.sum(), means, np.full_like(scatter, np.nan), state
    covariances, state = m_step_covariances(model, scatter, nk, state)
    return nk, nk / nk.sum(), means, covariances, state


def run_em(
    X,
    resp,
    covariance_type,
    *,
    sample_weight=None,
    tol=1e-5,
    max_iter=1000,
    reg_covar=0.0,
    noise_log_density=None,
):
    """EM from starting responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components) or (n_samples, n_components + 1)
        The start, for example a hard partition (one 1 per row); with
        ``noise_log_density``, a last column for the noise component.
    covariance_type : str
        One of the fourteen models or scikit-learn's four names.
    sample_weight : ndarray of shape (n_samples,), optional
    tol : float
        EM stops when the relative change of the log-likelihood is at most this.
    max_iter : int
    reg_covar : float
        Regularisation of the scatter matrices (see :func:`m_step`); mclust has none (0).
    noise_log_density : float, optional
        ``-log V`` of a uniform noise component (mclust's ``Vinv``), whose weight EM
        estimates with the others (:mod:`gmm_pipeline.maths.noise`).

    Returns
    -------
    ParsimoniousFit
        With a noise component, ``weights`` has its weight last.
    """
    model = model_name(covariance_type)
    X = np.ascontiguousarray(X, dtype=float)
    n, d = X.shape
    sample_weight = np.ones(n) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=float)
    resp = np.array(resp, dtype=float, order="C")  # the loop writes into it
    G = resp.shape[1] - (noise_log_density is not None)
    weights, means, covariances = (
        np.full(resp.shape[1], np.nan),
        np.full((G, d), np.nan),
        np.full((G, d, d), np.nan),
    )
    result = np.empty(5)
    kernels.em(
        X,
        resp,
        sample_weight,
        MODELS.index(model),
        np.nan if noise_log_density is None else float(noise_log_density),
        tol,
        max_iter,
        reg_covar,
        INNER_TOL,
        INNER_MAX_ITER,
        weights,
        means,
        covariances,
        result,
    )
    log_likelihood, n_iter, converged, code, change = result
    return ParsimoniousFit(
        weights,
        means,
        covariances,
        float(log_likelihood),
        int(n_iter),
        bool(converged),
        bool(code),
        float(change),
    )
