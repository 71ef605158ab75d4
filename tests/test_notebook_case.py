"""The classic scikit-learn notebook, reproduced by a real run of the default config.

The notebook: make_moons(n_samples=1000, noise=0.05); GaussianMixture(n_components=3,
n_init=10) gives weights about 0.20 / 0.21 / 0.59 and "converges" (by scikit-learn's loose
default rule: run to convergence, EM goes on to weights about 0.18 / 0.19 / 0.63); the points below the 4th
density percentile are 40 anomalies; BayesianGaussianMixture(n_components=10) leaves
some weights at about zero.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, write_config
from gmm_pipeline.files.model_io import load_model
from gmm_pipeline.maths.criteria import column
from sklearn.mixture import GaussianMixture

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    """The default config, run for its notebook dataset only (the others do not bear on it).

    Cross-validation and the stability replicates are off: they refit the same models on
    other rows and change none of the numbers checked here (the selection is by BIC), and
    they took four fifths of this run. The small config's run tests both steps.
    """
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"] = {"moons": config["datasets"]["moons"]}
    config["selection"]["cross_validation"]["folds"] = 0
    config["selection"]["stability"] |= {"bootstrap": 0, "data_seeds": 0}
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


def test_the_notebook_fit_stopped_early_and_converged_em_goes_further(notebook_run):
    X = pd.read_csv(notebook_run / "results/data/moons/data.csv")[["x0", "x1"]].to_numpy()
    # The notebook's own estimator, as it wrote it, still gives its numbers: weights about
    # 0.20 / 0.21 / 0.59, "converged" by scikit-learn's rule (tol 1e-3 per point).
    notebook = GaussianMixture(n_components=3, n_init=10, random_state=0).fit(X)
    np.testing.assert_allclose(np.sort(notebook.weights_), [0.20, 0.21, 0.59], atol=0.02)
    # Run to convergence from the same kind of starts (ten k-means seeds), EM climbs on to
    # a higher likelihood with other weights; the pipeline's model is that optimum.
    model = load_model(notebook_run / "results/select/moons/model.json")
    assert (model.covariance_type, model.n_components) == ("full", 3)
    assert model.converged_
    direct = max(
        (GaussianMixture(3, random_state=seed, tol=1e-10, max_iter=5000).fit(X) for seed in range(10)),
        key=lambda fitted: fitted.lower_bound_,
    )
    # The pipeline stops at its tolerance (1e-6 relative), a little before this
    # direct fit run to 1e-10 per point; the weights agree to a few thousandths.
    np.testing.assert_allclose(np.sort(model.weights_), np.sort(direct.weights_), atol=5e-3)
    assert abs(model.score(X) - direct.score(X)) < 1e-4
    assert model.score(X) > notebook.score(X) + 0.003
    starts = pd.read_csv(notebook_run / "results/fit/moons/starts.csv")
    at_three = starts[(starts["covariance_type"] == "full") & (starts["n_components"] == 3)]
    assert (at_three["init_params"] == "kmeans").sum() == 10  # as n_init=10
    assert at_three["converged"].all()


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
