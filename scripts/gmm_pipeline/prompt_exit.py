"""Let Snakemake exit as soon as its run is over.

After each pass over the ready jobs, Snakemake's scheduler starts a ``threading.Timer`` that
wakes it again after the ``--max-jobs-per-timespan`` span (1 s by default, and the option
cannot set less: its ``<n>/<span>`` parser reads ``100ms`` as 100 minutes). The timer is
not a daemon thread, so the finished process waits for the last one before it exits: up to
a second added to every run, the same whether the run took two seconds or two hours.
Cancelling it once the run is over changes nothing else (it only wakes a scheduler that
has stopped).
"""

import threading

SCHEDULER_MODULE = "snakemake.scheduling.job_scheduler"


def cancel_rescheduling_timers():
    """Cancel the timers Snakemake's scheduler left running; return how many were cancelled.

    Call it from ``onsuccess`` or ``onerror``, once no job is left to schedule. Only timers
    whose action was defined in the scheduler's own module are touched.
    """
    cancelled = 0
    for thread in threading.enumerate():
        action = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and getattr(action, "__module__", None) == SCHEDULER_MODULE:
            thread.cancel()
            cancelled += 1
    return cancelled
