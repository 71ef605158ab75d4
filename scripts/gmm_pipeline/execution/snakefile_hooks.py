"""What the Snakefile runs in Snakemake's own process: the check of a run before any job
starts, and what the run does when it starts and ends.

Each function is one call from ``workflow/Snakefile``, so the Snakefile reads as a table of
contents.
"""

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from snakemake.utils import validate

from ..config.config_checks import (
    check_config,
    check_config_size,
    check_strict_types,
    check_unique_keys,
    coerce_cli_strings,
    config_errors_reported,
    normalise_config,
)
from ..config.memory import check_memory
from ..config.plan import plan_datasets, plot_specs
from ..config.schema import SCHEMA_PATH, config_schema
from ..records.history import record_completed_run
from ..records.provenance import mark_repository_copy, share_code_identity
from ..records.verify import check_no_hand_edits
from .job_process import mark_local_run, share_package_path
from .worker_client import start_worker


@dataclass(frozen=True)
class CheckedRun:
    """What the rules need from a checked config.

    Attributes
    ----------
    plan : dict
        Every dataset of the run, the configured ones and each sweep point, with the
        settings its steps use (:func:`gmm_pipeline.config.plan.plan_datasets`).
    sweep_plots : dict
        Each sweep's figures, ``{sweep: {name: spec}}``.
    run_mem_mb : int or None
        The run's ``--resources mem_mb``, if the user gave one.
    memory_mib : dict
        Each dataset's estimated peak memory, also what its jobs ask for.
    """

    plan: dict
    sweep_plots: dict
    run_mem_mb: int | None
    memory_mib: dict


def check_run(workflow, config):
    """Check the whole config before any job runs; stop with one line naming the key.

    Each value is checked against the schema, then how the values fit together, then the
    memory the plan needs. ``config`` is normalised in place (schema defaults filled in).
    Last, an artifact edited by hand under ``results/`` stops the run here, before Snakemake
    deletes the outputs of the job that would refuse it.
    """
    with config_errors_reported():
        # The config files Snakemake read, read again to refuse a repeated key, which
        # Snakemake's reading lets the last one win. Snakemake has no public accessor for
        # the list; without it the check is skipped.
        check_unique_keys(getattr(workflow, "configfiles", []))
        check_config_size(config)
        schema = config_schema()
        coerce_cli_strings(config, schema)
        validate(config, str(SCHEMA_PATH))
        check_strict_types(config, schema)
        normalise_config(config)
        plan = plan_datasets(config, schema)
        check_config(config, plan)
        sweep_plots = {sweep: plot_specs(sweep, plan, config) for sweep in config["sweeps"]}
        run_mem_mb = _run_mem_mb(workflow)
        memory_mib = check_memory(plan, run_mem_mb)
    with config_errors_reported("Stopped before any job"):
        check_no_hand_edits("results")
    return CheckedRun(plan, sweep_plots, run_mem_mb, memory_mib)


def _run_mem_mb(workflow):
    # Snakemake has no public accessor for --resources; if this attribute path changes,
    # the memory check falls back to the machine's limits.
    try:
        return workflow.global_resources["mem_mb"].value
    except (KeyError, AttributeError, TypeError):
        return None


def prepare_process(workflow, *, repository, package_path, copy_reference):
    """Set up the process reading the Snakefile for the jobs it will start.

    For a copy of the repository (a module referenced by a git tag), jobs import the package
    from ``package_path`` and records name ``copy_reference`` as the code's revision. The
    mark that lets jobs use the warm worker is set here, while Snakemake's own process reads
    the Snakefile, not in ``onstart``: Snakemake runs ``onstart`` only for the outer
    workflow, so in a workflow using this one as a module every job would otherwise start
    its own process. Jobs on cluster nodes re-read the Snakefile in processes that are not
    the main one, and stay unmarked.
    """
    if package_path is not None:
        share_package_path(package_path)
        mark_repository_copy(repository, copy_reference)
    if workflow.is_main_process:
        mark_local_run()


_STARTED = {}


def on_start(workflow):
    """``onstart``: note the start time, take the code identity once for every job's
    provenance, and start the warm worker while Snakemake plans (local runs only)."""
    _STARTED["at"] = datetime.now(UTC)
    share_code_identity()
    if workflow.local_exec:
        start_worker()


def on_success(manifest_path, log):
    """``onsuccess``: record a run that changed the results in the run history
    (``results/runs/<id>/``), then end the scheduler's last timers so the process exits at
    once instead of waiting out the job rate limiter's span."""
    try:
        record_completed_run(os.path.dirname(manifest_path), started=_STARTED.get("at"), log_path=log)
    finally:
        cancel_pending_timers()


def on_error():
    """``onerror``: end the scheduler's last timers (see :func:`on_success`)."""
    cancel_pending_timers()


def cancel_pending_timers():
    """Cancel the timers still waiting in this process; the number cancelled.

    Snakemake's scheduler arms a :class:`threading.Timer` after each round of job selection,
    to look at the queue again one ``--max-jobs-per-timespan`` span later. These timers are
    not daemon threads, so a process whose run is over still waits for the last of them
    before it exits: up to the span (10 s in this workflow's profile). Called from the
    Snakefile's ``onsuccess`` and ``onerror``, when no job is left to start, it lets the
    process exit at once. Only the public :mod:`threading` interface is used: every live
    ``Timer`` is cancelled, whoever armed it, since none can do work for a finished run.
    """
    cancelled = 0
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and thread.is_alive():
            thread.cancel()
            cancelled += 1
    return cancelled
