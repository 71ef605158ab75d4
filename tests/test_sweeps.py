"""Sweeps on a real Snakemake run: per-point results, the summary, incremental points, compare."""

import json
import shutil

import pandas as pd
import pytest
from conftest import SWEEP_CONFIG, planned_jobs, run_snakemake, write_config

pytestmark = pytest.mark.workflow
POINT_JOBS = (
    "prepare_data",
    "fit_models",
    "prune_weights",
    "select_model",
    "merge_components",
    "extract_anomalies",
    "render_figures",
)


def test_each_point_runs_every_step_with_its_own_settings(sweep_run):
    point = sweep_run / "results/select/moons_n/n_samples~120/seed~1"
    data = pd.read_csv(sweep_run / "results/data/moons_n/n_samples~120/seed~1/data.csv")
    assert len(data) == 120
    # The grid's settings: both covariance types fitted for its points, one for the others.
    fitted = pd.read_csv(sweep_run / "results/fit/moons_n/n_samples~60/seed~0/starts.csv")
    assert sorted(set(fitted["covariance_type"])) == ["full", "spherical"]
    assert set(pd.read_csv(sweep_run / "results/fit/blobs/starts.csv")["covariance_type"]) == {"full"}
    record = json.loads((point / "provenance.json").read_text())
    assert record["wildcards"] == {"dataset": "moons_n/n_samples~120/seed~1"}
    anomalies = json.loads(
        (sweep_run / "results/anomalies/outliers/inject_outliers.fraction~0.2/summary.json").read_text()
    )
    assert anomalies["threshold_rule"].startswith("contamination")


def test_the_summary_rows_are_the_points_artifacts(sweep_run):
    summary = pd.read_csv(sweep_run / "results/sweeps/moons_n/summary.csv")
    assert len(summary) == 4 * 3  # points x criteria (bic, aic, icl; no cross-validation)
    for row in summary.itertuples():
        selection = json.loads((sweep_run / f"results/select/moons_n/{row.point}/selection.json").read_text())
        choice = selection["by_criterion"][row.criterion]
        assert (row.covariance_type, row.n_components) == (choice["covariance_type"], choice["n_components"])
        assert row.gap_to_runner_up == choice["gap_to_runner_up"]
        assert row.adjusted_rand_index == choice["agreement_with_truth"]["adjusted_rand_index"]
        assert row.downstream == (row.criterion == "bic")
        bayes = json.loads((sweep_run / f"results/bayes/moons_n/{row.point}/summary.json").read_text())
        assert row.bayes_effective_k == bayes["effective_n_components"]
        assert row.point == f"n_samples~{row.n_samples}/seed~{row.seed}"
    metrics = json.loads((sweep_run / "results/sweeps/moons_n/metrics.json").read_text())
    for row in summary.itertuples():
        assert metrics[f"{row.point}/{row.criterion}/n_components"] == row.n_components
    detectors = pd.read_csv(sweep_run / "results/sweeps/outliers/detectors.csv")
    assert len(detectors) == 2 * 4  # points x detectors
    for row in detectors.itertuples():
        folder = f"inject_outliers.fraction~{row._2}"
        table = pd.read_csv(sweep_run / f"results/anomalies/outliers/{folder}/detectors.csv").set_index(
            "detector"
        )
        assert row.f1 == table.loc[row.detector, "f1"]
        assert metrics_of(sweep_run, "outliers")[f"{folder}/anomalies/{row.detector}/f1"] == row.f1
    # The default figures: chosen k for every sweep, F1 by detector where there is truth.
    assert (sweep_run / "results/sweeps/moons_n/chosen_k.png").stat().st_size > 0
    assert not (sweep_run / "results/sweeps/moons_n/f1.png").exists()
    assert (sweep_run / "results/sweeps/outliers/f1.png").stat().st_size > 0
    manifest = json.loads((sweep_run / "results/manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["artifacts"]}
    assert {"results/sweeps/outliers/f1.png", "results/metrics.json"} <= listed


def metrics_of(workdir, sweep):
    return json.loads((workdir / f"results/sweeps/{sweep}/metrics.json").read_text())


def test_the_report_has_the_sweeps_category(sweep_run, tmp_path):
    run_snakemake(sweep_run, "--configfile", sweep_run / "config.yaml", "--report", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(errors="replace")
    # The category, both sweeps, their captions (rendered with the sweep's name).
    assert '"Sweeps"' in html
    assert "Summary of sweep **outliers**" in html or "Summary of sweep <strong>outliers</strong>" in html
    assert "Sweep <strong>moons_n</strong>, figure <strong>chosen_k</strong>" in html
    assert "results/figures/moons_n/n_samples~60/seed~0/" in html  # every point's own figures


def test_a_report_of_sweep_summaries_leaves_out_each_points_own_figures(sweep_run, tmp_path):
    """make sweeps reports the target sweep_summaries: the sweeps' tables and figures only."""
    report = tmp_path / "sweeps.html"
    run_snakemake(sweep_run, "--configfile", sweep_run / "config.yaml", "--report", report, "sweep_summaries")
    html = report.read_text(errors="replace")
    assert '"Sweeps"' in html
    assert "Sweep <strong>moons_n</strong>, figure <strong>chosen_k</strong>" in html
    assert "results/figures/" not in html


def test_adding_a_value_runs_only_the_new_points_and_removing_one_keeps_its_results(sweep_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(sweep_run, workdir, symlinks=True)
    config = json.loads(json.dumps(SWEEP_CONFIG))
    config["sweeps"]["moons_n"]["axes"]["n_samples"] = [60, 120, 180]
    configfile = write_config(workdir / "config.yaml", config)
    dry = run_snakemake(workdir, "--configfile", configfile, "--dry-run")
    jobs = planned_jobs(dry.stdout)
    two_points = {rule: 2 for rule in POINT_JOBS}
    assert jobs == {**two_points, "summarise_sweep": 1, "plot_sweep": 1, "write_manifest": 1, "all": 1}
    assert (
        "n_samples~180/seed~0" in dry.stdout
        and "outliers/" not in dry.stdout.split("rule summarise_sweep")[0]
    )
    run_snakemake(workdir, "--configfile", configfile, "--cores", 2)
    assert len(pd.read_csv(workdir / "results/sweeps/moons_n/summary.csv")) == 6 * 3

    # Removing a value: the summary drops it, its results stay on disk as they were.
    dropped = workdir / "results/select/moons_n/n_samples~60/seed~0/selection.json"
    before = dropped.read_bytes()
    config["sweeps"]["moons_n"]["axes"]["n_samples"] = [120, 180]
    write_config(configfile, config)
    jobs = planned_jobs(run_snakemake(workdir, "--configfile", configfile, "--dry-run").stdout)
    assert jobs == {"summarise_sweep": 1, "plot_sweep": 1, "write_manifest": 1, "all": 1}
    run_snakemake(workdir, "--configfile", configfile, "--cores", 2)
    summary = pd.read_csv(workdir / "results/sweeps/moons_n/summary.csv")
    assert sorted(summary["n_samples"].unique()) == [120, 180]
    assert dropped.read_bytes() == before
    assert "Nothing to be done" in run_snakemake(workdir, "--configfile", configfile, "--dry-run").stdout


def test_a_rerun_makes_the_summary_byte_identical(sweep_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(sweep_run, workdir, symlinks=True)
    summary_files = ["metrics.json", "detectors.csv", "f1.png", "provenance.json"]
    before = {name: (workdir / "results/sweeps/outliers" / name).read_bytes() for name in summary_files}
    (workdir / "results/sweeps/outliers/metrics.json").unlink()
    jobs = planned_jobs(run_snakemake(workdir, "--configfile", workdir / "config.yaml", "--dry-run").stdout)
    assert jobs == {"summarise_sweep": 1, "plot_sweep": 2, "write_manifest": 1, "all": 1}
    run_snakemake(workdir, "--configfile", workdir / "config.yaml", "--cores", 1)
    after = {name: (workdir / "results/sweeps/outliers" / name).read_bytes() for name in summary_files}
    assert after == before


def planned_priorities(dry_run_stdout):
    """Each rule's priority in a dry run's job list (a rule printed without one has 0)."""
    priorities, rule = {}, None
    for line in dry_run_stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
            priorities.setdefault(rule, 0)
        elif line.strip().startswith("priority:") and rule is not None:
            priorities[rule] = int(line.split(":")[1])
    return priorities


@pytest.mark.parametrize("n_seeds", [1, 8])
def test_many_datasets_run_each_chain_first_few_run_each_step_across_datasets(tmp_path, n_seeds):
    """Few datasets: every dataset's data and fits before any selection or figures (the long
    fits start early). Many (2 x 8 points and blobs): each dataset's later steps go first,
    so the ready jobs Snakemake re-examines every round stay few."""
    config = dict(SWEEP_CONFIG, sweeps={"moons_n": SWEEP_CONFIG["sweeps"]["moons_n"]})
    config["sweeps"]["moons_n"] = dict(
        config["sweeps"]["moons_n"], axes={"n_samples": [60, 120], "seed": list(range(n_seeds))}
    )
    path = write_config(tmp_path / "config.yaml", config)
    priority = planned_priorities(run_snakemake(tmp_path, "--configfile", path, "--dry-run").stdout)
    steps = ["prepare_data", "fit_models", "select_model", "extract_anomalies", "render_figures"]
    order = [priority[step] for step in steps]
    if n_seeds == 1:  # 3 datasets
        assert order == sorted(order, reverse=True) and order[0] > order[-1]
    else:  # 17 datasets
        assert order == sorted(order) and order[0] < order[-1]
