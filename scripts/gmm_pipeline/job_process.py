"""The process a job's work runs in: where it is, and the limits it runs under.

A job runs either in its own process or in a child forked by the warm worker
(:mod:`gmm_pipeline.worker`); the steps log which (:func:`process_description`) and the
limits the work ran under (:func:`process_limits`). A worker child takes on the limits of
the job's own process (:func:`adopt_limits`) before it runs the job. This module imports
nothing of the steps or the worker, so both use it without importing each other.
"""

import os
import resource

from .artifacts import current_umask

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
