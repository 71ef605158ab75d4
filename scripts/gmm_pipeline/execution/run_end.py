"""What a run does in Snakemake's own process when it ends, before the process exits."""

import threading


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
