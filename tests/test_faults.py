"""Faults on real runs: a run killed mid-fit resumes to the same artifacts; the processes of a
run that is killed end with it; two runs at once in one directory do not mix, and the second
says why it did not run."""

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMALL_CONFIG, process_alive, run_snakemake, snakemake_command, write_config
from gmm_pipeline.files.artifacts import TIMING_COLUMNS

pytestmark = pytest.mark.workflow


def _start(workdir, *args):
    command = snakemake_command(workdir, "--configfile", SMALL_CONFIG, *args)
    # A session of its own, so the whole process group (snakemake and its jobs) can be killed.
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _results(workdir):
    results = workdir / "results"
    return {
        str(p.relative_to(workdir)): p
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "runs")
    }


def test_a_run_killed_mid_fit_resumes_to_the_same_artifacts(small_run, tmp_path):
    process = _start(tmp_path, "--cores", 1)
    fit_logs = tmp_path / "results/logs/fit_models"
    fitting_logs = []

    def fitting():
        # A fit job is running (in the worker's child) and has not yet written its tables.
        # (Waiting for a logged component count missed the jobs of the fast engine, which
        # finish in a fraction of a second.)
        for log in fit_logs.glob("*.log") if fit_logs.is_dir() else []:
            if (
                "running in: warm worker" in log.read_text()
                and not (tmp_path / f"results/fit/{log.stem}/starts.csv").exists()
            ):
                fitting_logs.append(log)
                return True
        return False

    _wait_for(fitting)
    os.killpg(process.pid, signal.SIGKILL)  # no chance to clean up: the hardest stop
    process.wait()
    # The fit ran in a child of the warm worker, outside the killed process group: it must
    # notice that its job's process is gone and stop, not go on writing.
    child = re.search(r"running in: warm worker \d+, child (\d+)", fitting_logs[0].read_text())
    assert child, fitting_logs[0].read_text()
    _wait_for(lambda: not process_alive(int(child.group(1))), timeout=10)
    assert not (tmp_path / "results/manifest.json").exists()
    # What a user does after a crash: release the stale lock, then run again.
    run_snakemake(tmp_path, "--configfile", SMALL_CONFIG, "--unlock")
    run_snakemake(tmp_path, "--configfile", SMALL_CONFIG, "--cores", 2, "--rerun-incomplete")
    resumed, clean = _results(tmp_path), _results(small_run)
    assert set(resumed) == set(clean)  # nothing missing, no stray temporaries left behind
    for path in clean:
        if path.endswith("starts.csv"):
            pd.testing.assert_frame_equal(
                pd.read_csv(resumed[path]).drop(columns=list(TIMING_COLUMNS)),
                pd.read_csv(clean[path]).drop(columns=list(TIMING_COLUMNS)),
            )
        else:
            assert resumed[path].read_bytes() == clean[path].read_bytes(), path


def _processes_naming(text):
    """The pids of the processes whose command line holds ``text``."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.add(int(cmdline.parent.name))
        except OSError:
            pass
    return found


STUCK_STEP = Path(__file__).resolve().parent / "stuck_step"


def _stop(process, how):
    """Stop Snakemake with SIGKILL, or as `timeout -k 2` does: SIGTERM (on which Snakemake
    waits for its running jobs), then SIGKILL two seconds later."""
    if how == "timeout -k":
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)
    process.kill()
    process.wait(timeout=60)


@pytest.mark.parametrize("how", ["SIGKILL", "timeout -k"])
@pytest.mark.parametrize("worker", ["on", "off"])
def test_every_job_process_ends_within_seconds_of_snakemake(tmp_path, how, worker):
    """Snakemake killed while a fit is stuck in a C call that holds the GIL
    (tests/stuck_step): the job's process and the one stuck end within seconds, and no
    process of the run stays behind."""
    stuck_pids = tmp_path / "stuck.pids"
    process = subprocess.Popen(
        snakemake_command(tmp_path, "--configfile", SMALL_CONFIG, "--cores", 1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(
            os.environ,
            GMM_PIPELINE_WORKER=worker,
            # A runtime folder of its own: a fresh worker, which imports the hook.
            XDG_RUNTIME_DIR=str(tmp_path),
            PYTHONPATH=os.pathsep.join(filter(None, [str(STUCK_STEP), os.environ.get("PYTHONPATH")])),
            GMM_TEST_STUCK_STEP="fit_models",
            GMM_TEST_STUCK_PIDS=str(stuck_pids),
        ),
        start_new_session=True,
    )
    try:
        _wait_for(lambda: stuck_pids.is_file() and stuck_pids.read_text().endswith("\n"))
        time.sleep(0.5)  # well inside the C call
        stuck = int(stuck_pids.read_text().split()[0])
        job_processes = _processes_naming(f"{tmp_path}/.snakemake/scripts/")
        assert job_processes, "no job process found"
        _stop(process, how)
        _wait_for(lambda: not any(map(process_alive, [stuck, *job_processes])), timeout=10)
        assert _processes_naming(f"{tmp_path}/.snakemake") == set()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in _processes_naming(str(tmp_path)) | {
            int(pid) for pid in (stuck_pids.read_text().split() if stuck_pids.is_file() else [])
        }:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_second_run_in_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    first = _start(tmp_path, "--cores", 1)
    locks = tmp_path / ".snakemake/locks"
    _wait_for(lambda: locks.is_dir() and any(locks.iterdir()))
    # Hold the first run where it is (it keeps its lock), so that however fast the jobs,
    # the second meets a run in progress.
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        second = run_snakemake(tmp_path, "--configfile", SMALL_CONFIG, "--cores", 1, check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output[-3000:]
    assert second.returncode != 0
    # Snakemake refuses either at its lock or, if it first meets the files the running job is
    # writing, at its incomplete-files check; both say why and change nothing.
    said = second.stdout + second.stderr
    assert "Directory cannot be locked" in said or "seem to be incomplete" in said, said[-2000:]
    manifest = json.loads((tmp_path / "results/manifest.json").read_text())
    assert {entry["path"] for entry in manifest["artifacts"]} == set(_results(tmp_path)) - {
        "results/manifest.json"
    }


def test_a_full_disk_ends_the_job_with_one_line_naming_the_file(tmp_path):
    # The file-size limit (ulimit -f) stands in for a full disk: a write fails as it would
    # (EFBIG as ENOSPC), while Snakemake's own small files still fit.
    config = {
        "datasets": {"moons": {"generator": "moons", "n_samples": 30000, "noise": 0.05, "seed": 1}},
        "fit": {"covariance_types": ["full"], "n_components": [1, 2], "seeds": 1, "init_params": ["kmeans"]},
        "selection": {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}},
        "bayesian": {"max_components": 2, "n_init": 1},
    }

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))

    process = run_snakemake(
        tmp_path,
        "--configfile",
        write_config(tmp_path / "c.yaml", config),
        "--cores",
        1,
        check=False,
        preexec_fn=small_files,
    )
    assert process.returncode != 0
    said = process.stdout + process.stderr
    assert "Traceback" not in said, said[-3000:]
    assert re.findall(r"^gmm-pipeline: .*$", said, flags=re.MULTILINE) == [
        "gmm-pipeline: prepare_data failed: File too large writing results/data/moons/data.csv; make room (disk "
        "space, quota or file-size limit) and rerun"
    ]
    assert not list((tmp_path / "results/data/moons").glob(".*.tmp"))


def test_a_job_that_cannot_allocate_ends_with_one_line(tmp_path, capsys):
    from gmm_pipeline.execution.jobs import Job
    from gmm_pipeline.execution.runner import run_step
    from gmm_pipeline.records.code_version import step_code

    def named(**values):
        return {"items": list(values.values()), "names": values}

    job = Job(
        rule="fit_models",
        step="fit_models",
        cwd=str(tmp_path),
        threads=1,
        config={},
        input=named(),
        output=named(provenance=str(tmp_path / "provenance.json")),
        params=named(code=step_code("fit_models")),
        wildcards=named(dataset="moons"),
        log={"items": [str(tmp_path / "fit.log")], "names": {}},
    )

    def allocate():
        raise MemoryError  # as numpy raises when the address space runs out

    with pytest.raises(SystemExit) as ended:
        run_step(job, allocate, params={})
    assert ended.value.code == 1
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith(
        "gmm-pipeline: fit_models failed: out of memory under nice "
    ), said
    assert not (tmp_path / "provenance.json").exists()
