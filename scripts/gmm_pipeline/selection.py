"""Step 3: BIC/AIC model selection over covariance types and component counts.

Both criteria follow scikit-learn's sign convention: lower is better.
"""

import pandas as pd

from .artifacts import write_csv, write_json
from .errors import PipelineInputError
from .model_io import load_models, save_model

CRITERIA = ("bic", "aic")

CRITERIA_COLUMNS = [
    "covariance_type", "n_components", "n_parameters", "best_seed", "lower_bound",
    "log_likelihood", "bic", "aic", "converged", "n_starts", "n_converged", "n_failed",
]


def criteria_table(starts):
    """Summarise a starts table into one row per (covariance type, component count).

    Parameters
    ----------
    starts : DataFrame
        Concatenated starts tables of the fit step (see ``fitting.START_COLUMNS``).

    Returns
    -------
    table : DataFrame
        The best start's criteria per model (columns ``CRITERIA_COLUMNS``), with how many
        starts ran, converged and failed. Models whose every start failed are left out.
    """
    keys = ["covariance_type", "n_components"]
    counts = starts.groupby(keys, sort=False).agg(
        n_starts=("seed", "size"),
        n_converged=("converged", "sum"),
        n_failed=("error", lambda errors: int((errors.fillna("") != "").sum())),
    )
    best = starts[starts["is_best"]].set_index(keys)
    table = best.join(counts, how="inner").reset_index().rename(columns={"seed": "best_seed"})
    table["n_converged"] = table["n_converged"].astype(int)
    return table.sort_values(keys, kind="stable").reset_index(drop=True)[CRITERIA_COLUMNS]


def choose(table, criterion):
    """Return the row of ``table`` with the lowest ``criterion`` (first one on a tie)."""
    if criterion not in CRITERIA:
        raise PipelineInputError(f"selection.criterion is {criterion!r}; expected one of {CRITERIA}")
    if table.empty:
        raise PipelineInputError("no model could be fitted: every start of every model failed")
    return table.loc[table[criterion].idxmin()]


def _describe(row, criterion=None):
    entry = {"covariance_type": row["covariance_type"], "n_components": int(row["n_components"])}
    if criterion:
        entry[criterion] = float(row[criterion])
    return entry


def select_model(table, *, criterion, pinned=None, dataset=""):
    """Decide which model later steps use.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`criteria_table`.
    criterion : {"bic", "aic"}
        Criterion that chooses the model when none is pinned.
    pinned : dict, optional
        ``{"covariance_type", "n_components"}`` from ``datasets.<name>.model``; when given,
        it is used instead of the criterion's choice.

    Returns
    -------
    selection : dict
        The choice by each criterion and the model used downstream, with the reason.
    """
    selection = {
        "dataset": dataset,
        "criterion": criterion,
        "sign_convention": "lower is better",
        "by_criterion": {name: _describe(choose(table, name), name) for name in CRITERIA},
    }
    if pinned:
        match = table[(table["covariance_type"] == pinned["covariance_type"])
                      & (table["n_components"] == pinned["n_components"])]
        if match.empty:
            raise PipelineInputError(
                f"datasets.{dataset}.model asks for {pinned}, but that model was not fitted "
                f"(or every start failed); it must be in fit.covariance_types and fit.n_components"
            )
        selection["chosen"] = _describe(match.iloc[0]) | {"reason": f"pinned by datasets.{dataset}.model"}
    else:
        selection["chosen"] = selection["by_criterion"][criterion] | {"reason": f"lowest {criterion}"}
    return selection


def select_to_files(*, starts_paths, models_paths, criterion, pinned, dataset,
                    criteria_path, selection_path, model_path):
    """Build the criteria table, choose the model and copy it to ``model_path``."""
    starts = pd.concat([pd.read_csv(path) for path in starts_paths], ignore_index=True)
    table = criteria_table(starts)
    selection = select_model(table, criterion=criterion, pinned=pinned, dataset=dataset)
    chosen = selection["chosen"]
    models = {}
    for path in models_paths:
        for model in load_models(path):
            models[(model.covariance_type, model.n_components)] = model
    save_model(model_path, models[(chosen["covariance_type"], chosen["n_components"])])
    write_csv(criteria_path, table)
    write_json(selection_path, selection)
    return selection
