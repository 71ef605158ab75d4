"""The warm worker's own process: import the libraries and the step modules once, then
fork a child for each job that connects (:mod:`gmm_pipeline.execution.worker_client` is the
job's side, and says what the worker is for and how it is kept safe).

Run as ``python -m gmm_pipeline.execution.worker_server <folder> <key>``; the job's side
starts it.
"""

import contextlib
import fcntl
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from pathlib import Path

from .job_process import (
    adopt_limits,
    mark_worker_child,
)
from .jobs import job_from_json
from .worker_client import (
    BUSY,
    DECLINED,
    EXIT_STATUS,
    GREETING,
    LENGTH,
    STARTUP_SECONDS,
    receive_exactly,
    run_here,
)

# How long a worker waits for a job before it exits (it is read by the worker at its start).
IDLE_SECONDS = float(os.environ.get("GMM_PIPELINE_WORKER_IDLE_SECONDS", 120))
# How many jobs a worker runs at once; a job beyond that runs in its own process. Snakemake
# holds a run to --cores jobs; the bound holds several runs, or a flood of connections.
MAX_CHILDREN = int(os.environ.get("GMM_PIPELINE_WORKER_MAX_JOBS", 2 * (os.cpu_count() or 1)))
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
    "gmm_pipeline.maths.compiled:warm",
    "matplotlib.pyplot",
    "gmm_pipeline.stages.render_figures",
    "pyarrow.parquet",
)


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
                    connection.sendall(BUSY)
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
        connection.sendall(GREETING)
        header, fds, _, _ = socket.recv_fds(connection, LENGTH.size, 3)
        if len(header) != LENGTH.size or len(fds) != 3:
            os._exit(1)
        payload = receive_exactly(connection, LENGTH.unpack(header)[0])
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
            status = DECLINED
            connection.sendall(EXIT_STATUS.pack(status))
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
        connection.sendall(EXIT_STATUS.pack(status))
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
    from gmm_pipeline.execution.worker_server import serve as serve_imported

    serve_imported(*sys.argv[1:3])
