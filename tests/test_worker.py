"""The warm worker and the job round trip it relies on, on real processes."""

import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import process_alive
from gmm_pipeline.execution import job_process, worker_client
from gmm_pipeline.execution.jobs import job_from_json, job_to_json
from gmm_pipeline.records.code_version import step_code
from snakemake.iocontainers import Namedlist

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


class FakeSnakemake:
    """The attributes of Snakemake's ``snakemake`` object that jobs.py reads, built from
    Snakemake's own Namedlist."""

    def __init__(self, tmp_path, bad_csv):
        self.rule = "check_input"
        self.threads = 1
        self.config = {"datasets": {"mine": {"path": str(bad_csv)}}, "threshold": float("inf")}
        self.input = Namedlist()
        self.output = Namedlist(
            fromdict={"report": str(tmp_path / "check.json"), "provenance": str(tmp_path / "provenance.json")}
        )
        self.params = Namedlist(
            fromdict={"spec": {"path": str(bad_csv)}, "min_rows": 3, "code": step_code("check_input")}
        )
        self.wildcards = Namedlist(fromdict={"dataset": "mine"})
        self.log = Namedlist([str(tmp_path / "check.log")])


@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("x,y\n1,2\n3,oops\n4,5\n")
    return path


def test_a_job_survives_the_json_round_trip(tmp_path, bad_csv):
    smk = FakeSnakemake(tmp_path, bad_csv)
    job = job_from_json(job_to_json(smk, "check_input", tmp_path))
    assert job.output.report == smk.output.report and list(job.output) == list(smk.output)
    assert dict(job.output.items()) == dict(smk.output.items())
    assert job.params.spec == {"path": str(bad_csv)} and job.params.min_rows == 3
    assert job.wildcards.dataset == "mine" and job.log[0] == smk.log[0]
    assert job.config == smk.config and job.cwd == str(tmp_path) and job.step == "check_input"
    with pytest.raises(AttributeError, match="no item named 'missing'"):
        _ = job.output.missing


def test_a_job_with_a_value_json_cannot_carry_is_refused_by_name(tmp_path, bad_csv):
    smk = FakeSnakemake(tmp_path, bad_csv)
    smk.params = Namedlist(fromdict={"spec": object()})
    with pytest.raises(TypeError, match="params cannot be passed as JSON"):
        job_to_json(smk, "check_input", tmp_path)


def _run_through_worker(tmp_path, runtime_dir, request, preexec_fn=None, **environment):
    """Hand ``request`` to the worker from a process of its own, as a Snakemake job would
    (``preexec_fn`` sets that process's limits)."""
    code = (
        "import sys; from gmm_pipeline.execution import job_process, worker_client; "
        "status = worker_client.run_in_worker(sys.stdin.read()); print('status', status)"
    )
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir), PYTHONPATH=str(SCRIPTS), **environment)
    return subprocess.run(
        [sys.executable, "-c", code],
        input=request,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=preexec_fn,
    )


def _running_in(log):
    return _log_line(log, "running in:")


def _log_line(log, prefix):
    return next(line for line in log.read_text().splitlines() if line.startswith(prefix))


@pytest.fixture
def runtime_dir():
    """A fresh folder for worker sockets, short enough for a socket path."""
    path = Path(tempfile.mkdtemp(prefix="gmm-", dir="/tmp"))
    yield path
    # Stop the workers serving from it (their command line names the folder).
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                os.kill(int(cmdline.parent.name), signal.SIGTERM)
        except (OSError, ProcessLookupError):
            pass
    shutil.rmtree(path, ignore_errors=True)


def test_the_worker_runs_jobs_in_forked_children_and_relays_their_errors(tmp_path, bad_csv, runtime_dir):
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    first = _run_through_worker(tmp_path, runtime_dir, request)
    # The step's own error reaches the job's stderr, and its status the job's process.
    assert "status 1" in first.stdout, first.stderr
    assert "mine.csv" in first.stderr and "'y'" in first.stderr
    assert not (tmp_path / "check.json").exists()
    first_process = _running_in(tmp_path / "check.log")
    second = _run_through_worker(tmp_path, runtime_dir, request)
    assert "status 1" in second.stdout, second.stderr
    second_process = _running_in(tmp_path / "check.log")
    # Both ran in children of one worker, which outlives them; each child was its own process.
    worker_pid = first_process.split()[4].rstrip(",")
    assert first_process.startswith(f"running in: warm worker {worker_pid}, child ")
    assert second_process.startswith(f"running in: warm worker {worker_pid}, child ")
    assert first_process != second_process
    assert job_process.process_description().startswith("own process")  # this one never was a child
    # A good file now: the same worker writes the report and provenance in the job's folder.
    bad_csv.write_text("x,y\n1,2\n3,4\n4,5\n")
    good = _run_through_worker(tmp_path, runtime_dir, request)
    assert "status 0" in good.stdout, good.stderr
    assert json.loads((tmp_path / "check.json").read_text())["n_rows"] == 3
    assert _running_in(tmp_path / "check.log").startswith(f"running in: warm worker {worker_pid}, child ")


@pytest.mark.parametrize("threads", [1, 2])
def test_a_job_in_the_worker_gets_its_own_thread_count(tmp_path, bad_csv, runtime_dir, threads):
    # The worker loads its libraries with one thread; a job asking for two must get two.
    bad_csv.write_text("x,y\n1,2\n3,4\n4,5\n")
    smk = FakeSnakemake(tmp_path, bad_csv)
    smk.threads = threads
    result = _run_through_worker(tmp_path, runtime_dir, job_to_json(smk, "check_input", tmp_path))
    assert "status 0" in result.stdout, result.stderr
    log = (tmp_path / "check.log").read_text()
    assert "running in: warm worker" in log
    assert f"threads: blas {threads}, openmp {threads}\n" in log


def test_a_job_in_the_worker_runs_under_its_callers_limits(tmp_path, bad_csv, runtime_dir):
    bad_csv.write_text("x,y\n1,2\n3,4\n4,5\n")
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    # The first job starts the worker, with this process's ordinary limits.
    assert "status 0" in _run_through_worker(tmp_path, runtime_dir, request).stdout
    assert f"nice {os.getpriority(os.PRIO_PROCESS, 0)}," in _log_line(tmp_path / "check.log", "limits:")
    address_space = 6 * 1024**3

    def limited():  # as `nice -n 10 taskset -c 0` with `ulimit -v` and `umask 027`
        os.nice(10)
        os.sched_setaffinity(0, {0})
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        os.umask(0o027)

    result = _run_through_worker(tmp_path, runtime_dir, request, preexec_fn=limited)
    assert "status 0" in result.stdout, result.stderr
    # The child that did the work read its own values from /proc and the kernel.
    assert _running_in(tmp_path / "check.log").startswith("running in: warm worker")
    assert _log_line(tmp_path / "check.log", "limits:") == (
        f"limits: nice {os.getpriority(os.PRIO_PROCESS, 0) + 10}, cpus 0, umask 0027, "
        f"address space {address_space // 1024} KiB"
    )
    # Its artifacts honour the umask: 0640, not the temporary file's 0600.
    assert stat.S_IMODE((tmp_path / "check.json").stat().st_mode) == 0o640


def test_a_child_that_cannot_take_on_the_limits_runs_nothing():
    reason = job_process.adopt_limits({**job_process.process_limits(), "cpus": [4096]})
    assert reason is not None and "cannot take on the job's limits" in reason
    assert job_process.adopt_limits({}) is not None


def test_an_idle_worker_exits_and_the_next_job_starts_a_new_one(tmp_path, bad_csv, runtime_dir):
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    _run_through_worker(tmp_path, runtime_dir, request, GMM_PIPELINE_WORKER_IDLE_SECONDS="1")
    first = int(_running_in(tmp_path / "check.log").split()[4].rstrip(","))
    deadline = time.monotonic() + 30
    while process_alive(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(first)
    # It removed its socket, lock and log: nothing is left behind.
    assert [path.name for path in runtime_dir.rglob("*") if not path.is_dir()] == []
    again = _run_through_worker(tmp_path, runtime_dir, request, GMM_PIPELINE_WORKER_IDLE_SECONDS="1")
    assert "status 1" in again.stdout, again.stderr
    second = int(_running_in(tmp_path / "check.log").split()[4].rstrip(","))
    assert second != first


def test_a_worker_runs_at_most_its_bound_of_jobs_and_sends_the_rest_home(tmp_path, bad_csv, runtime_dir):
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    bound = {"GMM_PIPELINE_WORKER_MAX_JOBS": "1"}
    assert "status 1" in _run_through_worker(tmp_path, runtime_dir, request, **bound).stdout
    # Take the one place: connect and get a child's greeting, then hand over nothing yet.
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.settimeout(30)
    holder.connect(str(next(runtime_dir.rglob("*.sock"))))
    assert holder.recv(1) == b"G"
    started = time.monotonic()
    busy = _run_through_worker(tmp_path, runtime_dir, request, **bound)
    # The worker said so at once; the job's process then ran nothing in the worker.
    assert "status None" in busy.stdout and time.monotonic() - started < 10, busy.stderr
    holder.close()  # its child gets no job and exits; the place is free again
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again = _run_through_worker(tmp_path, runtime_dir, request, **bound)
        if "status 1" in again.stdout:
            break
        time.sleep(0.2)
    assert "status 1" in again.stdout, again.stdout + again.stderr


def test_no_worker_is_used_from_a_folder_other_users_can_enter(runtime_dir, monkeypatch):
    # A short folder: pytest's own tmp_path can be too deep for a socket path (under xdist).
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    folder = runtime_dir / f"gmm-pipeline-{os.getuid()}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    assert worker_client.worker_folder() is None
    assert worker_client.run_in_worker("{}") is None  # the caller then runs the job itself
    folder.chmod(0o700)
    assert worker_client.worker_folder() == folder
    # A folder whose socket path would be too long for Linux is not used either.
    deep = runtime_dir / ("d" * 100)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert worker_client.worker_folder() is None


def test_edited_code_gets_a_worker_of_its_own(tmp_path, monkeypatch):
    copy = tmp_path / "gmm_pipeline"
    shutil.copytree(worker_client.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(worker_client, "PACKAGE_DIR", copy)
    before = worker_client.worker_key()
    assert worker_client.worker_key() == before
    (copy / "stages" / "fit_models.py").write_text(
        (copy / "stages" / "fit_models.py").read_text() + "\n# edited\n"
    )
    assert worker_client.worker_key() != before
    # A module in a subpackage counts as much as one at the top.
    (copy / "layer").mkdir()
    (copy / "layer" / "__init__.py").write_text("")
    (copy / "layer" / "module.py").write_text("VALUE = 1\n")
    before = worker_client.worker_key()
    (copy / "layer" / "module.py").write_text("VALUE = 2\n")
    assert worker_client.worker_key() != before


def test_an_installed_or_upgraded_library_gets_a_worker_of_its_own(tmp_path, monkeypatch):
    site_packages = tmp_path / "site-packages"
    (site_packages / "somelib-1.0.dist-info").mkdir(parents=True)
    os.utime(site_packages, ns=(0, 0))  # long ago, so any change below shows in the key
    monkeypatch.setattr(worker_client.sysconfig, "get_path", lambda name: str(site_packages))
    before = worker_client.worker_key()
    assert worker_client.worker_key() == before
    # pip upgrades a package by replacing its dist-info folder, and installs one by adding it.
    (site_packages / "somelib-1.0.dist-info").rename(site_packages / "somelib-1.1.dist-info")
    upgraded = worker_client.worker_key()
    assert upgraded != before
    os.utime(site_packages, ns=(10**9, 10**9))
    (site_packages / "otherlib-2.0.dist-info").mkdir()
    assert worker_client.worker_key() not in {before, upgraded}


@pytest.mark.skipif(os.getuid() != 0, reason="connecting as another user needs root")
def test_the_worker_serves_only_its_own_user(tmp_path, bad_csv, runtime_dir):
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    assert "status 1" in _run_through_worker(tmp_path, runtime_dir, request).stdout
    worker_pid = _running_in(tmp_path / "check.log").split()[4].rstrip(",")
    socket_path = next(runtime_dir.rglob("*.sock"))
    # Open the way to the socket for everyone, as a careless chmod would: the worker's own
    # check of the caller's uid is then all that stands in the way.
    for path, mode in ((runtime_dir, 0o755), (socket_path.parent, 0o755), (socket_path, 0o777)):
        path.chmod(mode)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other user: connect and report what the worker sends first
        try:
            os.setgid(65534)
            os.setuid(65534)
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(30)
            connection.connect(str(socket_path))
            os.write(write_end, b"greeted" if connection.recv(1) else b"closed")
        except BaseException as error:  # noqa: BLE001 (reported to the test through the pipe)
            os.write(write_end, repr(error).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as answer:
        assert answer.read() == b"closed"
    # The worker is unharmed and goes on serving its own user.
    socket_path.parent.chmod(0o700)
    assert "status 1" in _run_through_worker(tmp_path, runtime_dir, request).stdout
    assert _running_in(tmp_path / "check.log").startswith(f"running in: warm worker {worker_pid}, child ")


@pytest.mark.parametrize("setting, enabled", [("off", False), ("0", False), ("on", True)])
def test_the_worker_can_be_switched_off(monkeypatch, setting, enabled):
    monkeypatch.setenv("GMM_PIPELINE_WORKER", setting)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(job_process.LOCAL_RUN_VARIABLE, str(os.getppid()))  # as a job of a local run
    assert worker_client.worker_enabled() is (enabled and sys.platform == "linux")


def test_only_jobs_the_local_snakemake_started_use_the_worker(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("GMM_PIPELINE_WORKER", raising=False)
    # No local Snakemake named: a job a cluster or cloud executor started.
    monkeypatch.delenv(job_process.LOCAL_RUN_VARIABLE, raising=False)
    assert not worker_client.worker_enabled()
    # Snakemake's process named, but this job does not descend from it (the variable was
    # carried along to another process tree, as an executor that exports the environment does).
    other = subprocess.Popen(["sleep", "30"])
    try:
        monkeypatch.setenv(job_process.LOCAL_RUN_VARIABLE, str(other.pid))
        assert not worker_client.worker_enabled()
    finally:
        other.kill()
        other.wait()
    # This process's parent or this process itself: a job of the local executor.
    for ancestor in (os.getppid(), os.getpid()):
        monkeypatch.setenv(job_process.LOCAL_RUN_VARIABLE, str(ancestor))
        assert worker_client.worker_enabled() is (sys.platform == "linux")


def test_jobs_on_a_slurm_node_run_in_their_own_process(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert not worker_client.worker_enabled()


def test_a_worker_stuck_in_its_start_up_is_ended_by_the_kernel(tmp_path, bad_csv, runtime_dir):
    # Its import of pandas hangs in a C call holding the GIL (tests/stuck_step): past its
    # start-up time SIGALRM ends it, and the job meanwhile runs elsewhere.
    stuck_pids = tmp_path / "stuck.pids"
    code = "import sys; from gmm_pipeline.execution import worker_client; print('status', worker_client.run_in_worker(sys.stdin.read()))"
    env = dict(
        os.environ,
        XDG_RUNTIME_DIR=str(runtime_dir),
        PYTHONPATH=os.pathsep.join([str(SCRIPTS.parent / "tests" / "stuck_step"), str(SCRIPTS)]),
        GMM_TEST_STUCK_IMPORT="pandas",
        GMM_TEST_STUCK_PIDS=str(stuck_pids),
        GMM_PIPELINE_WORKER_STARTUP_SECONDS="3",
    )
    request = job_to_json(FakeSnakemake(tmp_path, bad_csv), "check_input", tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", code], input=request, capture_output=True, text=True, env=env, timeout=120
    )
    assert "status None" in result.stdout, result.stderr  # no worker took it: it runs in its own process
    worker_pid = int(stuck_pids.read_text().split()[0])
    deadline = time.monotonic() + 10
    while process_alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(worker_pid)
