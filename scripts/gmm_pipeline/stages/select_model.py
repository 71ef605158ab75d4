"""Rule select_model: model selection over covariance types and component counts.

Criteria (see :mod:`gmm_pipeline.maths.criteria`) are BIC, AIC, ICL and the cross-validated
held-out negative log-likelihood ``cv_nll``; all follow scikit-learn's sign convention,
**lower is better**, and every table column holding one says so in its name
(``bic_lower_is_better``, ...).

The public API:

* :func:`criteria_table`: one row per model from the starts table (and the fold table):
  the best start's criteria, the spread over starts, how many starts reached the best
  optimum, and whether the best start converged;
* :func:`init_comparison`: the same per initialisation method, to see which one reaches
  the better optimum;
* :func:`select_model`: the choice by each criterion, its runner-up and gap, and how often
  it was chosen over the stability replicates;
* :func:`agreement_with_truth`: adjusted Rand index and normalized mutual information of a
  model's ``predict`` against true labels.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ..errors import PipelineInputError
from ..files.artifacts import write_csv, write_json
from ..files.model_io import load_models, save_model
from ..maths import criteria
from .assess_stability import REPLICATE_COLUMNS, selection_frequencies
from .cross_validate import FOLD_COLUMNS, summarise_folds
from .prepare_data import load_dataset

KEYS = ["covariance_type", "n_components"]
_START = [criteria.column(name) for name in criteria.START_CRITERIA]
CRITERIA_COLUMNS = [
    *KEYS,
    "n_parameters",
    *(criteria.column(name) for name in criteria.CRITERIA),
    "cv_nll_fold_std",
    "best_init_params",
    "best_seed",
    "lower_bound",
    "log_likelihood",
    "converged",
    "n_iter",
    "final_relative_change",
    "degenerate",
    "degenerate_reason",
    "warnings",
    "n_starts",
    "n_converged",
    "n_failed",
    "n_degenerate",
    "n_at_best",
    "lower_bound_median",
    "lower_bound_worst",
    *(f"{name}_{stat}_over_starts" for name in criteria.START_CRITERIA for stat in ("median", "worst")),
]
INIT_COLUMNS = [
    *KEYS,
    "init_params",
    "n_starts",
    "n_converged",
    "best_seed",
    "lower_bound",
    *_START,
    "reaches_best_optimum",
]


def _sound(starts):
    """Starts that were fitted and are not degenerate: the ones spreads and optima count."""
    return starts[
        (starts["error"].fillna("") == "")
        & starts["lower_bound"].notna()
        & ~starts["degenerate"].astype(bool)
    ]


def _per_model_counts(starts, tolerance):
    ok = _sound(starts)
    best_bound = ok.groupby(KEYS)["lower_bound"].transform("max")
    grouped = ok.groupby(KEYS)
    spread = pd.DataFrame(
        {
            "lower_bound_median": grouped["lower_bound"].median(),
            "lower_bound_worst": grouped["lower_bound"].min(),
            "n_at_best": (ok["lower_bound"] >= best_bound - tolerance).groupby([ok[k] for k in KEYS]).sum(),
        }
    )
    for name in criteria.START_CRITERIA:
        spread[f"{name}_median_over_starts"] = grouped[criteria.column(name)].median()
        spread[f"{name}_worst_over_starts"] = grouped[criteria.column(name)].max()
    counts = starts.groupby(KEYS).agg(
        n_starts=("seed", "size"),
        n_converged=("converged", "sum"),
        n_failed=("error", lambda errors: int((errors.fillna("") != "").sum())),
        n_degenerate=("degenerate", "sum"),
    )
    # A model whose every start is degenerate has no spread: its row is kept (and excluded
    # from the choice) with empty spread columns.
    return counts.join(spread, how="left")


def criteria_table(starts, folds=None, *, tolerance=1e-3):
    """Summarise the starts (and cross-validation folds) into one row per model.

    Parameters
    ----------
    starts : DataFrame
        Concatenated starts tables of the fit step (``fitting.START_COLUMNS``).
    folds : DataFrame, optional
        Concatenated fold tables of the cross-validation step (``cross_validate.FOLD_COLUMNS``).
        A model that could not be fitted in every fold gets no ``cv_nll``.
    tolerance : float
        A start "reaches the best optimum" when its lower bound (mean log-likelihood per
        point) is within this of the best start's.

    Returns
    -------
    table : DataFrame
        Columns ``CRITERIA_COLUMNS``, ordered by covariance type then k. Criteria are the
        best start's; ``*_worst_over_starts`` and ``*_median_over_starts`` give their spread
        over the starts that are not degenerate; ``converged``, ``n_iter``,
        ``final_relative_change``, ``degenerate`` and ``warnings`` are the best start's (it
        is degenerate only when every start is). Models whose every start failed are left
        out.
    """
    starts = starts.reset_index(drop=True)
    best = starts[starts["is_best"].astype(bool)].set_index(KEYS)
    best = best.rename(columns={"seed": "best_seed", "init_params": "best_init_params"})
    table = best.join(_per_model_counts(starts, tolerance), how="inner")
    cv_column = criteria.column("cv_nll")
    if folds is not None and len(folds):
        summary = summarise_folds(folds)
        complete = summary["cv_folds"] == folds["fold"].nunique()
        table = table.join(
            summary[complete][["cv_nll", "cv_nll_fold_std"]].rename(columns={"cv_nll": cv_column})
        )
    else:
        table[cv_column] = np.nan
        table["cv_nll_fold_std"] = np.nan
    table = table.reset_index()
    table["n_at_best"] = table["n_at_best"].fillna(0)
    for column in ("n_converged", "n_at_best", "n_starts", "n_failed", "n_degenerate"):
        table[column] = table[column].astype(int)
    table["degenerate"] = table["degenerate"].astype(bool)
    for column in ("warnings", "degenerate_reason"):
        table[column] = ["" if pd.isna(text) else str(text) for text in table[column]]
    return table.sort_values(KEYS, kind="stable").reset_index(drop=True)[CRITERIA_COLUMNS]


def init_comparison(starts, *, tolerance=1e-3):
    """Per model and initialisation method: that method's best start, and whether it
    reaches the best optimum found by any method (within ``tolerance``)."""
    starts = starts.reset_index(drop=True)
    ok = _sound(starts)
    by_method = ok.loc[ok.groupby([*KEYS, "init_params"], sort=False)["lower_bound"].idxmax()]
    counts = starts.groupby([*KEYS, "init_params"]).agg(
        n_starts=("seed", "size"), n_converged=("converged", "sum")
    )
    table = by_method.set_index([*KEYS, "init_params"]).join(counts).reset_index()
    overall = table.groupby(KEYS)["lower_bound"].transform("max")
    table["reaches_best_optimum"] = table["lower_bound"] >= overall - tolerance
    table = table.rename(columns={"seed": "best_seed"})
    table["n_converged"] = table["n_converged"].astype(int)
    return table.sort_values([*KEYS, "init_params"], kind="stable").reset_index(drop=True)[INIT_COLUMNS]


def _model(row):
    return {"covariance_type": row["covariance_type"], "n_components": int(row["n_components"])}


def ranked(table, criterion):
    """Rows of ``table`` with a value of ``criterion``, best (lowest) first; ties keep table
    order. Degenerate models (a ``degenerate`` column that is true) take no part."""
    if criterion not in criteria.CRITERIA:
        raise PipelineInputError(f"selection.criterion is {criterion!r}; expected one of {criteria.CRITERIA}")
    column = criteria.column(criterion)
    eligible = table[column].notna()
    if "degenerate" in table:
        eligible &= ~table["degenerate"].astype(bool)
    return table[eligible].sort_values(column, kind="stable")


def choose(table, criterion):
    """Return the row of ``table`` with the lowest ``criterion`` (first one on a tie)."""
    order = ranked(table, criterion)
    if order.empty:
        raise PipelineInputError(f"no model has a value of {criterion}: every start of every model failed")
    return order.iloc[0]


def _frequency(frequencies, criterion, model):
    """Selection frequency of ``model`` by ``criterion`` per kind of replicate."""
    if frequencies is None or criterion not in criteria.START_CRITERIA:
        return None
    result = {}
    for resampling, group in frequencies[frequencies["criterion"] == criterion].groupby("resampling"):
        match = group[
            (group["covariance_type"] == model["covariance_type"])
            & (group["n_components"] == model["n_components"])
        ]
        result[resampling] = float(match["frequency"].sum())
    return result or None


def _choice(table, criterion, model, frequencies):
    """A model with its criterion value, the best other model and the gap to it."""
    column = criteria.column(criterion)
    order = ranked(table, criterion)
    is_model = (order["covariance_type"] == model["covariance_type"]) & (
        order["n_components"] == model["n_components"]
    )
    value = order.loc[is_model, column]
    others = order[~is_model]
    entry = dict(model)
    entry["value"] = float(value.iloc[0]) if len(value) else None
    entry["runner_up"] = None
    entry["gap_to_runner_up"] = None
    if len(others):
        runner_up = others.iloc[0]
        entry["runner_up"] = _model(runner_up) | {"value": float(runner_up[column])}
        if entry["value"] is not None:
            entry["gap_to_runner_up"] = float(runner_up[column]) - entry["value"]
    entry["selection_frequency"] = _frequency(frequencies, criterion, model)
    return entry


def select_model(table, *, criterion, pinned=None, dataset="", frequencies=None, inits=None):
    """Decide which model later steps use, and say how clear and how stable the choice is.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`criteria_table`.
    criterion : {"bic", "aic", "icl", "cv_nll"}
        Criterion that chooses the model when none is pinned.
    pinned : dict, optional
        ``{"covariance_type", "n_components"}`` from ``datasets.<name>.model``; when given,
        it is used instead of the criterion's choice.
    dataset : str
        Name used in messages.
    frequencies : DataFrame, optional
        Output of :func:`gmm_pipeline.stages.assess_stability.selection_frequencies`.
    inits : DataFrame, optional
        Output of :func:`init_comparison`; adds each method's own choice.

    Returns
    -------
    selection : dict
        ``by_criterion``: for each criterion its model, ``value``, ``runner_up``,
        ``gap_to_runner_up`` (runner-up minus chosen, so at least 0) and
        ``selection_frequency`` per kind of replicate (None for ``cv_nll``, which is not
        refitted on replicates). ``chosen``: the model used downstream, the same fields for
        ``criterion`` and the reason. ``not_converged``: models whose best start did not
        converge, with the warning. ``excluded_degenerate``: models whose every start is
        degenerate, with the reason; no criterion chooses them. ``by_init_params``: each initialisation method's BIC
        choice (overall and per covariance type) when only its starts count, and for how
        many models it reached the best optimum.
    """
    by_criterion = {}
    for name in criteria.CRITERIA:
        if ranked(table, name).empty:
            by_criterion[name] = None
            continue
        by_criterion[name] = _choice(table, name, _model(choose(table, name)), frequencies)

    if pinned:
        match = table[
            (table["covariance_type"] == pinned["covariance_type"])
            & (table["n_components"] == pinned["n_components"])
        ]
        if match.empty:
            raise PipelineInputError(
                f"datasets.{dataset}.model asks for {pinned}, but that model was not fitted "
                f"(or every start failed); it must be in fit.covariance_types and fit.n_components"
            )
        chosen = _choice(table, criterion, _model(match.iloc[0]), frequencies)
        reason = f"pinned by datasets.{dataset}.model"
    else:
        if by_criterion[criterion] is None:
            raise PipelineInputError(f"selection.criterion is {criterion!r}, but no model has a value of it")
        chosen, reason = by_criterion[criterion], f"lowest {criterion}"

    selection = {
        "dataset": dataset,
        "criterion": criterion,
        "sign_convention": f"{criteria.SIGN_CONVENTION} for {', '.join(criteria.CRITERIA)}",
        "chosen": chosen | {"criterion": criterion, "reason": reason},
        "by_criterion": by_criterion,
        "not_converged": [
            _model(row) | {"warnings": row["warnings"]}
            for _, row in table[~table["converged"].astype(bool)].iterrows()
        ],
        # As mclust gives singular fits no BIC: every start degenerate, so no criterion
        # may choose the model.
        "excluded_degenerate": [
            _model(row) | {"reason": row["degenerate_reason"]}
            for _, row in table[table["degenerate"].astype(bool)].iterrows()
        ],
    }
    if inits is not None:
        selection["by_init_params"] = _choices_by_init(inits)
    return selection


def _choices_by_init(inits):
    """Per initialisation method: its BIC choice overall and within each covariance type,
    and for how many models it reached the best optimum any method found."""
    result = {}
    for method, group in inits.groupby("init_params", sort=True):
        best = choose(group, "bic")
        result[method] = {
            "bic_choice": _model(best) | {"bic": float(best[criteria.column("bic")])},
            "bic_choice_by_covariance_type": {
                covariance_type: int(choose(rows, "bic")["n_components"])
                for covariance_type, rows in group.groupby("covariance_type", sort=True)
            },
            "models_reaching_best_optimum": int(group["reaches_best_optimum"].sum()),
            "models": int(len(group)),
        }
    return result


def agreement_with_truth(model, X, labels):
    """Adjusted Rand index and normalized mutual information of ``model.predict(X)`` vs ``labels``."""
    predicted = model.predict(X)
    return {
        "adjusted_rand_index": float(adjusted_rand_score(labels, predicted)),
        "normalized_mutual_info": float(normalized_mutual_info_score(labels, predicted)),
    }


def _read_tables(paths, columns=None):
    """Concatenate the CSV tables at ``paths``; an empty table with ``columns`` if there are none."""
    if not paths:
        return pd.DataFrame(columns=columns)
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def select_to_files(
    *,
    data_path,
    meta_path,
    starts_path,
    models_path,
    folds_paths,
    replicates_paths,
    criterion,
    pinned,
    tolerance,
    dataset,
    outputs,
):
    """Build every selection table, choose the model and copy it to ``outputs["model"]``.

    ``outputs`` maps ``starts``, ``criteria``, ``init_comparison``, ``stability``,
    ``selection`` and ``model`` to paths.
    """
    data = load_dataset(data_path, meta_path)
    starts = _read_tables([starts_path])
    table = criteria_table(starts, _read_tables(folds_paths, FOLD_COLUMNS), tolerance=tolerance)
    inits = init_comparison(starts, tolerance=tolerance)
    frequencies = selection_frequencies(_read_tables(replicates_paths, REPLICATE_COLUMNS))
    selection = select_model(
        table, criterion=criterion, pinned=pinned, dataset=dataset, frequencies=frequencies, inits=inits
    )

    models = {(model.covariance_type, model.n_components): model for model in load_models(models_path)}
    if data.truth is not None:
        for entry in [selection["chosen"], *filter(None, selection["by_criterion"].values())]:
            model = models[(entry["covariance_type"], entry["n_components"])]
            entry["agreement_with_truth"] = agreement_with_truth(model, data.X, data.truth)
    if data.truth_note is not None:
        selection["agreement_note"] = data.truth_note

    chosen = selection["chosen"]
    save_model(outputs["model"], models[(chosen["covariance_type"], chosen["n_components"])])
    write_csv(outputs["starts"], starts)
    write_csv(outputs["criteria"], table)
    write_csv(outputs["init_comparison"], inits)
    write_csv(outputs["stability"], frequencies)
    write_json(outputs["selection"], selection)
    return selection
