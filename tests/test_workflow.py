"""The real workflow, run by snakemake on a small config in a temporary directory."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml
from conftest import SMALL_CONFIG, job_processes, planned_jobs, run_snakemake, small_config, write_config
from gmm_pipeline.files.artifacts import TIMING_COLUMNS
from gmm_pipeline.files.model_io import load_model
from gmm_pipeline.maths.criteria import column
from gmm_pipeline.records.provenance import code_identity
from gmm_pipeline.stages.fit_models import fit_type_grid
from gmm_pipeline.stages.prepare_data import load_dataset

pytestmark = pytest.mark.workflow

DATASETS = list(small_config()["datasets"])
COVARIANCE_TYPES = small_config()["fit"]["covariance_types"]
BIC = column("bic")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded_sha256(path):
    """The hash provenance records give a file: a starts table's is of its rows without the
    wall-clock fit_seconds column, recomputed here independently with pandas."""
    if not str(path).endswith("starts.csv"):
        return sha256(path)
    table = pd.read_csv(path, keep_default_na=False, dtype=str).drop(columns="fit_seconds")
    return hashlib.sha256(table.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def artifacts(workdir):
    """Every file under results/ but the logs and the run history, by path relative to the
    working directory."""
    results = Path(workdir) / "results"
    return {
        str(path.relative_to(workdir)): path
        for path in sorted(results.rglob("*"))
        if path.is_file() and path.relative_to(results).parts[0] not in ("logs", "runs")
    }


def test_every_step_writes_its_artifacts(small_run):
    expected = ["results/manifest.json", "results/metrics.json", "results/metrics.provenance.json"]
    for dataset in DATASETS:
        expected += [
            f"results/data/{dataset}/{name}" for name in ("data.csv", "dataset.json", "provenance.json")
        ]
        expected += [
            f"results/fit/{dataset}/{name}" for name in ("starts.csv", "models.json", "provenance.json")
        ]
        expected += [
            f"results/select/{dataset}/{name}"
            for name in (
                "cv/folds.csv",
                "cv/provenance.json",
                "stability/replicates.csv",
                "stability/provenance.json",
            )
        ]
        expected += [
            f"results/select/{dataset}/{name}"
            for name in (
                "starts.csv",
                "criteria.csv",
                "init_comparison.csv",
                "stability.csv",
                "selection.json",
                "model.json",
                "provenance.json",
                "parameter_uncertainty.csv",
                "parameter_replicates.csv",
                "parameter_uncertainty.provenance.json",
            )
        ]
        expected += [
            f"results/bayes/{dataset}/{name}" for name in ("weights.csv", "summary.json", "provenance.json")
        ]
        expected += [
            f"results/anomalies/{dataset}/{name}"
            for name in (
                "scores.csv",
                "anomalies.csv",
                "detectors.csv",
                "detectors_by_kind.csv",
                "noise_model.json",
                "noise_fits.csv",
                "summary.json",
                "provenance.json",
            )
        ]
        expected += [
            f"results/clusters/{dataset}/{name}"
            for name in ("merges.csv", "labels.csv", "summary.json", "provenance.json")
        ]
        expected += [
            f"results/figures/{dataset}/{name}"
            for name in (
                "model.png",
                "criteria.png",
                "selection_frequency.png",
                "uncertainty.png",
                "anomaly_scores.png",
                "anomaly_curves.png",
                "bayes_weights.png",
                "clusters.png",
                "merge_rule.png",
                "merge_tree.png",
                "parameter_uncertainty.png",
                "provenance.json",
            )
        ]
    assert sorted(artifacts(small_run)) == sorted(expected)
    for dataset in DATASETS:
        png = (small_run / f"results/figures/{dataset}/model.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_every_start_of_the_sweep_is_recorded(small_run):
    config = small_config()
    for dataset in DATASETS:
        per_dataset = pd.read_csv(small_run / f"results/select/{dataset}/starts.csv")
        fitted = pd.read_csv(small_run / f"results/fit/{dataset}/starts.csv")
        assert list(dict.fromkeys(fitted["covariance_type"])) == COVARIANCE_TYPES
        for covariance_type in COVARIANCE_TYPES:
            starts = fitted[fitted["covariance_type"] == covariance_type]
            # Each k: every k-means and k-means++ seed, one Ward and one mclust hierarchical
            # start (each deterministic on this little data).
            assert len(starts) == len(config["fit"]["n_components"]) * (2 * config["fit"]["seeds"] + 2)
            assert sorted(set(starts.loc[starts["init_params"] == "kmeans", "seed"])) == list(
                range(config["fit"]["seeds"])
            )
            assert starts.groupby("n_components")["is_best"].sum().eq(1).all()
            assert starts[BIC].notna().all() and (starts["fit_seconds"] > 0).all()
            assert len(per_dataset[per_dataset["covariance_type"] == covariance_type]) == len(starts)
        assert set(per_dataset["dataset"]) == {dataset}


def test_chosen_model_is_exactly_the_refit_of_its_best_start(small_run):
    for dataset in DATASETS:
        data = load_dataset(
            small_run / f"results/data/{dataset}/data.csv", small_run / f"results/data/{dataset}/dataset.json"
        )
        selection = json.loads((small_run / f"results/select/{dataset}/selection.json").read_text())
        chosen = selection["chosen"]
        criteria = pd.read_csv(small_run / f"results/select/{dataset}/criteria.csv")
        row = criteria[
            (criteria["covariance_type"] == chosen["covariance_type"])
            & (criteria["n_components"] == chosen["n_components"])
        ].iloc[0]
        _, (refit,) = fit_type_grid(
            data.X,
            covariance_type=chosen["covariance_type"],
            n_components=[chosen["n_components"]],
            seeds=[int(row["best_seed"])],
            init_params=[row["best_init_params"]],
        )
        loaded = load_model(small_run / f"results/select/{dataset}/model.json")
        np.testing.assert_array_equal(loaded.predict(data.X), refit.predict(data.X))
        np.testing.assert_array_equal(loaded.predict_proba(data.X), refit.predict_proba(data.X))
        np.testing.assert_array_equal(loaded.score_samples(data.X), refit.score_samples(data.X))
        # The recorded criteria come from the engine's compiled pass (em.score_rows), which
        # gives scikit-learn's numbers to rounding, not to the last bit.
        assert row[BIC] == pytest.approx(loaded.bic(data.X), rel=1e-12)
        assert loaded.start_ == {"init_params": row["best_init_params"], "seed": int(row["best_seed"])}
        assert selection["by_criterion"]["bic"]["value"] == criteria[BIC].min()


def test_selection_reports_every_criterion_its_runner_up_stability_and_truth(small_run):
    stability = small_config()["selection"]["stability"]
    for dataset in DATASETS:
        selection = json.loads((small_run / f"results/select/{dataset}/selection.json").read_text())
        criteria = pd.read_csv(small_run / f"results/select/{dataset}/criteria.csv")
        assert criteria[[column(name) for name in ("bic", "aic", "icl", "cv_nll")]].notna().all().all()
        assert (criteria[column("icl")] >= criteria[BIC]).all()
        for name in ("bic", "aic", "icl", "cv_nll"):
            entry = selection["by_criterion"][name]
            assert entry["value"] == criteria[column(name)].min()
            assert entry["gap_to_runner_up"] >= 0 and entry["runner_up"] is not None
            assert 0 <= entry["agreement_with_truth"]["adjusted_rand_index"] <= 1
        frequency = selection["by_criterion"]["bic"]["selection_frequency"]
        assert set(frequency) == {"bootstrap", "data_seed"} and all(0 <= f <= 1 for f in frequency.values())
        table = pd.read_csv(small_run / f"results/select/{dataset}/stability.csv")
        counts = table.groupby(["criterion", "resampling"])["n_chosen"].sum()
        assert counts.xs("bootstrap", level="resampling").eq(stability["bootstrap"]).all()
        assert counts.xs("data_seed", level="resampling").eq(stability["data_seeds"]).all()
        assert set(selection["by_init_params"]) == {"kmeans", "k-means++", "agglomerative", "hc_vvv"}
    blobs = json.loads((small_run / "results/select/blobs/selection.json").read_text())
    assert blobs["chosen"]["agreement_with_truth"]["adjusted_rand_index"] > 0.95  # three clear blobs


def test_every_table_header_states_the_sign_convention(small_run):
    bare = {"bic", "aic", "icl", "cv_nll"}
    tables = [path for path in artifacts(small_run) if path.endswith(".csv")]
    assert len(tables) > 10
    for path in tables:
        header = set(pd.read_csv(small_run / path, nrows=0).columns)
        assert not header & bare, path
    header = pd.read_csv(small_run / "results/select/moons/criteria.csv", nrows=0).columns
    assert {
        "bic_lower_is_better",
        "aic_lower_is_better",
        "icl_lower_is_better",
        "cv_nll_lower_is_better",
    } <= set(header)


def test_pinned_model_is_used_and_unpinned_follows_bic(small_run):
    moons = json.loads((small_run / "results/select/moons/selection.json").read_text())
    assert {k: moons["chosen"][k] for k in ("covariance_type", "n_components", "reason")} == {
        "covariance_type": "full",
        "n_components": 3,
        "reason": "pinned by datasets.moons.model",
    }
    blobs = json.loads((small_run / "results/select/blobs/selection.json").read_text())
    assert blobs["chosen"]["reason"] == "lowest bic"
    assert blobs["chosen"]["n_components"] == blobs["by_criterion"]["bic"]["n_components"] == 3


def test_anomalies_are_the_lowest_density_points_under_the_chosen_model(small_run):
    percentile = small_config().get("anomalies", {}).get("percentile", 4)
    for dataset in DATASETS:
        model = load_model(small_run / f"results/select/{dataset}/model.json")
        scores = pd.read_csv(small_run / f"results/anomalies/{dataset}/scores.csv")
        X = scores[["x0", "x1"]].to_numpy()
        density = model.score_samples(X)
        np.testing.assert_array_equal(scores["log_density"], density)
        expected = density < np.percentile(density, percentile)
        np.testing.assert_array_equal(scores["is_anomaly"], expected)
        anomalies = pd.read_csv(small_run / f"results/anomalies/{dataset}/anomalies.csv")
        assert anomalies["row"].tolist() == np.flatnonzero(expected).tolist()
        summary = json.loads((small_run / f"results/anomalies/{dataset}/summary.json").read_text())
        assert summary["n_anomalies"] == expected.sum() == round(len(X) * percentile / 100)


def test_manifest_lists_every_artifact_with_its_hash(small_run):
    manifest = json.loads((small_run / "results/manifest.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["artifacts"]}
    on_disk = artifacts(small_run)
    del on_disk["results/manifest.json"]
    assert set(listed) == set(on_disk)
    for path, entry in listed.items():
        # A step's artifacts are in its folder; the run's metrics lie at the top.
        assert entry["folder"] == (Path(path).parts[1] if len(Path(path).parts) > 2 else None)
        if path.endswith("starts.csv"):
            # Hashed without its wall-clock column, so the hash is the same on every run.
            assert entry["sha256_excludes_columns"] == ["fit_seconds"]
            assert entry["sha256"] == recorded_sha256(on_disk[path]), path
            continue
        assert entry["sha256"] == sha256(on_disk[path]), path
        assert entry["bytes"] == on_disk[path].stat().st_size
    for name, spec in small_config()["datasets"].items():
        assert manifest["config"]["datasets"][name].items() >= spec.items()
    assert manifest["config"]["datasets"]["blobs"]["n_features"] == 2  # filled in from the schema
    assert manifest["config"]["anomalies"]["percentile"] == 4  # filled in from the schema
    assert manifest["config"]["anomalies"]["threshold"] == "percentile"
    assert manifest["versions"]["scikit-learn"] == sklearn.__version__
    assert len(manifest["code"]["code_sha256"]) == 64
    assert manifest["code"] == code_identity()


def test_provenance_names_step_params_inputs_seeds_versions_and_code(small_run):
    record = json.loads((small_run / "results/fit/moons/provenance.json").read_text())
    assert record["step"] == "fit_models"
    assert record["wildcards"] == {"dataset": "moons"}
    assert record["params"]["covariance_types"] == COVARIANCE_TYPES
    assert record["params"]["n_components"] == small_config()["fit"]["n_components"]
    assert record["seeds"] == [0, 1, 2]
    inputs = {entry["path"]: entry["sha256"] for entry in record["inputs"]}
    assert inputs == {
        path: sha256(small_run / path)
        for path in ("results/data/moons/data.csv", "results/data/moons/dataset.json")
    }
    outputs = {entry["path"]: entry["sha256"] for entry in record["outputs"]}
    assert outputs == {
        path: recorded_sha256(small_run / path)
        for path in ("results/fit/moons/starts.csv", "results/fit/moons/models.json")
    }
    assert record["versions"]["scikit-learn"] == sklearn.__version__
    assert record["versions"]["numpy"] == np.__version__
    # Every record of the run names the code this checkout holds (Snakemake's process records
    # it once at the start of the run and its jobs cite it).
    records = list((small_run / "results").rglob("*provenance.json"))
    assert len(records) > 10
    for path in records:
        assert json.loads(path.read_text())["code"] == code_identity(), path
    data = json.loads((small_run / "results/data/moons/provenance.json").read_text())
    assert data["seeds"] == [42] and data["params"]["generator"] == "moons"


def test_two_clean_runs_give_byte_identical_artifacts(small_run, tmp_path):
    # The second run has every job in its own process: the warm worker must not change a byte.
    run_snakemake(tmp_path, "--configfile", SMALL_CONFIG, "--cores", 2, env={"GMM_PIPELINE_WORKER": "off"})
    assert job_processes(small_run) == {"warm worker"}
    assert job_processes(tmp_path) == {"own process"}
    first, second = artifacts(small_run), artifacts(tmp_path)
    assert set(first) == set(second)
    assert len(first) > 60
    # Only the starts tables carry wall-clock time (fit_seconds): every other file, the
    # provenance records and the manifest included, is identical byte for byte.
    differing = sorted(path for path in first if first[path].read_bytes() != second[path].read_bytes())
    timed = sorted(path for path in first if path.endswith("starts.csv"))
    assert set(differing) <= set(timed)
    for path in timed:
        pd.testing.assert_frame_equal(
            pd.read_csv(first[path]).drop(columns=list(TIMING_COLUMNS)),
            pd.read_csv(second[path]).drop(columns=list(TIMING_COLUMNS)),
        )


def test_report_is_a_self_contained_html_file(small_run, tmp_path):
    report = tmp_path / "report.html"
    run_snakemake(small_run, "--configfile", SMALL_CONFIG, "--report", report)
    html = report.read_text(errors="replace")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert len(html) > 100_000  # figures are embedded, not linked
    for caption_phrase in (
        "log-density",
        "lower-is-better",
        "effective number of components",
        "selection frequency",
        "classification uncertainty",
    ):
        assert caption_phrase in html


def test_workflow_lint_is_clean(small_run):
    process = run_snakemake(small_run, "--configfile", SMALL_CONFIG, "--lint", check=False)
    assert process.returncode == 0, process.stdout + process.stderr


def test_nothing_reruns_when_nothing_changed(small_run):
    process = run_snakemake(small_run, "--configfile", SMALL_CONFIG, "--dry-run")
    assert "Nothing to be done" in process.stdout + process.stderr


def test_config_override_reruns_only_the_affected_steps(small_run):
    process = run_snakemake(
        small_run, "--configfile", SMALL_CONFIG, "--dry-run", "--config", "anomalies={percentile: 10}"
    )
    assert planned_jobs(process.stdout) == {
        "extract_anomalies": 2,
        "render_figures": 2,
        "collect_metrics": 1,
        "write_manifest": 1,
        "all": 1,
    }
    # Another stopping rule for merging: the clusters and what shows them, nothing fitted again.
    process = run_snakemake(
        small_run, "--configfile", SMALL_CONFIG, "--dry-run", "--config", "merging={rule: elbow}"
    )
    assert planned_jobs(process.stdout) == {
        "merge_components": 2,
        "render_figures": 2,
        "collect_metrics": 1,
        "write_manifest": 1,
        "all": 1,
    }
    process = run_snakemake(
        small_run, "--configfile", SMALL_CONFIG, "--dry-run", "--config", "datasets={blobs: {seed: 8}}"
    )
    # One dataset's jobs (moons would double each count), then the manifest.
    assert planned_jobs(process.stdout) == {
        "prepare_data": 1,
        "fit_models": 1,
        "cross_validate": 1,
        "assess_stability": 1,
        "select_model": 1,
        "estimate_uncertainty": 1,
        "merge_components": 1,
        "prune_weights": 1,
        "extract_anomalies": 1,
        "render_figures": 1,
        "collect_metrics": 1,
        "write_manifest": 1,
        "all": 1,
    }
    assert "output: results/data/blobs/data.csv" in process.stdout
    assert "output: results/data/moons/data.csv" not in process.stdout


def test_bad_config_leaves_earlier_results_intact(small_run, tmp_path):
    before = {path: (sha256(file), file.stat().st_mtime_ns) for path, file in artifacts(small_run).items()}
    config = small_config()
    config["fit"]["seeds"] = -1
    process = run_snakemake(
        small_run, "--configfile", write_config(tmp_path / "bad.yaml", config), "--cores", 1, check=False
    )
    assert process.returncode != 0 and "config key 'fit.seeds'" in process.stdout + process.stderr
    after = {path: (sha256(file), file.stat().st_mtime_ns) for path, file in artifacts(small_run).items()}
    assert after == before


def test_bad_data_stops_its_job_with_a_message_naming_file_and_column(tmp_path):
    config = small_config()
    config["datasets"] = {"moons": config["datasets"]["moons"]}
    configfile = write_config(tmp_path / "moons.yaml", config)
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 1, "results/data/moons/data.csv")
    data = tmp_path / "results/data/moons/data.csv"
    frame = pd.read_csv(data)
    frame.loc[17, "x1"] = np.nan
    frame.to_csv(data, index=False)
    corrupted = data.read_bytes()
    process = run_snakemake(
        tmp_path, "--configfile", configfile, "--cores", 1, "results/fit/moons/starts.csv", check=False
    )
    # First the edit itself is refused, before any job: the file is not what its
    # provenance record says.
    assert process.returncode != 0
    assert (
        "Stopped before any job: results/data/moons/data.csv: its contents differ from what "
        "results/data/moons/provenance.json recorded"
    ) in process.stdout + process.stderr
    # Without a record to compare with, the data's own check names the column and row.
    (tmp_path / "results/data/moons/provenance.json").unlink()
    process = run_snakemake(
        tmp_path, "--configfile", configfile, "--cores", 1, "results/fit/moons/starts.csv", check=False
    )
    assert process.returncode != 0
    assert (
        "fit_models failed: results/data/moons/data.csv: feature column 'x1' has 1 NaN or infinite "
        "value(s), first at row 17"
    ) in process.stdout + process.stderr
    assert data.read_bytes() == corrupted  # the input is left as it was
    assert not (tmp_path / "results/fit/moons/starts.csv").exists()


def test_a_configfile_alone_runs_with_schema_defaults(tmp_path):
    # Without config.yaml in the working directory, --configfile is the whole config and
    # the schema's defaults fill the rest.
    config = {
        "datasets": {"tiny": {"generator": "circles", "n_samples": 40, "noise": 0.1, "seed": 0}},
        "fit": {"covariance_types": ["diag"], "n_components": [1, 2], "seeds": [5, 9]},
        "bayesian": {"max_components": 3, "n_init": 1},
    }
    run_snakemake(tmp_path, "--configfile", write_config(tmp_path / "tiny.yaml", config), "--cores", 2)
    starts = pd.read_csv(tmp_path / "results/fit/tiny/starts.csv")
    assert sorted(set(starts["seed"])) == [5, 9]
    manifest = json.loads((tmp_path / "results/manifest.json").read_text())
    assert list(manifest["config"]["datasets"]) == ["tiny"]
    assert manifest["config"]["selection"]["criterion"] == "bic"
    assert manifest["config"]["selection"]["cross_validation"] == {"folds": 5, "seeds": 3, "seed": 0}
    assert yaml.safe_load((tmp_path / "tiny.yaml").read_text()) == config


def test_a_sweep_of_20000_fits_plans_jobs_in_proportion_to_datasets_not_fits(tmp_path):
    config = small_config()
    config["fit"] = {
        "covariance_types": ["full", "tied", "diag", "spherical"],
        "n_components": list(range(1, 11)),
        "seeds": 250,
        "init_params": ["kmeans"],
    }
    config["datasets"] = {"moons": config["datasets"]["moons"], "blobs": config["datasets"]["blobs"]}
    config["datasets"]["moons"].pop("model")
    # 2 datasets x 4 covariance types x 10 k x 250 seeds = 20,000 fits.
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "large.yaml", config), "--dry-run"
    )
    jobs = planned_jobs(process.stdout)
    assert jobs["fit_models"] == 2  # one job per dataset, each 4 x 2,500 fits
    assert sum(jobs.values()) < 50


def test_cross_validation_and_stability_can_be_switched_off(tmp_path):
    config = small_config()
    config["datasets"] = {"blobs": config["datasets"]["blobs"]}
    config["fit"]["covariance_types"] = ["diag"]
    config["selection"] = {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}}
    configfile = write_config(tmp_path / "off.yaml", config)
    jobs = planned_jobs(run_snakemake(tmp_path, "--configfile", configfile, "--dry-run").stdout)
    assert "cross_validate" not in jobs and "assess_stability" not in jobs
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    selection = json.loads((tmp_path / "results/select/blobs/selection.json").read_text())
    assert selection["by_criterion"]["cv_nll"] is None
    assert selection["chosen"]["selection_frequency"] is None
    assert pd.read_csv(tmp_path / "results/select/blobs/criteria.csv")[column("cv_nll")].isna().all()
