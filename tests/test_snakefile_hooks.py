"""The end of a run: the workflow profile's scheduling span, and the timers cancelled at the end."""

import signal
import subprocess
import threading
import time

import pytest
from conftest import SMALL_CONFIG, run_snakemake, snakemake_command
from gmm_pipeline.execution.snakefile_hooks import cancel_pending_timers


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
        tmp_path,
        "--configfile",
        SMALL_CONFIG,
        "--cores",
        1,
        "--verbose",
        "results/data/moons/data.csv",
        cwd=tmp_path,
    )
    output = process.stdout + process.stderr
    assert "workflow/profiles/default" in output
    assert "Submitting maximum 1000 job(s) over 10.0 second(s)." in output


# Under a 100 s span a run that did not cancel its timers would wait up to 100 s before it
# exits; one that does exits in seconds. The bound is far from both.
LONG_SPAN = ("--max-jobs-per-timespan", "1000/100s")
NO_WAIT_SECONDS = 40


@pytest.mark.workflow
def test_a_finished_run_does_not_wait_out_the_span(tmp_path):
    started = time.monotonic()
    run_snakemake(
        tmp_path,
        "--configfile",
        SMALL_CONFIG,
        "--cores",
        1,
        *LONG_SPAN,
        "--quiet",
        "rules",
        "--",
        "results/data/moons/data.csv",
    )
    assert time.monotonic() - started < NO_WAIT_SECONDS


@pytest.mark.workflow
def test_an_interrupted_run_does_not_wait_out_the_span(tmp_path):
    command = snakemake_command(tmp_path, "--configfile", SMALL_CONFIG, "--cores", 1, *LONG_SPAN, "--quiet")
    # As from a terminal: SIGINT stops the run (a background child would ignore it).
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    log = tmp_path / "results/logs"
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline:  # the first job has started
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    output, _ = process.communicate(timeout=200)
    assert process.returncode != 0, output[-2000:]
    assert time.monotonic() - interrupted < NO_WAIT_SECONDS, output[-2000:]
