"""How stable the model choice is: the fit grid refitted on perturbed data.

Two kinds of replicate, each refitting every covariance type and component count (from
starts shared by the types, :func:`gmm_pipeline.stages.fit_models.fit_grid`):

* ``bootstrap``, by one of two methods, replicate ``r`` drawn from
  ``numpy.random.default_rng([seed, r])``:

  - ``weighted`` (the default): every row kept, with a weight ``n x Dirichlet(1, ..., 1)``,
    the weighted likelihood bootstrap of Newton and Raftery (1994), mclust's
    ``MclustBootstrap(type = "wlbs")``. No row is repeated, so flexible models cannot fit
    duplicates tightly;
  - ``resample``: the data resampled with replacement (same size), the classic bootstrap;

* ``data_seed``: a generated dataset drawn afresh with seed ``dataset seed + r + 1``
  (datasets read from files have no such replicates).

Each replicate's criteria per model go in a tidy table; :func:`selection_frequencies` then
counts, over the replicates, how often each (covariance type, k) has the lowest criterion.
"""

import numpy as np
import pandas as pd

from ..files.artifacts import write_csv
from ..maths import criteria
from .fit_models import fit_grid, grid_settings
from .prepare_data import load_dataset, redraw_features

BOOTSTRAP, DATA_SEED = "bootstrap", "data_seed"
REPLICATE_COLUMNS = [
    "dataset",
    "covariance_type",
    "resampling",
    "replicate",
    "data_seed",
    "n_components",
    "lower_bound",
    "converged",
    "degenerate",
    *(criteria.column(name) for name in criteria.START_CRITERIA),
]


def bootstrap_sample(X, *, seed, replicate):
    """Rows of ``X`` drawn with replacement, reproducible from ``(seed, replicate)``."""
    rng = np.random.default_rng([seed, replicate])
    return X[rng.integers(0, len(X), size=len(X))]


def bootstrap_weights(n_rows, *, seed, replicate):
    """``n_rows`` times a Dirichlet(1, ..., 1) draw: weights summing to ``n_rows``,
    reproducible from ``(seed, replicate)``."""
    rng = np.random.default_rng([seed, replicate])
    return n_rows * rng.dirichlet(np.ones(n_rows))


def replicate_datasets(X, *, bootstrap, seed, spec=None, data_seeds=0, method="resample"):
    """Yield ``(resampling, replicate, data_seed, X_replicate, weights)`` for every replicate.

    ``weights`` is None but for ``method="weighted"`` bootstrap replicates. ``data_seeds``
    replicates need ``spec`` (the dataset's generator entry); without one they are skipped.
    """
    for replicate in range(bootstrap):
        if method == "weighted":
            yield BOOTSTRAP, replicate, None, X, bootstrap_weights(len(X), seed=seed, replicate=replicate)
        else:
            yield BOOTSTRAP, replicate, None, bootstrap_sample(X, seed=seed, replicate=replicate), None
    if spec is None or "generator" not in spec:
        return
    for replicate in range(data_seeds):
        data_seed = spec["seed"] + replicate + 1
        yield DATA_SEED, replicate, data_seed, redraw_features(spec, data_seed), None


def replicate_criteria(
    X, *, covariance_types, bootstrap, seed, spec=None, data_seeds=0, method="resample", dataset="", **grid
):
    """Refit the fit grid on every replicate; one row per (replicate, covariance type,
    component count), the types in the given order within a replicate.

    The row of a k is its best start's (highest lower bound among the starts that are not
    degenerate). Component counts whose every
    start failed on a replicate are left out of that replicate.
    """
    rows = []
    # A weighted replicate keeps the rows, and the hierarchical starts ignore the weights:
    # their hierarchies are the same in every such replicate, built once.
    hierarchies = {}
    for resampling, replicate, data_seed, X_replicate, weights in replicate_datasets(
        X, bootstrap=bootstrap, seed=seed, spec=spec, data_seeds=data_seeds, method=method
    ):
        starts, _ = fit_grid(
            X_replicate,
            covariance_types=covariance_types,
            dataset=dataset,
            criteria_for="best",
            sample_weight=weights,
            hierarchies=hierarchies if weights is not None else None,
            **grid,
        )
        best = starts[starts["is_best"]]
        for _, row in best.iterrows():
            rows.append(
                {
                    "dataset": dataset,
                    "covariance_type": row["covariance_type"],
                    "resampling": resampling,
                    "replicate": replicate,
                    "data_seed": data_seed,
                    "n_components": row["n_components"],
                    "lower_bound": row["lower_bound"],
                    "converged": row["converged"],
                    "degenerate": row["degenerate"],
                    **{criteria.column(name): row[criteria.column(name)] for name in criteria.START_CRITERIA},
                }
            )
    frame = pd.DataFrame(rows, columns=REPLICATE_COLUMNS)
    frame["data_seed"] = frame["data_seed"].astype("Int64")
    return frame


def selection_frequencies(replicates):
    """How often each model is chosen by each criterion, per kind of replicate.

    Parameters
    ----------
    replicates : DataFrame
        Concatenated :func:`replicate_criteria` tables of every covariance type of a dataset.

    Returns
    -------
    frequencies : DataFrame
        Columns ``criterion, resampling, covariance_type, n_components, n_chosen,
        n_replicates, frequency``; one row per model and criterion that was chosen at
        least once.
    """
    columns = [
        "criterion",
        "resampling",
        "covariance_type",
        "n_components",
        "n_chosen",
        "n_replicates",
        "frequency",
    ]
    replicates = replicates.reset_index(drop=True)
    # As in the main selection, a model degenerate on a replicate cannot be its choice.
    replicates = replicates[~replicates["degenerate"].astype(bool)]
    rows = []
    for resampling, group in replicates.groupby("resampling", sort=True):
        n_replicates = group["replicate"].nunique()
        for name in criteria.START_CRITERIA:
            column = criteria.column(name)
            winners = group.loc[group.groupby("replicate")[column].idxmin()]
            counts = winners.groupby(["covariance_type", "n_components"]).size()
            for (covariance_type, k), n_chosen in counts.items():
                rows.append(
                    {
                        "criterion": name,
                        "resampling": resampling,
                        "covariance_type": covariance_type,
                        "n_components": int(k),
                        "n_chosen": int(n_chosen),
                        "n_replicates": n_replicates,
                        "frequency": n_chosen / n_replicates,
                    }
                )
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(
        ["criterion", "resampling", "covariance_type", "n_components"], kind="stable"
    ).reset_index(drop=True)


def stability_to_files(*, data_path, meta_path, spec, fit_params, stability_params, replicates_path):
    """Refit one dataset's fit grid of its covariance types (``fit_params``) on every
    replicate; write the table."""
    dataset = load_dataset(data_path, meta_path)
    grid = grid_settings(fit_params, n_seeds=stability_params["seeds"])
    table = replicate_criteria(
        dataset.X,
        covariance_types=fit_params["covariance_types"],
        bootstrap=stability_params["bootstrap"],
        seed=stability_params["seed"],
        spec=spec,
        data_seeds=stability_params["data_seeds"],
        method=stability_params["method"],
        dataset=dataset.name,
        **grid,
    )
    write_csv(replicates_path, table)
    return table
