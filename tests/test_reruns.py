"""Reruns that never lie: whatever changed since a finished run (a deleted or edited
artifact, the code of a step, a user's data file) is rebuilt, and nothing else.

Each test works on a copy of a finished real run and reads Snakemake's dry-run job list.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    REPO,
    SMALL_CONFIG,
    planned_jobs,
    run_snakemake,
    small_config,
    snakemake_command,
    write_config,
)
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.records.code_version import step_code
from gmm_pipeline.records.verify import check_inputs_against_records

pytestmark = pytest.mark.workflow

N_TYPES = len(small_config()["fit"]["covariance_types"])
# What the rest of one dataset's chain reruns after each step, the run's metrics (read from
# the selection, Bayesian and anomaly summaries) and the manifest.
AFTER_SELECT = {
    "select_model": 1,
    "estimate_uncertainty": 1,
    "merge_components": 1,
    "extract_anomalies": 1,
    "render_figures": 1,
    "collect_metrics": 1,
    "write_manifest": 1,
    "all": 1,
}
AFTER_FIT = {"fit_models": 1, **AFTER_SELECT}
ALL_OF_ONE_DATASET = {
    "prepare_data": 1,
    "fit_models": 1,
    "cross_validate": 1,
    "assess_stability": 1,
    "prune_weights": 1,
    **AFTER_SELECT,
}


def copy_run(finished, destination):
    """A copy of a finished run (results and Snakemake's records, modification times kept)."""
    shutil.copytree(finished, destination, symlinks=True)
    return destination


def dry_run(workdir, *args):
    command = snakemake_command(workdir, "--configfile", SMALL_CONFIG, "--dry-run", *args)
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout


def jobs_outputs(dry_run_stdout):
    """Every output path the dry run plans to make."""
    return {
        path.strip()
        for line in dry_run_stdout.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].split(",")
    }


@pytest.mark.parametrize(
    "deleted, expected",
    [
        ("results/data/moons/data.csv", ALL_OF_ONE_DATASET),
        ("results/fit/moons/models.json", AFTER_FIT),
        ("results/select/moons/model.json", AFTER_SELECT),
        ("results/select/moons/cv/provenance.json", {"cross_validate": 1, **AFTER_SELECT}),
        (
            "results/bayes/moons/weights.csv",
            {"prune_weights": 1, "render_figures": 1, "collect_metrics": 1, "write_manifest": 1, "all": 1},
        ),
        (
            "results/anomalies/moons/scores.csv",
            {
                "extract_anomalies": 1,
                "render_figures": 1,
                "collect_metrics": 1,
                "write_manifest": 1,
                "all": 1,
            },
        ),
        (
            "results/clusters/moons/merges.csv",
            {"merge_components": 1, "render_figures": 1, "collect_metrics": 1, "write_manifest": 1, "all": 1},
        ),
        ("results/figures/moons/model.png", {"render_figures": 1, "write_manifest": 1, "all": 1}),
        ("results/figures/moons/provenance.json", {"render_figures": 1, "write_manifest": 1, "all": 1}),
    ],
)
def test_a_deleted_artifact_rebuilds_its_job_and_what_depends_on_it(small_run, tmp_path, deleted, expected):
    workdir = copy_run(small_run, tmp_path / "run")
    (workdir / deleted).unlink()
    planned = dry_run(workdir)
    assert planned_jobs(planned) == expected
    assert deleted in jobs_outputs(planned)
    assert not any("/blobs/" in path for path in jobs_outputs(planned))  # the other dataset is untouched


def test_a_rebuilt_artifact_is_byte_identical_and_the_folder_verifies(small_run, tmp_path):
    workdir = copy_run(small_run, tmp_path / "run")
    deleted = workdir / "results/select/moons/model.json"
    original = deleted.read_bytes()
    deleted.unlink()
    run_snakemake(workdir, "--configfile", SMALL_CONFIG, "--cores", 2)
    assert deleted.read_bytes() == original
    assert "Nothing to be done" in dry_run(workdir)
    assert verify(workdir).returncode == 0


def verify(workdir, repository=REPO):
    """``make verify``'s script, run in ``workdir`` from the code of ``repository``."""
    return subprocess.run(
        [sys.executable, str(Path(repository) / "scripts/verify_results.py")],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_lists_each_missing_edited_and_unlisted_file(small_run, tmp_path):
    workdir = copy_run(small_run, tmp_path / "run")
    process = verify(workdir)
    assert process.returncode == 0, process.stdout
    assert "all match their records" in process.stdout
    (workdir / "results/bayes/blobs/weights.csv").unlink()
    edited = workdir / "results/select/moons/selection.json"
    mtime = edited.stat().st_mtime_ns
    edited.write_text(edited.read_text().replace('"n_components": 3', '"n_components": 4', 1))
    os.utime(edited, ns=(mtime, mtime))  # an edit Snakemake cannot see by time
    (workdir / "results/fit/moons/notes.txt").write_text("mine\n")
    process = verify(workdir)
    assert process.returncode == 1
    *problems, summary = process.stdout.splitlines()
    assert problems == [
        "missing: results/bayes/blobs/weights.csv: listed in results/bayes/blobs/provenance.json",
        "missing: results/bayes/blobs/weights.csv: listed in results/manifest.json",
        # The merged clusters, figures and the run's metrics were made from the selection as
        # it was before.
        "stale: results/clusters/moons/provenance.json: made from an earlier version of "
        "results/select/moons/selection.json",
        "stale: results/figures/moons/provenance.json: made from an earlier version of "
        "results/select/moons/selection.json",
        "unlisted: results/fit/moons/notes.txt: no provenance record or manifest lists it",
        "stale: results/metrics.provenance.json: made from an earlier version of "
        "results/select/moons/selection.json",
        "edited: results/select/moons/selection.json: its SHA-256 differs from the one in results/manifest.json",
        "edited: results/select/moons/selection.json: its SHA-256 differs from the one in "
        "results/select/moons/provenance.json",
    ]
    assert summary.endswith("8 problem(s)")


def test_an_input_edited_after_its_record_was_written_stops_the_run_before_any_job(
    small_run, tmp_path, monkeypatch
):
    workdir = copy_run(small_run, tmp_path / "run")
    model = workdir / "results/select/blobs/model.json"
    payload = json.loads(model.read_text())
    payload["means"][0][0] += 0.5  # still a valid model file
    model.write_text(json.dumps(payload, indent=2) + "\n")
    before = {path: path.read_bytes() for path in (workdir / "results").rglob("*") if path.is_file()}
    process = run_snakemake(workdir, "--configfile", SMALL_CONFIG, "--cores", 1, check=False)
    assert process.returncode == 1
    # Refused while the run is planned, before Snakemake deletes the outputs (figures,
    # anomalies, ...) of the jobs that read the model.
    assert process.stderr.strip().splitlines()[-1] == (
        "Stopped before any job: results/select/blobs/model.json: its contents differ from what "
        "results/select/blobs/provenance.json recorded when the pipeline made it (edited by hand?); "
        "delete the file and rerun to rebuild it, or run `make verify` to list every such file"
    )
    after = {path: path.read_bytes() for path in (workdir / "results").rglob("*") if path.is_file()}
    assert after == before
    # The job's own check stays behind it (for a run planned before the edit).
    monkeypatch.chdir(workdir)
    with pytest.raises(PipelineInputError, match="results/select/blobs/model.json: its contents differ"):
        check_inputs_against_records(["results/select/blobs/model.json"])
    process = verify(workdir)
    assert "edited: results/select/blobs/model.json" in process.stdout


@pytest.fixture(scope="module")
def code_copy_run(tmp_path_factory):
    """A finished run of one small dataset made by a copy of this repository's code."""
    root = tmp_path_factory.mktemp("code_copy")
    code = root / "code"
    # Numba's cache of the compiled kernels comes along (it stays valid for a source file
    # with the same size and time, which copytree keeps): the copy then skips a compile of
    # half a minute that has nothing to do with reruns.
    ignore = shutil.ignore_patterns("*.pyc")
    for part in ("workflow", "scripts"):
        shutil.copytree(REPO / part, code / part, ignore=ignore)
    config = small_config()
    config["datasets"] = {"blobs": config["datasets"]["blobs"]}
    configfile = write_config(root / "config.yaml", config)
    workdir = root / "work"
    command = snakemake_command(
        workdir, "--configfile", configfile, snakefile=code / "workflow" / "Snakefile"
    )
    subprocess.run([*command, "--cores", "2"], check=True, capture_output=True, timeout=600)
    return code, workdir, command


def dry_run_jobs(command):
    process = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stdout + process.stderr
    return planned_jobs(process.stdout), process.stdout


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_edited_step_code_reruns_that_step_and_what_follows_only(code_copy_run, tmp_path):
    code, workdir, command = code_copy_run
    package = code / "scripts/gmm_pipeline/stages"
    saved = {name: (package / name).read_text() for name in ("extract_anomalies.py", "prune_weights.py")}
    try:
        # A comment or a docstring is not logic: nothing reruns.
        edit(package / "extract_anomalies.py", '"""', '"""Reworded. ')
        (package / "extract_anomalies.py").write_text(
            (package / "extract_anomalies.py").read_text() + "\n# a note\n"
        )
        assert dry_run_jobs(command)[1].count("Nothing to be done") == 1
        # The threshold's logic: anomalies, then figures and the manifest.
        edit(
            package / "extract_anomalies.py",
            'return float(np.percentile(log_density, percentile)), f"percentile {percentile:g}"',
            'return float(np.percentile(log_density, percentile, method="lower")), f"percentile {percentile:g}"',
        )
        assert dry_run_jobs(command)[0] == {
            "extract_anomalies": 1,
            "render_figures": 1,
            "collect_metrics": 1,
            "write_manifest": 1,
            "all": 1,
        }
        # And the Bayesian step's module as well: its job joins them.
        edit(package / "prune_weights.py", "import warnings", "import warnings\n\nUNUSED_CONSTANT = 1")
        assert dry_run_jobs(command)[0] == {
            "prune_weights": 1,
            "extract_anomalies": 1,
            "render_figures": 1,
            "collect_metrics": 1,
            "write_manifest": 1,
            "all": 1,
        }
        # Run them: each record names the code that made it, and the copy's own check agrees,
        # while this checkout's code sees those artifacts as made by other code.
        before = json.loads((workdir / "results/fit/blobs/provenance.json").read_text())["step_code"]
        subprocess.run([*command, "--cores", "2"], check=True, capture_output=True, timeout=600)
        assert verify(workdir, repository=code).returncode == 0
        other = verify(workdir)
        flagged = {
            line.split(":")[1].strip() for line in other.stdout.splitlines() if line.startswith("other code")
        }
        assert flagged == {"results/anomalies/blobs/provenance.json", "results/bayes/blobs/provenance.json"}
        after = json.loads((workdir / "results/fit/blobs/provenance.json").read_text())["step_code"]
        assert after == before == step_code("fit_models")  # the fit was not rerun, and is this checkout's
        anomalies = json.loads((workdir / "results/anomalies/blobs/provenance.json").read_text())["step_code"]
        assert (
            anomalies["step"] == "extract_anomalies"
            and anomalies["sha256"] != step_code("extract_anomalies")["sha256"]
        )
        assert "stages.extract_anomalies" in anomalies["modules"]
    finally:
        for name, text in saved.items():
            (package / name).write_text(text)


def test_a_replaced_data_file_with_an_older_time_reruns_its_check(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "points.csv"
    pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"]).to_csv(data, index=False)
    config = {
        "datasets": {"mine": {"path": str(data)}},
        "fit": {"covariance_types": ["diag"], "n_components": [1, 2], "seeds": 1},
        "selection": {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}},
        "bayesian": {"max_components": 2, "n_init": 1},
        "figures": {"grid_resolution": 20, "dpi": 30},
    }
    configfile = write_config(tmp_path / "config.yaml", config)
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    first = hashlib.sha256((tmp_path / "results/data/mine/data.csv").read_bytes()).hexdigest()
    # An older export copied over it with its own, earlier modification time (cp -p).
    mtime = data.stat().st_mtime_ns - 3600 * 10**9
    pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"]).to_csv(data, index=False)
    os.utime(data, ns=(mtime, mtime))
    process = run_snakemake(tmp_path, "--configfile", configfile, "--dry-run")
    assert planned_jobs(process.stdout) == {
        "check_input": 1,
        "prepare_data": 1,
        "fit_models": 1,
        "select_model": 1,
        "merge_components": 1,
        "prune_weights": 1,
        "extract_anomalies": 1,
        "render_figures": 1,
        "collect_metrics": 1,
        "write_manifest": 1,
        "all": 1,
    }
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    assert hashlib.sha256((tmp_path / "results/data/mine/data.csv").read_bytes()).hexdigest() != first
    # The same bytes again, with yet another time: nothing to do.
    os.utime(data, ns=(mtime - 10**9, mtime - 10**9))
    assert "Nothing to be done" in run_snakemake(tmp_path, "--configfile", configfile, "--dry-run").stdout


def test_verify_refuses_a_results_folder_that_is_not_there(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts/verify_results.py"), "--results", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2 and process.stdout == ""
    assert (
        process.stderr
        == f"verify: {tmp_path / 'absent'} is not a folder; expected the results folder of a run\n"
    )
