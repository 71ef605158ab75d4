"""Rule extract_anomalies: anomalies as the points of lowest density under the chosen model, scored against
ground truth where it exists, side by side with a uniform noise component, IsolationForest
and LocalOutlierFactor.

Every detector gives an anomaly score, higher meaning more anomalous: minus the log-density
for the mixture, the log-likelihood ratio of the noise component against the Gaussians for
the mixture with noise (:mod:`gmm_pipeline.maths.noise`; it ranks rows as the noise posterior
does, without the posterior's ties at 1 or 0), minus ``score_samples`` for
IsolationForest, minus the ``negative_outlier_factor_`` for LocalOutlierFactor. The
mixture flags the points below its log-density threshold; the other detectors flag the
same number of points (their highest scores), so precision and recall compare detectors
at one alert budget. ROC-AUC and average precision judge the scores themselves, at every
threshold.

With ``holdout_fraction``, a dataset with ground truth is split into a fit part and a test
part (stratified by the truth, seeded), as ADBench evaluates: every detector is fitted on
the fit part only (the mixture refitted with the chosen covariance type and k, the noise
mixture and the others fitted anew), its threshold set on the fit part, and it is scored on
the test part. Where anomalies carry a kind (``outlier_kind``), each kind is also scored
on its own against the normal rows.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor

from ..errors import PipelineInputError
from ..files.artifacts import write_csv, write_json
from ..files.model_io import load_model, noise_mixture_to_dict
from ..files.summary_columns import SCORE_COLUMNS
from ..maths.noise import fit_noise_mixture
from .fit_models import conjugate_prior_options, fit_type_grid, grid_settings
from .prepare_data import NORMAL_KIND, load_dataset

DETECTORS = ("gmm", "noise_component", "isolation_forest", "local_outlier_factor")
METRIC_COLUMNS = [
    "detector",
    "evaluated_on",
    "n_rows",
    "n_flagged",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
]
KIND_COLUMNS = ["detector", "kind", "n_anomalies", "n_normal", "recall", "roc_auc", "average_precision"]


def log_density_threshold(
    log_density, *, rule, percentile=4, log_density_value=None, contamination="truth", truth=None
):
    """The log-density below which points are anomalies, and how it was set.

    Parameters
    ----------
    log_density : ndarray
    rule : {"percentile", "log_density", "contamination"}
        ``percentile``: that percentile of ``log_density``. ``log_density``: the fixed value
        ``log_density_value``. ``contamination``: the ``contamination`` quantile, where
        ``"truth"`` means the true anomaly fraction of ``truth``.
    truth : ndarray of bool, optional

    Returns
    -------
    threshold : float
    description : str
    """
    if rule == "log_density":
        return float(log_density_value), f"fixed log-density {log_density_value:g}"
    if rule == "contamination":
        if contamination == "truth":
            if truth is None:
                return (
                    float(np.percentile(log_density, percentile)),
                    f"percentile {percentile:g} (contamination 'truth', but the dataset has no ground truth)",
                )
            contamination = float(np.mean(truth))
            source = "the true anomaly fraction"
        else:
            source = "anomalies.contamination"
        return float(np.quantile(log_density, contamination)), f"contamination {contamination:.4g} ({source})"
    return float(np.percentile(log_density, percentile)), f"percentile {percentile:g}"


def local_outlier_factor_scores(X, *, X_test=None, max_rows=20_000, seed=0):
    """LocalOutlierFactor's score (higher is more anomalous) of every row of ``X``, or of
    ``X_test`` against ``X``.

    Up to ``max_rows`` rows and without ``X_test`` this is the classic LOF of each point
    among all others. Otherwise LOF is fitted on ``X`` (beyond ``max_rows`` rows, on a
    seeded sample of them) and scores the rows (novelty mode): its cost grows with
    ``n x max_rows``, not ``n ** 2``.
    """
    n_neighbors = min(20, len(X) - 1)
    if X_test is None and len(X) <= max_rows:
        return -LocalOutlierFactor(n_neighbors=n_neighbors).fit(X).negative_outlier_factor_
    reference = X
    if len(X) > max_rows:
        reference = X[np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False)]
    detector = LocalOutlierFactor(n_neighbors=n_neighbors, novelty=True).fit(reference)
    target = X if X_test is None else X_test
    # In batches: each query holds its neighbours' distances and indices in memory.
    return np.concatenate(
        [
            -detector.score_samples(target[start : start + max_rows])
            for start in range(0, len(target), max_rows)
        ]
    )


def detector_scores(model, noise_model, X, *, X_test=None, seed=0, max_neighbour_rows=20_000):
    """Anomaly score of every detector (higher is more anomalous) for the rows of ``X``, or
    for ``X_test`` with the detectors fitted on ``X``. ``model`` and ``noise_model`` are
    already fitted (on ``X``)."""
    target = X if X_test is None else X_test
    # Neighbour searches work in chunks; keep each chunk small so memory stays bounded.
    with sklearn.config_context(working_memory=64):
        forest = IsolationForest(random_state=seed).fit(X)
        return {
            "gmm": -model.score_samples(target),
            "noise_component": noise_model.noise_log_likelihood_ratio(target),
            "isolation_forest": -forest.score_samples(target),
            "local_outlier_factor": local_outlier_factor_scores(
                X, X_test=X_test, max_rows=max_neighbour_rows, seed=seed
            ),
        }


def flag_highest(score, n_flagged):
    """The ``n_flagged`` points of highest score (the earlier row first on a tie)."""
    flagged = np.zeros(len(score), dtype=bool)
    flagged[np.argsort(-score, kind="stable")[:n_flagged]] = True
    return flagged


def detector_metrics(truth, score, flagged):
    """Precision, recall and F1 of ``flagged``; ROC-AUC and average precision of ``score``."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, flagged, average="binary", zero_division=0.0
    )
    both_classes = 0 < truth.sum() < len(truth)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": float(roc_auc_score(truth, score)) if both_classes else np.nan,
        "average_precision": float(average_precision_score(truth, score)) if both_classes else np.nan,
    }


def flagged_by_detector(scores, is_anomaly):
    """What each detector flags: the mixture its threshold's points, the others as many."""
    return {
        name: is_anomaly if name == "gmm" else flag_highest(scores[name], int(is_anomaly.sum()))
        for name in DETECTORS
    }


def compare_detectors(scores, is_anomaly, truth, evaluated_on="all"):
    """One row per detector: on which rows, how many it flags and, with ``truth``, how well."""
    rows = []
    for name, flagged in flagged_by_detector(scores, is_anomaly).items():
        row = {
            "detector": name,
            "evaluated_on": evaluated_on,
            "n_rows": len(flagged),
            "n_flagged": int(flagged.sum()),
        }
        if truth is not None:
            row |= detector_metrics(truth, scores[name], flagged)
        rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def compare_by_kind(scores, is_anomaly, kinds):
    """One row per detector and anomaly kind: that kind's anomalies against the normal rows.

    Recall is the share of the kind's anomalies the detector flags at its alert budget;
    ROC-AUC and average precision rank that kind's anomalies among the normal rows only.
    """
    rows = []
    if kinds is None:
        return pd.DataFrame(rows, columns=KIND_COLUMNS)
    normal = kinds == NORMAL_KIND
    flagged = flagged_by_detector(scores, is_anomaly)
    for kind in sorted(set(kinds[~normal])):
        of_kind = kinds == kind
        judged = normal | of_kind
        for name in DETECTORS:
            row = {
                "detector": name,
                "kind": kind,
                "n_anomalies": int(of_kind.sum()),
                "n_normal": int(normal.sum()),
            }
            row["recall"] = float(flagged[name][of_kind].mean())
            truth, score = of_kind[judged], scores[name][judged]
            both = 0 < truth.sum() < len(truth)
            row["roc_auc"] = float(roc_auc_score(truth, score)) if both else np.nan
            row["average_precision"] = float(average_precision_score(truth, score)) if both else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=KIND_COLUMNS)


def holdout_split(truth, *, fraction, seed):
    """Boolean mask of the test rows: ``fraction`` of the rows, stratified by ``truth``."""
    rows = np.arange(len(truth))
    _, test = train_test_split(rows, test_size=fraction, stratify=truth, random_state=seed)
    is_test = np.zeros(len(truth), dtype=bool)
    is_test[test] = True
    return is_test


def fit_noise(X, covariance_type, params, fit_params):
    """The mixture with a noise component over the pipeline's component counts, with the
    fits' EM settings and prior."""
    noise = params.get("noise") or {}
    return fit_noise_mixture(
        X,
        covariance_type=covariance_type,
        n_components=list(fit_params["n_components"]),
        seeds=list(range(noise.get("seeds", 3))),
        initial_fraction=noise.get("initial_fraction", 0.1),
        n_neighbors=noise.get("n_neighbors", 10),
        reg_covar=fit_params.get("reg_covar", 1e-6),
        tol=fit_params.get("tol", 1e-6),
        max_iter=fit_params.get("max_iter", 1000),
        prior=conjugate_prior_options(fit_params.get("prior")),
    )


def refit_model(X, model, fit_params):
    """The chosen covariance type and k refitted on ``X`` with the pipeline's starts."""
    settings = grid_settings(fit_params) | {"n_components": [int(model.n_components)]}
    _, models = fit_type_grid(X, covariance_type=model.covariance_type, criteria_for="best", **settings)
    if not models:
        raise PipelineInputError(
            f"the held-out evaluation could not refit {model.covariance_type} k = {model.n_components} "
            f"on the fit part ({len(X)} rows): every start failed; lower anomalies.holdout_fraction"
        )
    return models[0]


@dataclass
class Evaluation:
    """What the detector comparison is computed from: each detector's scores of the judged
    rows, the mixture's flags, the truth and kinds of those rows, and which rows they are."""

    scores: dict
    is_anomaly: np.ndarray
    truth: np.ndarray | None
    kinds: np.ndarray | None
    evaluated_on: str
    is_test: np.ndarray | None = None
    holdout: dict | None = None


def evaluate_held_out(dataset, model, params, fit_params):
    """Every detector fitted on the fit part of a stratified split and scored on its test
    part; the mixture's threshold set on the fit part by the configured rule."""
    fraction, seed = params["holdout_fraction"], params.get("holdout_seed", 0)
    is_test = holdout_split(dataset.is_outlier, fraction=fraction, seed=seed)
    fit_rows = ~is_test
    X_fit, X_test = dataset.X[fit_rows], dataset.X[is_test]
    fit_model = refit_model(X_fit, model, fit_params)
    fit_noise_model, _ = fit_noise(X_fit, model.covariance_type, params, fit_params)
    scores = detector_scores(
        fit_model,
        fit_noise_model,
        X_fit,
        X_test=X_test,
        seed=params.get("seed", 0),
        max_neighbour_rows=params.get("max_neighbour_rows", 20_000),
    )
    threshold, rule = _threshold(fit_model.score_samples(X_fit), params, dataset.is_outlier[fit_rows])
    return Evaluation(
        scores=scores,
        is_anomaly=-scores["gmm"] < threshold,
        truth=dataset.is_outlier[is_test],
        kinds=dataset.outlier_kind[is_test],
        evaluated_on=f"test part: {int(is_test.sum())} of {dataset.n_samples} rows (holdout_fraction {fraction:g})",
        is_test=is_test,
        holdout={
            "fraction": fraction,
            "seed": seed,
            "n_fit": int(fit_rows.sum()),
            "n_test": int(is_test.sum()),
            "log_density_threshold": threshold,
            "threshold_rule": f"{rule} of the fit part",
        },
    )


def _threshold(log_density, params, truth):
    return log_density_threshold(
        log_density,
        rule=params.get("threshold", "percentile"),
        percentile=params.get("percentile", 4),
        log_density_value=params.get("log_density"),
        contamination=params.get("contamination", "truth"),
        truth=truth,
    )


def extract_to_files(*, data_path, meta_path, model_path, params, fit_params, outputs):
    """Score every point by every detector; write scores, anomalies, the comparisons, the
    noise mixture and a summary.

    ``outputs`` maps ``scores``, ``anomalies``, ``detectors``, ``detectors_by_kind``,
    ``noise_model``, ``noise_fits`` and ``summary`` to paths. ``fit_params`` is the
    ``fit`` section (component counts and EM settings for the noise mixture and refits).
    """
    dataset = load_dataset(data_path, meta_path)
    model = load_model(model_path)
    seed, max_rows = params.get("seed", 0), params.get("max_neighbour_rows", 20_000)
    noise_model, noise_fits = fit_noise(dataset.X, model.covariance_type, params, fit_params)
    scores = detector_scores(model, noise_model, dataset.X, seed=seed, max_neighbour_rows=max_rows)
    log_density = -scores["gmm"]
    threshold, rule = _threshold(log_density, params, dataset.is_outlier)
    is_anomaly = log_density < threshold

    table = pd.DataFrame(dataset.X, columns=dataset.features)
    table.insert(0, "row", np.arange(dataset.n_samples))
    if dataset.labels is not None:
        table["label"] = dataset.labels
    if dataset.is_outlier is not None:
        table["is_outlier"] = dataset.is_outlier
        table["outlier_kind"] = dataset.outlier_kind
    table["log_density"] = log_density
    for name in DETECTORS[1:]:
        table[SCORE_COLUMNS[name]] = scores[name]
    # The posterior itself, for reading: the detector ranks by the ratio, which has no ties.
    table.insert(
        table.columns.get_loc(SCORE_COLUMNS["noise_component"]) + 1,
        "noise_probability",
        noise_model.noise_probability(dataset.X),
    )
    table["is_anomaly"] = is_anomaly

    holdout = params.get("holdout_fraction")
    if holdout and dataset.is_outlier is not None:
        evaluation = evaluate_held_out(dataset, model, params, fit_params)
        table["split"] = np.where(evaluation.is_test, "test", "fit")
        for name in DETECTORS:
            held_out = np.full(dataset.n_samples, np.nan)
            held_out[evaluation.is_test] = (
                -evaluation.scores[name] if name == "gmm" else evaluation.scores[name]
            )
            table[f"heldout_{SCORE_COLUMNS[name]}"] = held_out
    else:
        evaluated_on = "all rows" + (
            "" if dataset.is_outlier is not None or not holdout else " (no ground truth to hold out)"
        )
        evaluation = Evaluation(scores, is_anomaly, dataset.is_outlier, dataset.outlier_kind, evaluated_on)
    comparison = compare_detectors(
        evaluation.scores, evaluation.is_anomaly, evaluation.truth, evaluated_on=evaluation.evaluated_on
    )
    by_kind = compare_by_kind(evaluation.scores, evaluation.is_anomaly, evaluation.kinds)

    write_csv(outputs["scores"], table)
    write_csv(outputs["anomalies"], table[is_anomaly].drop(columns="is_anomaly"))
    write_csv(outputs["detectors"], comparison)
    write_csv(outputs["detectors_by_kind"], by_kind)
    write_json(outputs["noise_model"], noise_mixture_to_dict(noise_model))
    write_csv(outputs["noise_fits"], noise_fits)
    write_json(
        outputs["summary"],
        {
            "dataset": dataset.name,
            "model": {"covariance_type": model.covariance_type, "n_components": int(model.n_components)},
            "threshold_rule": rule,
            "percentile": params.get("percentile", 4),
            "log_density_threshold": threshold,
            "n_samples": int(dataset.n_samples),
            "n_anomalies": int(is_anomaly.sum()),
            "has_ground_truth": dataset.is_outlier is not None,
            "evaluated_on": evaluation.evaluated_on,
            "holdout": evaluation.holdout,
            "noise_component": {
                "covariance_type": noise_model.covariance_type,
                "n_components": noise_model.n_components,
                "noise_weight": noise_model.noise_weight,
                "log_volume": noise_model.log_volume,
                "bic_lower_is_better": noise_model.bic(dataset.X),
            },
            "gmm_scores": None
            if evaluation.truth is None
            else {
                key: (None if pd.isna(value) else value.item() if hasattr(value, "item") else value)
                for key, value in comparison.iloc[0].drop(["detector", "evaluated_on"]).items()
            },
        },
    )
    return table
