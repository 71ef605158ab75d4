"""Step 5: anomalies as the points of lowest density under the chosen model."""

import numpy as np
import pandas as pd

from .artifacts import write_csv, write_json
from .datasets import load_dataset
from .model_io import load_model


def density_anomalies(model, X, percentile):
    """Flag the points whose log-density falls below a percentile of all log-densities.

    Parameters
    ----------
    model : fitted GaussianMixture
    X : ndarray of shape (n_samples, n_features)
    percentile : float in (0, 100)

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


def extract_to_files(*, data_path, meta_path, model_path, percentile,
                     scores_path, anomalies_path, summary_path):
    """Score every point, write all scores, the anomalies and a summary."""
    dataset = load_dataset(data_path, meta_path)
    model = load_model(model_path)
    log_density, threshold, is_anomaly = density_anomalies(model, dataset.X, percentile)
    scores = pd.DataFrame(dataset.X, columns=dataset.features)
    scores.insert(0, "row", np.arange(dataset.n_samples))
    if dataset.labels is not None:
        scores["label"] = dataset.labels
    scores["log_density"] = log_density
    scores["is_anomaly"] = is_anomaly
    write_csv(scores_path, scores)
    write_csv(anomalies_path, scores[is_anomaly].drop(columns="is_anomaly"))
    write_json(summary_path, {
        "dataset": dataset.name,
        "model": {"covariance_type": model.covariance_type, "n_components": int(model.n_components)},
        "percentile": percentile,
        "log_density_threshold": threshold,
        "n_samples": int(dataset.n_samples),
        "n_anomalies": int(is_anomaly.sum()),
    })
    return scores
