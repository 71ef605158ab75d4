"""Figures of the component merging (:mod:`gmm_pipeline.stages.clusters`): the merged clusters
over the data, the entropy elbow, and the merge tree."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import dendrogram

from ..files.artifacts import read_json
from ..files.figure_files import save_figure
from ..maths.merging import MergeStep, linkage_matrix
from .datasets import load_dataset
from .figures import projection, shown_rows

OUTPUTS = ("clusters", "entropy", "merge_tree")


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


def plot_entropy(axes, merges, summary):
    """Entropy against the number of clusters with the elbow's two lines; and the entropy
    each merge removed."""
    ordered = merges.sort_values("n_clusters")
    counts, entropy = ordered["n_clusters"].to_numpy(), ordered["entropy"].to_numpy()
    axes[0].plot(counts, entropy, "o-", color="tab:blue")
    chosen = summary["n_clusters"]
    if summary["elbow_lines"]:
        for piece, line in zip(
            (counts[counts <= chosen], counts[counts >= chosen]), summary["elbow_lines"], strict=True
        ):
            axes[0].plot(piece, line["slope"] * piece + line["intercept"], "--", color="tab:red")
    axes[0].axvline(chosen, color="0.5", linestyle=":", label=f"chosen: {chosen} clusters")
    axes[0].set_xlabel("number of clusters")
    axes[0].set_ylabel("classification entropy")
    axes[0].legend(fontsize="small")
    steps = ordered[ordered["n_clusters"] < ordered["n_clusters"].max()]
    axes[1].bar(steps["n_clusters"], steps["entropy_decrease"], color="tab:blue")
    axes[1].set_xlabel("number of clusters after the merge")
    axes[1].set_ylabel("entropy removed by the merge")
    for ax in axes:
        ax.set_xticks(counts)


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
    dendrogram(
        linkage_matrix(steps),
        ax=ax,
        labels=[str(k + 1) for k in range(steps[0].n_clusters)],
        color_threshold=0,
        above_threshold_color="0.3",
    )
    ax.set_xlabel("component")
    ax.set_ylabel("1 - normalised entropy")


def render_to_files(*, inputs, params, outputs):
    """Draw the three merging figures of one dataset.

    ``inputs`` maps ``data``, ``meta``, ``merges``, ``cluster_labels`` and
    ``cluster_summary`` to paths; ``outputs`` maps :data:`OUTPUTS` to PNG paths.
    """
    dataset = load_dataset(inputs["data"], inputs["meta"])
    merges = pd.read_csv(inputs["merges"])
    labels = pd.read_csv(inputs["cluster_labels"])
    summary = read_json(inputs["cluster_summary"])
    model = summary["model"]
    title = (
        f"{dataset.name}: {model['n_components']} {model['covariance_type']} components "
        f"({model['criterion']}) merged into {summary['n_clusters']} clusters"
    )
    shown = shown_rows(dataset.n_samples, params["max_points"])
    agreement = summary["agreement_with_truth"]
    note = "" if agreement is None else f", ARI {agreement['at_chosen']['adjusted_rand_index']:.3f}"

    fig, ax = plt.subplots(figsize=(8, 6))
    plot_clusters(ax, dataset.X[shown], labels["cluster"].to_numpy()[shown], summary["n_clusters"])
    ax.set_title(title + note, fontsize="medium")
    save_figure(fig, outputs["clusters"], params["dpi"])

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_entropy(axes, merges, summary)
    fig.suptitle(f"{dataset.name}: entropy of the merged clusterings")
    fig.tight_layout()
    save_figure(fig, outputs["entropy"], params["dpi"])

    fig, ax = plt.subplots(figsize=(8, 5))
    plot_merge_tree(ax, summary)
    ax.set_title(f"{dataset.name}: merge tree", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, outputs["merge_tree"], params["dpi"])
    return np.asarray(labels["cluster"])
