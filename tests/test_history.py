"""Run history: each completed run that changed the results is recorded, listed, compared,
restored byte for byte and removed; killed runs record nothing."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_snakemake, snakemake_command, write_config
from gmm_pipeline.records.compare import compare_runs, load_run
from gmm_pipeline.records.history import RunStore, list_runs, load_recorded_run, remove_runs, restore_run

pytestmark = pytest.mark.workflow

CONFIG = {
    "datasets": {
        "moons": {"generator": "moons", "n_samples": 120, "noise": 0.05, "seed": 1},
        "blobs": {"generator": "blobs", "n_samples": 120, "centers": 3, "seed": 2},
    },
    "fit": {"covariance_types": ["full"], "n_components": [1, 2, 3], "seeds": 2, "init_params": ["kmeans"]},
    "selection": {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}},
    "bayesian": {"max_components": 3, "n_init": 1, "max_iter": 100},
    "figures": {"grid_resolution": 30, "dpi": 30},
}


def runs_script(workdir, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "scripts/runs.py"), *map(str, args)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def files_of(folder):
    """Every file of a results folder but its logs and history: {relative path: bytes}."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).parts[0] not in ("logs", "runs")
    }


def store_blobs(workdir):
    return {blob.name: blob.stat().st_size for blob in (workdir / "results/runs/store").glob("*/*")}


def test_runs_are_recorded_listed_compared_restored_and_removed(tmp_path, monkeypatch):
    configfile = write_config(tmp_path / "config.yaml", CONFIG)
    first_run = run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    assert "gmm-pipeline: recorded run" in first_run.stderr
    store = RunStore(tmp_path / "results")
    monkeypatch.chdir(tmp_path)  # records name artifacts by their path from the run's folder
    (first,) = store.run_ids()
    first_files = files_of(tmp_path / "results")
    first_blobs = store_blobs(tmp_path)
    # A run with nothing to do, and a run that remakes the same bytes, record nothing.
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    (tmp_path / "results/figures/blobs/model.png").unlink()
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    assert store.run_ids() == [first]

    changed = json.loads(json.dumps(CONFIG))
    changed["anomalies"] = {"percentile": 10}
    run_snakemake(tmp_path, "--configfile", write_config(configfile, changed), "--cores", 2)
    first_, second = store.run_ids()
    assert first_ == first
    record = store.record(second)
    assert record["config"]["anomalies"]["percentile"] == 10
    assert record["code"]["code_sha256"] and record["versions"]["scikit-learn"]
    assert record["started"] <= record["ended"]
    why = {job["record"]: job["why"] for job in record["jobs"]}
    assert why["results/anomalies/moons/provenance.json"] == ["parameters"]
    assert why["results/figures/moons/provenance.json"][0].startswith("inputs: results/anomalies/moons/")
    assert not any("/fit/" in path or "/bayes/" in path for path in why)  # those did not rerun
    assert (tmp_path / "results/runs" / second / "snakemake.log").is_file()

    # Listed with what changed; the store holds each content once: the second run cost
    # exactly the bytes of the contents it made that no earlier run had.
    rows = list_runs("results")
    assert [row["id"] for row in rows] == [first, second]
    assert rows[1]["config_changes"] == ["anomalies.percentile"]
    second_files = files_of(tmp_path / "results")
    differing = {path for path in second_files if second_files[path] != first_files.get(path)}
    assert rows[1]["artifacts_changed"] == len(differing - {"manifest.json"})
    added = {name: size for name, size in store_blobs(tmp_path).items() if name not in first_blobs}
    new_contents = {
        hashlib.sha256(second_files[path]).hexdigest(): len(second_files[path]) for path in differing
    }
    assert added == {digest: size for digest, size in new_contents.items() if digest not in first_blobs}
    assert 0 < sum(added.values()) < sum(first_blobs.values())  # less than a second copy
    shown = runs_script(tmp_path, "show", second)
    assert json.loads(shown.stdout)["config"] == record["config"]
    manifest = runs_script(tmp_path, "show", "latest", "--manifest")
    assert manifest.stdout.encode() == (tmp_path / "results/manifest.json").read_bytes()
    listed = runs_script(tmp_path, "list")
    assert listed.returncode == 0 and f"{second}" in listed.stdout and "anomalies.percentile" in listed.stdout

    # Compared like two results folders, by the same code.
    comparison = compare_runs(load_recorded_run("results", first), load_recorded_run("results", second))
    assert comparison["config"] == [{"key": "anomalies.percentile", "a": 4, "b": 10}]
    assert any(row["key"] == "moons/anomalies/gmm/n_flagged" for row in comparison["metrics"])
    against_folder = compare_runs(load_recorded_run("results", second), load_run("results"))
    assert against_folder["config"] == [] and against_folder["artifacts"]["changed"] == []
    shown = runs_script(tmp_path, "compare", first, "latest")
    assert "anomalies.percentile: 4 -> 10" in shown.stdout

    # Restored byte for byte into a new folder; never into one that holds anything.
    restore_run("results", first, tmp_path / "first")
    assert files_of(tmp_path / "first") == first_files
    refused = runs_script(tmp_path, "restore", first, tmp_path / "first")
    assert refused.returncode == 2 and "is not an empty folder" in refused.stderr
    unknown = runs_script(tmp_path, "show", "20200101T000000Z-00000000")
    assert unknown.returncode == 2 and f"runs: {first}, {second}" in unknown.stderr

    # Removing the first run reclaims exactly the bytes no other run uses.
    before_removal = store_blobs(tmp_path)
    used_by_second = {entry["bytes_sha256"] for entry in record["artifacts"]} | {record["manifest_sha256"]}
    removed, reclaimed = remove_runs("results", keep_latest=1)
    assert removed == [first]
    assert reclaimed == sum(size for name, size in before_removal.items() if name not in used_by_second) > 0
    assert set(store_blobs(tmp_path)) == used_by_second
    restore_run("results", second, tmp_path / "second")
    assert files_of(tmp_path / "second") == second_files
    # The results folder itself still verifies: the history is not an artifact.
    verify = subprocess.run(
        [sys.executable, str(REPO / "scripts/verify_results.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout

    # Bad arguments and damaged records: one line, exit status 2, nothing changed or left.
    negative = runs_script(tmp_path, "remove", "--keep", -1)
    assert negative.returncode == 2 and negative.stderr.strip().splitlines() == [
        "runs: --keep is -1; expected how many of the latest runs to keep, 0 or more"
    ]
    assert store.run_ids() == [second]
    blob = store.blob_path(record["manifest_sha256"])
    good_blob = blob.read_bytes()
    blob.write_bytes(b"damaged")
    damaged = runs_script(tmp_path, "restore", second, tmp_path / "again")
    assert damaged.returncode == 2 and "restored bytes differ" in damaged.stderr
    assert not (tmp_path / "again").exists() and not list(tmp_path.glob(".again.restoring-*"))
    blob.write_bytes(good_blob)
    record_path = store.folder / second / "run.json"
    record_path.write_text('{"id": ')
    for command in (["list"], ["show", second], ["remove", "--keep", "1"]):
        broken = runs_script(tmp_path, *command)
        assert broken.returncode == 2, (command, broken.stderr)
        assert broken.stderr.startswith(f"runs: {record_path.relative_to(tmp_path)}: damaged run record ("), (
            broken.stderr
        )
        assert len(broken.stderr.strip().splitlines()) == 1


def test_a_killed_run_records_nothing_and_a_half_written_record_is_never_listed(tmp_path):
    configfile = write_config(tmp_path / "config.yaml", CONFIG)
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2)
    store = RunStore(tmp_path / "results")
    (first,) = store.run_ids()
    # What a recorder killed before its last step leaves: a folder not yet renamed into place.
    half = tmp_path / "results/runs/.record-killed"
    half.mkdir()
    (half / "run.json").write_text('{"id": "partial')
    assert store.run_ids() == [first]

    changed = json.loads(json.dumps(CONFIG))
    changed["fit"]["seeds"] = 3
    write_config(configfile, changed)
    process = subprocess.Popen(
        snakemake_command(tmp_path, "--configfile", configfile, "--cores", 1),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    started, deadline = time.time(), time.monotonic() + 120
    # Killed once a fit job of this run has started (its log is rewritten).
    while not any(log.stat().st_mtime > started for log in (tmp_path / "results/logs/fit_models").glob("*")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert store.run_ids() == [first]
    run_snakemake(tmp_path, "--configfile", configfile, "--unlock")
    run_snakemake(tmp_path, "--configfile", configfile, "--cores", 2, "--rerun-incomplete")
    ids = store.run_ids()
    assert len(ids) == 2 and ids[0] == first
    assert not half.exists()  # the next recorder cleared it
    # Every record points only to bytes the store holds.
    for run_id in ids:
        for entry in store.record(run_id)["artifacts"]:
            assert store.blob_path(entry["bytes_sha256"]).is_file()
    shutil.rmtree(tmp_path / "results/runs/store")
    broken = runs_script(tmp_path, "restore", "latest", tmp_path / "restored")
    assert broken.returncode == 2 and "the store lacks the bytes of" in broken.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["runs.py", "remove", "--keep", "x"],
        ["runs.py", "bogus"],
        ["compare_runs.py", "only-one"],
        ["verify_results.py", "--nope"],
    ],
)
def test_every_command_refuses_bad_arguments_with_one_line(tmp_path, command):
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / command[0]), *command[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2 and process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(command[0]) and lines[0].endswith("(see --help)"), lines
