"""Running one step inside a Snakemake job: log, thread limit, clean errors, provenance."""

import contextlib
import errno
import logging
import resource
import sys
from pathlib import Path

from threadpoolctl import threadpool_info, threadpool_limits

from ..errors import PipelineInputError
from ..records.provenance import write_provenance
from ..records.verify import check_inputs_against_records
from .job_process import process_description, process_limits

# Write errors that mean the disk (or the file size a limit allows) is full: the job ends
# with one line, not a traceback chained to the cleanup's own failure.
_STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def remove_stale_temporaries(outputs):
    """Delete the half-written temporaries a killed earlier attempt left beside ``outputs``.

    Artifacts are written to ``.<name>.<random>.tmp`` and renamed when complete
    (:func:`gmm_pipeline.files.artifacts.atomic_open`); a process killed outright cannot clean up.
    """
    for output in outputs:
        output = Path(output)
        for stale in output.parent.glob(f".{output.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def thread_counts():
    """The thread count of each kind of BLAS/OpenMP library loaded, e.g. ``blas 1, openmp 1``."""
    counts = {}
    for pool in threadpool_info():
        counts[pool["user_api"]] = max(counts.get(pool["user_api"], 0), pool["num_threads"])
    return ", ".join(f"{api} {n}" for api, n in sorted(counts.items())) or "no BLAS or OpenMP loaded"


def peak_address_space_mib():
    """This process's peak virtual memory (``VmPeak``), what ``ulimit -v`` holds, in MiB: in
    a worker's child it includes all the worker had mapped. None where /proc has no such line."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def describe_limits(limits):
    """The limits a job runs under, for its log: nice, CPUs, umask, memory limit."""
    address_space = limits["rlimits"].get(str(resource.RLIMIT_AS), [resource.RLIM_INFINITY])[0]
    memory = "unlimited" if address_space == resource.RLIM_INFINITY else f"{address_space // 1024} KiB"
    return (
        f"nice {limits['nice']}, cpus {','.join(map(str, limits['cpus']))}, "
        f"umask {limits['umask']:04o}, address space {memory}"
    )


def run_step(smk, action, *, params, seeds=None):
    """Run ``action()`` as the body of a Snakemake job, then record its provenance.

    Parameters
    ----------
    smk : gmm_pipeline.execution.jobs.Job
        The job, as Snakemake handed it to the rule's ``script:``. Its ``step``, the rule's
        name, is the step the provenance record names.
    action : callable
        Does the step's work and writes its outputs.
    params : dict
        Parameters to record.
    seeds : sequence of int, optional
        Every random seed the step used.

    Everything the step logs goes to the job's log file. BLAS and OpenMP threads are held
    to the job's ``threads`` so parallel jobs do not oversubscribe the cores. A
    :class:`PipelineInputError` ends the job with its message alone, no traceback; so does
    an input that differs from the provenance record of the job that made it
    (:func:`gmm_pipeline.records.verify.check_inputs_against_records`), before the step starts. The record names
    the code the step ran (the rule's ``code`` param, :mod:`gmm_pipeline.records.code_version`).
    """
    step = smk.step
    remove_stale_temporaries(smk.output)
    with (
        open(smk.log[0], "w", encoding="utf-8") as log_file,
        contextlib.redirect_stdout(log_file),
        threadpool_limits(limits=smk.threads),
    ):
        logging.basicConfig(
            stream=log_file, level=logging.INFO, force=True, format="%(levelname)s %(name)s: %(message)s"
        )
        # Flushed at once: a user (or a test) following the log sees where the job runs.
        print(f"running in: {process_description()}", file=log_file)
        print(f"threads: {thread_counts()}", file=log_file)
        print(f"limits: {describe_limits(process_limits())}", file=log_file, flush=True)
        try:
            input_entries = check_inputs_against_records(smk.input)
            action()
            # Peak memory goes to the log, not the provenance: it differs from run to run.
            peak = max(
                resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            )
            print(f"peak resident memory: {peak / 1024:.1f} MiB", file=log_file)
            address_space = peak_address_space_mib()
            if address_space is not None:
                print(f"peak address space: {address_space:.1f} MiB", file=log_file)
            outputs = [path for name, path in smk.output.items() if name != "provenance"]
            write_provenance(
                smk.output.provenance,
                step=step,
                params=params,
                wildcards=dict(smk.wildcards.items()),
                inputs=input_entries,
                outputs=outputs,
                seeds=seeds,
                step_code=smk.params.code,
            )
        except PipelineInputError as err:
            _fail(step, err, log_file)
        except MemoryError:
            _fail(
                step,
                f"out of memory under {describe_limits(process_limits())}; see the memory estimate "
                f"in the README, or free memory and rerun",
                log_file,
            )
        except OSError as err:
            if err.errno not in _STORAGE_FULL:
                raise
            _fail(
                step,
                f"{err.strerror} writing {err.filename}; make room (disk space, quota or file-size limit) and rerun",
                log_file,
            )


def _fail(step, reason, log_file):
    """End the job with one line on stderr (and in its log, where it can still be written)."""
    message = f"gmm-pipeline: {step} failed: {reason}"
    with contextlib.suppress(OSError):
        print(message, file=log_file, flush=True)
    print(message, file=sys.stderr)
    sys.exit(1)
