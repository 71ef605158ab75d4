"""Step 2: multi-seed GaussianMixture fitting, with every start recorded.

A start is one ``GaussianMixture(n_init=1)`` fit from one initialisation method and one seed,
so any start can be rerun on its own. Methods are scikit-learn's own ``init_params`` and
``"agglomerative"`` (see :mod:`gmm_pipeline.initialisation`). The best start of a component
count (highest lower bound, as scikit-learn's ``n_init`` picks; the first in table order on
a tie) becomes the model for that count. The same sweep serves the main fit, each
cross-validation fold and each stability replicate.
"""

import logging
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

from . import criteria
from .artifacts import write_csv
from .datasets import load_dataset
from .errors import PipelineInputError
from .initialisation import AGGLOMERATIVE, DEFAULT_MAX_SAMPLES, agglomerative_starts, is_deterministic
from .model_io import save_models

log = logging.getLogger(__name__)

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", AGGLOMERATIVE)

# Columns of the starts table, one row per (n_components, init_params, seed).
START_COLUMNS = [
    "dataset", "covariance_type", "n_components", "init_params", "seed", "lower_bound",
    "log_likelihood", "converged", "n_iter",
    *(criteria.column(name) for name in criteria.START_CRITERIA),
    "n_parameters", "is_best", "fit_seconds", "warnings", "error",
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


def sweep_settings(fit_config, *, n_seeds=None):
    """Keyword arguments of :func:`fit_sweep` from the ``fit`` config section.

    Parameters
    ----------
    fit_config : dict
        The ``fit`` section (``covariance_types`` is ignored: each job fits one type).
    n_seeds : int, optional
        Keep only the first ``n_seeds`` seeds (cross-validation and stability refits).
    """
    init_params = fit_config.get("init_params", ["kmeans"])
    seeds = resolve_seeds(fit_config["seeds"])
    return {
        "n_components": list(fit_config["n_components"]),
        "seeds": seeds[:n_seeds] if n_seeds else seeds,
        "init_params": [init_params] if isinstance(init_params, str) else list(init_params),
        "max_iter": fit_config.get("max_iter", 100),
        "tol": fit_config.get("tol", 1e-3),
        "reg_covar": fit_config.get("reg_covar", 1e-6),
        "agglomerative_max_samples": fit_config.get("agglomerative_max_samples", DEFAULT_MAX_SAMPLES),
    }


def fit_start(X, *, n_components, covariance_type, seed, init_params="kmeans", start=None,
              max_iter=100, tol=1e-3, reg_covar=1e-6):
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
        passed on; for ``"agglomerative"`` the parameters come from ``start``.
    start : dict, optional
        ``weights_init``, ``means_init`` and ``precisions_init`` to start EM from.
    max_iter, tol, reg_covar
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
    # With explicit starting parameters the estimator's own init only needs to be cheap.
    estimator_init = "random_from_data" if start else init_params
    model = GaussianMixture(
        n_components=n_components, covariance_type=covariance_type, n_init=1,
        random_state=seed, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
        init_params=estimator_init, **(start or {}),
    )
    row = {
        "covariance_type": covariance_type, "n_components": n_components,
        "init_params": init_params, "seed": seed,
        "n_parameters": criteria.n_parameters(covariance_type, n_components, X.shape[1]),
        "lower_bound": np.nan, "log_likelihood": np.nan, "converged": False, "n_iter": 0,
        **{criteria.column(name): np.nan for name in criteria.START_CRITERIA},
        "fit_seconds": np.nan, "warnings": "", "error": "",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            model.fit(X)
        except (ValueError, np.linalg.LinAlgError) as err:
            # A degenerate start (e.g. a collapsed component) must not sink the whole sweep.
            row["error"] = str(err).replace("\n", " ")
            model = None
        row["fit_seconds"] = round(time.perf_counter() - started, 6)
    row["warnings"] = "; ".join(dict.fromkeys(str(w.message).replace("\n", " ") for w in caught))
    if model is not None:
        model.start_ = {"init_params": init_params, "seed": int(seed)}
        row.update({
            "lower_bound": float(model.lower_bound_),
            "log_likelihood": float(model.score(X)),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
            criteria.column("bic"): float(model.bic(X)),
            criteria.column("aic"): float(model.aic(X)),
            criteria.column("icl"): criteria.icl(model, X),
        })
    return model, row


def _planned_starts(X, *, covariance_type, n_components, seeds, init_params, reg_covar,
                    agglomerative_max_samples):
    """Every (init method, seed) pair to fit, with starting parameters per k where needed."""
    planned = []
    for method in init_params:
        if method != AGGLOMERATIVE:
            planned += [(method, seed, None) for seed in seeds]
            continue
        # On few enough rows the Ward tree ignores the seed: one start says all.
        method_seeds = seeds[:1] if is_deterministic(len(X), agglomerative_max_samples) else seeds
        for seed in method_seeds:
            planned.append((method, seed, agglomerative_starts(
                X, n_components, covariance_type, seed=seed, reg_covar=reg_covar,
                max_samples=agglomerative_max_samples)))
    return planned


def fit_sweep(X, *, covariance_type, n_components, seeds, init_params=("kmeans",), dataset="",
              max_iter=100, tol=1e-3, reg_covar=1e-6, agglomerative_max_samples=DEFAULT_MAX_SAMPLES):
    """Fit every (component count, initialisation method, seed) start for one covariance type.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance_type : {"full", "tied", "diag", "spherical"}
    n_components : sequence of int
    seeds : sequence of int
    init_params : str or sequence of str
        Initialisation methods (``INIT_METHODS``): scikit-learn's ``"kmeans"``,
        ``"k-means++"``, ``"random"``, ``"random_from_data"``, and ``"agglomerative"``.
    dataset : str
        Name written into the table and error messages.
    max_iter, tol, reg_covar
        Passed to :class:`~sklearn.mixture.GaussianMixture`.
    agglomerative_max_samples : int
        Rows the Ward tree is built on at most.

    Returns
    -------
    starts : DataFrame
        One row per start, columns ``START_COLUMNS``, ordered by component count, method
        (in the given order) and seed.
    best_models : list of GaussianMixture
        The best start per component count, in increasing order of ``n_components``;
        counts whose every start failed are left out (their rows say why).
    """
    init_params = [init_params] if isinstance(init_params, str) else list(init_params)
    unknown = [method for method in init_params if method not in INIT_METHODS]
    if unknown or not init_params:
        raise PipelineInputError(f"fit.init_params has {unknown or 'no methods'}; expected methods from {INIT_METHODS}")
    max_k = max(n_components)
    if X.shape[0] < max_k:
        raise PipelineInputError(
            f"dataset {dataset!r} has {X.shape[0]} data points, fewer than the largest "
            f"component count in fit.n_components ({max_k}); each component needs at least "
            f"one point. Lower fit.n_components or use more data."
        )
    planned = _planned_starts(X, covariance_type=covariance_type, n_components=n_components,
                              seeds=list(seeds), init_params=init_params, reg_covar=reg_covar,
                              agglomerative_max_samples=agglomerative_max_samples)
    rows, best_models = [], []
    for k in sorted(n_components):
        best_model, best_row = None, None
        for method, seed, starts_by_k in planned:
            start = starts_by_k[k] if starts_by_k is not None else None
            model, row = fit_start(X, n_components=k, covariance_type=covariance_type, seed=seed,
                                   init_params=method, start=start,
                                   max_iter=max_iter, tol=tol, reg_covar=reg_covar)
            row["is_best"] = False
            rows.append(row)
            if model is not None and (best_row is None or row["lower_bound"] > best_row["lower_bound"]):
                best_model, best_row = model, row
        if best_model is None:
            log.warning("dataset %s, %s, k=%d: every start failed", dataset, covariance_type, k)
            continue
        best_row["is_best"] = True
        best_models.append(best_model)
        log.info("dataset %s, %s, k=%d: best start %s seed %d, lower bound %.6f",
                 dataset, covariance_type, k, best_row["init_params"], best_row["seed"],
                 best_row["lower_bound"])
    starts = pd.DataFrame(rows)
    starts.insert(0, "dataset", dataset)
    return starts[START_COLUMNS], best_models


def fit_to_files(*, data_path, meta_path, covariance_type, fit_params, starts_path, models_path):
    """Run the sweep for one dataset and covariance type; write starts table and models."""
    dataset = load_dataset(data_path, meta_path)
    starts, models = fit_sweep(dataset.X, covariance_type=covariance_type, dataset=dataset.name,
                               **sweep_settings(fit_params))
    write_csv(starts_path, starts)
    save_models(models_path, models)
    return starts
