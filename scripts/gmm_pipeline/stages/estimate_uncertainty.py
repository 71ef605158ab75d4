"""Uncertainty of the fitted parameters: bootstrap standard errors and percentile intervals
of the chosen model's weights and means, as mclust's ``MclustBootstrap``.

Each replicate is a bootstrap replicate of the stability step (the same ``seed`` and
method: Dirichlet weights for ``weighted``, rows drawn with replacement for ``resample``).
The chosen model is refitted on it by EM started from its own parameters (as mclust
does), so each replicate's components start as the original ones. EM may still swap two
of them, so a replicate's components are matched to the original ones by the assignment
that minimises the summed squared distance between their means (the Hungarian method,
``scipy.optimize.linear_sum_assignment``) before anything is compared.
"""

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from ..files.artifacts import write_csv  # noqa: E402
from ..files.figure_files import save_figure  # noqa: E402
from ..files.model_io import load_model  # noqa: E402
from .assess_stability import bootstrap_sample, bootstrap_weights  # noqa: E402
from .fit_models import DEFAULT_MAX_ITER, DEFAULT_REG_COVAR, DEFAULT_TOL  # noqa: E402
from .prepare_data import load_dataset  # noqa: E402
from .render_figures import projection  # noqa: E402
from .test_components import refit_from  # noqa: E402

INTERVAL = (2.5, 97.5)
TABLE_COLUMNS = [
    "component",
    "parameter",
    "estimate",
    "bootstrap_mean",
    "standard_error",
    "lower_2.5",
    "upper_97.5",
    "replicates",
]
REPLICATE_COLUMNS = ["replicate", "component", "parameter", "value"]


def match_components(reference_means, means):
    """The order of ``means`` that lines its components up with ``reference_means``:
    ``means[order[j]]`` is matched to component ``j``."""
    cost = ((reference_means[:, np.newaxis, :] - means[np.newaxis, :, :]) ** 2).sum(axis=2)
    rows, columns = linear_sum_assignment(cost)
    return columns[np.argsort(rows)]


def refit_replicates(
    model,
    X,
    *,
    replicates,
    seed,
    method="weighted",
    tol=DEFAULT_TOL,
    max_iter=DEFAULT_MAX_ITER,
    reg_covar=DEFAULT_REG_COVAR,
):
    """Weights and means of ``model`` refitted on each bootstrap replicate, matched to the
    original components; replicates whose refit failed are left out.

    Returns
    -------
    weights : ndarray of shape (n_valid, n_components)
    means : ndarray of shape (n_valid, n_components, n_features)
    kept : list of int
        The replicate numbers of the rows.
    """
    weights, means, kept = [], [], []
    for replicate in range(replicates):
        if method == "weighted":
            data, row_weights = X, bootstrap_weights(len(X), seed=seed, replicate=replicate)
        else:
            data, row_weights = bootstrap_sample(X, seed=seed, replicate=replicate), None
        refit = refit_from(
            model, data, tol=tol, max_iter=max_iter, reg_covar=reg_covar, sample_weight=row_weights
        )
        if refit is None:
            continue
        order = match_components(model.means_, refit.means_)
        weights.append(refit.weights_[order])
        means.append(refit.means_[order])
        kept.append(replicate)
    n_features = X.shape[1]
    return (
        np.asarray(weights).reshape(-1, model.n_components),
        np.asarray(means).reshape(-1, model.n_components, n_features),
        kept,
    )


def parameter_table(model, weights, means, features):
    """One row per component and parameter (``weight``, ``mean_<feature>``)."""
    rows = []
    for k in range(model.n_components):
        values = {"weight": (model.weights_[k], weights[:, k])}
        for j, feature in enumerate(features):
            values[f"mean_{feature}"] = (model.means_[k, j], means[:, k, j])
        for parameter, (estimate, draws) in values.items():
            low, high = np.percentile(draws, INTERVAL) if len(draws) else (np.nan, np.nan)
            rows.append(
                {
                    "component": k + 1,
                    "parameter": parameter,
                    "estimate": float(estimate),
                    "bootstrap_mean": float(np.mean(draws)) if len(draws) else np.nan,
                    "standard_error": float(np.std(draws, ddof=1)) if len(draws) > 1 else np.nan,
                    "lower_2.5": float(low),
                    "upper_97.5": float(high),
                    "replicates": len(draws),
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def replicate_table(weights, means, kept, features):
    """Every replicate's matched weights and means, long form."""
    rows = []
    for position, replicate in enumerate(kept):
        for k in range(weights.shape[1]):
            rows.append(
                {
                    "replicate": replicate,
                    "component": k + 1,
                    "parameter": "weight",
                    "value": weights[position, k],
                }
            )
            for j, feature in enumerate(features):
                rows.append(
                    {
                        "replicate": replicate,
                        "component": k + 1,
                        "parameter": f"mean_{feature}",
                        "value": means[position, k, j],
                    }
                )
    return pd.DataFrame(rows, columns=REPLICATE_COLUMNS)


def uncertainty_to_files(
    *,
    data_path,
    meta_path,
    model_path,
    stability_params,
    fit_params,
    table_path,
    replicates_path,
    figure_path,
    dpi,
):
    """Bootstrap the chosen model's weights and means; write the summary, every replicate
    and the figure."""
    dataset = load_dataset(data_path, meta_path)
    model = load_model(model_path)
    weights, means, kept = refit_replicates(
        model,
        dataset.X,
        replicates=stability_params["bootstrap"],
        seed=stability_params["seed"],
        method=stability_params["method"],
        tol=fit_params.get("tol", 1e-6),
        max_iter=fit_params.get("max_iter", 1000),
        reg_covar=fit_params.get("reg_covar", 1e-6),
    )
    table = parameter_table(model, weights, means, dataset.features)
    write_csv(table_path, table)
    write_csv(replicates_path, replicate_table(weights, means, kept, dataset.features))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    plot_uncertainty_of_parameters(axes, dataset.X, model, weights, means, table)
    fig.suptitle(
        f"{dataset.name}: {model.covariance_type} k = {model.n_components}, parameters over "
        f"{len(kept)} bootstrap replicates ({stability_params['method']})"
    )
    fig.tight_layout()
    save_figure(fig, figure_path, dpi)
    return table


def plot_uncertainty_of_parameters(axes, X, model, weights, means, table):
    """Left: each component's bootstrap means (dots) around its estimate (cross), over the
    data (2-D, or its first two principal components). Right: the weights with their 95 %
    percentile intervals."""
    points, project, axis_names = projection(X)
    colors = plt.get_cmap("tab10")
    axes[0].scatter(*points.T, s=3, color="0.8")
    for k in range(model.n_components):
        color = colors(k % 10)
        if len(means):
            axes[0].scatter(*project(means[:, k, :]).T, s=6, color=color, alpha=0.5)
        axes[0].scatter(*project(model.means_[k : k + 1]).T, marker="x", s=80, color="k")
    axes[0].set_xlabel(axis_names[0])
    axes[0].set_ylabel(axis_names[1])
    axes[0].set_title("component means: estimate (x) and bootstrap replicates", fontsize="small")
    rows = table[table["parameter"] == "weight"]
    below = rows["estimate"] - rows["lower_2.5"]
    above = rows["upper_97.5"] - rows["estimate"]
    axes[1].errorbar(
        rows["component"],
        rows["estimate"],
        yerr=[below.clip(lower=0), above.clip(lower=0)],
        fmt="o",
        capsize=4,
    )
    axes[1].set_xticks(rows["component"])
    axes[1].set_xlabel("component")
    axes[1].set_ylabel("weight, with its 95 % bootstrap interval")
