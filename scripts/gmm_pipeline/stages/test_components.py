"""A test for the number of components: the parametric bootstrap likelihood-ratio test of k
against k + 1 components (McLachlan 1987), as mclust's ``mclustBootstrapLRT``.

The likelihood-ratio statistic ``LRTS = 2 (log L_{k+1} - log L_k)`` has no chi-squared
distribution between mixtures (the null sits on the boundary of the larger model), so its
null distribution is simulated:

1. the observed statistic comes from the best fits with k and k + 1 components (the fit
   step's ``models.json``);
2. each replicate draws n rows from the fitted k-component model, refits both models by EM
   started from the fitted parameters (mclust's ``em`` from ``Mod0`` and ``Mod1``), and
   computes the statistic on the drawn rows;
3. the p-value is ``(1 + #{replicates >= observed}) / (replicates + 1)``.

Tests run for k = 1, 2, ... and stop at the first k not rejected at ``level`` (or at
``max_k``): that k is the number of components the test supports.
"""

import numpy as np
import pandas as pd

from ..errors import PipelineInputError
from ..files.artifacts import write_csv
from ..files.model_io import load_models
from ..maths.em import as_estimator, run_from_model
from ..maths.parsimonious_mixture import ParsimoniousGaussianMixture, refit_from_model
from .fit_models import DEFAULT_MAX_ITER, DEFAULT_REG_COVAR, DEFAULT_TOL
from .prepare_data import load_dataset

TEST_COLUMNS = [
    "covariance_type",
    "n_components",
    "alternative",
    "statistic",
    "p_value",
    "rejected",
    "replicates",
    "failed_replicates",
    "bootstrap_q50",
    "bootstrap_q90",
    "bootstrap_q95",
    "bootstrap_q99",
]
REPLICATE_COLUMNS = ["covariance_type", "n_components", "replicate", "statistic"]


def log_likelihood(model, X):
    """Total log-likelihood of ``X`` under ``model``."""
    return float(model.score_samples(X).sum())


def refit_from(model, X, *, tol, max_iter, reg_covar, sample_weight=None):
    """EM on ``X`` (rows weighted by ``sample_weight``, if given) started from ``model``'s
    parameters, by the engine of its kind; the refitted model, or None if EM failed (a
    covariance that lost positive definiteness, or by mclust's test). The bootstrap tests
    here and the parameter uncertainty both refit this way."""
    if isinstance(model, ParsimoniousGaussianMixture):
        return refit_from_model(
            model, X, tol=tol, max_iter=max_iter, reg_covar=reg_covar, sample_weight=sample_weight
        )
    fit = run_from_model(
        model, X, tol=tol, max_iter=max_iter, reg_covar=reg_covar, sample_weight=sample_weight
    )
    if fit.error is not None:
        return None
    settings = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter}
    return as_estimator(
        fit,
        covariance_type=model.covariance_type,
        n_features=X.shape[1],
        init_params="kmeans",
        seed=0,
        **settings,
    )


def bootstrap_lrt(
    X,
    models,
    *,
    replicates,
    level=0.05,
    max_k=None,
    seed=0,
    tol=DEFAULT_TOL,
    max_iter=DEFAULT_MAX_ITER,
    reg_covar=DEFAULT_REG_COVAR,
):
    """Bootstrap likelihood-ratio tests of k against k + 1 components for one covariance type.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    models : dict of int to GaussianMixture
        The best fit per component count (one covariance type).
    replicates : int
        Bootstrap samples per test.
    level : float
        A test with p-value at most ``level`` rejects k; testing stops at the first k it
        does not reject.
    max_k : int, optional
        The largest k tested against k + 1 (default: as far as consecutive fits go).
    seed : int
        Seeds the draws: replicate b of the test of k draws with ``seed``, k and b.
    tol, max_iter, reg_covar
        EM's settings for the refits.

    Returns
    -------
    tests : DataFrame
        One row per test (``TEST_COLUMNS``).
    statistics : DataFrame
        Every replicate's statistic (``REPLICATE_COLUMNS``); NaN where a refit failed.
    """
    X = np.asarray(X, dtype=np.float64)
    covariance_type = next(iter(models.values())).covariance_type
    tests, statistics = [], []
    k = 1
    while k in models and k + 1 in models and (max_k is None or k <= max_k):
        null, alternative = models[k], models[k + 1]
        observed = 2 * (log_likelihood(alternative, X) - log_likelihood(null, X))
        boot = np.full(replicates, np.nan)
        for b in range(replicates):
            null.set_params(random_state=int(np.random.SeedSequence([seed, k, b]).generate_state(1)[0]))
            drawn, _ = null.sample(len(X))
            settings = {"tol": tol, "max_iter": max_iter, "reg_covar": reg_covar}
            refit_null, refit_alternative = (
                refit_from(null, drawn, **settings),
                refit_from(alternative, drawn, **settings),
            )
            if refit_null is not None and refit_alternative is not None:
                boot[b] = 2 * (log_likelihood(refit_alternative, drawn) - log_likelihood(refit_null, drawn))
        valid = boot[~np.isnan(boot)]
        p_value = (1 + np.sum(valid >= observed)) / (len(valid) + 1)
        quantiles = np.quantile(valid, [0.5, 0.9, 0.95, 0.99]) if len(valid) else [np.nan] * 4
        tests.append(
            {
                "covariance_type": covariance_type,
                "n_components": k,
                "alternative": k + 1,
                "statistic": observed,
                "p_value": float(p_value),
                "rejected": bool(p_value <= level),
                "replicates": len(valid),
                "failed_replicates": replicates - len(valid),
                **{f"bootstrap_q{q}": float(v) for q, v in zip((50, 90, 95, 99), quantiles, strict=True)},
            }
        )
        statistics += [
            {"covariance_type": covariance_type, "n_components": k, "replicate": b, "statistic": value}
            for b, value in enumerate(boot)
        ]
        if p_value > level:
            break
        k += 1
    return pd.DataFrame(tests, columns=TEST_COLUMNS), pd.DataFrame(statistics, columns=REPLICATE_COLUMNS)


def supported_components(tests):
    """The k the sequence of tests stops at: the first k not rejected, or one more than the
    last k rejected when every test rejected (then the largest tested alternative)."""
    if tests.empty:
        return None
    not_rejected = tests[~tests["rejected"]]
    if len(not_rejected):
        return int(not_rejected["n_components"].iloc[0])
    return int(tests["alternative"].iloc[-1])


def lrt_to_files(
    *, data_path, meta_path, models_path, covariance_type, lrt_params, fit_params, tests_path, replicates_path
):
    """Run :func:`bootstrap_lrt` for one dataset and covariance type; write both tables."""
    dataset = load_dataset(data_path, meta_path)
    models = {
        int(model.n_components): model
        for model in load_models(models_path)
        if model.covariance_type == covariance_type
    }
    if 1 not in models or 2 not in models:
        raise PipelineInputError(
            f"{models_path}: the bootstrap LRT starts from k = 1 against 2, but the {covariance_type} fits have "
            f"k = {sorted(models)}; include 1 and 2 in fit.n_components"
        )
    tests, statistics = bootstrap_lrt(
        dataset.X,
        models,
        replicates=lrt_params["replicates"],
        level=lrt_params["level"],
        max_k=lrt_params.get("max_k"),
        seed=lrt_params["seed"],
        tol=fit_params.get("tol", 1e-6),
        max_iter=fit_params.get("max_iter", 1000),
        reg_covar=fit_params.get("reg_covar", 1e-6),
    )
    write_csv(tests_path, tests)
    write_csv(replicates_path, statistics)
    return tests
