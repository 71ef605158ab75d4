"""Memory: each dataset's need estimated from the config, too much refused before any job runs."""

import re
import resource

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_CONFIG, full_plan, planned_jobs, run_snakemake, small_config, write_config
from gmm_pipeline.config.memory import (
    BUNDLED_SHAPES,
    dataset_memory_mib,
    dataset_shape,
    largest_component_count,
    peak_address_space_mib,
    peak_memory_mib,
    rule_mem_mb,
)
from gmm_pipeline.stages.check_input import load_bundled


@pytest.mark.parametrize("name", sorted(BUNDLED_SHAPES))
def test_bundled_shapes_are_the_loaders(name):
    assert load_bundled({"bundled": name})[0].shape == BUNDLED_SHAPES[name]


def test_file_shapes_come_from_the_file(tmp_path):
    rng = np.random.default_rng(0)
    # Rows of uneven length (the first ones short): the estimate reads a sample of lines.
    frame = pd.DataFrame({"a": rng.lognormal(0, 6, 20_000), "b": rng.normal(size=20_000), "c": 1})
    frame.to_csv(tmp_path / "data.csv", index=False)
    n_rows, n_features = dataset_shape({"path": str(tmp_path / "data.csv")})
    assert n_features == 3 and abs(n_rows - 20_000) < 0.05 * 20_000
    frame.to_parquet(tmp_path / "data.parquet")
    assert dataset_shape({"path": str(tmp_path / "data.parquet")}) == (20_000, 3)
    assert dataset_shape({"path": str(tmp_path / "absent.csv")}) is None
    spec = {"generator": "blobs", "n_samples": 1000, "n_features": 5, "inject_outliers": {"fraction": 0.03}}
    assert dataset_shape(spec) == (1030, 5)


def _logged_peaks(run, line, estimates):
    """Each job's peak from its log's ``line`` (``peak ...: <MiB> MiB``), beside its
    dataset's estimate: ``{rule/log: (peak, estimate)}``."""
    peaks = {}
    for log in (run / "results/logs").rglob("*.log"):
        match = re.search(rf"{line}: ([\d.]+) MiB", log.read_text())
        dataset = next((name for name in estimates if name in log.stem), None)
        if match and dataset:
            peaks[f"{log.parent.name}/{log.stem}"] = (float(match.group(1)), estimates[dataset])
    assert len(peaks) > 10
    return peaks


def test_the_estimate_bounds_every_jobs_measured_peak(small_run):
    peaks = _logged_peaks(small_run, "peak resident memory", dataset_memory_mib(full_plan(small_config())))
    assert all(peak < estimate for peak, estimate in peaks.values()), peaks


def _too_big_is_refused(tmp_path, config, *args, preexec=None, expected):
    """Run (not a dry run) with ``config``: it must stop before any job, results untouched."""
    earlier = tmp_path / "results/data/moons/data.csv"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("x\n1\n")
    process = run_snakemake(
        tmp_path,
        "--configfile",
        write_config(tmp_path / "config.yaml", config),
        "--cores",
        1,
        *args,
        check=False,
        preexec_fn=preexec,
    )
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert re.search(expected, output), output[-3000:]
    assert "rule prepare_data" not in output and earlier.read_text() == "x\n1\n"


def test_data_larger_than_the_machine_is_refused_with_the_estimate(tmp_path):
    config = small_config()
    config["datasets"]["moons"]["n_samples"] = 1_000_000_000
    _too_big_is_refused(
        tmp_path,
        config,
        expected=r"datasets\.moons: 1,000,000,000 rows x 2 features with up to 5 components need an "
        rf"estimated {peak_memory_mib(10**9, 2, 5):,.0f} MiB of memory per job, more than the [\d,]+ MiB of "
        r"(this machine's memory|the cgroup)",
    )


def test_data_larger_than_the_address_space_limit_is_refused(tmp_path):
    config = small_config()
    config["datasets"]["blobs"]["n_samples"] = 20_000_000  # about 8.8 GB, more than 3 GiB

    def limited():  # as `ulimit -v 3145728`
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    _too_big_is_refused(
        tmp_path,
        config,
        preexec=limited,
        expected=r"datasets\.blobs: .* more than the 3,072 MiB of ulimit -v",
    )


def _address_space_limit(mib):
    def limited():  # as `ulimit -v`
        resource.setrlimit(resource.RLIMIT_AS, (mib * 2**20, mib * 2**20))

    return limited


def test_the_address_space_estimate_bounds_every_jobs_measured_peak(small_run):
    # What `ulimit -v` holds: the jobs' peak virtual memory, a worker child's included.
    estimates = {
        name: peak_address_space_mib(*dataset_shape(planned.spec), largest_component_count(planned.settings))
        for name, planned in full_plan(small_config()).items()
    }
    peaks = _logged_peaks(small_run, "peak address space", estimates)
    assert all(peak < estimate for peak, estimate in peaks.values()), peaks


def test_an_address_space_limit_below_what_a_job_maps_is_refused(tmp_path):
    # The hostile case: `ulimit -v 800000` passed the resident estimate (400 MiB), and a
    # job then spun in OpenBLAS for want of address space its worker child already held.
    _too_big_is_refused(
        tmp_path,
        small_config(),
        preexec=_address_space_limit(781),
        expected=r"datasets\.moons: 200 rows x 2 features with up to 5 components need an estimated "
        r"2,300 MiB of address space per job, more than the 781 MiB of ulimit -v; raise the limit to at "
        r"least 2,300 MiB$",
    )


def test_planning_reads_a_bounded_head_of_a_huge_file_with_no_line_end(tmp_path):
    # A sparse 8 GB file: read whole, as before, it would take 8 GB (under this limit the
    # read fails); its head alone names the file.
    huge = tmp_path / "user.csv"
    with open(huge, "wb") as handle:
        handle.truncate(8 * 2**30)
    config = {"datasets": {"user": {"path": str(huge)}}}
    process = run_snakemake(
        tmp_path,
        "--configfile",
        write_config(tmp_path / "config.yaml", config),
        "--dry-run",
        check=False,
        preexec_fn=_address_space_limit(3072),
    )
    assert process.returncode == 1
    assert process.stderr.strip().splitlines()[-1] == (
        f"Invalid config: {huge}: no line end in the first 1,048,576 bytes; expected CSV text, "
        f"a header row and one row per line"
    ), process.stderr[-3000:]
    assert "Traceback" not in process.stderr


def test_data_larger_than_the_runs_mem_mb_is_refused(tmp_path):
    _too_big_is_refused(
        tmp_path,
        small_config(),
        "--resources",
        "mem_mb=200",
        expected=r"datasets\.moons: 200 rows .* more than the 191 MiB of --resources mem_mb",
    )


def test_each_job_asks_for_its_datasets_estimate(tmp_path):
    config = small_config()
    config["datasets"]["moons"]["n_samples"] = 3_000_000
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "c.yaml", config), "--dry-run", "--forceall"
    )
    assert planned_jobs(process.stdout)["prepare_data"] == 2
    requests = dict(re.findall(r"wildcards: dataset=(\w+)\n.*?mem_mb=(\d+)", process.stdout, flags=re.S))
    moons = rule_mem_mb(peak_memory_mib(3_000_000, 2, 5))
    assert moons > 1500 and requests == {"moons": str(moons), "blobs": "1000"}, requests
    # The run's own --resources mem_mb caps what a job asks for.
    capped = run_snakemake(tmp_path, "--configfile", SMALL_CONFIG, "--dry-run", "--resources", "mem_mb=800")
    assert set(re.findall(r"mem_mb=(\d+)", capped.stdout)) <= {"800"}
