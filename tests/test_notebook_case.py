"""The classic scikit-learn notebook, reproduced by a real run of the default config.

The notebook: make_moons(n_samples=1000, noise=0.05); GaussianMixture(n_components=3,
n_init=10) gives weights about 0.20 / 0.21 / 0.59 and converges; the points below the 4th
density percentile are 40 anomalies; BayesianGaussianMixture(n_components=10) leaves
some weights at about zero.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake, write_config
from gmm_pipeline.criteria import column
from gmm_pipeline.model_io import load_model

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    """The default config, run for its notebook dataset only (the others do not bear on it)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"] = {"moons": config["datasets"]["moons"]}
    workdir = tmp_path_factory.mktemp("notebook")
    run_snakemake(workdir, "--configfile", write_config(workdir / "notebook.yaml", config), "--cores", 2)
    return workdir


def test_default_config_holds_the_notebook_case():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    moons = config["datasets"]["moons"]
    assert (moons["generator"], moons["n_samples"], moons["noise"]) == ("moons", 1000, 0.05)
    assert moons["model"] == {"covariance_type": "full", "n_components": 3}
    assert config["fit"]["seeds"] == 10
    assert config["anomalies"]["percentile"] == 4
    assert config["bayesian"]["max_components"] == 10


def test_three_full_components_weigh_about_020_021_059_and_converge(notebook_run):
    model = load_model(notebook_run / "results/select/moons/model.json")
    assert (model.covariance_type, model.n_components) == ("full", 3)
    np.testing.assert_allclose(np.sort(model.weights_), [0.20, 0.21, 0.59], atol=0.02)
    assert model.converged_
    starts = pd.read_csv(notebook_run / "results/fit/moons/full/starts.csv")
    at_three = starts[starts["n_components"] == 3]
    assert (at_three["init_params"] == "kmeans").sum() == 10  # as n_init=10


def test_forty_anomalies_of_a_thousand_at_the_fourth_percentile(notebook_run):
    summary = json.loads((notebook_run / "results/anomalies/moons/summary.json").read_text())
    assert summary["n_samples"] == 1000 and summary["percentile"] == 4
    assert summary["n_anomalies"] == 40
    assert len(pd.read_csv(notebook_run / "results/anomalies/moons/anomalies.csv")) == 40


def test_bayesian_mixture_drives_surplus_weights_to_about_zero(notebook_run):
    weights = pd.read_csv(notebook_run / "results/bayes/moons/weights.csv")
    assert len(weights) == 10
    assert (weights["weight"] < 0.01).sum() >= 1
    assert np.isclose(weights["weight"].sum(), 1.0)
    summary = json.loads((notebook_run / "results/bayes/moons/summary.json").read_text())
    assert summary["effective_n_components"] == int((weights["weight"] >= 0.01).sum()) < 10


def test_bic_keeps_falling_past_three_components_on_moons(notebook_run):
    # The notebook's lesson: Gaussians only approximate the moons, so BIC wants more of them.
    criteria = pd.read_csv(notebook_run / "results/select/moons/criteria.csv")
    full = criteria[criteria["covariance_type"] == "full"].set_index("n_components")[column("bic")]
    assert full[4] < full[3]
    selection = json.loads((notebook_run / "results/select/moons/selection.json").read_text())
    assert selection["by_criterion"]["bic"]["n_components"] > 3
