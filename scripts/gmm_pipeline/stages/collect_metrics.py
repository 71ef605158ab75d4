"""A dataset's results as numbers to tabulate and compare across runs and sweep points.

Read from the artifacts a run already wrote (the selection record, the Bayesian summary,
the detector table, the fitted starts), so a summary is a view of the results, never a
second computation of them. ``flat_metrics`` writes them as one flat JSON object of
numbers, the form ``dvc metrics diff`` reads and :mod:`gmm_pipeline.records.compare` compares.
"""

import math

import pandas as pd

from ..files.artifacts import read_json, write_json
from ..files.summary_columns import CRITERION_COLUMNS, DETECTOR_COLUMNS

# Numbers that are not results: a wall-clock time differs on every run.
NOT_METRICS = ("fit_seconds",)


def criterion_rows(
    *, selection_path, bayes_summary_path, anomaly_summary_path, cluster_summary_path, starts_path
):
    """One row per selection criterion: the model it chooses and how clearly and stably.

    Parameters
    ----------
    selection_path : path-like
        The dataset's ``selection.json``.
    bayes_summary_path, anomaly_summary_path, cluster_summary_path : path-like
        The Bayesian, anomaly and component-merging steps' ``summary.json``.
    starts_path : path-like
        The dataset's ``starts.csv`` (every fitted start), for the fitting time.

    Returns
    -------
    rows : list of dict
        Keyed by :data:`CRITERION_COLUMNS`. ``downstream`` marks the criterion whose choice
        the anomaly and figure steps use; a missing value (no labels, no refits) is None.
        The merged clusters (``merged_*``) are those of the downstream criterion's model,
        on its row only.
    """
    selection = read_json(selection_path)
    effective_k = read_json(bayes_summary_path)["effective_n_components"]
    n_anomalies = read_json(anomaly_summary_path)["n_anomalies"]
    clusters = read_json(cluster_summary_path)
    merged_agreement = (clusters["agreement_with_truth"] or {}).get("at_chosen") or {}
    fit_seconds = float(pd.read_csv(starts_path, usecols=["fit_seconds"])["fit_seconds"].sum())
    rows = []
    for criterion, choice in selection["by_criterion"].items():
        if choice is None:  # a criterion not computed (cv_nll without cross-validation)
            continue
        runner_up = choice.get("runner_up") or {}
        frequency = choice.get("selection_frequency") or {}
        agreement = choice.get("agreement_with_truth") or {}
        downstream = criterion == selection["criterion"]
        rows.append(
            {
                "criterion": criterion,
                "downstream": downstream,
                "covariance_type": choice["covariance_type"],
                "n_components": choice["n_components"],
                "value": choice["value"],
                "runner_up_covariance_type": runner_up.get("covariance_type"),
                "runner_up_n_components": runner_up.get("n_components"),
                "gap_to_runner_up": choice.get("gap_to_runner_up"),
                "selection_frequency_bootstrap": frequency.get("bootstrap"),
                "selection_frequency_data_seed": frequency.get("data_seed"),
                "adjusted_rand_index": agreement.get("adjusted_rand_index"),
                "normalized_mutual_info": agreement.get("normalized_mutual_info"),
                "bayes_effective_k": effective_k,
                "n_anomalies": n_anomalies,
                "merged_n_clusters": clusters["n_clusters"] if downstream else None,
                "merged_adjusted_rand_index": merged_agreement.get("adjusted_rand_index")
                if downstream
                else None,
                "fit_seconds": round(fit_seconds, 6),
            }
        )
    return rows


def detector_rows(detectors_path):
    """One row per anomaly detector, keyed by :data:`DETECTOR_COLUMNS` (None where the
    dataset has no ground truth to score against)."""
    table = pd.read_csv(detectors_path)
    return [
        {
            column: _number_or_none(row[column]) if column != "detector" else row[column]
            for column in DETECTOR_COLUMNS
        }
        for row in table.to_dict("records")
    ]


def flat_metrics(prefix, criteria, detectors):
    """The rows of one dataset as ``{"<prefix>/<criterion>/<metric>": number}``.

    Only numbers go in (no names, no missing values, no wall-clock times), so every value
    can be diffed; the Bayesian effective k is ``<prefix>/bayes_effective_k`` and each
    detector's scores ``<prefix>/anomalies/<detector>/<metric>``.
    """
    metrics = {}
    for row in criteria:
        for column in CRITERION_COLUMNS:
            if column in ("downstream", "bayes_effective_k", "n_anomalies") or column in NOT_METRICS:
                continue
            _put(metrics, f"{prefix}/{row['criterion']}/{column}", row[column])
    if criteria:
        _put(metrics, f"{prefix}/bayes_effective_k", criteria[0]["bayes_effective_k"])
    for row in detectors:
        for column in DETECTOR_COLUMNS[1:]:
            _put(metrics, f"{prefix}/anomalies/{row['detector']}/{column}", row[column])
    return metrics


def collect_to_file(*, datasets, inputs, metrics_path):
    """Write the configured datasets' :func:`flat_metrics` to one JSON file.

    ``inputs`` maps ``selection``, ``bayes_summary``, ``anomaly_summary``,
    ``cluster_summary``, ``starts`` and ``detectors`` to lists of paths in the order of ``datasets``.
    """
    metrics = {}
    for index, name in enumerate(datasets):
        criteria, detectors = dataset_rows(inputs, index)
        metrics.update(flat_metrics(name, criteria, detectors))
    write_json(metrics_path, dict(sorted(metrics.items())))
    return metrics


def dataset_rows(inputs, index):
    """:func:`criterion_rows` and :func:`detector_rows` of the ``index``-th dataset of
    ``inputs`` (lists of paths by kind, as :func:`collect_to_file` takes them)."""
    criteria = criterion_rows(
        selection_path=inputs["selection"][index],
        bayes_summary_path=inputs["bayes_summary"][index],
        anomaly_summary_path=inputs["anomaly_summary"][index],
        cluster_summary_path=inputs["cluster_summary"][index],
        starts_path=inputs["starts"][index],
    )
    return criteria, detector_rows(inputs["detectors"][index])


def _put(metrics, key, value):
    if isinstance(value, bool):
        metrics[key] = int(value)
    elif isinstance(value, (int, float)) and math.isfinite(value):
        metrics[key] = value


def _number_or_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value
