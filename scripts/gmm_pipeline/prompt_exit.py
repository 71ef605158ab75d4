"""Let Snakemake exit as soon as its run is over.

Two things keep a finished Snakemake process alive for no purpose:

* After each pass over the ready jobs, its scheduler starts a ``threading.Timer`` that wakes
  it again after the ``--max-jobs-per-timespan`` span (1 s by default, and the option cannot
  set less: its ``<n>/<span>`` parser reads ``100ms`` as 100 minutes). The timer is not a
  daemon thread, so the process waits for the last one before it exits: up to a second
  added to every run, whether it took two seconds or two hours.
* Python's shutdown runs a full garbage collection over everything Snakemake built (its
  DAG, jobs and modules), about 0.15 s on the benchmark sweep, to reclaim memory the
  exiting process gives back anyway.

:func:`exit_promptly` removes both; it changes nothing else (the timer only wakes a
scheduler that has stopped, and frozen objects are still freed when the process exits).
"""

import gc
import threading

SCHEDULER_MODULE = "snakemake.scheduling.job_scheduler"


def exit_promptly():
    """Cancel Snakemake's leftover scheduler timers and spare the final garbage collection.

    Call it from ``onsuccess`` or ``onerror``, once no job is left to schedule.
    """
    cancel_rescheduling_timers()
    # Objects alive now are moved out of the collector's reach; only the shutdown's own
    # collection, which would free nothing worth freeing, is skipped.
    gc.freeze()


def cancel_rescheduling_timers():
    """Cancel the timers Snakemake's scheduler left running; return how many were cancelled.

    Only timers whose action was defined in the scheduler's own module are touched.
    """
    cancelled = 0
    for thread in threading.enumerate():
        action = getattr(thread, "function", None)
        if (isinstance(thread, threading.Timer) and getattr(action, "__module__", None) == SCHEDULER_MODULE
                and not thread.finished.is_set()):
            thread.cancel()
            cancelled += 1
    return cancelled
