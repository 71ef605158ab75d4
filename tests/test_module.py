"""The pipeline as a Snakemake module of another workflow, as the snakemake-workflows
catalog deploys workflows: `module ...: snakefile: ...` and `use rule * from ...`."""

import copy
import json
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, job_processes, snakemake_command
from gmm_pipeline.records.history import RunStore, list_runs

pytestmark = pytest.mark.workflow

TINY = {
    "fit": {
        "covariance_types": ["diag"],
        "n_components": [1, 2],
        "seeds": 1,
        "init_params": ["kmeans", "hc_vvv"],
    },
    "selection": {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}},
    "bayesian": {"max_components": 2, "n_init": 1},
    "figures": {"grid_resolution": 20, "dpi": 30},
}


def outer_workflow(folder, snakefile_text, configs):
    """Write an outer workflow (its Snakefile and config files) into ``folder``."""
    (folder / "config").mkdir(parents=True)
    for name, config in configs.items():
        (folder / "config" / name).write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "Snakefile").write_text(snakefile_text.replace("REPOSITORY", str(REPO)))
    return folder


def snakemake(folder, *args, check=True):
    process = subprocess.run(
        snakemake_command(folder, *args, snakefile=folder / "Snakefile"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process


def verify(folder, results):
    """``make verify``'s script on one results folder of the outer workflow."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts/verify_results.py"), "--results", results],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


ONE_MODULE = """
configfile: "config/config.yaml"


module gmm:
    snakefile:
        "REPOSITORY/workflow/Snakefile"
    config:
        config


use rule * from gmm as gmm_*


# Snakemake runs no onstart or onsuccess of a module: the outer workflow records its runs
# in the run history itself, as the README shows (the package is importable once the
# module is read).
RUN_STARTED = {}


onstart:
    from datetime import UTC, datetime

    RUN_STARTED["at"] = datetime.now(UTC)


onsuccess:
    from gmm_pipeline.records.history import record_completed_run

    record_completed_run("results", started=RUN_STARTED.get("at"), log_path=log)
"""


def test_runs_as_a_module_with_the_outer_config_and_reports_its_figures(tmp_path):
    config = {
        "datasets": {"rings": {"generator": "circles", "n_samples": 60, "noise": 0.1, "seed": 0}},
        **copy.deepcopy(TINY),
    }
    folder = outer_workflow(tmp_path / "outer", ONE_MODULE, {"config.yaml": config})
    snakemake(folder, "--cores", 2)
    # Snakemake runs no onstart of a module; its jobs still use the warm worker.
    assert job_processes(folder) == {"warm worker"}
    manifest = json.loads((folder / "results/manifest.json").read_text())
    assert manifest["config"]["anomalies"]["percentile"] == 4  # the schema's default, filled in
    assert list(manifest["config"]["datasets"]) == ["rings"]
    listed = {entry["path"] for entry in manifest["artifacts"]}
    assert "results/figures/rings/model.png" in listed and "results/select/rings/model.json" in listed
    assert all((folder / path).is_file() for path in listed)
    assert verify(folder, "results").returncode == 0
    assert "Nothing to be done" in snakemake(folder, "--dry-run").stdout
    # The run is in the run history, with its start, its log and every artifact.
    (run,) = list_runs(folder / "results")
    record = RunStore(folder / "results").record(run["id"])
    assert (
        record["started"] < record["ended"]
        and (folder / "results/runs" / run["id"] / "snakemake.log").is_file()
    )
    assert {entry["path"] for entry in record["artifacts"]} == listed
    snakemake(folder, "--report", folder / "report.html")
    html = (folder / "report.html").read_text(errors="replace")
    assert "lower-is-better" in html and "classification uncertainty" in html
    # The outer config is checked by this workflow's schema, with one line naming the key.
    config["fit"]["seeds"] = -1
    (folder / "config/config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(folder, "--dry-run", check=False)
    assert process.returncode != 0 and "config key 'fit.seeds'" in process.stdout + process.stderr


TWO_MODULES = """
configfile: "config/first.yaml"


module first:
    snakefile:
        "REPOSITORY/workflow/Snakefile"
    config:
        config["first"]
    prefix:
        "first"


module second:
    snakefile:
        "REPOSITORY/workflow/Snakefile"
    config:
        config["second"]
    prefix:
        "second"


use rule * from first as first_*


use rule * from second as second_*


rule all:
    default_target: True
    input:
        "first/results/manifest.json",
        "second/results/manifest.json",
"""


def test_two_instances_with_prefixed_rules_run_side_by_side(tmp_path):
    first = {
        "datasets": {"rings": {"generator": "circles", "n_samples": 60, "noise": 0.1, "seed": 0}},
        **copy.deepcopy(TINY),
    }
    second = {
        "datasets": {"moons": {"generator": "moons", "n_samples": 80, "noise": 0.05, "seed": 1}},
        **copy.deepcopy(TINY),
    }
    folder = outer_workflow(
        tmp_path / "outer", TWO_MODULES, {"first.yaml": {"first": first, "second": second}}
    )
    listed = snakemake(folder, "--list-rules").stdout.split()
    assert "first_fit_models" in listed and "second_fit_models" in listed
    snakemake(folder, "--cores", 2)
    for name, dataset in (("first", "rings"), ("second", "moons")):
        manifest = json.loads((folder / name / "results/manifest.json").read_text())
        assert list(manifest["config"]["datasets"]) == [dataset]
        # Every artifact under this instance's results: in a step's folder, or (the run's
        # metrics) at the top.
        assert all(
            entry["path"].startswith(f"{name}/results/{entry['folder']}/")
            or (entry["folder"] is None and entry["path"].count("/") == 2)
            for entry in manifest["artifacts"]
        )
        assert f"{name}/results/metrics.json" in {entry["path"] for entry in manifest["artifacts"]}
        assert (folder / name / f"results/figures/{dataset}/model.png").is_file()
        assert verify(folder, f"{name}/results").returncode == 0, verify(folder, f"{name}/results").stdout
    assert "Nothing to be done" in snakemake(folder, "--dry-run").stdout


GIT_MODULE = """
configfile: "config/config.yaml"


module gmm:
    snakefile:
        gitfile("CLONE", path="workflow/Snakefile", tag="v1.0-test")
    config:
        config


use rule * from gmm as gmm_*
"""
# Snakemake 9.27 cannot check a gitfile() module's scripts for changes (its "code" rerun
# trigger fails; see the README's Notes for upstream). Code changes still rerun jobs here
# through each rule's step_code parameter.
GIT_TRIGGERS = ("--rerun-triggers", "mtime", "params", "input", "software-env")


def tracked_files():
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout
    return [name for name in listed.split("\0") if name]


def test_source_file_list_names_every_tracked_source():
    listed = (REPO / "workflow/repository_files.txt").read_text().split()
    tracked = sorted(name for name in tracked_files() if name.startswith(("workflow/", "scripts/")))
    assert listed == tracked, "regenerate: git ls-files workflow scripts > workflow/repository_files.txt"


def test_runs_as_a_module_referenced_by_a_git_tag(tmp_path):
    """As the catalog deploys: a tag of the repository, through Snakemake's gitfile()."""
    clone = tmp_path / "clone"
    for name in tracked_files():  # this checkout's files as one commit, tagged
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    git = ["git", "-C", str(clone), "-c", "user.email=test@example.org", "-c", "user.name=test"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", "v1.0-test"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    # A later commit on the branch must not leak into a run pinned to the tag.
    (clone / "workflow/rules/clusters.smk").write_text("this is not a Snakefile\n")
    subprocess.run([*git, "commit", "-qam", "after the tag"], check=True, capture_output=True)

    config = {"datasets": {"blobs": {"generator": "blobs", "n_samples": 90, "centers": 3, "seed": 7}}}
    config |= copy.deepcopy(TINY)
    folder = outer_workflow(
        tmp_path / "outer", GIT_MODULE.replace("CLONE", str(clone)), {"config.yaml": config}
    )
    snakemake(folder, "--cores", 2, *GIT_TRIGGERS)
    manifest = json.loads((folder / "results/manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["artifacts"]}
    assert "results/clusters/blobs/merges.csv" in listed and all((folder / path).is_file() for path in listed)
    # The records name the tag, and the same code as this checkout's.
    record = json.loads((folder / "results/select/blobs/provenance.json").read_text())
    assert record["code"]["revision"] == f"git+file://{clone}/workflow/rules@v1.0-test"
    assert record["code"]["code_sha256"] == provenance_of_checkout()["code_sha256"]
    assert "Nothing to be done" in snakemake(folder, "--dry-run", *GIT_TRIGGERS).stdout
    snakemake(folder, "--report", folder / "report.html", *GIT_TRIGGERS)
    html = (folder / "report.html").read_text(errors="replace")
    assert "classification uncertainty" in html and "merged into" in html


def provenance_of_checkout():
    """The code identity of this checkout, computed here."""
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gmm_pipeline.records import provenance; import json; print(json.dumps(provenance.code_identity()))",
        ],
        cwd=REPO / "scripts",
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return json.loads(process.stdout)
