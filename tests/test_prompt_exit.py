"""Snakemake's finished run exits without waiting for its scheduler's last timer."""

import gc
import threading
import types

from snakemake.scheduling.job_scheduler import JobScheduler

from gmm_pipeline.prompt_exit import cancel_rescheduling_timers, exit_promptly


def test_the_scheduler_timer_is_cancelled_and_no_other():
    # The timer exactly as Snakemake's own scheduler starts it after a pass over the jobs.
    scheduler = types.SimpleNamespace(_open_jobs=threading.Semaphore(0))
    JobScheduler._schedule_reevalutation(scheduler, 60)
    ours = threading.Timer(60, lambda: None)
    ours.start()
    try:
        assert cancel_rescheduling_timers() == 1
        scheduler_timers = [t for t in threading.enumerate()
                            if isinstance(t, threading.Timer) and t is not ours]
        for timer in scheduler_timers:
            timer.join(timeout=5)
            assert not timer.is_alive()
        assert not scheduler._open_jobs.acquire(timeout=0)  # its action never ran
        assert ours.is_alive() and not ours.finished.is_set()
    finally:
        ours.cancel()
    assert cancel_rescheduling_timers() == 0


def test_exit_promptly_also_spares_the_final_collection():
    scheduler = types.SimpleNamespace(_open_jobs=threading.Semaphore(0))
    JobScheduler._schedule_reevalutation(scheduler, 60)
    try:
        exit_promptly()
        assert gc.get_freeze_count() > 0
        assert cancel_rescheduling_timers() == 0  # exit_promptly cancelled the scheduler's timer
    finally:
        gc.unfreeze()  # this test process goes on
