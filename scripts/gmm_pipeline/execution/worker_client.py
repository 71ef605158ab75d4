"""The warm worker, the job's side: run jobs in a process that has scikit-learn imported
already. The worker's own process is :mod:`gmm_pipeline.execution.worker_server`.

A fresh Python process spends about 1.3 s importing scikit-learn, scipy, pandas and
matplotlib before a step does any work, while many steps take a fraction of that. So a
local run starts a worker process (from the Snakefile's ``onstart``, or else from the first
job that finds none) that imports them once and then waits on a Unix socket; each job's
own process (the ``script:`` Snakemake starts) connects, hands over its
job as JSON with its stdin, stdout and stderr, and waits. The worker forks a child for each
job, which runs the step exactly as the job's own process would, writes to the job's own
output streams, and sends back the exit status. The job's process exits with that status,
so Snakemake sees an ordinary job.

Safety:

* The socket lives in a folder only this user can enter, and the worker serves only
  connections from this user (checked with ``SO_PEERCRED``). Jobs travel as JSON, never
  as pickles.
* A worker serves one Python executable, one state of its installed packages and one
  version of this package (the key of its socket includes the site-packages folders'
  modification times and a hash of the package's source): edited code or an upgraded
  library starts a new worker.
* The worker itself never computes, and loads its BLAS and OpenMP libraries with one
  thread: its children fork from a process with no thread pool running. Each child holds
  its libraries to its job's ``threads``, as a job in its own process does.
* A child takes on the limits of the job's own process before it runs the job: its nice
  value, CPU affinity, resource limits (``ulimit``), umask and cgroup. If it cannot (a
  job with a higher priority or a larger limit than the worker's, a cgroup it may not
  join), it runs nothing, says why on the job's stderr, and the job runs in its own
  process instead.
* If the job's process dies (Snakemake cancelled it, or was killed), the kernel ends the
  child as the socket closes (``SIGIO``), even one stuck in a library call, so no orphan
  keeps computing or writing. A job's process itself ends when the Snakemake run that
  started it is gone (:func:`gmm_pipeline.execution.job_process.end_with_the_run`).
* The worker runs at most
  :data:`~gmm_pipeline.execution.worker_server.MAX_CHILDREN` jobs at once; it answers a
  job beyond that with "busy", and the job runs in its own process.
* The worker exits after :data:`~gmm_pipeline.execution.worker_server.IDLE_SECONDS`
  without a job, and removes its socket, lock and log file as it goes.

Jobs use the worker only when Snakemake's local executor runs them: the Snakefile names
Snakemake's own process while that process reads it (:func:`mark_local_run`), and a job uses the
worker only when it descends from that process on this machine, never when a cluster or
cloud executor (SLURM, LSF, Kubernetes, Google Batch, ...) started it. Jobs run in their
own process also when ``GMM_PIPELINE_WORKER=off``, on a SLURM node, on platforms other than Linux (fork is unsafe with
macOS system libraries), or when the worker cannot start; the results are the same.
"""

import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from ..records.code_version import files_sha256
from .job_process import (
    end_with_the_run,
    process_limits,
    started_by_local_snakemake,
)
from .jobs import job_from_json, job_to_json

# How long a job waits for a starting worker, and the longest a worker may take to start
# or to make one idle import before the kernel ends it.
STARTUP_SECONDS = int(os.environ.get("GMM_PIPELINE_WORKER_STARTUP_SECONDS", 60))
PACKAGE_DIR = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
GREETING = b"G"
# Sent instead of the greeting by a worker running MAX_CHILDREN jobs already.
BUSY = b"B"
_KEY_LENGTH = 20
EXIT_STATUS = struct.Struct("!i")
# The reply of a child that could not take on the job's limits and ran nothing.
DECLINED = -(2**31)
LENGTH = struct.Struct("!Q")


def run_job(smk, step):
    """Run rule ``step`` for the job Snakemake handed a ``script:`` (``smk``); exit with its status.

    Parameters
    ----------
    smk : snakemake.iocontainers.Snakemake
        The ``snakemake`` object of the job's ``script:``.
    step : str
        Name of the function in :data:`gmm_pipeline.execution.steps.STEPS` that runs the rule.
    """
    request = job_to_json(smk, step, os.getcwd())
    end_with_the_run()
    status = None
    if worker_enabled():
        status = run_in_worker(request)
    if status is None:
        status = run_here(job_from_json(request))
    sys.exit(status)


def worker_enabled():
    """Whether jobs may go to the warm worker here (see the module docstring)."""
    setting = os.environ.get("GMM_PIPELINE_WORKER", "on").lower()
    return (
        setting not in {"off", "0", "no", "false"}
        and sys.platform == "linux"
        and "SLURM_JOB_ID" not in os.environ
        and hasattr(socket, "send_fds")
        and started_by_local_snakemake()
    )


def run_here(job):
    """Run ``job`` (a :class:`~gmm_pipeline.execution.jobs.Job`) in this process; its exit status."""
    from .steps import STEPS

    try:
        STEPS[job.step](job)
    except SystemExit as exit_:
        return _status_of(exit_.code)
    return 0


def _status_of(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


# --- the job's side ---------------------------------------------------------------------


def worker_key():
    """Identifies the worker that may run this process's jobs: same user, Python, installed
    packages and code."""
    digest = hashlib.sha256()
    digest.update(f"{os.getuid()}\0{sys.executable}\0{PACKAGE_DIR}\0".encode())
    # Installing or upgrading a package changes its site-packages folder, and so the key: a
    # worker never runs jobs with libraries older than those installed.
    for folder in sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}):
        with contextlib.suppress(OSError):
            digest.update(f"{folder}\0{os.stat(folder).st_mtime_ns}\0".encode())
    digest.update(files_sha256(PACKAGE_DIR, PACKAGE_DIR.rglob("*.py")).encode())
    return digest.hexdigest()[:_KEY_LENGTH]


def worker_folder():
    """A folder for worker sockets that only this user can use, or None if there is none."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
    folder = base / f"gmm-pipeline-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.lstat()
    except OSError:
        return None
    private = (
        status.st_uid == os.getuid()
        and (status.st_mode & 0o077) == 0
        and not folder.is_symlink()
        and folder.is_dir()
    )
    # A Unix socket's path may have at most 107 bytes on Linux.
    fits = len(os.fsencode(folder / f"{'0' * _KEY_LENGTH}.sock")) <= 107
    return folder if private and fits else None


def run_in_worker(request):
    """Run the job in the warm worker, starting one if needed.

    Returns its exit status, or None if no worker could take the job (then nothing of it ran).
    """
    folder = worker_folder()
    if folder is None:
        return None
    key = worker_key()
    socket_path = folder / f"{key}.sock"
    connection = _connect(socket_path)
    if connection is BUSY:
        return None
    if connection is None:
        started = _start_worker(folder, key)
        deadline = time.monotonic() + STARTUP_SECONDS
        while connection is None and time.monotonic() < deadline:
            if started.poll() not in (None, 0):  # it failed; 0 means another worker holds the lock
                return None
            time.sleep(0.02)
            connection = _connect(socket_path)
        if connection is None or connection is BUSY:
            return None
    with connection:
        return _hand_over(connection, request)


def start_worker():
    """Start a worker for this Python and code, unless one runs already; do not wait for it.

    The Snakefile calls this when a local run starts, so the worker imports scikit-learn
    while Snakemake plans the jobs. A second worker for the same key exits at once.
    """
    folder = worker_folder() if worker_enabled() else None
    if folder is not None:
        _start_worker(folder, worker_key())


def _connect(socket_path):
    """A connection to the worker whose child is ready for a job, :data:`BUSY` if the
    worker runs as many jobs as it may, or None if there is no worker."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(STARTUP_SECONDS)
        connection.connect(str(socket_path))
        # The greeting comes from the child forked for this connection. Without it the
        # worker was closing as we connected: nothing ran, so the caller may try again.
        greeting = connection.recv(1)
        if greeting != GREETING:
            connection.close()
            return BUSY if greeting == BUSY else None
        connection.settimeout(None)
        return connection
    except OSError:
        connection.close()
        return None


def _start_worker(folder, key):
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR.parent), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    # One thread for every BLAS and OpenMP library the worker loads, so that no thread pool
    # exists when it forks; each child then sets its job's own count (threadpoolctl).
    environment.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    log = open(folder / f"{key}.log", "ab")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "gmm_pipeline.execution.worker_server", str(folder), key],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=environment,
            cwd=folder,
            start_new_session=True,
            close_fds=True,
        )


def _hand_over(connection, request):
    # The child takes this process's environment and limits too, as if it were this process.
    payload = json.dumps(
        {"job": request, "environment": dict(os.environ), "limits": process_limits()}
    ).encode()
    socket.send_fds(connection, [LENGTH.pack(len(payload))], _standard_streams())
    connection.sendall(payload)
    reply = receive_exactly(connection, EXIT_STATUS.size)
    if reply is None:
        print(
            "gmm-pipeline: the worker process running this job died before it finished "
            "(killed, or out of memory?); rerun it, or set GMM_PIPELINE_WORKER=off to run "
            "each job in its own process.",
            file=sys.stderr,
        )
        return 1
    status = EXIT_STATUS.unpack(reply)[0]
    return None if status == DECLINED else status


def _standard_streams():
    """This process's stdin, stdout and stderr, with /dev/null standing in for a closed one."""
    streams = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            streams.append(fd)
        except OSError:
            streams.append(os.open(os.devnull, os.O_RDWR))
    return streams


def receive_exactly(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
