"""The process a job's work runs in: where it is, the limits it runs under, and its end.

A job runs either in its own process or in a child forked by the warm worker
(:mod:`gmm_pipeline.execution.worker_client`); the steps log which (:func:`process_description`) and the
limits the work ran under (:func:`process_limits`). A worker child takes on the limits of
the job's own process (:func:`adopt_limits`) before it runs the job. A job that the local
Snakemake started ends when that Snakemake is gone (:func:`end_with_the_run`). This module
imports nothing of the steps or the worker, so both use it without importing each other.
"""

import os
import resource
import select
import signal

from ..files.artifacts import current_umask

# Resource limits a job's process may have been given (ulimit), copied onto its child.
_RLIMITS = tuple(
    getattr(resource, name)
    for name in (
        "RLIMIT_AS",
        "RLIMIT_DATA",
        "RLIMIT_RSS",
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_NOFILE",
        "RLIMIT_NPROC",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_MEMLOCK",
    )
    if hasattr(resource, name)
)
_worker_pid = None  # the worker's pid, in a child forked by it
# Names Snakemake's own process when it runs jobs with its local executor.
LOCAL_RUN_VARIABLE = "GMM_PIPELINE_LOCAL_RUN"
# How often a job's watchdog looks for the Snakemake that started the job.
WATCH_SECONDS = 0.5


def mark_local_run():
    """Record, for the jobs it starts, that this process is Snakemake running them locally.

    Call it only in Snakemake's own process: the Snakefile does so while that process reads
    it (``workflow.is_main_process``), which also holds when the workflow is a module of
    another, whose ``onstart`` Snakemake never runs.
    """
    os.environ[LOCAL_RUN_VARIABLE] = str(os.getpid())


def started_by_local_snakemake(pid=None):
    """Whether process ``pid`` (this one by default) descends from the Snakemake process
    that called :func:`mark_local_run`, as named in this process's environment."""
    value = os.environ.get(LOCAL_RUN_VARIABLE, "")
    if not value.isdigit():
        return False
    ancestor, current = int(value), os.getpid() if pid is None else pid
    for _ in range(64):  # a job is a child or grandchild of Snakemake; a cycle cannot occur
        if current == ancestor:
            return True
        if current <= 1:
            return False
        try:
            with open(f"/proc/{current}/stat", encoding="ascii", errors="replace") as stat:
                current = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def end_with_the_run():
    """End this job's process when the local Snakemake that started it is gone.

    Snakemake killed with SIGKILL (or ended by a signal it does not pass on) leaves its jobs
    running, re-parented to init. A watchdog process forked here checks every
    :data:`WATCH_SECONDS` that the job still descends from that Snakemake, and kills the
    job with SIGKILL when it no longer does; a job in the warm worker then takes its child
    with it (:mod:`gmm_pipeline.execution.worker_client`). A process, not a thread: a job stuck in a library
    call that holds the GIL would never let a thread run. The watchdog exits as soon as
    the job does (it waits on a pipe the job holds open). Nothing is done for a job that
    the local Snakemake did not start (a cluster's scheduler ends those).
    """
    if not started_by_local_snakemake() or not hasattr(os, "fork"):
        return
    job = os.getpid()
    alive_read, alive_write = os.pipe()
    if os.fork() != 0:
        os.close(alive_read)
        return  # the job keeps alive_write open until it exits
    try:
        os.close(alive_write)
        # The watchdog holds none of the job's files: a shell reading Snakemake's output
        # through a pipe must not wait for it.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, alive_read)
        os.closerange(alive_read + 1, max(alive_read + 2, os.sysconf("SC_OPEN_MAX")))
        while not select.select([alive_read], [], [], WATCH_SECONDS)[0]:
            if not started_by_local_snakemake(job):
                os.kill(job, signal.SIGKILL)
                break
    finally:
        os._exit(0)


def mark_worker_child(worker_pid):
    """Record that this process is a child the warm worker ``worker_pid`` forked for a job."""
    global _worker_pid
    _worker_pid = worker_pid


def process_description():
    """Where the current job runs, for its log."""
    if _worker_pid is None:
        return f"own process {os.getpid()}"
    return f"warm worker {_worker_pid}, child {os.getpid()}"


def process_limits():
    """The limits this process runs under, which a worker child must take on."""
    return {
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "umask": current_umask(),
        "rlimits": {str(limit): list(resource.getrlimit(limit)) for limit in _RLIMITS},
        "cgroup": _cgroup(),
    }


def _cgroup():
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as cgroup:
            return cgroup.read()
    except OSError:
        return None


def adopt_limits(limits):
    """Put this child under the job process's ``limits``; the reason it cannot, or None."""
    try:
        if limits["cgroup"] is not None and _cgroup() != limits["cgroup"]:
            # cgroup v2: one line "0::<path>"; joining it needs write access to its procs.
            path = limits["cgroup"].strip().rpartition("::")[2]
            if not limits["cgroup"].startswith("0::") or not path:
                return "the job runs in another cgroup (v1) that this worker cannot join"
            with open(f"/sys/fs/cgroup{path}/cgroup.procs", "w", encoding="ascii") as procs:
                procs.write(str(os.getpid()))
        if os.getpriority(os.PRIO_PROCESS, 0) != limits["nice"]:
            os.setpriority(os.PRIO_PROCESS, 0, limits["nice"])
        os.sched_setaffinity(0, limits["cpus"])
        for limit, (soft, hard) in limits["rlimits"].items():
            if list(resource.getrlimit(int(limit))) != [soft, hard]:
                resource.setrlimit(int(limit), (soft, hard))
        os.umask(limits["umask"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"cannot take on the job's limits ({err})"
    return None


def share_package_path(folder):
    """Let the job processes of this run import the package from ``folder`` (put first on
    their ``PYTHONPATH``): a module referenced by a git tag runs its job scripts from
    Snakemake's copies, which do not sit beside the package."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
