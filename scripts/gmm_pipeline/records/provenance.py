"""Where an artifact came from: step, parameters, inputs by hash, seeds, versions, code."""

import functools
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ..files.artifacts import content_sha256, write_json
from .code_version import RESULT_LIBRARIES, files_sha256

# The repository root: scripts/gmm_pipeline/records/provenance.py -> parents[2].
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]

# The libraries whose versions a record names: those the results depend on, and the tool
# that ran the step.
_PACKAGES = (*RESULT_LIBRARIES, "snakemake")
_CODE_GLOBS = ("workflow/**/*", "scripts/**/*.py")
# Carries the code identity from the Snakemake process to the jobs of its run.
CODE_IDENTITY_VARIABLE = "GMM_PIPELINE_CODE_IDENTITY"


@functools.cache
def package_versions():
    """Versions of Python, the numeric stack and the BLAS that numbers depend on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["blas"] = _blas_versions()
    return versions


def _blas_versions():
    # Results can differ in the last bits between BLAS builds, so the BLAS is recorded too.
    # numpy and scipy may each bundle one, listed in load order: sort for a stable record.
    # threadpoolctl sees only loaded libraries, so load both whatever the step imported.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    return sorted(
        {
            f"{pool.get('internal_api')} {pool.get('version')}"
            for pool in threadpool_info()
            if pool.get("user_api") == "blas"
        }
    )


def code_identity():
    """Identify the code that ran: git revision (when available) and a hash of the code.

    The hash covers ``workflow/`` (the Snakefile, rules, schema, captions) and ``scripts/``,
    so a copy of the code without git history is still identified. Inside a run, the identity Snakemake's own
    process recorded when the run started (:func:`share_code_identity`) is used, so every
    job of the run names the same code; elsewhere it is computed here.
    """
    shared = _shared_code_identity()
    return shared if shared is not None else _computed_code_identity()


def share_code_identity():
    """Record the code identity once for the whole run, for the jobs it starts.

    Called from the Snakefile's ``onstart``: two ``git`` calls and a hash of the code
    then happen once per run instead of once per job. Jobs inherit it through the
    environment; a job that does not (a cluster node that drops the environment, say)
    computes it itself.
    """
    os.environ[CODE_IDENTITY_VARIABLE] = json.dumps(_computed_code_identity())


def _shared_code_identity():
    try:
        shared = json.loads(os.environ.get(CODE_IDENTITY_VARIABLE, ""))
    except ValueError:
        return None
    # Only a record of exactly the expected form is trusted.
    if (
        isinstance(shared, dict)
        and set(shared) == {"revision", "code_sha256"}
        and isinstance(shared["revision"], (str, type(None)))
        and isinstance(shared["code_sha256"], str)
        and len(shared["code_sha256"]) == 64
    ):
        return shared
    return None


@functools.cache
def _computed_code_identity():
    files = {p for pattern in _CODE_GLOBS for p in REPOSITORY_ROOT.glob(pattern) if p.is_file()}
    files = [path for path in files if "__pycache__" not in path.parts]
    return {"revision": _git_revision(), "code_sha256": files_sha256(REPOSITORY_ROOT, files)}


# A copy of the code made from a remote reference (the Snakefile's copy_of_repository)
# names that reference here: the copy has no git history of its own.
COPY_MARKER = ".gmm-pipeline-copy-of"


def mark_repository_copy(folder, source):
    """Name the remote reference (``git+file:///...@v1.0``) a copy of the code in
    ``folder`` came from; the code identity then reports it as the revision."""
    (Path(folder) / COPY_MARKER).write_text(source)


def _git_revision():
    marker = REPOSITORY_ROOT / COPY_MARKER
    if marker.is_file():
        return marker.read_text().strip()

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(REPOSITORY_ROOT), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return revision + ("-dirty" if dirty else "")


def file_entry(path):
    """Describe one file as ``{"path", "sha256", "bytes"}``.

    A table with wall-clock columns (``artifacts.TIMING_COLUMNS``) is hashed without them
    and recorded as ``{"path", "sha256", "sha256_excludes_columns"}``: its bytes differ on
    every run, its data does not, and the records that cite it stay byte-identical.
    """
    digest, excluded = content_sha256(path)
    if excluded:
        return {"path": str(path), "sha256": digest, "sha256_excludes_columns": excluded}
    return {"path": str(path), "sha256": digest, "bytes": Path(path).stat().st_size}


def file_entries(items):
    """List files as :func:`file_entry` records, in the order given; an item that is such a
    record already (taken earlier, so the file is hashed once) is kept as it is."""
    return [dict(item) if isinstance(item, dict) else file_entry(item) for item in items]


def write_provenance(path, *, step, params, inputs, outputs, wildcards=None, seeds=None, step_code=None):
    """Write the provenance record of one job next to its artifacts.

    Parameters
    ----------
    path : path-like
        Where to write the record (JSON).
    step : str
        Pipeline step that made the artifacts, e.g. ``"fit"``.
    params : dict
        The step's parameters, as taken from the config.
    inputs : sequence of path-like or dict
        Files the step read, as paths or as :func:`file_entry` records taken before the
        step ran (the job checks its inputs first and hashes each only once).
    outputs : sequence of path-like
        Files the step wrote; both are recorded with their SHA-256.
    wildcards : dict, optional
        The job's wildcards (dataset, covariance type, ...).
    seeds : sequence of int, optional
        Every random seed the step used.
    step_code : dict, optional
        The code the step ran (:func:`gmm_pipeline.records.code_version.step_code`), which
        ``make verify`` compares with the checkout's.

    Notes
    -----
    The record holds no timestamps or absolute paths, so the same config gives the same
    bytes on every run.
    """
    record = {
        "step": step,
        "wildcards": dict(wildcards or {}),
        "params": params,
        "seeds": list(seeds) if seeds is not None else None,
        "inputs": file_entries(inputs),
        "outputs": file_entries(outputs),
        "code": code_identity(),
        "step_code": step_code,
        "versions": package_versions(),
    }
    write_json(path, record)
    return record
