"""The workflow through a real single-node SLURM cluster (``make test-cluster`` starts it):
every job goes through sbatch, and the results equal a local run byte for byte."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, job_processes, run_snakemake, write_config
from gmm_pipeline.files.artifacts import TIMING_COLUMNS

pytestmark = [pytest.mark.cluster, pytest.mark.workflow]

JOB_COMPLETION_LOG = Path("/var/log/slurm/jobcomp.log")
# Small on purpose: each job pays SLURM's submission and status-polling delays.
TINY = {
    "datasets": {"blobs": {"generator": "blobs", "n_samples": 150, "centers": 3, "seed": 7}},
    "fit": {"covariance_types": ["diag"], "n_components": [1, 2, 3], "seeds": 2, "init_params": ["kmeans"]},
    "selection": {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}},
    "bayesian": {"max_components": 3, "n_init": 1},
    "figures": {"grid_resolution": 40, "dpi": 40},
}


def _results(workdir):
    results = workdir / "results"
    return {
        str(p.relative_to(workdir)): p
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "runs")
    }


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sbatch") is None or not JOB_COMPLETION_LOG.parent.is_dir():
        pytest.fail("no SLURM cluster: run `make test-cluster`, which starts one")


def test_every_job_goes_through_sbatch_and_matches_a_local_run(cluster, tmp_path):
    on_cluster, local = tmp_path / "cluster", tmp_path / "local"
    on_cluster.mkdir(), local.mkdir()
    configfile = write_config(tmp_path / "tiny.yaml", TINY)
    run_snakemake(on_cluster, "--configfile", configfile, "--profile", REPO / "profiles/slurm")
    run_snakemake(local, "--configfile", configfile, "--cores", 2)

    # The controller's job completion log lists one completed job per workflow job here.
    completed = [
        line for line in JOB_COMPLETION_LOG.read_text().splitlines() if f"WorkDir={on_cluster} " in line
    ]
    # data, fit, select, merging, Bayesian, anomalies, figures, the run's metrics, manifest
    assert len(completed) == 9
    assert all("JobState=COMPLETED" in line for line in completed)
    assert len({re.search(r"JobId=(\d+)", line).group(1) for line in completed}) == 9

    # On a SLURM node each job is its own allocation: it runs in its own process there, and
    # in the warm worker locally, with the same results.
    assert job_processes(on_cluster) == {"own process"}
    assert job_processes(local) == {"warm worker"}

    remote, here = _results(on_cluster), _results(local)
    assert set(remote) == set(here)
    for path in here:
        if path.endswith("starts.csv"):  # wall-clock fit_seconds aside
            pd.testing.assert_frame_equal(
                pd.read_csv(remote[path]).drop(columns=list(TIMING_COLUMNS)),
                pd.read_csv(here[path]).drop(columns=list(TIMING_COLUMNS)),
            )
        else:
            assert remote[path].read_bytes() == here[path].read_bytes(), path
