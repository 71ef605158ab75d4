"""Merging mixture components into clusters (gmm_pipeline.maths.merging, gmm_pipeline.stages.merge_components)."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, write_config
from gmm_pipeline.maths.merging import (
    classification_entropy,
    elbow,
    linkage_matrix,
    merge_hierarchy,
    merged_labels,
    merged_probabilities,
)
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage
from sklearn.datasets import make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture


@pytest.fixture(scope="module")
def two_groups_four_components():
    """Two well-separated groups, each two overlapping blobs, modelled by four components."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [20.0, 20.0], [21.5, 20.0]])
    parts = np.repeat(np.arange(4), 150)
    X = centres[parts] + rng.normal(scale=0.6, size=(600, 2))
    model = GaussianMixture(4, covariance_type="full", n_init=3, random_state=0).fit(X)
    return X, parts // 2, model.predict_proba(X)


def test_two_groups_of_four_components_merge_back_to_two_with_ari_1(two_groups_four_components):
    X, groups, proba = two_groups_four_components
    steps = merge_hierarchy(proba)
    assert [step.n_clusters for step in steps] == [4, 3, 2, 1]
    two = next(step for step in steps if step.n_clusters == 2)
    assert adjusted_rand_score(groups, merged_labels(proba, two.clusters)) == 1.0
    # The elbow of the entropy curve finds the two groups.
    assert elbow([step.entropy for step in reversed(steps)]).n_clusters == 2


def test_each_merge_joins_the_pair_that_lowers_entropy_most_by_direct_computation(two_groups_four_components):
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.full(6, 0.4), size=300)  # six overlapping "components"
    steps = merge_hierarchy(proba)
    assert steps[0].entropy == pytest.approx(-np.sum(proba * np.log(proba)))
    for previous, step in zip(steps[:-1], steps[1:], strict=True):
        # Every pair of the previous clusters, merged, by the textbook formula.
        candidates = {}
        for a, b in itertools.combinations(range(previous.n_clusters), 2):
            clusters = [c for i, c in enumerate(previous.clusters) if i not in (a, b)]
            clusters.insert(a, previous.clusters[a] + previous.clusters[b])
            merged = merged_probabilities(proba, clusters)
            with np.errstate(divide="ignore", invalid="ignore"):
                candidates[(a, b)] = -np.nansum(merged * np.log(merged))
        best = min(candidates, key=candidates.get)
        assert step.joined == best
        assert step.entropy == pytest.approx(candidates[best], rel=1e-12)
        assert step.entropy == pytest.approx(
            classification_entropy(merged_probabilities(proba, step.clusters))
        )
        assert step.entropy <= previous.entropy
    assert steps[-1].entropy == pytest.approx(0.0, abs=1e-9)


def test_elbow_is_the_change_point_of_a_two_piece_line():
    # Flat to 3 clusters, then rising by 10 per cluster: the change point is 3.
    entropies = [0.0, 0.5, 1.0, 11.0, 21.0, 31.0, 41.0]
    found = elbow(entropies)
    assert found.n_clusters == 3
    (slope_left, _), (slope_right, _) = found.lines
    assert slope_left == pytest.approx(0.5) and slope_right == pytest.approx(10.0)
    # Two or fewer counts: nothing to fit, the largest count (mclust's rule).
    assert elbow([0.0, 3.0]).n_clusters == 2 and elbow([0.0]).n_clusters == 1


def test_merge_tree_is_a_valid_monotone_linkage(two_groups_four_components):
    _, _, proba = two_groups_four_components
    tree = linkage_matrix(merge_hierarchy(proba))
    assert is_valid_linkage(tree) and is_monotonic(tree)
    assert tree[-1, 2] == 1.0 and tree[-1, 3] == 4


def test_default_moons_bic_model_merges_to_the_two_moons():
    """The issue's case: 1000 points, noise 0.05, seed 42, the 10-component full model."""
    X, moons = make_moons(n_samples=1000, noise=0.05, random_state=42)
    model = GaussianMixture(
        10, covariance_type="full", n_init=3, random_state=0, tol=1e-6, max_iter=1000
    ).fit(X)
    proba = model.predict_proba(X)
    steps = merge_hierarchy(proba)
    two = next(step for step in steps if step.n_clusters == 2)
    assert adjusted_rand_score(moons, merged_labels(proba, two.clusters)) >= 0.95
    assert adjusted_rand_score(moons, model.predict(X)) < 0.5  # the components alone do not


def test_pipeline_writes_the_merge_hierarchy_of_the_criterion_choice(small_run):
    for dataset in ("moons", "blobs"):
        folder = small_run / "results" / "clusters" / dataset
        summary = json.loads((folder / "summary.json").read_text())
        selection = json.loads((small_run / "results" / "select" / dataset / "selection.json").read_text())
        chosen = selection["by_criterion"]["bic"]
        assert summary["model"] == {
            "covariance_type": chosen["covariance_type"],
            "n_components": chosen["n_components"],
            "criterion": "bic",
        }
        merges = pd.read_csv(folder / "merges.csv")
        k = chosen["n_components"]
        assert merges["n_clusters"].tolist() == list(range(k, 0, -1))
        assert merges["chosen"].sum() == 1
        assert int(merges.loc[merges["chosen"], "n_clusters"].iloc[0]) == summary["n_clusters"]
        labels = pd.read_csv(folder / "labels.csv")
        assert labels["cluster"].between(1, summary["n_clusters"]).all()
        assert labels["cluster"].equals(labels[f"clusters_{summary['n_clusters']}"])
        # ARI per count against the truth, recomputed from the written labels.
        truth = pd.read_csv(small_run / "results" / "data" / dataset / "data.csv")["label"]
        for count in range(1, k + 1):
            expected = adjusted_rand_score(truth, labels[f"clusters_{count}"])
            row = merges[merges["n_clusters"] == count].iloc[0]
            assert row["adjusted_rand_index"] == pytest.approx(expected)
        # The default rule's values for every merge, and the reason it stopped.
        assert summary["rule"]["name"] == "valley"
        rows = merges[merges["n_clusters"] < k]
        assert rows["dip_p_value"].between(0, 1).all() and rows["density_ratio"].between(0, 1).all()
        assert rows["meeting_components"].str.fullmatch(r"\d+ & \d+").all()
        assert rows.loc[rows["n_clusters"] >= summary["n_clusters"], "allowed"].all()
        assert not rows.loc[rows["n_clusters"] == summary["n_clusters"] - 1, "allowed"].any()
        assert summary["stopped_because"]
        for figure in ("clusters", "merge_rule", "merge_tree"):
            assert (small_run / "results" / "figures" / dataset / f"{figure}.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def default_shapes_run(tmp_path_factory):
    """The default config, run for its four synthetic shapes.

    Cross-validation and the stability replicates are off: the selection is by BIC, which
    they do not change, and they would double the run.
    """
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"] = {
        name: config["datasets"][name] for name in ("moons", "circles", "anisotropic", "blobs")
    }
    config["selection"]["cross_validation"]["folds"] = 0
    config["selection"]["stability"] |= {"bootstrap": 0, "data_seeds": 0}
    workdir = tmp_path_factory.mktemp("default_shapes")
    run_snakemake(workdir, "--configfile", write_config(workdir / "shapes.yaml", config), "--cores", 2)
    return workdir


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("dataset", "n_clusters", "least_ari"),
    [("moons", 2, 0.95), ("circles", 2, 0.95), ("anisotropic", 3, 0.9), ("blobs", 4, 0.95)],
)
def test_the_default_run_stops_merging_where_the_shapes_are(
    default_shapes_run, dataset, n_clusters, least_ari
):
    folder = default_shapes_run / "results" / "clusters" / dataset
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["rule"] == {
        "name": "valley",
        "method": summary["rule"]["method"],
        "significance": 0.05,
        "density_ratio": 0.1,
    }
    assert summary["n_clusters"] == n_clusters
    assert summary["agreement_with_truth"]["at_chosen"]["adjusted_rand_index"] >= least_ari
    # Every count stays in the table with the rule's values, so another can be read off.
    merges = pd.read_csv(folder / "merges.csv")
    k = summary["model"]["n_components"]
    assert merges["n_clusters"].tolist() == list(range(k, 0, -1))
    refused = merges[merges["n_clusters"] == n_clusters - 1].iloc[0]
    assert not refused["allowed"]
    assert refused["dip_p_value"] < 0.05 or refused["density_ratio"] < 0.1
    assert summary["refused_merge"]["dip_p_value"] == pytest.approx(refused["dip_p_value"])
    assert summary["stopped_because"].startswith("every remaining merge is refused")
    assert (default_shapes_run / "results" / "figures" / dataset / "merge_rule.png").stat().st_size > 1000
