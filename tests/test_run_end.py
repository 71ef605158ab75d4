"""The end of a run: the workflow profile's scheduling span, and the timers cancelled at the end."""

import threading

import pytest
from conftest import SMALL_CONFIG, run_snakemake
from gmm_pipeline.run_end import cancel_pending_timers


def test_cancel_pending_timers_stops_a_waiting_timer_before_it_fires():
    fired = threading.Event()
    timer = threading.Timer(60, fired.set)
    timer.start()
    assert cancel_pending_timers() >= 1
    timer.join(timeout=5)
    assert not timer.is_alive()
    assert not fired.is_set()


def test_cancel_pending_timers_leaves_other_threads_alone():
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=True)
    worker.start()
    cancel_pending_timers()
    assert worker.is_alive()
    release.set()
    worker.join(timeout=5)


@pytest.mark.workflow
def test_a_run_from_another_folder_takes_the_workflow_profiles_span(tmp_path):
    # Snakemake finds workflow/profiles/default beside the Snakefile, wherever it runs;
    # its rate limiter then re-examines the queue every 10 s, not every second.
    process = run_snakemake(
        tmp_path, "--configfile", SMALL_CONFIG, "--cores", 1, "--verbose", "results/data/moons/data.csv"
    )
    output = process.stdout + process.stderr
    assert "workflow/profiles/default" in output
    assert "Submitting maximum 1000 job(s) over 10.0 second(s)." in output
