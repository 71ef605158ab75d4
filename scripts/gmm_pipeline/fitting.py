"""Step 2: multi-seed GaussianMixture fitting, with every random start recorded.

Each start is one ``GaussianMixture(n_init=1, random_state=seed)`` fit, so any start can be
rerun on its own from its seed. The best start (highest lower bound, as scikit-learn's own
``n_init`` picks; the lowest seed on a tie) becomes the model for that component count.
"""

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

from .artifacts import write_csv
from .datasets import load_dataset
from .errors import PipelineInputError
from .model_io import save_models

log = logging.getLogger(__name__)

# Columns of the starts table, one row per (n_components, seed).
START_COLUMNS = [
    "dataset", "covariance_type", "n_components", "seed", "lower_bound", "log_likelihood",
    "converged", "n_iter", "bic", "aic", "n_parameters", "is_best", "warnings", "error",
]


def resolve_seeds(seeds):
    """Turn the ``fit.seeds`` config value (a count or a list) into a list of seeds."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list)):
        raise PipelineInputError(f"fit.seeds must be a positive integer or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise PipelineInputError(f"fit.seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    return list(seeds)


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters of a Gaussian mixture (what BIC and AIC penalise)."""
    k, d = n_components, n_features
    covariance = {
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
        "diag": k * d,
        "spherical": k,
    }[covariance_type]
    return covariance + k * d + k - 1


def fit_start(X, *, n_components, covariance_type, seed, max_iter=100, tol=1e-3,
              reg_covar=1e-6, init_params="kmeans"):
    """Fit one random start.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    seed : int
        ``random_state`` of this start.
    max_iter, tol, reg_covar, init_params
        Passed to :class:`~sklearn.mixture.GaussianMixture`.

    Returns
    -------
    model : GaussianMixture or None
        The fitted model, or None if this start failed.
    row : dict
        The start's record (see ``START_COLUMNS``). Warnings raised while fitting, such as
        a ConvergenceWarning, are kept in ``row["warnings"]``; a failure's message in
        ``row["error"]``.
    """
    model = GaussianMixture(
        n_components=n_components, covariance_type=covariance_type, n_init=1,
        random_state=seed, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
        init_params=init_params,
    )
    row = {
        "covariance_type": covariance_type, "n_components": n_components, "seed": seed,
        "n_parameters": n_parameters(covariance_type, n_components, X.shape[1]),
        "lower_bound": np.nan, "log_likelihood": np.nan, "converged": False, "n_iter": 0,
        "bic": np.nan, "aic": np.nan, "warnings": "", "error": "",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X)
        except (ValueError, np.linalg.LinAlgError) as err:
            # A degenerate start (e.g. a collapsed component) must not sink the whole sweep.
            row["error"] = str(err).replace("\n", " ")
            model = None
    row["warnings"] = "; ".join(dict.fromkeys(str(w.message).replace("\n", " ") for w in caught))
    if model is not None:
        row.update(
            lower_bound=float(model.lower_bound_),
            log_likelihood=float(model.score(X)),
            converged=bool(model.converged_),
            n_iter=int(model.n_iter_),
            bic=float(model.bic(X)),
            aic=float(model.aic(X)),
        )
    return model, row


def fit_sweep(X, *, covariance_type, n_components, seeds, dataset="", **fit_params):
    """Fit every (component count, seed) start for one covariance type.

    Returns
    -------
    starts : DataFrame
        One row per start, columns ``START_COLUMNS``, ordered by component count then seed.
    best_models : list of GaussianMixture
        The best start per component count, in increasing order of ``n_components``;
        counts whose every start failed are left out (their rows say why).
    """
    max_k = max(n_components)
    if X.shape[0] < max_k:
        raise PipelineInputError(
            f"dataset {dataset!r} has {X.shape[0]} data points, fewer than the largest "
            f"component count in fit.n_components ({max_k}); each component needs at least "
            f"one point. Lower fit.n_components or use more data."
        )
    rows, best_models = [], []
    for k in sorted(n_components):
        best_model, best_row = None, None
        for seed in seeds:
            model, row = fit_start(X, n_components=k, covariance_type=covariance_type,
                                   seed=seed, **fit_params)
            row["is_best"] = False
            rows.append(row)
            if model is not None and (best_row is None or row["lower_bound"] > best_row["lower_bound"]):
                best_model, best_row = model, row
        if best_model is None:
            log.warning("dataset %s, %s, k=%d: every start failed", dataset, covariance_type, k)
            continue
        best_row["is_best"] = True
        best_models.append(best_model)
        log.info("dataset %s, %s, k=%d: best seed %d, lower bound %.6f, BIC %.3f",
                 dataset, covariance_type, k, best_row["seed"], best_row["lower_bound"], best_row["bic"])
    starts = pd.DataFrame(rows)
    starts.insert(0, "dataset", dataset)
    return starts[START_COLUMNS], best_models


def fit_to_files(*, data_path, meta_path, covariance_type, fit_params, starts_path, models_path):
    """Run the sweep for one dataset and covariance type; write starts table and models."""
    dataset = load_dataset(data_path, meta_path)
    params = dict(fit_params)
    n_components = params.pop("n_components")
    seeds = resolve_seeds(params.pop("seeds"))
    params.pop("covariance_types", None)
    starts, models = fit_sweep(dataset.X, covariance_type=covariance_type, n_components=n_components,
                               seeds=seeds, dataset=dataset.name, **params)
    write_csv(starts_path, starts)
    save_models(models_path, models)
    return starts
