"""Where merging stops: the valley rule (gmm_pipeline.maths.merge_valley), Hennig's criteria
as fpc has them (gmm_pipeline.maths.merge_hennig), and the stage's choice between rules.

The four default datasets are checked on the models the default run's BIC chose (stored in
tests/data/merging, with fpc 2.2-10's scores on them; see export_for_fpc.py there); a real
run of the default config is in test_merging.py.
"""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from diptest import diptest
from gmm_pipeline.config.schema import schema_default
from gmm_pipeline.files.model_io import load_model
from gmm_pipeline.maths.merge_hennig import CUTOFFS, FPC_NAMES, hennig_hierarchy
from gmm_pipeline.maths.merge_valley import (
    density_saddles,
    dip_p_values,
    valley_hierarchy,
    valley_rule,
    weighted_log_densities,
)
from gmm_pipeline.maths.merging import merge_hierarchy, merged_labels, rule_choice
from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture
from gmm_pipeline.stages.merge_components import merge_by_rule
from gmm_pipeline.stages.prepare_data import prepare_dataset
from scipy.special import logsumexp
from sklearn.datasets import load_iris, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

DATA = REPO / "tests" / "data" / "merging"
DEFAULTS = {
    key: schema_default(f"merging.{key}") for key in ("rule", "significance", "density_ratio", "cutoff")
}


@pytest.fixture(scope="module")
def default_datasets():
    """The default config's four synthetic datasets and the models its BIC chose for them."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    cases = {}
    for name in ("moons", "blobs", "circles", "anisotropic"):
        frame, description = prepare_dataset(config["datasets"][name], name=name)
        X = frame[description["features"]].to_numpy(dtype=np.float64)
        cases[name] = (X, frame["label"].to_numpy(), load_model(DATA / f"{name}.model.json"))
    return cases


def _rule_result(model, X, merging):
    proba = model.predict_proba(X)
    steps, n_clusters, _ = merge_by_rule(model, X, proba, merging)
    chosen = next(step for step in steps if step.n_clusters == n_clusters)
    return steps, n_clusters, merged_labels(proba, chosen.clusters)


def test_the_config_and_the_schema_hold_the_same_merging_defaults():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["merging"] == {key: DEFAULTS[key] for key in ("rule", "significance", "density_ratio")}
    assert DEFAULTS == {"rule": "valley", "significance": 0.05, "density_ratio": 0.1, "cutoff": None}


@pytest.mark.parametrize(
    ("name", "n_clusters", "least_ari"),
    [("moons", 2, 0.95), ("circles", 2, 0.95), ("anisotropic", 3, 0.9), ("blobs", 4, 0.95)],
)
def test_the_valley_rule_finds_the_default_datasets_shapes(default_datasets, name, n_clusters, least_ari):
    X, truth, model = default_datasets[name]
    _, found, labels = _rule_result(model, X, DEFAULTS)
    assert found == n_clusters
    assert adjusted_rand_score(truth, labels) >= least_ari


def test_mclusts_elbow_stays_available_and_still_cannot_say_do_not_merge(default_datasets):
    counts = {
        name: _rule_result(model, X, {"rule": "elbow"})[1] for name, (X, _, model) in default_datasets.items()
    }
    # As the issue measured: blobs 3, circles 7, anisotropic 2 (with K = 3 it can only say 2).
    assert counts == {"moons": 2, "blobs": 3, "circles": 7, "anisotropic": 2}


def test_without_the_density_check_a_halo_component_links_separate_blobs(default_datasets):
    """Blobs' fifth component is a broad halo over the 3% outliers. It joins each blob
    without a dip, so the dip test alone chains all four blobs through it; the density
    between the blobs' cores (under 1% of a peak) is what keeps them apart."""
    X, truth, model = default_datasets["blobs"]
    _, dip_only, _ = _rule_result(model, X, DEFAULTS | {"density_ratio": 0.0})
    assert dip_only < 4
    steps, found, _ = _rule_result(model, X, DEFAULTS)
    refused = next(step for step in steps if step.n_clusters == found - 1)
    assert refused.criteria["dip_p_value"] >= 0.05 and refused.criteria["density_ratio"] < 0.01


def test_without_the_dip_test_the_anisotropic_blobs_that_touch_are_merged(default_datasets):
    """Two of the stretched blobs meet without a deep density valley (half the lower peak),
    so only the dip in their log-odds keeps them apart."""
    X, _, model = default_datasets["anisotropic"]
    steps, found, _ = _rule_result(model, X, DEFAULTS | {"significance": 0.0})
    assert found < 3
    merge = next(step for step in steps if step.n_clusters == 2)
    assert merge.criteria["dip_p_value"] < 1e-3 and merge.criteria["density_ratio"] > 0.3


def test_well_separated_groups_stay_apart_and_a_chain_merges_into_one():
    rng = np.random.default_rng(3)
    # Two spherical groups 5 sd apart in 4-D, two components: no merge.
    X = rng.normal(size=(800, 4))
    X[400:, 0] += 5.0
    model = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    steps, found, _ = _rule_result(model, X, DEFAULTS)
    assert found == 2 and steps[1].allowed is False
    # A long uniform strip, which BIC covers with a chain of overlapping components: one cluster.
    strip = np.column_stack([rng.uniform(0, 8, 1000), rng.uniform(0, 1, 1000)])
    chain = GaussianMixture(6, covariance_type="full", random_state=0).fit(strip)
    steps, found, _ = _rule_result(chain, strip, DEFAULTS)
    assert found == 1 and all(step.allowed for step in steps[1:])


def test_dip_p_values_are_the_dip_test_of_each_pairs_log_odds(default_datasets):
    X, _, model = default_datasets["moons"]
    log_parts = weighted_log_densities(model, X)
    assert np.allclose(logsumexp(log_parts, axis=1), model.score_samples(X))
    components = np.argmax(log_parts, axis=1)
    p_values = dip_p_values(log_parts, components)
    for i, j in [(0, 4), (1, 6), (2, 9)]:
        rows = (components == i) | (components == j)
        assert p_values[i, j] == p_values[j, i] == diptest(log_parts[rows, i] - log_parts[rows, j])[1]


def test_with_a_shared_covariance_the_log_odds_is_fishers_discriminant(default_datasets):
    """The anisotropic model is tied: each pair's log-odds is an affine map of the data
    projected on Sigma^-1 (mu_i - mu_j), and the dip test is unchanged by affine maps."""
    X, _, model = default_datasets["anisotropic"]
    log_parts = weighted_log_densities(model, X)
    components = np.argmax(log_parts, axis=1)
    p_values = dip_p_values(log_parts, components)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        rows = (components == i) | (components == j)
        direction = np.linalg.solve(model.covariances_, model.means_[i] - model.means_[j])
        assert diptest(X[rows] @ direction)[1] == pytest.approx(p_values[i, j], abs=1e-9)


def test_density_saddles_see_no_crossing_between_separate_groups_and_the_valley_between_near_ones():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [40.0, 0.0]])
    labels = np.repeat(np.arange(3), 400)
    X = centres[labels] + rng.normal(size=(1200, 2))
    model = GaussianMixture(3, random_state=0, means_init=centres).fit(X)
    components = model.predict(X)
    saddles, peaks = density_saddles(model, X, components, model.score_samples(X))
    # 36 sd apart: no neighbour-graph edge joins the far group to the others.
    assert saddles[0, 2] == saddles[1, 2] == -np.inf
    # 4 sd apart: the highest crossing is close to the fitted density's saddle, the lowest
    # point on the segment between the two means (within a factor e^0.25, from 800 points).
    segment = model.means_[0] + np.linspace(0, 1, 1001)[:, None] * (model.means_[1] - model.means_[0])
    saddle = model.score_samples(segment).min()
    assert abs(saddles[0, 1] - saddle) < 0.25
    assert np.all(peaks <= model.score_samples(model.means_) + 1e-9)


def test_the_hierarchy_takes_the_best_allowed_pair_and_the_rule_stops_at_the_first_refusal():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.full(5, 0.5), size=200)
    plain = merge_hierarchy(proba)
    first = plain[1].clusters[plain[1].joined[0]]  # the pair entropy alone would join first
    refuse_first = lambda a, b: (sorted(a + b) != sorted(first), {})  # noqa: E731
    steps = merge_hierarchy(proba, allowed=refuse_first)
    assert steps[1].allowed and sorted(steps[1].clusters[steps[1].joined[0]]) != sorted(first)
    never = merge_hierarchy(proba, allowed=lambda a, b: (False, {}))
    assert [step.clusters for step in never] == [step.clusters for step in plain]
    assert (
        rule_choice(never) == 5 and rule_choice(merge_hierarchy(proba, allowed=lambda a, b: (True, {}))) == 1
    )


def test_the_rule_values_are_per_pair_of_components_and_the_table_reaches_one_cluster():
    X, moons = make_moons(600, noise=0.05, random_state=0)
    model = GaussianMixture(8, random_state=0, n_init=2).fit(X)
    proba = model.predict_proba(X)
    rule = valley_rule(model, X, proba, significance=0.05, density_ratio=0.1)
    steps = valley_hierarchy(model, X, proba, significance=0.05, density_ratio=0.1)
    assert [step.n_clusters for step in steps] == list(range(8, 0, -1))
    for previous, step in zip(steps[:-1], steps[1:], strict=True):
        a, b = (previous.clusters[k] for k in step.joined)
        assert step.criteria == rule.judge(a, b)
        i, j = step.criteria["meeting_components"]
        assert (i in a and j in b) or (i in b and j in a)
    found = rule_choice(steps)
    chosen = next(step for step in steps if step.n_clusters == found)
    assert found == 2 and adjusted_rand_score(moons, merged_labels(proba, chosen.clusters)) == 1.0


def test_hennigs_criteria_equal_fpcs_mergenormals_on_the_default_models(default_datasets):
    reference = pd.read_csv(DATA / "fpc_mergenormals.csv")
    for (name, fpc_method), rows in reference.groupby(["dataset", "method"]):
        X, _, model = default_datasets[name]
        method = next(name for name, fpc_name in FPC_NAMES.items() if fpc_name == fpc_method)
        steps = hennig_hierarchy(model, X, model.predict_proba(X), method)
        scores = [step.criteria["score"] for step in steps[1:]]
        assert scores == pytest.approx(rows.sort_values("merge")["score"].tolist(), rel=1e-6, abs=1e-12)
        assert rule_choice(steps) == rows["n_clusters_at_cutoff"].iloc[0]
        assert all(step.criteria["cutoff"] == CUTOFFS[method] for step in steps[1:])


def test_hennigs_criteria_fail_the_chains_as_the_issue_measured(default_datasets):
    """fpc's methods merge moment-matched Gaussians: a curved chain's merged part becomes
    one broad Gaussian, and the next piece no longer looks like it."""
    X, _, model = default_datasets["circles"]
    counts = {method: _rule_result(model, X, {"rule": method, "cutoff": None})[1] for method in CUTOFFS}
    assert counts == {"bhattacharyya": 10, "ridgeline": 1, "misclassification": 7}


def test_the_rules_take_a_fourteen_model_estimator():
    """A ParsimoniousGaussianMixture (mclust's VEV, iris's BIC choice) is merged from its own
    parameters: its weighted log-densities sum to its score_samples."""
    X = load_iris().data
    model = ParsimoniousGaussianMixture(3, covariance_type="VEV", random_state=0).fit(X)
    log_parts = weighted_log_densities(model, X)
    assert np.allclose(logsumexp(log_parts, axis=1), model.score_samples(X), rtol=0, atol=1e-10)
    proba = model.predict_proba(X)
    # Two of the three components overlap without a dip (versicolor and virginica).
    assert rule_choice(valley_hierarchy(model, X, proba, significance=0.05, density_ratio=0.1)) == 2
    assert rule_choice(hennig_hierarchy(model, X, proba, "bhattacharyya")) == 2


@pytest.mark.parametrize("rule", ["valley", "elbow", "bhattacharyya", "ridgeline", "misclassification"])
def test_every_rules_figure_draws_its_values_against_its_threshold(default_datasets, rule, tmp_path):
    import matplotlib.pyplot as plt
    from gmm_pipeline.stages.merge_components import merge_table
    from gmm_pipeline.stages.render_figures import RULE_PANELS, plot_merge_rule

    X, truth, model = default_datasets["blobs"]
    proba = model.predict_proba(X)
    steps, n_clusters, described = merge_by_rule(model, X, proba, DEFAULTS | {"rule": rule})
    table = merge_table(
        steps, [merged_labels(proba, step.clusters) for step in steps], truth, n_clusters, rule
    )
    table.to_csv(tmp_path / "merges.csv", index=False)  # the figure reads the written table
    merges = pd.read_csv(tmp_path / "merges.csv")
    panels = RULE_PANELS.get(rule, [])
    fig, axes = plt.subplots(1, 1 + max(1, len(panels)))
    plot_merge_rule(axes, merges, {"rule": described, "n_clusters": n_clusters})
    if not panels:  # the elbow: the entropy each merge removed
        assert len(axes[1].patches) == model.n_components - 1
    for ax, (_, threshold, _) in zip(axes[1 : 1 + len(panels)], panels, strict=True):
        # One bar per merge, red where the rule refused it, and the threshold dashed.
        bars = ax.patches
        assert len(bars) == model.n_components - 1
        merged = merges[merges["n_clusters"] < model.n_components].sort_values("n_clusters")
        refused = merged["allowed"].astype(str) != "True"
        assert [bar.get_facecolor()[0] > 0.5 for bar in bars] == refused.tolist()
        assert ax.get_lines()[0].get_ydata()[0] == described[threshold]
    plt.close(fig)
