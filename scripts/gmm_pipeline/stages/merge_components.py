"""Rule merge_components: clusters from the criterion's chosen mixture, by merging its components.

The merge order is Baudry et al.'s entropy hierarchy (:mod:`gmm_pipeline.maths.merging`,
mclust's ``clustCombi``); ``merging.rule`` decides where it stops: the valley rule
(:mod:`gmm_pipeline.maths.merge_valley`, the default), mclust's elbow, or one of Hennig's
criteria (:mod:`gmm_pipeline.maths.merge_hennig`, with their own merge order).

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
from ..maths.merge_hennig import CUTOFFS, FPC_NAMES, hennig_hierarchy
from ..maths.merge_valley import valley_hierarchy
from ..maths.merging import elbow, merge_hierarchy, merged_labels, rule_choice
from .prepare_data import load_dataset

MERGE_COLUMNS = ["n_clusters", "clusters", "joined", "entropy", "entropy_decrease"]
# The values each rule judged a merge by, after the entropy.
RULE_COLUMNS = {
    "valley": ["meeting_components", "dip_p_value", "density_ratio", "allowed"],
    "elbow": [],
    **{method: ["score", "allowed"] for method in CUTOFFS},
}
AGREEMENT_COLUMNS = ["adjusted_rand_index", "normalized_mutual_info", "chosen"]


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


def _pair_name(components):
    """Two components, 1-based as in mclust's tables (``3 & 7``)."""
    return " & ".join(str(k + 1) for k in components)


def merge_table(steps, predicted_by_step, labels, chosen_count, rule):
    """One row per number of clusters, from the components down to one; each step's
    clusters of every row are ``predicted_by_step``. A row's rule values judged the merge
    that reached its count."""
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
        criteria = step.criteria or {}
        for column in RULE_COLUMNS[rule]:
            if column == "allowed":
                row[column] = "" if step.allowed is None else bool(step.allowed)
            elif column == "meeting_components":
                row[column] = "" if not criteria else _pair_name(criteria[column])
            else:
                row[column] = criteria.get(column, np.nan)
        if labels is not None:
            row["adjusted_rand_index"] = float(adjusted_rand_score(labels, predicted))
            row["normalized_mutual_info"] = float(normalized_mutual_info_score(labels, predicted))
        rows.append(row)
        previous = step
    return pd.DataFrame(rows, columns=MERGE_COLUMNS + RULE_COLUMNS[rule] + AGREEMENT_COLUMNS)


def merge_by_rule(model, X, proba, merging):
    """The hierarchy and the count ``merging.rule`` chooses, with the rule's description.

    Returns
    -------
    steps : list of MergeStep
    n_clusters : int
    rule : dict
        ``name``, what it is (``method``) and its thresholds, for the summary.
    """
    name = merging["rule"]
    if name == "valley":
        steps = valley_hierarchy(
            model, X, proba, significance=merging["significance"], density_ratio=merging["density_ratio"]
        )
        return (
            steps,
            rule_choice(steps),
            {
                "name": name,
                "method": "entropy order (Baudry et al. 2010) among merges with no dip in the meeting "
                "components' log-odds (Hartigan's dip test, Hennig 2010) and no density valley between",
                "significance": merging["significance"],
                "density_ratio": merging["density_ratio"],
            },
        )
    if name == "elbow":
        steps = merge_hierarchy(proba)
        found = elbow([step.entropy for step in reversed(steps)])
        return (
            steps,
            found.n_clusters,
            {
                "name": name,
                "method": "change point of a two-piece linear fit to entropy against clusters "
                "(mclust's clustCombiOptim, reg = 2)",
                "elbow_lines": None
                if found.lines is None
                else [{"slope": slope, "intercept": intercept} for slope, intercept in found.lines],
            },
        )
    cutoff = CUTOFFS[name] if merging.get("cutoff") is None else merging["cutoff"]
    steps = hennig_hierarchy(model, X, proba, name, cutoff)
    return (
        steps,
        rule_choice(steps),
        {
            "name": name,
            "method": f'Hennig (2010), fpc\'s mergenormals(method = "{FPC_NAMES[name]}")',
            "cutoff": cutoff,
        },
    )


def stop_reason(steps, n_clusters, rule):
    """Why the rule stopped at ``n_clusters``: one sentence, and the refused merge's values."""
    following = next((step for step in steps if step.n_clusters == n_clusters - 1), None)
    if following is None:
        return "one cluster: nothing left to merge", None
    if rule["name"] == "elbow":
        return f"the elbow of entropy against the number of clusters is at {n_clusters}", None
    values = following.criteria
    if rule["name"] == "valley":
        reasons = []
        if values["dip_p_value"] < rule["significance"]:
            reasons.append(f"a dip (p = {values['dip_p_value']:.2g} < {rule['significance']:g})")
        if values["density_ratio"] < rule["density_ratio"]:
            reasons.append(
                f"a density valley (ratio {values['density_ratio']:.3f} < {rule['density_ratio']:g})"
            )
        sentence = (
            "every remaining merge is refused; the one that lowers the entropy most has "
            + " and ".join(reasons)
        )
    else:
        sentence = f"no pair's score reaches the cutoff (best {values['score']:.3g} < {rule['cutoff']:g})"
    # Components numbered from 1, as in merges.csv.
    return sentence, {
        key: (_pair_name(value) if key == "meeting_components" else value) for key, value in values.items()
    }


def merge_to_files(*, data_path, meta_path, selection_path, models_path, merging, outputs):
    """Merge the chosen model's components; write the hierarchy, labels and a summary.

    ``models_path`` is the dataset's fitted ``models.json``; ``merging`` the config's
    ``merging`` section; ``outputs`` maps ``merges``, ``labels`` and ``summary`` to paths.
    """
    dataset = load_dataset(data_path, meta_path)
    selection = read_json(selection_path)
    model, chosen = _criterion_model(selection, models_path)
    proba = model.predict_proba(dataset.X)
    steps, n_clusters, rule = merge_by_rule(model, dataset.X, proba, merging)
    entropies = [step.entropy for step in reversed(steps)]  # at 1, 2, ..., K clusters
    predicted_by_step = [merged_labels(proba, step.clusters) for step in steps]
    n_classes = None if dataset.labels is None else int(len(np.unique(dataset.labels)))
    table = merge_table(steps, predicted_by_step, dataset.truth, n_clusters, rule["name"])

    labels = pd.DataFrame({"row": np.arange(dataset.n_samples), "component": np.argmax(proba, axis=1) + 1})
    for step, predicted in zip(steps, predicted_by_step, strict=True):
        # Cluster numbers at each count, 1-based, in the order of their first component.
        labels[f"clusters_{step.n_clusters}"] = predicted + 1
    labels["cluster"] = labels[f"clusters_{n_clusters}"]
    chosen_step = next(step for step in steps if step.n_clusters == n_clusters)
    reason, refused = stop_reason(steps, n_clusters, rule)
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
            "rule": rule,
            "n_clusters": int(n_clusters),
            "clusters": [_name(c) for c in chosen_step.clusters],
            "stopped_because": reason,
            "refused_merge": refused,
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
                "at_chosen": _agreement(with_truth, n_clusters),
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
