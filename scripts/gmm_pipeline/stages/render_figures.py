"""Rule render_figures: the report's figures of one dataset: model, selection criteria,
stability, uncertainty, anomalies, Bayesian weights and the merged clusters."""

import textwrap

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.cluster.hierarchy import dendrogram  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ..files.artifacts import read_json  # noqa: E402
from ..files.figure_files import save_figure  # noqa: E402
from ..files.model_io import load_model  # noqa: E402
from ..files.summary_columns import SCORE_COLUMNS  # noqa: E402
from ..maths import criteria  # noqa: E402
from ..maths.covariance_models import OTHER_MODELS  # noqa: E402
from ..maths.merging import MergeStep, linkage_matrix  # noqa: E402
from .prepare_data import load_dataset  # noqa: E402

COVARIANCE_COLORS = {"full": "tab:blue", "tied": "tab:orange", "diag": "tab:green", "spherical": "tab:red"}
# mclust's other ten models, each its own colour after scikit-learn's four.
COVARIANCE_COLORS |= dict(
    zip(
        OTHER_MODELS,
        [
            "tab:purple",
            "tab:brown",
            "tab:pink",
            "tab:gray",
            "tab:olive",
            "tab:cyan",
            "navy",
            "gold",
            "lime",
            "teal",
        ],
        strict=True,
    )
)


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
        xx, yy = np.meshgrid(
            np.linspace(lows[0], highs[0], grid_resolution), np.linspace(lows[1], highs[1], grid_resolution)
        )
        grid = np.column_stack([xx.ravel(), yy.ravel()])
        log_density = model.score_samples(grid).reshape(xx.shape)
        # Below the lowest-scoring data point the contours would only show empty space.
        floor = model.score_samples(X).min() - 2.0
        levels = np.linspace(floor, log_density.max(), 15)
        filled = ax.contourf(
            xx, yy, np.clip(log_density, floor, None), levels=levels, cmap="viridis", alpha=0.6
        )
        ax.figure.colorbar(filled, ax=ax, label="log-density (score_samples)")
        labels = model.predict(grid).reshape(xx.shape)
        ax.contour(
            xx,
            yy,
            labels,
            levels=np.arange(model.n_components) + 0.5,
            colors="r",
            linestyles="dashed",
            linewidths=1.5,
        )
        points, means, axis_names = X, model.means_, ("x0", "x1")
        ax.scatter(points[:, 0], points[:, 1], s=4, c="k", alpha=0.6)
    else:
        # Principal axes of the data; the model's means go through the same map.
        points, project, axis_names = projection(X)
        means = project(model.means_)
        ax.scatter(points[:, 0], points[:, 1], s=4, c=model.predict(X), cmap="tab10", alpha=0.6)

    ax.scatter(points[is_anomaly, 0], points[is_anomaly, 1], marker="*", s=60, c="r", label="anomalies")
    ax.scatter(means[:, 0], means[:, 1], marker="x", s=80, c="w", linewidths=3, zorder=5)
    ax.scatter(means[:, 0], means[:, 1], marker="x", s=60, c="k", linewidths=1.5, zorder=6, label="means")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.legend(loc="upper right")


def plot_criteria(axes, table, selection):
    """One panel per criterion against k, a line per covariance type, the choices marked.

    The band around each line spans the criterion over the model's starts (best to worst
    seed); for ``cv_nll`` it is plus or minus one standard deviation over the folds.
    Degenerate models (every start degenerate, excluded from the choice) are drawn as
    red crosses off the lines.
    """
    degenerate = (
        table["degenerate"].astype(bool) if "degenerate" in table else pd.Series(False, index=table.index)
    )
    chosen = selection["chosen"]
    for ax, criterion in zip(np.ravel(axes), criteria.CRITERIA, strict=True):
        column = criteria.column(criterion)
        if table[column].isna().all():
            ax.text(
                0.5, 0.5, f"{criterion}: not computed\n(switched off in the config)", ha="center", va="center"
            )
            ax.set_axis_off()
            continue
        for covariance_type, color in COVARIANCE_COLORS.items():
            rows = table[(table["covariance_type"] == covariance_type) & table[column].notna() & ~degenerate]
            if rows.empty:
                continue
            ax.plot(
                rows["n_components"],
                rows[column],
                marker="o",
                markersize=3,
                color=color,
                label=covariance_type,
            )
            if criterion == "cv_nll":
                low = rows[column] - rows["cv_nll_fold_std"]
                high = rows[column] + rows["cv_nll_fold_std"]
            else:
                low, high = rows[column], rows[f"{criterion}_worst_over_starts"]
            ax.fill_between(rows["n_components"], low, high, color=color, alpha=0.2, linewidth=0)
        excluded = table[degenerate & table[column].notna()]
        if len(excluded):
            ax.scatter(
                excluded["n_components"],
                excluded[column],
                marker="x",
                s=60,
                c="red",
                zorder=5,
                label="degenerate (excluded)",
            )
        best = selection["by_criterion"].get(criterion)
        if best is not None:
            ax.scatter(
                [best["n_components"]],
                [best["value"]],
                s=150,
                facecolors="none",
                edgecolors="k",
                linewidths=2,
                zorder=5,
                label=f"lowest {criterion}",
            )
        used = table[
            (table["covariance_type"] == chosen["covariance_type"])
            & (table["n_components"] == chosen["n_components"])
        ]
        ax.scatter(
            used["n_components"],
            used[column],
            marker="*",
            s=180,
            c="gold",
            edgecolors="k",
            zorder=6,
            label="model used downstream",
        )
        ax.set_xlabel("number of components k")
        ax.set_ylabel(criteria.describe(criterion), fontsize="small")
        ax.set_xticks(sorted(table["n_components"].unique()))
        ax.legend(fontsize="x-small")


def plot_selection_frequency(fig, frequencies, covariance_types, n_components):
    """Heat maps of how often each (covariance type, k) is chosen, per criterion and replicate kind."""
    kinds = sorted(frequencies["resampling"].unique())
    if not kinds:
        ax = fig.add_subplot()
        ax.text(
            0.5, 0.5, "no stability replicates configured\n(selection.stability)", ha="center", va="center"
        )
        ax.set_axis_off()
        return
    ks = sorted(n_components)
    axes = fig.subplots(len(kinds), len(criteria.START_CRITERIA), squeeze=False)
    for row, kind in enumerate(kinds):
        for col, criterion in enumerate(criteria.START_CRITERIA):
            ax = axes[row, col]
            grid = np.zeros((len(covariance_types), len(ks)))
            rows = frequencies[(frequencies["resampling"] == kind) & (frequencies["criterion"] == criterion)]
            for _, entry in rows.iterrows():
                grid[covariance_types.index(entry["covariance_type"]), ks.index(entry["n_components"])] = (
                    entry["frequency"]
                )
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="Blues", aspect="auto")
            for (i, j), value in np.ndenumerate(grid):
                if value > 0:
                    ax.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize="x-small",
                        color="w" if value > 0.6 else "k",
                    )
            n_replicates = int(rows["n_replicates"].max()) if len(rows) else 0
            ax.set_title(
                f"{criterion.upper()}, {kind.replace('_', ' ')} ({n_replicates} replicates)", fontsize="small"
            )
            ax.set_xticks(range(len(ks)), [str(k) for k in ks])
            ax.set_yticks(range(len(covariance_types)), covariance_types)
            ax.set_xlabel("number of components k")
    fig.colorbar(image, ax=axes, label="selection frequency")


def projection(X):
    """Two plotting axes for ``X``: itself when 2-D, else its first two principal components.

    Returns the projected points, the function that projects other points the same way,
    and the axis names.
    """
    if X.shape[1] == 2:
        return X, lambda Y: Y, ("x0", "x1")
    centre = X.mean(axis=0)
    _, _, components = np.linalg.svd(X - centre, full_matrices=False)
    project = lambda Y: (Y - centre) @ components[:2].T  # noqa: E731
    return project(X), project, ("principal component 1", "principal component 2")


def plot_uncertainty(ax, model, X):
    """Classification uncertainty, 1 minus the largest ``predict_proba``, of every point.

    Points are coloured and sized by their uncertainty (mclust's uncertainty plot); data
    with more than two features is shown on its first two principal components.
    """
    uncertainty = 1.0 - model.predict_proba(X).max(axis=1)
    if X.shape[1] == 1:
        ax.scatter(X[:, 0], uncertainty, s=6, c=uncertainty, cmap="magma_r", vmin=0)
        ax.set_xlabel("x0")
        ax.set_ylabel("uncertainty (1 - max predict_proba)")
        return uncertainty
    points, _, axis_names = projection(X)
    order = np.argsort(uncertainty)  # most uncertain on top
    sizes = 4 + 80 * uncertainty[order] / max(uncertainty.max(), 1e-12)
    scatter = ax.scatter(
        points[order, 0], points[order, 1], s=sizes, c=uncertainty[order], cmap="magma_r", vmin=0
    )
    ax.figure.colorbar(scatter, ax=ax, label="uncertainty (1 - max predict_proba)")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    return uncertainty


def plot_score_histogram(ax, scores, threshold):
    """Histogram of the log-densities, the threshold marked, true anomalies apart where known."""
    bins = np.histogram_bin_edges(scores["log_density"], bins=50)
    if "is_outlier" in scores:
        truth = scores["is_outlier"].to_numpy(dtype=bool)
        ax.hist(
            scores.loc[~truth, "log_density"], bins=bins, color="tab:blue", alpha=0.7, label="normal (truth)"
        )
        ax.hist(
            scores.loc[truth, "log_density"], bins=bins, color="tab:red", alpha=0.7, label="anomaly (truth)"
        )
    else:
        ax.hist(scores["log_density"], bins=bins, color="tab:blue", alpha=0.7, label="all points")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("log-density under the model (score_samples; lower is more anomalous)")
    ax.set_ylabel("points")
    ax.legend(fontsize="small")


def plot_detector_curves(axes, scores):
    """ROC and precision-recall curves of every detector's score against the truth: on the
    held-out test rows when the scores have them (``heldout_*`` columns), else on all rows."""
    if "is_outlier" not in scores:
        for ax in axes:
            ax.text(
                0.5, 0.5, "no ground truth:\nno injected outliers or outlier_labels", ha="center", va="center"
            )
            ax.set_axis_off()
        return
    prefix = "heldout_" if "split" in scores else ""
    if prefix:
        scores = scores[scores["split"] == "test"]
    truth = scores["is_outlier"].to_numpy(dtype=bool)
    for name, column in SCORE_COLUMNS.items():
        values = scores[prefix + column].to_numpy()
        # The mixture's score is minus the log-density; the others are stored as scores.
        score = -values if name == "gmm" else values
        fpr, tpr, _ = roc_curve(truth, score)
        precision, recall, _ = precision_recall_curve(truth, score)
        axes[0].plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(truth, score):.3f})")
        axes[1].plot(recall, precision, label=f"{name} (AP {average_precision_score(truth, score):.3f})")
    axes[0].plot([0, 1], [0, 1], color="0.6", linestyle=":")
    axes[0].set_xlabel("false positive rate")
    axes[0].set_ylabel("true positive rate")
    axes[0].set_title("ROC")
    axes[1].axhline(truth.mean(), color="0.6", linestyle=":", label=f"chance ({truth.mean():.3f})")
    axes[1].set_xlabel("recall")
    axes[1].set_ylabel("precision")
    axes[1].set_title("precision-recall")
    for ax in axes:
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


def shown_rows(n_samples, max_points, seed=0):
    """Rows drawn in scatter plots: all of them, or a seeded sample of ``max_points``.

    A million-point scatter is slow to draw and shows nothing but ink; the density
    contours and histograms still use every point.
    """
    if n_samples <= max_points:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(seed).choice(n_samples, size=max_points, replace=False))


def render_to_files(*, inputs, params, outputs):
    """Render the figures of one dataset.

    ``inputs`` maps ``data``, ``meta``, ``model``, ``scores``, ``anomaly_summary``,
    ``criteria``, ``selection``, ``stability``, ``weights``, ``bayes_summary``, ``merges``,
    ``cluster_labels`` and ``cluster_summary`` to paths; ``outputs`` maps ``model``,
    ``criteria``, ``stability``, ``uncertainty``, ``anomaly_scores``, ``anomaly_curves``,
    ``weights`` and :data:`CLUSTER_OUTPUTS` to the PNG paths.
    """
    dataset = load_dataset(inputs["data"], inputs["meta"])
    model = load_model(inputs["model"])
    scores = pd.read_csv(inputs["scores"])
    is_anomaly = scores["is_anomaly"].to_numpy(dtype=bool)
    anomaly_summary = read_json(inputs["anomaly_summary"])
    selection = read_json(inputs["selection"])
    table = pd.read_csv(inputs["criteria"])
    title = f"{dataset.name}: {model.covariance_type} covariance, k = {model.n_components}"
    dpi = params["dpi"]

    shown = shown_rows(dataset.n_samples, params["max_points"])
    sample_note = (
        "" if len(shown) == dataset.n_samples else f"\n({len(shown):,} of {dataset.n_samples:,} points drawn)"
    )

    fig, ax = plt.subplots(figsize=(8, 6))
    plot_model(ax, model, dataset.X[shown], is_anomaly[shown], grid_resolution=params["grid_resolution"])
    ax.set_title(f"{title}, {int(is_anomaly.sum())} anomalies{sample_note}")
    save_figure(fig, outputs["model"], dpi)

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    plot_criteria(axes, table, selection)
    fig.suptitle(f"{dataset.name}: model selection (every criterion: lower is better)")
    fig.tight_layout()
    save_figure(fig, outputs["criteria"], dpi)

    fig = plt.figure(figsize=(13, 6), layout="constrained")
    covariance_types = [c for c in COVARIANCE_COLORS if c in set(table["covariance_type"])]
    plot_selection_frequency(
        fig, pd.read_csv(inputs["stability"]), covariance_types, table["n_components"].unique()
    )
    fig.suptitle(f"{dataset.name}: how often each model is chosen over replicates")
    save_figure(fig, outputs["stability"], dpi)

    fig, ax = plt.subplots(figsize=(8, 6))
    uncertainty = plot_uncertainty(ax, model, dataset.X[shown])
    ax.set_title(f"{title}: classification uncertainty, mean {uncertainty.mean():.3f}{sample_note}")
    save_figure(fig, outputs["uncertainty"], dpi)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    plot_score_histogram(ax, scores, anomaly_summary["log_density_threshold"])
    ax.set_title(
        f"{dataset.name}: {int(is_anomaly.sum())} anomalies, threshold by {anomaly_summary['threshold_rule']}",
        fontsize="medium",
    )
    fig.tight_layout()
    save_figure(fig, outputs["anomaly_scores"], dpi)

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    plot_detector_curves(axes, scores)
    where = "held-out test rows" if "split" in scores else "all rows"
    fig.suptitle(f"{dataset.name}: anomaly detectors against the truth ({where})")
    fig.tight_layout()
    save_figure(fig, outputs["anomaly_curves"], dpi)

    fig, ax = plt.subplots(figsize=(7, 4))
    threshold = read_json(inputs["bayes_summary"])["weight_threshold"]
    plot_bayes_weights(ax, pd.read_csv(inputs["weights"]), threshold)
    fig.suptitle(f"{dataset.name}: BayesianGaussianMixture weights")
    fig.tight_layout()
    save_figure(fig, outputs["weights"], dpi)
    _render_cluster_figures(dataset, shown, inputs=inputs, params=params, outputs=outputs)


# The figures of the component merging (:mod:`gmm_pipeline.stages.merge_components`): the
# merged clusters over the data, what the stopping rule judged each merge by, and the merge tree.
CLUSTER_OUTPUTS = ("clusters", "merge_rule", "merge_tree")
# Each rule's values per merge, drawn against its threshold: (column, threshold key, axis label).
RULE_PANELS = {
    "valley": [
        ("dip_p_value", "significance", "dip test p-value"),
        ("density_ratio", "density_ratio", "density between / lower peak"),
    ],
    **{
        method: [("score", "cutoff", f"{method} score")]
        for method in ("bhattacharyya", "ridgeline", "misclassification")
    },
}


def plot_clusters(ax, X, labels, n_clusters):
    """The points coloured by merged cluster (in 2-D, or their first two principal components)."""
    points, _, axis_names = projection(X)
    colors = plt.get_cmap("tab10" if n_clusters <= 10 else "tab20")
    for cluster in range(1, n_clusters + 1):
        chosen = labels == cluster
        ax.scatter(*points[chosen].T, s=6, color=colors((cluster - 1) % colors.N), label=f"cluster {cluster}")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if n_clusters <= 12:
        ax.legend(fontsize="small", markerscale=2)


def plot_merge_rule(axes, merges, summary):
    """Entropy against the number of clusters (with mclust's elbow lines under the elbow
    rule), then each merge's values under the rule against its thresholds: allowed merges
    green, refused red. The elbow rule's second panel is the entropy each merge removed."""
    ordered = merges.sort_values("n_clusters")
    counts, entropy = ordered["n_clusters"].to_numpy(), ordered["entropy"].to_numpy()
    rule, chosen = summary["rule"], summary["n_clusters"]
    axes[0].plot(counts, entropy, "o-", color="tab:blue")
    if rule.get("elbow_lines"):
        for piece, line in zip(
            (counts[counts <= chosen], counts[counts >= chosen]), rule["elbow_lines"], strict=True
        ):
            axes[0].plot(piece, line["slope"] * piece + line["intercept"], "--", color="tab:red")
    axes[0].axvline(chosen, color="0.5", linestyle=":", label=f"chosen: {chosen} clusters")
    axes[0].set_xlabel("number of clusters")
    axes[0].set_ylabel("classification entropy")
    axes[0].legend(fontsize="small")
    merged = ordered[ordered["n_clusters"] < ordered["n_clusters"].max()]
    if rule["name"] == "elbow":
        axes[1].bar(merged["n_clusters"], merged["entropy_decrease"], color="tab:blue")
        axes[1].set_ylabel("entropy removed by the merge")
    else:
        colours = np.where(merged["allowed"].astype(str) == "True", "tab:green", "tab:red")
        for ax, (column, threshold, label) in zip(axes[1:], RULE_PANELS[rule["name"]], strict=True):
            values = merged[column].to_numpy(dtype=float)
            if rule["name"] == "valley":  # p-values and ratios near 0 matter: a log axis
                ax.set_yscale("log")
                values = np.maximum(values, 1e-4)  # 0 drawn at the axis floor
                ax.set_ylim(1e-4 / 1.5, 1.5)
            ax.bar(merged["n_clusters"], values, color=colours)
            ax.axhline(rule[threshold], color="0.3", linestyle="--")
            ax.set_ylabel(label)
            ax.set_title(f"dashed: {threshold} {rule[threshold]:g}", fontsize="small")
    for ax in axes:
        ax.set_xticks(counts)
    for ax in axes[1:]:
        ax.set_xlabel("number of clusters after the merge")


def merge_steps(summary):
    """The hierarchy of ``summary.json`` as :class:`~gmm_pipeline.maths.merging.MergeStep` records."""
    return [
        MergeStep(
            step["n_clusters"],
            step["clusters"],
            None if step["joined"] is None else tuple(step["joined"]),
            step["entropy"],
        )
        for step in summary["hierarchy"]
    ]


def plot_merge_tree(ax, summary):
    """The merge tree, components as leaves, heights ``1 - normalised entropy`` (mclust's
    ``combiTree``)."""
    steps = merge_steps(summary)
    if len(steps) < 2:
        ax.text(0.5, 0.5, "one component: nothing to merge", ha="center", va="center")
        ax.set_axis_off()
        return
    tree = linkage_matrix(steps)
    dendrogram(
        tree,
        ax=ax,
        labels=[str(k + 1) for k in range(steps[0].n_clusters)],
        color_threshold=0,
        above_threshold_color="0.3",
    )
    # The rule's cut: between the last merge it took and the first it refused.
    taken = steps[0].n_clusters - summary["n_clusters"]
    if taken < len(tree):
        low = tree[taken - 1, 2] if taken > 0 else 0.0
        ax.axhline(
            (low + tree[taken, 2]) / 2,
            color="tab:red",
            linestyle="--",
            label=f"{summary['n_clusters']} clusters",
        )
        ax.legend(fontsize="small")
    ax.set_xlabel("component")
    ax.set_ylabel("1 - normalised entropy")


def _render_cluster_figures(dataset, shown, *, inputs, params, outputs):
    """Draw the three merging figures of ``dataset`` (its rows ``shown`` in scatter plots).

    ``inputs`` maps ``merges``, ``cluster_labels`` and ``cluster_summary`` to paths;
    ``outputs`` maps :data:`CLUSTER_OUTPUTS` to PNG paths.
    """
    merges = pd.read_csv(inputs["merges"])
    labels = pd.read_csv(inputs["cluster_labels"])
    summary = read_json(inputs["cluster_summary"])
    model = summary["model"]
    title = (
        f"{dataset.name}: {model['n_components']} {model['covariance_type']} components "
        f"({model['criterion']}) merged into {summary['n_clusters']} clusters"
    )
    agreement = summary["agreement_with_truth"]
    note = "" if agreement is None else f", ARI {agreement['at_chosen']['adjusted_rand_index']:.3f}"

    fig, ax = plt.subplots(figsize=(8, 6))
    plot_clusters(ax, dataset.X[shown], labels["cluster"].to_numpy()[shown], summary["n_clusters"])
    ax.set_title(f"{title}{note}\n({summary['rule']['name']} rule)", fontsize="medium")
    save_figure(fig, outputs["clusters"], params["dpi"])

    rule = summary["rule"]
    n_panels = 1 + max(1, len(RULE_PANELS.get(rule["name"], [])))
    fig, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 4.8))
    plot_merge_rule(axes, merges, summary)
    why = textwrap.fill(f"stopped at {summary['n_clusters']}: {summary['stopped_because']}", 150)
    fig.suptitle(f"{dataset.name}: merging by the {rule['name']} rule\n{why}", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, outputs["merge_rule"], params["dpi"])

    fig, ax = plt.subplots(figsize=(8, 5))
    plot_merge_tree(ax, summary)
    ax.set_title(f"{dataset.name}: merge tree", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, outputs["merge_tree"], params["dpi"])
