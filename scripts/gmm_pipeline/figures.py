"""Step 6: figures for the report: model, selection criteria and Bayesian weights."""

import io

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .artifacts import read_json, write_bytes_atomic  # noqa: E402
from .datasets import load_dataset  # noqa: E402
from .model_io import load_model  # noqa: E402

COVARIANCE_COLORS = {"full": "tab:blue", "tied": "tab:orange", "diag": "tab:green", "spherical": "tab:red"}


def _save(fig, path, dpi):
    # Render to memory first so the file appears whole or not at all.
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def plot_model(ax, model, X, is_anomaly, *, grid_resolution=300):
    """Draw data, density contours, decision boundaries, means and anomalies on ``ax``.

    Two-dimensional data gets log-density contours and the boundaries between predicted
    components; one-dimensional data its density curve; higher-dimensional data a
    projection on its first two principal components, coloured by predicted component.
    """
    n_features = X.shape[1]
    if n_features == 1:
        grid = np.linspace(X.min() - 0.1 * np.ptp(X), X.max() + 0.1 * np.ptp(X), grid_resolution)
        ax.plot(grid, np.exp(model.score_samples(grid[:, None])), color="k", label="density")
        ax.plot(X[:, 0], np.zeros(len(X)), "|", color="0.4", alpha=0.5)
        ax.plot(X[is_anomaly, 0], np.zeros(is_anomaly.sum()), "r*", markersize=10, label="anomalies")
        ax.set_xlabel("x0")
        ax.legend(loc="upper right")
        return

    if n_features == 2:
        margin = 0.1 * np.ptp(X, axis=0)
        lows, highs = X.min(axis=0) - margin, X.max(axis=0) + margin
        xx, yy = np.meshgrid(np.linspace(lows[0], highs[0], grid_resolution),
                             np.linspace(lows[1], highs[1], grid_resolution))
        grid = np.column_stack([xx.ravel(), yy.ravel()])
        log_density = model.score_samples(grid).reshape(xx.shape)
        # Below the lowest-scoring data point the contours would only show empty space.
        floor = model.score_samples(X).min() - 2.0
        levels = np.linspace(floor, log_density.max(), 15)
        filled = ax.contourf(xx, yy, np.clip(log_density, floor, None), levels=levels, cmap="viridis", alpha=0.6)
        ax.figure.colorbar(filled, ax=ax, label="log-density (score_samples)")
        labels = model.predict(grid).reshape(xx.shape)
        ax.contour(xx, yy, labels, levels=np.arange(model.n_components) + 0.5, colors="r",
                   linestyles="dashed", linewidths=1.5)
        points, means, axis_names = X, model.means_, ("x0", "x1")
        ax.scatter(points[:, 0], points[:, 1], s=4, c="k", alpha=0.6)
    else:
        # Principal axes of the data, from its SVD; the model's means go through the same map.
        centre = X.mean(axis=0)
        _, _, components = np.linalg.svd(X - centre, full_matrices=False)
        points, means = (X - centre) @ components[:2].T, (model.means_ - centre) @ components[:2].T
        axis_names = ("principal component 1", "principal component 2")
        ax.scatter(points[:, 0], points[:, 1], s=4, c=model.predict(X), cmap="tab10", alpha=0.6)

    ax.scatter(points[is_anomaly, 0], points[is_anomaly, 1], marker="*", s=60, c="r", label="anomalies")
    ax.scatter(means[:, 0], means[:, 1], marker="x", s=80, c="w", linewidths=3, zorder=5)
    ax.scatter(means[:, 0], means[:, 1], marker="x", s=60, c="k", linewidths=1.5, zorder=6, label="means")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.legend(loc="upper right")


def plot_criteria(axes, table, selection):
    """Plot BIC and AIC against k, one line per covariance type, choices marked."""
    for ax, criterion in zip(axes, ("bic", "aic")):
        for covariance_type in COVARIANCE_COLORS:
            rows = table[table["covariance_type"] == covariance_type]
            if rows.empty:
                continue
            ax.plot(rows["n_components"], rows[criterion], marker="o", markersize=3,
                    color=COVARIANCE_COLORS.get(covariance_type), label=covariance_type)
        best = selection["by_criterion"][criterion]
        ax.scatter([best["n_components"]], [best[criterion]], s=150, facecolors="none",
                   edgecolors="k", linewidths=2, zorder=5, label=f"lowest {criterion.upper()}")
        chosen = selection["chosen"]
        used = table[(table["covariance_type"] == chosen["covariance_type"])
                     & (table["n_components"] == chosen["n_components"])]
        ax.scatter(used["n_components"], used[criterion], marker="*", s=180, c="gold",
                   edgecolors="k", zorder=6, label="model used downstream")
        ax.set_xlabel("number of components k")
        ax.set_ylabel(f"{criterion.upper()} (lower is better)")
        ax.set_xticks(sorted(table["n_components"].unique()))
        ax.legend(fontsize="small")


def plot_bayes_weights(ax, weights, threshold):
    """Bar chart of the Bayesian mixture's weights, largest first, kept ones coloured."""
    ordered = weights.sort_values("rank")
    colors = np.where(ordered["kept"], "tab:blue", "0.7")
    ax.bar(np.arange(len(ordered)), ordered["weight"], color=colors)
    ax.axhline(threshold, color="r", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xticks(np.arange(len(ordered)), [str(c) for c in ordered["component"]])
    ax.set_xlabel("component (largest weight first)")
    ax.set_ylabel("weight")
    ax.set_title(f"effective components: {int(ordered['kept'].sum())} of {len(ordered)}")
    ax.legend()


def render_to_files(*, data_path, meta_path, model_path, scores_path, criteria_path,
                    selection_path, weights_path, bayes_summary_path, params,
                    model_figure, criteria_figure, weights_figure):
    """Render the three figures of one dataset."""
    dataset = load_dataset(data_path, meta_path)
    model = load_model(model_path)
    is_anomaly = pd.read_csv(scores_path)["is_anomaly"].to_numpy(dtype=bool)
    selection = read_json(selection_path)
    dpi = params["dpi"]

    fig, ax = plt.subplots(figsize=(8, 6))
    plot_model(ax, model, dataset.X, is_anomaly, grid_resolution=params["grid_resolution"])
    ax.set_title(f"{dataset.name}: {model.covariance_type} covariance, k = {model.n_components}, "
                 f"{int(is_anomaly.sum())} anomalies")
    _save(fig, model_figure, dpi)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_criteria(axes, pd.read_csv(criteria_path), selection)
    fig.suptitle(f"{dataset.name}: model selection")
    fig.tight_layout()
    _save(fig, criteria_figure, dpi)

    fig, ax = plt.subplots(figsize=(7, 4))
    threshold = read_json(bayes_summary_path)["weight_threshold"]
    plot_bayes_weights(ax, pd.read_csv(weights_path), threshold)
    fig.suptitle(f"{dataset.name}: BayesianGaussianMixture weights")
    fig.tight_layout()
    _save(fig, weights_figure, dpi)
