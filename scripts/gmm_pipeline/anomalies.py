"""Step 5: anomalies as the points of lowest density under the chosen model, scored against
ground truth where it exists, side by side with IsolationForest and LocalOutlierFactor.

Every detector gives an anomaly score, higher meaning more anomalous: minus the log-density
for the mixture, minus ``score_samples`` for IsolationForest, minus the
``negative_outlier_factor_`` for LocalOutlierFactor. The mixture flags the points below its
log-density threshold; the other detectors flag the same number of points (their highest
scores), so precision and recall compare detectors at one alert budget. ROC-AUC and average
precision judge the scores themselves, at every threshold.
"""

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor

from .artifacts import write_csv, write_json
from .datasets import load_dataset
from .model_io import load_model

DETECTORS = ("gmm", "isolation_forest", "local_outlier_factor")
METRIC_COLUMNS = ["detector", "n_flagged", "precision", "recall", "f1", "roc_auc", "average_precision"]


def density_anomalies(model, X, percentile):
    """Flag the points whose log-density falls below a percentile of all log-densities.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        ``model.score_samples(X)``.
    threshold : float
        ``np.percentile(log_density, percentile)``.
    is_anomaly : ndarray of bool, shape (n_samples,)
        ``log_density < threshold``, as in the notebook.
    """
    log_density = model.score_samples(X)
    threshold = float(np.percentile(log_density, percentile))
    return log_density, threshold, log_density < threshold


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


def local_outlier_factor_scores(X, *, max_rows=20_000, seed=0):
    """LocalOutlierFactor's score of every point (higher is more anomalous).

    Up to ``max_rows`` rows this is the classic LOF of each point among all others. Beyond,
    LOF is fitted on a seeded sample of ``max_rows`` rows and scores every row against it
    (novelty mode): its cost grows with ``n x max_rows``, not ``n ** 2``.
    """
    n_neighbors = min(20, len(X) - 1)
    if len(X) <= max_rows:
        return -LocalOutlierFactor(n_neighbors=n_neighbors).fit(X).negative_outlier_factor_
    sample = np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False)
    detector = LocalOutlierFactor(n_neighbors=n_neighbors, novelty=True).fit(X[sample])
    # In batches: each query holds its neighbours' distances and indices in memory.
    return np.concatenate(
        [-detector.score_samples(X[start : start + max_rows]) for start in range(0, len(X), max_rows)]
    )


def detector_scores(model, X, *, seed=0, max_neighbour_rows=20_000):
    """Anomaly score of every point by every detector (higher is more anomalous)."""
    # Neighbour searches work in chunks; keep each chunk small so memory stays bounded.
    with sklearn.config_context(working_memory=64):
        forest = IsolationForest(random_state=seed).fit(X)
        return {
            "gmm": -model.score_samples(X),
            "isolation_forest": -forest.score_samples(X),
            "local_outlier_factor": local_outlier_factor_scores(X, max_rows=max_neighbour_rows, seed=seed),
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


def compare_detectors(scores, is_anomaly, truth):
    """One row per detector: how many it flags and, with ``truth``, how well."""
    rows = []
    for name in DETECTORS:
        flagged = is_anomaly if name == "gmm" else flag_highest(scores[name], int(is_anomaly.sum()))
        row = {"detector": name, "n_flagged": int(flagged.sum())}
        if truth is not None:
            row |= detector_metrics(truth, scores[name], flagged)
        rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def extract_to_files(*, data_path, meta_path, model_path, params, outputs):
    """Score every point by every detector; write scores, anomalies, the comparison and a summary.

    ``outputs`` maps ``scores``, ``anomalies``, ``detectors`` and ``summary`` to paths.
    """
    dataset = load_dataset(data_path, meta_path)
    model = load_model(model_path)
    scores = detector_scores(
        model,
        dataset.X,
        seed=params.get("seed", 0),
        max_neighbour_rows=params.get("max_neighbour_rows", 20_000),
    )
    log_density = -scores["gmm"]
    threshold, rule = log_density_threshold(
        log_density,
        rule=params.get("threshold", "percentile"),
        percentile=params.get("percentile", 4),
        log_density_value=params.get("log_density"),
        contamination=params.get("contamination", "truth"),
        truth=dataset.is_outlier,
    )
    is_anomaly = log_density < threshold
    comparison = compare_detectors(scores, is_anomaly, dataset.is_outlier)

    table = pd.DataFrame(dataset.X, columns=dataset.features)
    table.insert(0, "row", np.arange(dataset.n_samples))
    if dataset.labels is not None:
        table["label"] = dataset.labels
    if dataset.is_outlier is not None:
        table["is_outlier"] = dataset.is_outlier
    table["log_density"] = log_density
    for name in DETECTORS[1:]:
        table[f"{name}_score"] = scores[name]
    table["is_anomaly"] = is_anomaly
    write_csv(outputs["scores"], table)
    write_csv(outputs["anomalies"], table[is_anomaly].drop(columns="is_anomaly"))
    write_csv(outputs["detectors"], comparison)
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
            "gmm_scores": None
            if dataset.is_outlier is None
            else {
                key: (None if pd.isna(value) else value.item() if hasattr(value, "item") else value)
                for key, value in comparison.iloc[0].drop(["detector"]).items()
            },
        },
    )
    return table
