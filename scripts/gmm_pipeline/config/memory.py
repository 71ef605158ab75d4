"""How much memory a dataset's jobs need, estimated from the config before any job runs.

A job's peak resident memory is a fixed part (Python with numpy, scipy, scikit-learn,
pandas and matplotlib loaded) plus a part that grows with the data: EM holds the rows
(n x d), responsibilities and log-densities (n x k) and per-component temporaries, and
the bootstrap and cross-validation steps hold copies. Measured on every step (each job
logs its peak; README, "Large data"): 300,000 x 2 rows with up to 10 components peaked
at 362 MiB, 60,000 x 20 at 265 MiB. The estimate below is about 30 % above both.

The estimate decides two things: the ``mem_mb`` each rule asks for (what a cluster
scheduler reserves), and whether the run can start at all: a dataset whose estimate
exceeds this machine's memory, its cgroup's, the process's ``ulimit``, or the
``--resources mem_mb`` the user gave, is refused with the numbers before any job runs,
instead of an out-of-memory kill an hour in.
"""

import contextlib
import os
import resource
from pathlib import Path

from ..errors import PipelineInputError
from ..files.artifacts import PARQUET_SUFFIXES, first_csv_row, text_head
from ..maths.outlier_kinds import injections, n_outliers

# The fixed part: Python with the libraries, numba and the EM engine's compiled loops
# (gmm_pipeline/maths/em_kernels.py); a test holds it above every job's logged peak.
BASE_MIB = 400
# Peak bytes per 8-byte value of rows x (features + components), above the base.
WORKING_FACTOR = 8
# The fixed part of a job's address space (what ``ulimit -v`` and ``-d`` hold), far above
# its resident part: the libraries map large regions they never touch (the compiler behind
# the EM engine, Arrow's allocator, a malloc arena per thread), and a worker's child holds
# all the worker mapped. Every job of the small test config peaked at 1.9 GiB (VmPeak, in
# each job's log); a test holds the estimate above every job's peak.
ADDRESS_SPACE_BASE_MIB = 2300
# What a job asks a scheduler for at least: small data gains nothing from a smaller request.
MIN_REQUEST_MB = 1000
# Rows x features of scikit-learn's bundled datasets (before any subsampling); a test
# checks them against the loaders, which are too slow to call while the config is read.
BUNDLED_SHAPES = {"iris": (150, 4), "wine": (178, 13), "breast_cancer": (569, 30)}
# Lines of a CSV file read to estimate its row count from its size.
_SAMPLE_LINES = 1000


def dataset_shape(spec):
    """Rows and features of a dataset entry, from the config (and a file's size) alone.

    A CSV file's row count is estimated from its size and the length of the lines in its
    head (:func:`gmm_pipeline.files.artifacts.text_head`, which refuses a compressed, non-UTF-8
    or line-less file naming it); a Parquet file's is read from its footer. Returns None
    for a file that is not there (the config check names it).
    """
    if "generator" in spec:
        n_rows, n_features = spec["n_samples"], generated_features(spec)
    elif "bundled" in spec:
        n_rows, n_features = BUNDLED_SHAPES.get(spec["bundled"], (0, 0))
    else:
        shape = _file_shape(Path(spec["path"]))
        if shape is None:
            return None
        n_rows, n_features = shape
    n_source = n_rows
    for entry in injections(spec):
        n_rows += n_outliers(entry["fraction"], n_source)
    return n_rows, n_features


def generated_features(spec):
    """How many features a generator entry makes: ``n_features`` for blobs, else 2."""
    return spec.get("n_features", 2) if spec["generator"] == "blobs" else 2


def parquet_shape(path):
    """Rows and columns of a Parquet file, from its footer; None for an unreadable file
    (the input check names it)."""
    import pyarrow.parquet

    try:
        metadata = pyarrow.parquet.ParquetFile(path).metadata
    except Exception:  # an unreadable file is the input check's to name
        return None
    return metadata.num_rows, metadata.num_columns


def _file_shape(path):
    if not path.is_file():
        return None
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return parquet_shape(path)
    # Only the file's head is read (at most HEAD_BYTES, whatever its size): the header
    # and a sample of rows, whose mean length gives the row count from the file's size.
    text = text_head(path)
    n_features = len(first_csv_row(text, path))
    head = text.encode("utf-8")
    header_bytes = head.find(b"\n") + 1 or len(head)
    lengths = [len(line) for line in head[header_bytes:].splitlines(keepends=True)[:_SAMPLE_LINES]]
    if not lengths:
        return 0, n_features
    per_row = sum(lengths) / len(lengths)
    return round((path.stat().st_size - header_bytes) / per_row), n_features


def peak_memory_mib(n_rows, n_features, max_components):
    """Estimated peak resident memory (MiB) of the heaviest job on such data."""
    return BASE_MIB + WORKING_FACTOR * n_rows * (n_features + max_components) * 8 / 2**20


def peak_address_space_mib(n_rows, n_features, max_components):
    """Estimated peak address space (MiB) of the heaviest job on such data."""
    return peak_memory_mib(n_rows, n_features, max_components) - BASE_MIB + ADDRESS_SPACE_BASE_MIB


def largest_component_count(settings):
    """The most components any model has (fitted sweep or Bayesian model) under these
    settings: a config, or a planned dataset's ``settings``."""
    return max(max(settings["fit"]["n_components"]), settings["bayesian"]["max_components"])


def dataset_memory_mib(plan, shapes=None):
    """Estimated peak memory (MiB) of each dataset's jobs, by dataset name.

    ``plan`` is the run's :func:`gmm_pipeline.config.plan.plan_datasets`; ``shapes`` are the
    datasets' :func:`dataset_shape`, where already known.
    """
    if shapes is None:
        shapes = {name: dataset_shape(planned.spec) for name, planned in plan.items()}
    return {
        name: BASE_MIB
        if shape is None
        else peak_memory_mib(*shape, largest_component_count(plan[name].settings))
        for name, shape in shapes.items()
    }


def memory_limits():
    """The limits a job of this run is held to, in MiB, each named by where it comes from:
    ``(resident, address_space)``, the limits on memory in use and on memory mapped."""
    resident, address_space = {}, {}
    with contextlib.suppress(OSError, ValueError):
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        resident["this machine's memory"] = pages / 2**20
    cgroup_max = _cgroup_memory_max()
    if cgroup_max is not None:
        resident["the cgroup's memory.max"] = cgroup_max / 2**20
    for name, which in (("ulimit -v", resource.RLIMIT_AS), ("ulimit -d", resource.RLIMIT_DATA)):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            address_space[name] = soft / 2**20
    return resident, address_space


def _cgroup_memory_max():
    """The memory limit of this process's cgroup in bytes (v2 ``memory.max`` or v1
    ``memory.limit_in_bytes``), or None where there is none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    files = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        path = path.lstrip("/")
        if hierarchy == "0" and not controllers:
            files += [Path("/sys/fs/cgroup", path, "memory.max"), Path("/sys/fs/cgroup/memory.max")]
        elif "memory" in controllers.split(","):
            # In a container the mount shows the container's own cgroup at its root.
            root = Path("/sys/fs/cgroup/memory")
            files += [root / path / "memory.limit_in_bytes", root / "memory.limit_in_bytes"]
    found = []
    for file in files:
        with contextlib.suppress(OSError, ValueError):
            value = file.read_text().strip()
            if value != "max" and int(value) < 2**60:  # v1 writes "no limit" as about 2^63
                found.append(int(value))
    return min(found, default=None)


def check_memory(plan, requested_mb=None):
    """Refuse a config whose data would not fit in memory, naming the dataset and numbers.

    Parameters
    ----------
    plan : dict
        The run's datasets, :func:`gmm_pipeline.config.plan.plan_datasets`.
    requested_mb : int, optional
        The ``--resources mem_mb`` the run was given, if any.

    Returns
    -------
    estimates : dict
        :func:`dataset_memory_mib` of the plan (what each dataset's jobs ask for).

    Raises
    ------
    PipelineInputError
        If any dataset's estimated peak exceeds the smallest limit of its kind: resident
        memory against the machine's, the cgroup's and ``mem_mb``; address space (the
        libraries' mappings, a worker child's included) against ``ulimit -v`` and ``-d``.
    """
    shapes = {name: dataset_shape(planned.spec) for name, planned in plan.items()}
    estimates = dataset_memory_mib(plan, shapes)
    resident, address_space = memory_limits()
    if requested_mb is not None:
        resident["--resources mem_mb"] = requested_mb * 10**6 / 2**20
    for name, shape in shapes.items():
        k = largest_component_count(plan[name].settings)
        shape = shape or (0, 0)
        for limits, estimate, what in (
            (resident, estimates[name], "memory"),
            (address_space, peak_address_space_mib(*shape, k), "address space"),
        ):
            if not limits:
                continue
            where, limit = min(limits.items(), key=lambda item: item[1])
            if estimate > limit:
                where_named = (
                    plan[name].key
                    if plan[name].sweep is None
                    else f"{plan[name].key} point {plan[name].folder}"
                )
                base = BASE_MIB if what == "memory" else ADDRESS_SPACE_BASE_MIB
                advice = (
                    [f"raise the limit to at least {estimate:,.0f} MiB"] if what == "address space" else []
                )
                if base < limit:  # else no data is small enough: only the limit can change
                    advice.insert(0, "use fewer rows (n_samples) or fewer components")
                raise PipelineInputError(
                    f"{where_named}: {shape[0]:,} rows x {shape[1]} features with up to {k} "
                    f"components need an estimated {estimate:,.0f} MiB of {what} per job, more than "
                    f"the {limit:,.0f} MiB of {where}; {', or '.join(advice)}"
                )
    return estimates


def rule_mem_mb(estimate_mib, requested_mb=None):
    """What a job asks its scheduler for (``mem_mb``, in MB): the estimate, at least
    :data:`MIN_REQUEST_MB`, and never more than the run's ``--resources mem_mb``."""
    wanted = max(MIN_REQUEST_MB, round(estimate_mib * 2**20 / 10**6))
    return wanted if requested_mb is None else min(wanted, requested_mb)
