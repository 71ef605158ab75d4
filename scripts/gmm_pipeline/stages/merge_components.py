"""Rule merge_components: clusters from the criterion's chosen mixture, by merging its components
(:mod:`gmm_pipeline.maths.merging`, mclust's ``clustCombi``).

The model merged is the one the dataset's criterion chose (``by_criterion`` in
``selection.json``), also when a pinned model is what the anomaly and figure steps use: a
pinned model reproduces a notebook, the criterion's model is the density fit that merging
is meant for.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ..errors import PipelineInputError
from ..files.artifacts import read_json, write_csv, write_json
from ..files.model_io import load_models
from ..maths.merging import elbow, merge_hierarchy, merged_labels
from .prepare_data import load_dataset

MERGE_COLUMNS = [
    "n_clusters",
    "clusters",
    "joined",
    "entropy",
    "entropy_decrease",
    "adjusted_rand_index",
    "normalized_mutual_info",
    "chosen",
]


def _criterion_model(selection, models_path):
    """The model the dataset's criterion chose, read from the dataset's fits."""
    criterion = selection["criterion"]
    chosen = selection["by_criterion"].get(criterion)
    if chosen is None:
        raise PipelineInputError(
            f"selection.json has no model chosen by {criterion}: every model was excluded"
        )
    covariance_type, k = chosen["covariance_type"], chosen["n_components"]
    for model in load_models(models_path):
        if model.covariance_type == covariance_type and model.n_components == k:
            return model, chosen
    raise PipelineInputError(f"{models_path}: no {covariance_type} model with {k} components")


def _name(members):
    """A cluster's name: its components, 1-based as in mclust's tables (``1+4+7``)."""
    return "+".join(str(k + 1) for k in sorted(members))


def merge_table(steps, predicted_by_step, labels, chosen_count):
    """One row per number of clusters, from the components down to one; each step's
    clusters of every row are ``predicted_by_step``."""
    rows, previous = [], None
    for step, predicted in zip(steps, predicted_by_step, strict=True):
        row = {
            "n_clusters": step.n_clusters,
            "clusters": " ".join(_name(c) for c in step.clusters),
            "joined": ""
            if step.joined is None
            else f"{_name(previous.clusters[step.joined[0]])} & {_name(previous.clusters[step.joined[1]])}",
            "entropy": step.entropy,
            "entropy_decrease": np.nan if previous is None else previous.entropy - step.entropy,
            "adjusted_rand_index": np.nan,
            "normalized_mutual_info": np.nan,
            "chosen": step.n_clusters == chosen_count,
        }
        if labels is not None:
            row["adjusted_rand_index"] = float(adjusted_rand_score(labels, predicted))
            row["normalized_mutual_info"] = float(normalized_mutual_info_score(labels, predicted))
        rows.append(row)
        previous = step
    return pd.DataFrame(rows, columns=MERGE_COLUMNS)


def merge_to_files(*, data_path, meta_path, selection_path, models_path, outputs):
    """Merge the chosen model's components; write the hierarchy, labels and a summary.

    ``models_path`` is the dataset's fitted ``models.json``; ``outputs`` maps
    ``merges``, ``labels`` and ``summary`` to paths.
    """
    dataset = load_dataset(data_path, meta_path)
    selection = read_json(selection_path)
    model, chosen = _criterion_model(selection, models_path)
    proba = model.predict_proba(dataset.X)
    steps = merge_hierarchy(proba)
    entropies = [step.entropy for step in reversed(steps)]  # at 1, 2, ..., K clusters
    found = elbow(entropies)
    predicted_by_step = [merged_labels(proba, step.clusters) for step in steps]
    n_classes = None if dataset.labels is None else int(len(np.unique(dataset.labels)))
    table = merge_table(steps, predicted_by_step, dataset.truth, found.n_clusters)

    labels = pd.DataFrame({"row": np.arange(dataset.n_samples), "component": np.argmax(proba, axis=1) + 1})
    for step, predicted in zip(steps, predicted_by_step, strict=True):
        # Cluster numbers at each count, 1-based, in the order of their first component.
        labels[f"clusters_{step.n_clusters}"] = predicted + 1
    labels["cluster"] = labels[f"clusters_{found.n_clusters}"]
    chosen_step = next(step for step in steps if step.n_clusters == found.n_clusters)
    with_truth = table.set_index("n_clusters")
    write_csv(outputs["merges"], table)
    write_csv(outputs["labels"], labels)
    write_json(
        outputs["summary"],
        {
            "dataset": dataset.name,
            "model": {
                "covariance_type": chosen["covariance_type"],
                "n_components": int(chosen["n_components"]),
                "criterion": selection["criterion"],
            },
            "method": "entropy merging (Baudry et al. 2010; mclust clustCombi)",
            "rule": "change point of a two-piece linear fit to entropy against clusters (clustCombiOptim, reg = 2)",
            "n_clusters": int(found.n_clusters),
            "clusters": [_name(c) for c in chosen_step.clusters],
            "elbow_lines": None
            if found.lines is None
            else [{"slope": slope, "intercept": intercept} for slope, intercept in found.lines],
            # Each step: clusters as 0-based component lists, the positions joined.
            "hierarchy": [
                {
                    "n_clusters": step.n_clusters,
                    "clusters": step.clusters,
                    "joined": None if step.joined is None else list(step.joined),
                    "entropy": step.entropy,
                }
                for step in steps
            ],
            "entropy": {str(count): value for count, value in enumerate(entropies, start=1)},
            "n_classes": n_classes,
            "agreement_note": dataset.truth_note,
            "agreement_with_truth": None
            if dataset.truth is None
            else {
                "at_chosen": _agreement(with_truth, found.n_clusters),
                "at_n_classes": _agreement(with_truth, n_classes) if n_classes in with_truth.index else None,
                "at_components": _agreement(with_truth, len(steps)),
            },
        },
    )
    return table


def _agreement(table, count):
    row = table.loc[count]
    return {
        "n_clusters": int(count),
        "adjusted_rand_index": float(row["adjusted_rand_index"]),
        "normalized_mutual_info": float(row["normalized_mutual_info"]),
    }
