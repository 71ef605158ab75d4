"""mclust's models beyond scikit-learn's four, through the real workflow: fitted, selected,
saved, merged, scored for anomalies (with a noise component of their own) and drawn."""

import json

import pandas as pd
import pytest
from conftest import planned_jobs, run_snakemake, small_config, write_config
from gmm_pipeline.files.model_io import load_model
from gmm_pipeline.maths.covariance_models import constraint_violations
from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture
from gmm_pipeline.stages.prepare_data import load_dataset

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def mclust_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mclust_run")
    config = small_config()
    # VVV is scikit-learn's full: listed under mclust's name, it runs as full.
    config["fit"]["covariance_types"] = ["VVV", "VEV", "EVE"]
    config["datasets"]["moons"]["model"] = {"covariance_type": "VEV", "n_components": 3}
    config["selection"]["lrt"] = {"replicates": 3, "max_k": 2}
    path = write_config(workdir / "config.yaml", config)
    run_snakemake(workdir, "--configfile", path, "--cores", 2)
    return workdir, path


def test_the_other_models_are_fitted_selected_and_used_downstream(mclust_run):
    workdir, _ = mclust_run
    results = workdir / "results"
    for dataset in ("moons", "blobs"):
        starts = pd.read_csv(results / f"fit/{dataset}/starts.csv")
        assert list(dict.fromkeys(starts["covariance_type"])) == ["full", "VEV", "EVE"]
        best = starts[starts["is_best"]]
        assert len(best) == 3 * 4 and best["bic_lower_is_better"].notna().all()
        criteria_table = pd.read_csv(results / f"select/{dataset}/criteria.csv")
        assert set(criteria_table["covariance_type"]) == {"full", "VEV", "EVE"}
    # The pinned VEV model is what the later steps load: a constrained model, in full.
    model = load_model(results / "select/moons/model.json")
    assert isinstance(model, ParsimoniousGaussianMixture) and model.model_name_ == "VEV"
    assert constraint_violations("VEV", model.covariances_) == []
    dataset = load_dataset(results / "data/moons/data.csv", results / "data/moons/dataset.json")
    scores = pd.read_csv(results / "anomalies/moons/scores.csv")
    assert scores["log_density"].to_numpy() == pytest.approx(model.score_samples(dataset.X), rel=1e-12)
    summary = json.loads((results / "anomalies/moons/summary.json").read_text())
    assert summary["model"] == {"covariance_type": "VEV", "n_components": 3}
    assert summary["noise_component"]["covariance_type"] == "VEV"
    # Clusters merge the components of the criterion's choice, whichever model it is.
    chosen = json.loads((results / "select/moons/selection.json").read_text())["by_criterion"]["bic"]
    assert chosen["covariance_type"] in ("full", "VEV", "EVE")
    merges = pd.read_csv(results / "clusters/moons/merges.csv")
    assert merges["n_clusters"].max() == chosen["n_components"]
    assert (results / "figures/moons/criteria.png").stat().st_size > 0
    # The bootstrap LRT and the parameter uncertainty refit the constrained models too.
    tests = pd.read_csv(results / "select/moons/lrt/VEV.csv")
    # 3 replicates cannot reject at 0.05 (the smallest p-value is 1/4): the test stops at k = 1.
    assert list(tests["n_components"]) == [1] and tests["replicates"].iloc[0] == 3
    assert tests["failed_replicates"].iloc[0] == 0 and tests["statistic"].iloc[0] > 0
    uncertainty = pd.read_csv(results / "select/moons/parameter_uncertainty.csv")
    assert (uncertainty["replicates"] > 0).all() and uncertainty["standard_error"].notna().all()


def test_a_rerun_has_nothing_to_do(mclust_run):
    workdir, path = mclust_run
    process = run_snakemake(workdir, "--configfile", path, "--dry-run")
    assert planned_jobs(process.stdout) == {}


def test_a_sweep_takes_mclusts_names(tmp_path):
    # A sweep's own fit settings name models as the config does: VVV is full, VEV its own.
    config = small_config()
    config["datasets"] = {}
    config["selection"]["lrt"] = {"replicates": 3}
    config["sweeps"] = {
        "models": {
            "base": {"generator": "moons", "n_samples": 200, "noise": 0.05, "seed": 0},
            "axes": {"seed": [0, 1]},
            "settings": {"fit": {"covariance_types": ["VVV", "VEV"]}},
        }
    }
    path = write_config(tmp_path / "sweep.yaml", config)
    process = run_snakemake(tmp_path, "--configfile", path, "--dry-run")
    jobs = planned_jobs(process.stdout)
    assert jobs["fit_models"] == 2 and jobs["test_components"] == 2 * 2
    assert "lrt/VEV.csv" in process.stdout and "lrt/full.csv" in process.stdout
    assert "lrt/VVV.csv" not in process.stdout
