"""Variational Bayesian Gaussian mixtures: scikit-learn's ``BayesianGaussianMixture``
algorithm, its E-step compiled.

The same algorithm step for step as scikit-learn's estimator with ``init_params="kmeans"``
and full covariances: the same k-means starts (scikit-learn's ``KMeans`` with ``n_init=1``,
drawn one after the other from one ``RandomState(seed)``, as the estimator draws them), the
same priors and their defaults, the same E- and M-step formulas, lower bound and stopping
rule (the lower bound's absolute change below ``tol``), and the same choice among starts:
the highest final lower bound, where a later start must beat the best so far by more than
1e-10 relative (scikit-learn takes any larger bound, so when two starts reach the same
optimum its choice between them rests on the last digits). Each iteration's pass over the rows
is :func:`gmm_pipeline.maths.em_kernels.variational_pass_full` (numba): the E-step and the
M-step's sums at once, with no (rows x components) temporary; the M-step's updates on the
(components x features x features) sums stay in numpy, where scipy's digamma and gammaln
give exactly the estimator's constants. Other covariance types go through scikit-learn's
estimator (:func:`gmm_pipeline.stages.prune_weights.fit_bayesian`).
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from . import em
from .compiled import em_kernels

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_TINY = 10 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class VariationalFit:
    """The best start's fit, with the estimator's fitted attributes' names.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected mixture weights.
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
    weight_concentration_ : tuple of two ndarrays, or ndarray
    mean_precision_, degrees_of_freedom_ : ndarray of shape (n_components,)
    lower_bound_ : float
    n_iter_ : int
    converged_ : bool
    """

    weights_: np.ndarray
    means_: np.ndarray
    covariances_: np.ndarray
    weight_concentration_: object
    mean_precision_: np.ndarray
    degrees_of_freedom_: np.ndarray
    lower_bound_: float
    n_iter_: int
    converged_: bool


@dataclass
class _Priors:
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray


def fit_variational(
    X,
    *,
    n_components,
    weight_concentration_prior_type="dirichlet_process",
    weight_concentration_prior=None,
    n_init=1,
    max_iter=100,
    tol=1e-3,
    reg_covar=1e-6,
    seed=None,
):
    """Fit a variational Bayesian Gaussian mixture with full covariances.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
        Components of the truncated mixture; surplus ones get weights near zero.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration_prior : float, optional
        Defaults to ``1 / n_components``, as in scikit-learn.
    n_init : int
        Starts; the one with the highest final lower bound is kept.
    max_iter : int
    tol : float
        EM stops when the lower bound changes by less than ``tol``.
    reg_covar : float
        Added to the diagonal of each component's sample covariance.
    seed : int or None
        Seeds the ``RandomState`` the k-means starts are drawn from.

    Returns
    -------
    fit : VariationalFit
        Raises ``ConvergenceWarning`` when the best start did not converge, as the
        estimator does.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    if weight_concentration_prior_type not in PRIOR_TYPES:
        raise ValueError(f"weight_concentration_prior_type must be one of {PRIOR_TYPES}")
    if n < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {n_components}, n_samples = {n}"
        )
    priors = _Priors(
        weight_concentration=1.0 / n_components
        if weight_concentration_prior is None
        else weight_concentration_prior,
        mean_precision=1.0,
        mean=X.mean(axis=0),
        degrees_of_freedom=float(d),
        covariance=np.atleast_2d(np.cov(X.T)),
    )
    process = weight_concentration_prior_type == "dirichlet_process"
    columns = np.ascontiguousarray(X.T)
    random_state = np.random.RandomState(seed)
    best, best_bound = None, -np.inf
    for _ in range(n_init):
        labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(X).labels_
        resp = np.zeros((n, n_components))
        resp[np.arange(n), labels] = 1
        # The start's statistics by scikit-learn's M-step formulas (one start of the batch).
        nk, xk, sk = (batch[0] for batch in em.estimate_parameters(X, resp[np.newaxis], "full", reg_covar))
        state = _update(priors, process, nk, xk, sk)
        bound, converged, n_iter = -np.inf, False, 0
        while n_iter < max_iter and not converged:
            n_iter += 1
            previous = bound
            sums, entropy = _pass(X, columns, state, process)
            state = _update(priors, process, *_statistics_from_sums(sums, state["means"], reg_covar))
            bound = _lower_bound(state, priors, process, entropy, d)
            converged = abs(bound - previous) < tol
        # The highest final bound; a later start must beat it by more than rounding (the
        # same optimum reached twice keeps the first, whatever its last digits).
        if best is None or bound > best_bound + 1e-10 * (1.0 + abs(best_bound)):
            best, best_bound = (state, n_iter, converged), bound
    state, n_iter, converged = best
    if not converged and max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different init parameters, "
            "or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return VariationalFit(
        weights_=_expected_weights(state["concentration"], process),
        means_=state["means"],
        covariances_=state["covariances"],
        weight_concentration_=state["concentration"],
        mean_precision_=state["mean_precision"],
        degrees_of_freedom_=state["degrees_of_freedom"],
        lower_bound_=float(best_bound),
        n_iter_=n_iter,
        converged_=converged,
    )


def _statistics_from_sums(sums, centres, reg_covar):
    """``nk``, ``xk``, ``sk`` from the pass's sums around ``centres`` (the means the pass
    used): ``sum r (x - c)(x - c)^T`` moved exactly to the new weighted mean."""
    mass, first, second = sums
    nk = mass + _TINY
    xk = (first + mass[:, np.newaxis] * centres) / nk[:, np.newaxis]
    shift = xk - centres
    lower = np.tril(second)
    scatter = lower + np.swapaxes(np.tril(second, -1), 1, 2)
    scatter = (
        scatter
        - first[:, :, np.newaxis] * shift[:, np.newaxis, :]
        - shift[:, :, np.newaxis] * first[:, np.newaxis, :]
        + mass[:, np.newaxis, np.newaxis] * shift[:, :, np.newaxis] * shift[:, np.newaxis, :]
    )
    sk = scatter / nk[:, np.newaxis, np.newaxis]
    d = sk.shape[1]
    sk[:, np.arange(d), np.arange(d)] += reg_covar
    return nk, xk, sk


def _update(priors, process, nk, xk, sk):
    """The variational M-step (scikit-learn's ``_estimate_weights``, ``_estimate_means``
    and ``_estimate_wishart_full``) and the factors the next E-step and bound need."""
    if process:
        concentration = (1.0 + nk, priors.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
    else:
        concentration = priors.weight_concentration + nk
    mean_precision = priors.mean_precision + nk
    means = (priors.mean_precision * priors.mean + nk[:, np.newaxis] * xk) / mean_precision[:, np.newaxis]
    degrees_of_freedom = priors.degrees_of_freedom + nk
    diff = xk - priors.mean
    covariances = (
        priors.covariance
        + nk[:, np.newaxis, np.newaxis] * sk
        + (nk * priors.mean_precision / mean_precision)[:, np.newaxis, np.newaxis]
        * diff[:, :, np.newaxis]
        * diff[:, np.newaxis, :]
    )
    covariances /= degrees_of_freedom[:, np.newaxis, np.newaxis]
    K, d, _ = covariances.shape
    inverses = np.empty_like(covariances)
    log_norm = np.empty(K)
    # Unit weights: log_norm is then -d/2 log(2 pi) + log det of each precision's Cholesky factor.
    if not em_kernels.factor_full(covariances, np.ones(K), False, inverses, log_norm):
        raise ValueError(
            "Fitting the mixture model failed because some components have ill-defined "
            "empirical covariance (for instance caused by singleton or collapsed samples). "
            "Try to decrease the number of components, or increase reg_covar."
        )
    return {
        "concentration": concentration,
        "mean_precision": mean_precision,
        "means": means,
        "degrees_of_freedom": degrees_of_freedom,
        "covariances": covariances,
        "inverses": inverses,
        "log_det": log_norm + 0.5 * d * _LOG_2PI,
    }


def _log_weights(concentration, process):
    """scikit-learn's ``_estimate_log_weights``."""
    if process:
        a, b = concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    return digamma(concentration) - digamma(np.sum(concentration))


def _pass(X, columns, state, process):
    """One E-step over the rows with the M-step's sums; (sums, sum of r log r)."""
    d = X.shape[1]
    dof = state["degrees_of_freedom"]
    log_lambda = d * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(0, d)[:, np.newaxis])), 0)
    # Each component's constant of its weighted log-density (scikit-learn's
    # _estimate_log_prob plus _estimate_log_weights).
    constant = (
        -0.5 * d * _LOG_2PI
        + state["log_det"]
        - 0.5 * d * np.log(dof)
        + 0.5 * (log_lambda - d / state["mean_precision"])
        + _log_weights(state["concentration"], process)
    )
    K = len(constant)
    mass, first, second = np.empty(K), np.empty((K, d)), np.empty((K, d, d))
    entropy = em_kernels.variational_pass_full(
        X, columns, state["means"], state["inverses"], constant, mass, first, second
    )
    return (mass, first, second), entropy


def _lower_bound(state, priors, process, entropy, d):
    """scikit-learn's ``_compute_lower_bound`` (full covariances); ``entropy`` is the
    E-step's sum of r log r."""
    dof = state["degrees_of_freedom"]
    log_det = state["log_det"] - 0.5 * d * np.log(dof)
    log_wishart = np.sum(
        -(
            dof * log_det
            + dof * d * 0.5 * math.log(2.0)
            + np.sum(gammaln(0.5 * (dof - np.arange(d)[:, np.newaxis])), 0)
        )
    )
    if process:
        log_norm_weight = -np.sum(betaln(*state["concentration"]))
    else:
        concentration = state["concentration"]
        log_norm_weight = gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))
    return -entropy - log_wishart - log_norm_weight - 0.5 * d * np.sum(np.log(state["mean_precision"]))


def _expected_weights(concentration, process):
    """scikit-learn's ``weights_`` from the weight concentration."""
    if process:
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return concentration / np.sum(concentration)
