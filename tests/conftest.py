"""Shared helpers: run the real workflow in a temporary directory, small fixtures."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SMALL_CONFIG = REPO / "tests" / "config" / "small.yaml"
CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# The snakemake of the interpreter running the tests, so the pinned one in .venv.
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake_command(workdir, *args, snakefile=SNAKEFILE):
    """The command line that runs ``snakefile`` (this workflow's by default) with ``workdir``
    as working directory."""
    return [SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir), *map(str, args)]


def run_snakemake(workdir, *args, check=True, timeout=900, env=None, preexec_fn=None, cwd=None):
    """Run the workflow with ``workdir`` as working directory; return the finished process.

    ``env`` adds environment variables to this process's own; ``preexec_fn`` runs in the
    child before snakemake starts (to set limits); ``cwd`` is the folder snakemake is
    started from (this process's own by default).
    """
    process = subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
        preexec_fn=preexec_fn,
        cwd=cwd,
    )
    if check and process.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(map(str, args))} exited {process.returncode}\n"
            f"--- stdout ---\n{process.stdout[-5000:]}\n--- stderr ---\n{process.stderr[-5000:]}"
        )
    return process


def job_processes(workdir):
    """How the jobs of a run in ``workdir`` say they ran: in the warm worker or their own process."""
    return {
        re.search(r"^running in: (warm worker|own process)", log.read_text(), flags=re.MULTILINE).group(1)
        for log in (Path(workdir) / "results/logs").rglob("*.log")
    }


def process_alive(pid):
    """Whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def planned_jobs(dry_run_stdout):
    """Jobs per rule from the "Job stats" table that ``snakemake --dry-run`` prints."""
    counts, in_table = {}, False
    for line in dry_run_stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and parts and parts[0] == "total":
            break
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def full_plan(config):
    """The run's datasets as the Snakefile plans them: schema defaults filled, checked."""
    from gmm_pipeline.config.config_checks import check_config, normalise_config, read_schema
    from gmm_pipeline.config.plan import plan_datasets
    from snakemake.utils import validate

    validate(config, str(CONFIG_SCHEMA))
    normalise_config(config)
    plan = plan_datasets(config, read_schema(CONFIG_SCHEMA))
    check_config(config, plan)
    return plan


def write_config(path, config):
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def small_config():
    return yaml.safe_load(SMALL_CONFIG.read_text())


def pytest_collection_modifyitems(config, items):
    """Test files that run the workflow go first, each file's tests kept together.

    They take most of the suite's time, a minute or more per file. Under pytest-xdist
    (make test) a worker that began one of them last would run on alone at the end.
    """
    runs_workflow = {item.module for item in items if item.get_closest_marker("workflow")}
    items.sort(key=lambda item: item.module not in runs_workflow)


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_xdist_worker():
    """Under pytest-xdist (make test) the workers share the CPUs, so each keeps its BLAS and
    OpenMP pools to one thread: with two threads the Bayesian engine's test took 32.6 s beside
    a busy core, with one 14.8 s. Set at the first test, when every test module's imports
    have loaded those libraries (a limit reaches only loaded ones). Workflow runs start their
    own processes and set their own limits."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A complete run of tests/config/small.yaml: its working directory."""
    workdir = tmp_path_factory.mktemp("small_run")
    run_snakemake(workdir, "--configfile", SMALL_CONFIG, "--cores", 2)
    return workdir


@pytest.fixture
def three_blobs():
    """Three well-separated isotropic blobs in 2-D, 300 points, with their labels."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    labels = np.repeat(np.arange(3), 100)
    return centres[labels] + rng.normal(scale=0.7, size=(300, 2)), labels


# A small config with two sweeps and a configured dataset (test_sweeps, test_compare).
LIGHT_SELECTION = {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}}
SWEEP_CONFIG = {
    "datasets": {"blobs": {"generator": "blobs", "n_samples": 120, "centers": 3, "seed": 7}},
    "fit": {
        "covariance_types": ["full"],
        "n_components": [1, 2, 3, 4],
        "seeds": 2,
        "init_params": ["kmeans"],
    },
    "selection": LIGHT_SELECTION,
    "bayesian": {"max_components": 4, "n_init": 1, "max_iter": 100},
    "figures": {"grid_resolution": 30, "dpi": 30},
    "sweeps": {
        "moons_n": {
            "base": {"generator": "moons", "n_samples": 100, "noise": 0.05, "seed": 0},
            "axes": {"n_samples": [60, 120], "seed": [0, 1]},
            "settings": {"fit": {"covariance_types": ["full", "spherical"]}},
        },
        "outliers": {
            "base": "blobs",
            "axes": {"inject_outliers.fraction": [0.05, 0.2]},
            "settings": {"anomalies": {"threshold": "contamination"}},
        },
    },
}


@pytest.fixture(scope="session")
def sweep_run(tmp_path_factory):
    """A complete run of SWEEP_CONFIG: its working directory."""
    workdir = tmp_path_factory.mktemp("sweep")
    run_snakemake(workdir, "--configfile", write_config(workdir / "config.yaml", SWEEP_CONFIG), "--cores", 2)
    return workdir


def start_rules(**overrides):
    """The stopping and degeneracy rules of one start (``maths.single_start.fit_start``), as
    the config schema's defaults give them, with ``overrides``."""
    from gmm_pipeline.stages.fit_models import grid_settings

    settings = grid_settings({"seeds": 1, "n_components": [1]})
    return {key: settings[key] for key in ("tol", "max_iter", "reg_covar", "eigenvalue_factor")} | overrides
