"""The warm worker: run jobs in a process that has scikit-learn imported already.

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
* The worker runs at most :data:`MAX_CHILDREN` jobs at once; it answers a job beyond
  that with "busy", and the job runs in its own process.
* The worker exits after :data:`IDLE_SECONDS` without a job, and removes its socket, lock
  and log file as it goes.

Jobs use the worker only when Snakemake's local executor runs them: the Snakefile names
Snakemake's own process while that process reads it (:func:`mark_local_run`), and a job uses the
worker only when it descends from that process on this machine, never when a cluster or
cloud executor (SLURM, LSF, Kubernetes, Google Batch, ...) started it. Jobs run in their
own process also when ``GMM_PIPELINE_WORKER=off``, on a SLURM node, on platforms other than Linux (fork is unsafe with
macOS system libraries), or when the worker cannot start; the results are the same.
"""

import contextlib
import fcntl
import gc
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import time
import traceback
from pathlib import Path

from ..records.code_version import files_sha256
from .job_process import (
    adopt_limits,
    end_with_the_run,
    mark_worker_child,
    process_limits,
    started_by_local_snakemake,
)
from .jobs import job_from_json, job_to_json

# How long a worker waits for a job before it exits (it is read by the worker at its start).
IDLE_SECONDS = float(os.environ.get("GMM_PIPELINE_WORKER_IDLE_SECONDS", 120))
# How many jobs a worker runs at once; a job beyond that runs in its own process. Snakemake
# holds a run to --cores jobs; the bound holds several runs, or a flood of connections.
MAX_CHILDREN = int(os.environ.get("GMM_PIPELINE_WORKER_MAX_JOBS", 2 * (os.cpu_count() or 1)))
# How long a job waits for a starting worker, and the longest a worker may take to start
# or to make one idle import before the kernel ends it.
STARTUP_SECONDS = int(os.environ.get("GMM_PIPELINE_WORKER_STARTUP_SECONDS", 60))
LOCK_WAIT_SECONDS = 2
# Imported by the worker before it takes its first job: what nearly every step needs.
PRELOAD = (
    "sklearn.mixture",
    "sklearn.ensemble",
    "sklearn.neighbors",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.datasets",
    "scipy.cluster.hierarchy",
    "pandas",
    "threadpoolctl",
    "gmm_pipeline.execution.steps",
    "gmm_pipeline.stages.extract_anomalies",
    "gmm_pipeline.stages.prune_weights",
    "gmm_pipeline.stages.cross_validate",
    "gmm_pipeline.stages.prepare_data",
    "gmm_pipeline.stages.fit_models",
    "gmm_pipeline.stages.write_manifest",
    "gmm_pipeline.stages.select_model",
    "gmm_pipeline.stages.check_input",
    "gmm_pipeline.stages.assess_stability",
)
# Imported while no job is waiting: what only the last steps or some datasets need, so the
# first jobs need not wait for it (a child forked earlier imports what it lacks itself).
# An entry "module:function" also calls the function: the EM engine's compiled loops are
# loaded here once (and compiled, after an install) instead of in every fitting job.
PRELOAD_WHEN_IDLE = (
    "gmm_pipeline.maths.em_kernels:warm",
    "matplotlib.pyplot",
    "gmm_pipeline.stages.render_figures",
    "pyarrow.parquet",
)
PACKAGE_DIR = Path(__file__).resolve().parents[1]
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_GREETING = b"G"
# Sent instead of the greeting by a worker running MAX_CHILDREN jobs already.
_BUSY = b"B"
_KEY_LENGTH = 20
_EXIT_STATUS = struct.Struct("!i")
# The reply of a child that could not take on the job's limits and ran nothing.
_DECLINED = -(2**31)
_LENGTH = struct.Struct("!Q")


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
    if connection is _BUSY:
        return None
    if connection is None:
        started = _start_worker(folder, key)
        deadline = time.monotonic() + STARTUP_SECONDS
        while connection is None and time.monotonic() < deadline:
            if started.poll() not in (None, 0):  # it failed; 0 means another worker holds the lock
                return None
            time.sleep(0.02)
            connection = _connect(socket_path)
        if connection is None or connection is _BUSY:
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
    """A connection to the worker whose child is ready for a job, :data:`_BUSY` if the
    worker runs as many jobs as it may, or None if there is no worker."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(STARTUP_SECONDS)
        connection.connect(str(socket_path))
        # The greeting comes from the child forked for this connection. Without it the
        # worker was closing as we connected: nothing ran, so the caller may try again.
        greeting = connection.recv(1)
        if greeting != _GREETING:
            connection.close()
            return _BUSY if greeting == _BUSY else None
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
    environment.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    log = open(folder / f"{key}.log", "ab")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "gmm_pipeline.execution.worker", str(folder), key],
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
    socket.send_fds(connection, [_LENGTH.pack(len(payload))], _standard_streams())
    connection.sendall(payload)
    reply = _receive_exactly(connection, _EXIT_STATUS.size)
    if reply is None:
        print(
            "gmm-pipeline: the worker process running this job died before it finished "
            "(killed, or out of memory?); rerun it, or set GMM_PIPELINE_WORKER=off to run "
            "each job in its own process.",
            file=sys.stderr,
        )
        return 1
    status = _EXIT_STATUS.unpack(reply)[0]
    return None if status == _DECLINED else status


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


def _receive_exactly(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# --- the worker's side ------------------------------------------------------------------


def serve(folder, key):
    """Import the step modules, then fork a child per job (at most :data:`MAX_CHILDREN` at
    once) until idle for IDLE_SECONDS."""
    import importlib

    folder = Path(folder)
    # A worker that cannot finish its start-up (or an idle import) in STARTUP_SECONDS is
    # ended by the kernel (SIGALRM's default action), even stuck in a library call: under
    # a tight `ulimit -v`, OpenBLAS retries a failed allocation for ever.
    signal.alarm(STARTUP_SECONDS)
    lock = _hold_lock(folder / f"{key}.lock")
    if lock is None:
        return
    # CPython's recipe for a process that forks without exec (see gc.freeze): no collections
    # in the worker, which would only scan the imported modules' objects (and make the
    # imports slower), everything frozen right before each fork, collections back on in
    # each child. A child's collector then never touches, and so never copies, the pages
    # it shares with the worker.
    gc.disable()
    for module in PRELOAD:
        importlib.import_module(module)
    # Recorded once: the versions of the libraries this worker loaded and its children use.
    importlib.import_module("gmm_pipeline.records.provenance").package_versions()
    sys.stdout.flush()
    sys.stderr.flush()
    socket_path = folder / f"{key}.sock"
    socket_path.unlink(missing_ok=True)  # left by a worker that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    signal.alarm(0)
    children = set()

    def reap(signum, frame):
        # Collect each child as it exits, so none lingers as a zombie (which would look
        # alive to a caller checking on it) and the count of running jobs stays true.
        _reap(children)

    signal.signal(signal.SIGCHLD, reap)
    pending = list(PRELOAD_WHEN_IDLE)
    try:
        while True:
            # While modules are pending, only look for a waiting job; else wait for one.
            listener.settimeout(0 if pending else IDLE_SECONDS)
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, TimeoutError):
                if not pending:
                    break
                signal.alarm(STARTUP_SECONDS)
                _preload(pending.pop(0))
                signal.alarm(0)
                continue
            if _peer_uid(connection) != os.getuid():
                connection.close()
                continue
            _reap(children)
            if len(children) >= MAX_CHILDREN:
                with contextlib.suppress(OSError):
                    connection.sendall(_BUSY)
                connection.close()
                continue
            gc.freeze()
            child = os.fork()
            if child == 0:
                listener.close()
                lock.close()
                _run_child(connection)  # never returns
            children.add(child)
            connection.close()
    finally:
        # Gone with the worker: its socket, and its lock and log (a worker that crashes
        # leaves its log for a look). The lock goes while still held, so no other
        # worker can be waiting on the file removed (see _hold_lock).
        socket_path.unlink(missing_ok=True)
        listener.close()
        (folder / f"{key}.lock").unlink(missing_ok=True)
        (folder / f"{key}.log").unlink(missing_ok=True)
        lock.close()


def _hold_lock(path):
    """Take the worker's lock file, or return None if another worker holds it.

    Wait briefly: a worker that went idle may still hold the lock while it exits. One that
    holds it longer is starting or serving, and this one is not needed. A lock taken on a
    file its holder removed meanwhile (it exited) is taken again on the new file.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while time.monotonic() <= deadline:
        lock = open(path, "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            time.sleep(0.05)
            continue
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                return lock
        lock.close()
    return None


def _reap(children):
    """Forget the children that have exited (and collect their exit status)."""
    for child in list(children):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(child, os.WNOHANG)[0] == 0:
                continue
        children.discard(child)


def _preload(entry):
    """Import ``module`` of an entry ``module`` or ``module:function``, and call the function."""
    import importlib

    module, _, function = entry.partition(":")
    loaded = importlib.import_module(module)
    if function:
        getattr(loaded, function)()


def _peer_uid(connection):
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _run_child(connection):
    """In the child forked for one job: take the job, run it, send back its exit status."""
    mark_worker_child(os.getppid())
    gc.enable()
    status = 1
    try:
        connection.setblocking(True)
        for signal_number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, signal.SIG_DFL)
        connection.sendall(_GREETING)
        header, fds, _, _ = socket.recv_fds(connection, _LENGTH.size, 3)
        if len(header) != _LENGTH.size or len(fds) != 3:
            os._exit(1)
        payload = _receive_exactly(connection, _LENGTH.unpack(header)[0])
        if payload is None:
            os._exit(1)
        hand_over = json.loads(payload)
        for target, fd in enumerate(fds):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        os.environ.clear()
        os.environ.update(hand_over["environment"])
        declined = adopt_limits(hand_over.get("limits") or {})
        if declined is not None:
            print(
                f"gmm-pipeline: the warm worker {declined}; the job runs in its own process",
                file=sys.stderr,
                flush=True,
            )
            status = _DECLINED
            connection.sendall(_EXIT_STATUS.pack(status))
            os._exit(0)
        job = job_from_json(hand_over["job"])
        os.chdir(job.cwd)
        _die_with_caller(connection, True)
        try:
            status = run_here(job)
        except BaseException:  # everything, so the job's process gets a status and a traceback
            traceback.print_exc()
            status = 1
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        _die_with_caller(connection, False)
        connection.sendall(_EXIT_STATUS.pack(status))
    finally:
        os._exit(status)


def _die_with_caller(connection, on):
    """Have the kernel end this child when the job's process goes away (``on``), or no longer.

    With ``O_ASYNC`` the socket sends this process ``SIGIO`` when the job's process closes
    its end (it sends nothing after the job, so nothing else raises the signal), and
    ``SIGIO``'s default action ends the process. The kernel does it, so it works while the
    job is stuck in a library call that holds the GIL, where a watching thread could not run.
    """
    fd = connection.fileno()
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if on:
        signal.signal(signal.SIGIO, signal.SIG_DFL)
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, (flags | os.O_ASYNC) if on else (flags & ~os.O_ASYNC))
    if on and select.select([connection], [], [], 0)[0]:
        os._exit(1)  # the job's process closed its end before the signal was armed


if __name__ == "__main__":
    # Serve from the imported module, not this __main__ copy, so each module exists once.
    from gmm_pipeline.execution.worker import serve as serve_imported

    serve_imported(*sys.argv[1:3])
