"""Comparing two results folders: config keys, metrics with deltas, artifacts by hash."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, SWEEP_CONFIG, run_snakemake, write_config
from gmm_pipeline.records.compare import compare_runs, format_comparison, load_run

pytestmark = pytest.mark.workflow


def test_compare_names_the_changed_setting_and_its_metrics(sweep_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(sweep_run, workdir, symlinks=True)
    config = json.loads(json.dumps(SWEEP_CONFIG))
    config["anomalies"] = {"percentile": 10}
    run_snakemake(workdir, "--configfile", write_config(workdir / "config.yaml", config), "--cores", 2)
    comparison = compare_runs(load_run(sweep_run / "results"), load_run(workdir / "results"))
    assert comparison["config"] == [{"key": "anomalies.percentile", "a": 4, "b": 10}]
    changed = {(row["file"], row["key"]): row for row in comparison["metrics"]}
    flagged = changed[("metrics.json", "blobs/anomalies/gmm/n_flagged")]
    assert (flagged["a"], flagged["b"], flagged["delta"]) == (5, 12, 7)
    # Sweep points with their own threshold (contamination) are untouched; moons_n's are not.
    assert not any(key[0] == "sweeps/outliers/metrics.json" for key in changed)
    assert any(key[0] == "sweeps/moons_n/metrics.json" for key in changed)
    assert "anomalies/blobs/anomalies.csv" in comparison["artifacts"]["changed"]
    assert "data/blobs/data.csv" not in comparison["artifacts"]["changed"]
    text = format_comparison(comparison)
    assert "anomalies.percentile: 4 -> 10" in text and "blobs/anomalies/gmm/n_flagged: 5 -> 12 (+7)" in text
    # The script a user runs: the same comparison, and one line for a folder without a run.
    script = [sys.executable, str(REPO / "scripts/compare_runs.py")]
    shown = subprocess.run(
        [*script, sweep_run / "results", workdir / "results"], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "anomalies.percentile: 4 -> 10" in shown.stdout
    missing = subprocess.run([*script, sweep_run / "results", tmp_path], capture_output=True, text=True)
    assert missing.returncode == 2 and "manifest.json: no readable run manifest" in missing.stderr
