"""Held-out log-likelihood by K-fold cross-validation, per component count.

For each fold the full multi-start grid of every covariance type
(:func:`gmm_pipeline.stages.fit_models.fit_grid`, its starts shared by the types) runs on the
training part; the best start per type and k is scored on the held-out part. The criterion is
minus the mean held-out log-likelihood per point over all folds (``cv_nll``, lower is
better, on the scale of ``-GaussianMixture.score``). BIC and AIC approximate what this
measures directly: how well the model predicts data it was not fitted on.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from ..errors import PipelineInputError
from ..files.artifacts import write_csv
from .fit_models import fit_grid, grid_settings
from .prepare_data import load_dataset

FOLD_COLUMNS = [
    "dataset",
    "covariance_type",
    "n_components",
    "fold",
    "n_train",
    "n_test",
    "best_init_params",
    "best_seed",
    "train_lower_bound",
    "test_log_likelihood",
]


def fold_indices(n_samples, *, folds, seed):
    """Shuffled K-fold split: a list of ``(train, test)`` index arrays, reproducible from ``seed``."""
    if folds < 2 or folds > n_samples:
        raise PipelineInputError(
            f"selection.cross_validation.folds is {folds}; it must be at least 2 and at most "
            f"the number of data points ({n_samples})"
        )
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n_samples)))


def cross_validate(X, *, covariance_types, folds, seed, dataset="", **grid):
    """Held-out log-likelihood of every covariance type and component count, fold by fold.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance_types : sequence of {"full", "tied", "diag", "spherical"}
    folds : int
        Number of folds K.
    seed : int
        Seed of the fold shuffle.
    dataset : str
        Name written into the table.
    **grid
        Arguments of :func:`gmm_pipeline.stages.fit_models.fit_grid` (``n_components``, ``seeds``,
        ``init_params``, ...).

    Returns
    -------
    table : DataFrame
        One row per (covariance type, component count, fold), columns ``FOLD_COLUMNS``,
        in the given order of the types; ``test_log_likelihood`` is the mean per held-out
        point.
    """
    covariance_types = list(covariance_types)
    rows = []
    for fold, (train, test) in enumerate(fold_indices(len(X), folds=folds, seed=seed)):
        starts, models = fit_grid(
            X[train], covariance_types=covariance_types, dataset=dataset, criteria_for="best", **grid
        )
        best = starts[starts["is_best"]].set_index(["covariance_type", "n_components"])
        for model in models:
            covariance_type, k = model.covariance_type, model.n_components
            rows.append(
                {
                    "dataset": dataset,
                    "covariance_type": covariance_type,
                    "n_components": k,
                    "fold": fold,
                    "n_train": len(train),
                    "n_test": len(test),
                    "best_init_params": best.loc[(covariance_type, k), "init_params"],
                    "best_seed": int(best.loc[(covariance_type, k), "seed"]),
                    "train_lower_bound": float(model.lower_bound_),
                    "test_log_likelihood": float(model.score(X[test])),
                }
            )
    table = pd.DataFrame(rows, columns=FOLD_COLUMNS)
    order = table["covariance_type"].map({name: i for i, name in enumerate(covariance_types)})
    return (
        table.assign(order=order)
        .sort_values(["order", "n_components", "fold"], kind="stable")
        .drop(columns="order")
        .reset_index(drop=True)
    )


def summarise_folds(table):
    """Per model: ``cv_nll`` (minus the pooled mean held-out log-likelihood) and its fold spread.

    Returns
    -------
    summary : DataFrame
        Index ``(covariance_type, n_components)``; columns ``cv_nll`` (lower is better),
        ``cv_nll_fold_std`` and ``cv_folds`` (folds in which the model could be fitted).
    """
    table = table.assign(weighted=table["test_log_likelihood"] * table["n_test"])
    grouped = table.groupby(["covariance_type", "n_components"])
    return pd.DataFrame(
        {
            "cv_nll": -grouped["weighted"].sum() / grouped["n_test"].sum(),
            "cv_nll_fold_std": grouped["test_log_likelihood"].std(ddof=0),
            "cv_folds": grouped.size(),
        }
    )


def cross_validate_to_files(*, data_path, meta_path, fit_params, cv_params, folds_path):
    """Cross-validate one dataset's covariance types (``fit_params``); write the per-fold table."""
    dataset = load_dataset(data_path, meta_path)
    grid = grid_settings(fit_params, n_seeds=cv_params["seeds"])
    table = cross_validate(
        dataset.X,
        covariance_types=fit_params["covariance_types"],
        folds=cv_params["folds"],
        seed=cv_params["seed"],
        dataset=dataset.name,
        **grid,
    )
    write_csv(folds_path, table)
    return table
