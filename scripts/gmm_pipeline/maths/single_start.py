"""One start of a Gaussian mixture fitted by scikit-learn's ``GaussianMixture`` (the
reference engine, ``fit.engine: sklearn``), EM stopped by mclust's rule; the degeneracy
rule; and the record of a start that both engines fill.

The rules themselves (stopping, degeneracy) are described in
:mod:`gmm_pipeline.stages.fit_models`, which runs the grid of starts.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from . import criteria, em
from .em import relative_change
from .estimators import COVARIANCE_TYPES, fewest_points


def run_em(model, X, *, tol, max_iter):
    """Run EM on an unfitted ``model`` until mclust's relative rule holds (see :mod:`gmm_pipeline.stages.fit_models`).

    Parameters
    ----------
    model : GaussianMixture
        Unfitted; its initialisation parameters are used for the start.
    X : ndarray of shape (n_samples, n_features)
    tol : float
        Largest relative change of the total log-likelihood at which EM stops.
    max_iter : int
        Most EM iterations in all.

    Returns
    -------
    lower_bounds : list of float
        The lower bound (mean log-likelihood per point) at every iteration.
    converged : bool
        Whether the rule held before ``max_iter`` iterations were spent.
    """
    n_samples = len(X)
    lower_bounds, remaining = [], max_iter
    # The first stage is one iteration, to learn the scale of the log-likelihood.
    stage_tol, stage_iter = 0.0, 1
    model.set_params(warm_start=True)
    try:
        while remaining > 0:
            model.set_params(tol=stage_tol, max_iter=min(stage_iter, remaining))
            with warnings.catch_warnings():
                # Every stage but the last stops short on purpose; the caller flags a
                # start that spends max_iter.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            lower_bounds.extend(float(bound) for bound in model.lower_bounds_)
            remaining -= model.n_iter_
            if relative_change(lower_bounds, n_samples) <= tol:
                return lower_bounds, True
            # |L_t - L_(t-1)| <= tol (1 + |L_t|)  <=>  |change per point| <= tol (1/n + |bound|)
            stage_tol, stage_iter = tol * (1.0 / n_samples + abs(lower_bounds[-1])), remaining
        return lower_bounds, False
    finally:
        model.set_params(warm_start=False, tol=tol, max_iter=max_iter)


def degeneracy(model, n_samples, *, reg_covar, eigenvalue_factor, min_points=None):
    """Whether a fitted model is degenerate (see :mod:`gmm_pipeline.stages.fit_models`), and why.

    ``min_points`` None applies :func:`fewest_points` of the model's covariance type; a number
    applies to every type.

    Returns
    -------
    reason : str
        Empty when the fit is not degenerate; else each rule it breaks.
    min_eigenvalue : float
        Smallest eigenvalue of any component's covariance.
    min_points : float
        Smallest expected component size ``n_samples * weight``.
    """
    covariances = np.asarray(model.covariances_)
    kind = model.covariance_type
    if kind == "full" or covariances.ndim == 3:  # the fourteen models' covariances are in full
        eigenvalues = np.linalg.eigvalsh(covariances).min(axis=1)
    elif kind == "tied":
        eigenvalues = np.full(model.n_components, np.linalg.eigvalsh(covariances).min())
    elif kind == "diag":
        eigenvalues = covariances.min(axis=1)
    else:
        eigenvalues = covariances
    sizes = n_samples * np.asarray(model.weights_)
    fewest = fewest_points(kind, model.means_.shape[1]) if min_points is None else min_points
    reasons = []
    floor = eigenvalue_factor * reg_covar
    at_floor = np.flatnonzero(eigenvalues <= floor)
    if len(at_floor):
        reasons.append(
            f"component {int(at_floor[0])} covariance at the floor "
            f"(smallest eigenvalue {eigenvalues[at_floor[0]]:.3g} <= {eigenvalue_factor:g} x reg_covar)"
        )
    too_small = np.flatnonzero(sizes < fewest)
    if len(too_small):
        reasons.append(f"component {int(too_small[0])} holds {sizes[too_small[0]]:.3g} points (< {fewest:g})")
    return "; ".join(reasons), float(eigenvalues.min()), float(sizes.min())


def fit_start(
    X,
    *,
    n_components,
    covariance_type,
    seed,
    init_params="kmeans",
    start=None,
    max_iter,
    tol,
    reg_covar,
    eigenvalue_factor,
    min_points=None,
    with_criteria=True,
):
    """Fit one start.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    seed : int
        ``random_state`` of this start.
    init_params : str
        Initialisation method recorded for the start. For scikit-learn's methods it is
        passed on; for ``"agglomerative"`` and ``"hc_vvv"`` the parameters come from ``start``.
    start : dict, optional
        ``weights_init``, ``means_init`` and ``precisions_init`` to start EM from.
    max_iter : int
        Most EM iterations.
    tol : float
        Relative change of the total log-likelihood at which EM stops (:func:`run_em`).
    reg_covar : float
        Passed to :class:`~sklearn.mixture.GaussianMixture`.
    eigenvalue_factor, min_points
        The degeneracy rule (:func:`degeneracy`).
    with_criteria : bool
        Also compute the log-likelihood and the criteria (BIC, AIC, ICL) on ``X``.

    Returns
    -------
    model : GaussianMixture or None
        The fitted model, or None if this start failed.
    row : dict
        The start's record (the columns of ``gmm_pipeline.stages.fit_models.START_COLUMNS``). Warnings raised while fitting are kept
        in ``row["warnings"]``, with one of our own for a start that spent ``max_iter``; a
        failure's message in ``row["error"]``.
    """
    estimator_init = estimator_init_params(init_params, start)
    model = GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        n_init=1,
        random_state=seed,
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        init_params=estimator_init,
        **(start or {}),
    )
    row = start_row(X, n_components, covariance_type, init_params, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            lower_bounds, converged = run_em(model, X, tol=tol, max_iter=max_iter)
        except (ValueError, np.linalg.LinAlgError) as err:
            # A degenerate start (e.g. a collapsed component) must not sink the whole grid.
            row["error"] = str(err).replace("\n", " ")
            model = None
        row["fit_seconds"] = round(time.perf_counter() - started, 6)
    messages = [str(w.message).replace("\n", " ") for w in caught]
    if model is not None:
        model.start_ = {"init_params": init_params, "seed": int(seed)}
    describe_fit(
        model,
        row,
        X,
        n_iter=len(lower_bounds) if model is not None else 0,
        final_change=relative_change(lower_bounds, len(X)) if model is not None else np.nan,
        converged=converged if model is not None else False,
        messages=messages,
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg_covar,
        eigenvalue_factor=eigenvalue_factor,
        min_points=min_points,
    )
    if model is not None and with_criteria:
        add_criteria(model, row, X)
    return model, row


def estimator_init_params(method, start):
    """The estimator's ``init_params`` for a start: its own method, or, with explicit
    starting parameters (``start``), a cheap one whose result those parameters replace."""
    return "random_from_data" if start is not None else method


def describe_fit(
    model,
    row,
    X,
    *,
    n_iter,
    final_change,
    converged,
    messages,
    tol,
    max_iter,
    reg_covar,
    eigenvalue_factor,
    min_points,
    singular_at=None,
):
    """Fill a start's row from its fit (or only its warnings, for a start that failed).

    ``singular_at`` is the EM iteration at which a fit turned singular by mclust's test (the
    fourteen-model engine keeps its last sound iteration): such a fit is degenerate, and
    stopped for that reason, not for ``max_iter``."""
    if model is not None and not converged and singular_at is None:
        messages.append(
            f"EM did not converge in max_iter={max_iter} iterations "
            f"(last relative change {final_change:.3g} > tol={tol:g})"
        )
    row["warnings"] = "; ".join(dict.fromkeys(messages))
    if model is None:
        return
    reason, min_eigenvalue, fewest = degeneracy(
        model, len(X), reg_covar=reg_covar, eigenvalue_factor=eigenvalue_factor, min_points=min_points
    )
    if singular_at is not None:
        reason = "; ".join(filter(None, [f"singular at EM iteration {singular_at} (mclust's test)", reason]))
    row.update(
        {
            "lower_bound": float(model.lower_bound_),
            "converged": bool(converged),
            "n_iter": int(n_iter),
            "final_relative_change": final_change,
            "degenerate": bool(reason),
            "degenerate_reason": reason,
            "min_covariance_eigenvalue": min_eigenvalue,
            "min_component_points": fewest,
        }
    )


def add_criteria(model, row, X, sample_weight=None, engine="sklearn"):
    """The start's log-likelihood and criteria on its own data (BIC, AIC, ICL): from
    scikit-learn's ``score_samples`` and ``predict_proba``, or with ``engine="fast"`` from
    the same numbers in one compiled pass (:func:`gmm_pipeline.maths.em.score_rows`; on 700
    rows of 7 features, k = 5, 0.13 ms against 2.2 ms: the criteria were a quarter of a
    grid's fitting time)."""
    if engine == "fast" and model.covariance_type in COVARIANCE_TYPES:
        values = criteria.criteria_from_rows(
            *em.score_rows(model, X),
            criteria.n_parameters(model.covariance_type, model.n_components, X.shape[1]),
            sample_weight,
        )
    else:
        values = criteria.start_criteria(model, X, sample_weight)
    row["log_likelihood"] = values.pop("log_likelihood")
    row.update({criteria.column(name): value for name, value in values.items()})


def start_row(X, k, covariance_type, method, seed, error=""):
    """The record of a start before it is fitted (or of one that could not be made)."""
    return {
        "covariance_type": covariance_type,
        "n_components": k,
        "init_params": method,
        "seed": seed,
        "n_parameters": criteria.n_parameters(covariance_type, k, X.shape[1]),
        "lower_bound": np.nan,
        "log_likelihood": np.nan,
        "converged": False,
        "n_iter": 0,
        "final_relative_change": np.nan,
        "degenerate": False,
        "degenerate_reason": "",
        "min_covariance_eigenvalue": np.nan,
        "min_component_points": np.nan,
        **{criteria.column(name): np.nan for name in criteria.START_CRITERIA},
        "fit_seconds": np.nan,
        "warnings": "",
        "error": error,
    }
