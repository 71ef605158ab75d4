"""Run history: every run that changed the results, kept by content, listed, compared, restored.

When a run completes, :func:`record_run` stores each artifact of its manifest once by the
SHA-256 of its bytes under ``results/runs/store/`` (an artifact two runs share is stored
once, so a run costs the bytes it changed) and writes the run's record,
``results/runs/<id>/run.json``: its start and end, the config, code identity and package
versions of its manifest, the jobs whose records changed and why, and every artifact with
its hashes (Snakemake's log of the run beside it).
A run whose manifest is the same as the last recorded one changed nothing and records
nothing.

Order makes it safe under faults: the bytes go into the store first, each file written
whole or not at all, and the record last, by renaming a finished folder into place. A run
killed before that leaves no record (and at most bytes that :func:`remove_runs` reclaims);
no record ever points to bytes the store lacks. One lock (``runs/.lock``) serialises
recording, removing and restoring; Snakemake already refuses two runs in one folder.
"""

import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ..errors import PipelineInputError
from ..files.artifacts import atomic_open, content_sha256, current_umask, read_json, sha256_file, write_json
from .compare import METRICS_NAME, Run, changed_keys, flatten

RUNS_FOLDER = "runs"
STORE_FOLDER = "store"
RECORD_NAME = "run.json"
# What every run record holds (record_run writes them), checked when one is read.
_RECORD_KEYS = {"id", "started", "ended", "results_dir", "config", "jobs", "manifest_sha256", "artifacts"}
_ARTIFACT_KEYS = ("path", "sha256", "bytes_sha256")
MANIFEST_NAME = "manifest.json"
_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


class RunStore:
    """The run history of one results folder (``<results>/runs/``)."""

    def __init__(self, results_dir):
        self.results_dir = Path(results_dir)
        self.folder = self.results_dir / RUNS_FOLDER
        self.store = self.folder / STORE_FOLDER

    # -- the store of bytes ------------------------------------------------------------

    def blob_path(self, sha256):
        return self.store / sha256[:2] / sha256

    def keep_bytes(self, path):
        """Store the file's bytes (once per content); return their SHA-256."""
        digest = sha256_file(path)
        target = self.blob_path(digest)
        if not target.is_file():
            with atomic_open(target) as handle, open(path, "rb") as source:
                shutil.copyfileobj(source, handle)
            if sha256_file(target) != digest:  # changed while copied: keep nothing half-true
                target.unlink()
                raise PipelineInputError(f"{path} changed while it was being recorded; rerun to record it")
        return digest

    # -- records -----------------------------------------------------------------------

    def run_ids(self):
        """Recorded run ids, oldest first (ids sort by time)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.folder.iterdir()
            if _ID.match(entry.name) and (entry / RECORD_NAME).is_file()
        )

    def record(self, run_id):
        """A run's record, checked to exist."""
        if not _ID.match(str(run_id)) or not (self.folder / run_id / RECORD_NAME).is_file():
            known = ", ".join(self.run_ids()) or "none recorded"
            raise PipelineInputError(f"no run {run_id!r} in {self.folder}; runs: {known}")
        path = self.folder / run_id / RECORD_NAME
        try:
            record = read_json(path)
            missing = sorted(_RECORD_KEYS - set(record)) if isinstance(record, dict) else ["(not an object)"]
            bad = [
                e
                for e in record.get("artifacts", [])
                if not isinstance(e, dict) or set(_ARTIFACT_KEYS) - set(e)
            ]
        except (OSError, ValueError, AttributeError) as err:
            raise PipelineInputError(f"{path}: damaged run record ({err}); remove the run's folder") from None
        if missing or bad:
            raise PipelineInputError(
                f"{path}: damaged run record ({'lacks ' + ', '.join(missing) if missing else 'a malformed artifact entry'}); "
                f"remove the run's folder"
            )
        return record

    @contextlib.contextmanager
    def locked(self):
        """Hold the history's lock (one recorder, remover or restorer at a time)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove_unfinished(self):
        """Delete records a killed recorder left half-written (``.record-*`` folders)."""
        for entry in self.folder.glob(".record-*"):
            shutil.rmtree(entry, ignore_errors=True)


def record_run(results_dir, *, started, log_path=None, ended=None):
    """Record the run that just completed in ``results_dir`` (see the module docstring).

    Parameters
    ----------
    results_dir : path-like
        The run's results folder (with its ``manifest.json``).
    started, ended : datetime
        When the run started and ended (``ended`` defaults to now), timezone-aware.
    log_path : path-like, optional
        Snakemake's log of the run, kept beside the record (``snakemake.log``).

    Returns
    -------
    run_id : str or None
        The new run's id, or None when the results are those of the last recorded run.
    """
    runs = RunStore(results_dir)
    manifest_path = runs.results_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return None
    ended = ended or datetime.now(UTC)
    with runs.locked():
        runs.remove_unfinished()
        manifest_sha256 = sha256_file(manifest_path)
        ids = runs.run_ids()
        previous = runs.record(ids[-1]) if ids else None
        if previous and previous["manifest_sha256"] == manifest_sha256:
            return None
        manifest = read_json(manifest_path)
        artifacts = []
        for entry in manifest["artifacts"]:
            artifacts.append(
                {
                    "path": entry["path"],
                    "sha256": entry["sha256"],
                    "bytes_sha256": runs.keep_bytes(entry["path"]),
                }
            )
        runs.keep_bytes(manifest_path)
        run_id = f"{ended.strftime('%Y%m%dT%H%M%SZ')}-{manifest_sha256[:8]}"
        record = {
            "id": run_id,
            "started": started.isoformat(timespec="seconds"),
            "ended": ended.isoformat(timespec="seconds"),
            "results_dir": str(results_dir),
            "config": manifest["config"],
            "code": manifest["code"],
            "versions": manifest["versions"],
            "jobs": changed_jobs(runs, artifacts, previous),
            "manifest_sha256": manifest_sha256,
            "artifacts": artifacts,
        }
        unfinished = Path(tempfile.mkdtemp(prefix=".record-", dir=runs.folder))
        write_json(unfinished / RECORD_NAME, record)
        if log_path and Path(log_path).is_file():
            shutil.copyfile(log_path, unfinished / "snakemake.log")
        os.chmod(unfinished, 0o777 & ~current_umask())
        os.replace(unfinished, runs.folder / run_id)
    return run_id


def changed_jobs(runs, artifacts, previous):
    """The jobs whose provenance record differs from the previous run's, and why.

    Parameters
    ----------
    runs : RunStore
    artifacts : list of dict
        This run's artifacts (``path``, ``bytes_sha256``), records among them.
    previous : dict or None
        The previous run's record.

    Returns
    -------
    jobs : list of dict
        ``{record, step, wildcards, why}`` per changed record, ``why`` one or more of
        ``new``, ``parameters``, ``code``, ``inputs: <paths>``, ``outputs`` (the same
        parameters, code and inputs made other outputs) or ``rerun`` (only the record's
        bytes differ).
    """
    before = {entry["path"]: entry["bytes_sha256"] for entry in (previous or {}).get("artifacts", [])}
    jobs = []
    for entry in artifacts:
        if (
            not entry["path"].endswith("provenance.json")
            or before.get(entry["path"]) == entry["bytes_sha256"]
        ):
            continue
        now = read_json(runs.blob_path(entry["bytes_sha256"]))
        why = []
        if entry["path"] not in before:
            why = ["new"]
        else:
            old = read_json(runs.blob_path(before[entry["path"]]))
            if now.get("params") != old.get("params") or now.get("seeds") != old.get("seeds"):
                why.append("parameters")
            if now.get("step_code") != old.get("step_code"):
                why.append("code")
            changed_inputs = _changed_files(old.get("inputs", []), now.get("inputs", []))
            if changed_inputs:
                why.append(f"inputs: {', '.join(changed_inputs)}")
            if not why:
                why.append(
                    "outputs" if _changed_files(old.get("outputs", []), now.get("outputs", [])) else "rerun"
                )
        jobs.append(
            {"record": entry["path"], "step": now.get("step"), "wildcards": now.get("wildcards"), "why": why}
        )
    return jobs


def record_completed_run(results_dir, *, started, log_path=None):
    """:func:`record_run` for the Snakefile's ``onsuccess``: says what it recorded in one
    line, and reports a failure to record without failing the run (its results stand)."""
    if isinstance(log_path, (list, tuple)):  # Snakemake hands hooks a list of log files
        log_path = log_path[0] if log_path else None
    try:
        run_id = record_run(results_dir, started=started or datetime.now(UTC), log_path=log_path)
    except Exception as err:  # noqa: BLE001 - the run's results stand whatever recording does
        print(
            f"gmm-pipeline: the run completed but was not recorded in the run history: {err}", file=sys.stderr
        )
        return None
    if run_id:
        print(f"gmm-pipeline: recorded run {run_id} in {Path(results_dir) / RUNS_FOLDER}", file=sys.stderr)
    return run_id


def _changed_files(old, new):
    before = {item.get("path"): item.get("sha256") for item in old if isinstance(item, dict)}
    return sorted(
        item["path"]
        for item in new
        if isinstance(item, dict) and before.get(item.get("path"), "") != item.get("sha256")
    )


def load_recorded_run(results_dir, run_id):
    """A recorded run as a :class:`gmm_pipeline.records.compare.Run`, its metrics read from the store."""
    runs = RunStore(results_dir)
    record = runs.record(run_id)
    root = record["results_dir"]
    artifacts, metrics = {}, {}
    for entry in record["artifacts"]:
        relative = os.path.relpath(entry["path"], root)
        artifacts[relative] = entry["sha256"]
        if os.path.basename(relative) == METRICS_NAME:
            metrics[relative] = read_json(runs.blob_path(entry["bytes_sha256"]))
    return Run(folder=f"run {run_id}", config=record["config"], artifacts=artifacts, metrics=metrics)


def list_runs(results_dir):
    """One row per recorded run, oldest first: id, end time, the config keys that differ
    from the run before, and how many artifacts differ from it (added, removed or changed)."""
    runs = RunStore(results_dir)
    rows, before = [], None
    for run_id in runs.run_ids():
        record = runs.record(run_id)
        config = flatten(record["config"])
        artifacts = {entry["path"]: entry["bytes_sha256"] for entry in record["artifacts"]}
        if before is None:
            config_changes, changed_artifacts = [], len(artifacts)
        else:
            config_changes = changed_keys(before[0], config)
            changed_artifacts = sum(
                artifacts.get(path) != before[1].get(path) for path in set(artifacts) | set(before[1])
            )
        rows.append(
            {
                "id": run_id,
                "ended": record["ended"],
                "config_changes": config_changes,
                "artifacts_changed": changed_artifacts,
                "artifacts": len(artifacts),
                "jobs": len(record["jobs"]),
            }
        )
        before = (config, artifacts)
    return rows


def restore_run(results_dir, run_id, destination):
    """Write a recorded run's artifacts and manifest into ``destination``, byte-identical to
    what the run wrote, each checked against the run's manifest.

    ``destination`` must not exist or be empty; the run's results folder becomes it (a
    file ``results/data/moons/data.csv`` of the run is restored as
    ``<destination>/data/moons/data.csv``). Returns the number of files restored.
    """
    runs = RunStore(results_dir)
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise PipelineInputError(f"{destination} is not an empty folder; restore writes only into a new one")
    # Restored beside the destination and renamed into place when every file checks out,
    # so a failed restore leaves no half-written folder.
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.restoring-", dir=destination.parent))
    try:
        with runs.locked():
            record = runs.record(run_id)
            root = record["results_dir"]
            files = [(entry["path"], entry["bytes_sha256"], entry["sha256"]) for entry in record["artifacts"]]
            files.append((os.path.join(root, MANIFEST_NAME), record["manifest_sha256"], None))
            for path, bytes_sha256, content_sha256_expected in files:
                blob = runs.blob_path(bytes_sha256)
                if not blob.is_file():
                    raise PipelineInputError(
                        f"the store lacks the bytes of {path} ({blob}); the run cannot be restored"
                    )
                target = staging / os.path.relpath(path, root)
                with atomic_open(target) as handle, open(blob, "rb") as source:
                    shutil.copyfileobj(source, handle)
                if sha256_file(target) != bytes_sha256 or (
                    content_sha256_expected is not None
                    and content_sha256(target)[0] != content_sha256_expected
                ):
                    raise PipelineInputError(
                        f"{destination / os.path.relpath(path, root)}: restored bytes differ from the run's "
                        f"manifest (store damaged?); nothing was restored"
                    )
        os.chmod(staging, 0o777 & ~current_umask())
        if destination.exists():
            destination.rmdir()  # empty, checked above
        os.replace(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(files)


def remove_runs(results_dir, *, keep_latest=None, keep_ids=()):
    """Remove recorded runs but the latest ``keep_latest`` and those in ``keep_ids``, then
    the stored bytes no kept run uses. Returns ``(removed run ids, bytes reclaimed)``."""
    if keep_latest is not None and (
        isinstance(keep_latest, bool) or not isinstance(keep_latest, int) or keep_latest < 0
    ):
        raise PipelineInputError(
            f"--keep is {keep_latest!r}; expected how many of the latest runs to keep, 0 or more"
        )
    runs = RunStore(results_dir)
    with runs.locked():
        runs.remove_unfinished()
        ids = runs.run_ids()
        for run_id in keep_ids:
            runs.record(run_id)  # names an unknown id before anything is removed
        kept = set(keep_ids) | set(ids[len(ids) - keep_latest :] if keep_latest else [])
        removed = [run_id for run_id in ids if run_id not in kept]
        for run_id in removed:
            # Out of sight in one step, then deleted: no half-removed record is ever listed.
            doomed = runs.folder / f".record-removed-{run_id}"
            os.replace(runs.folder / run_id, doomed)
            shutil.rmtree(doomed)
        used = set()
        for run_id in runs.run_ids():
            record = runs.record(run_id)
            used.add(record["manifest_sha256"])
            used.update(entry["bytes_sha256"] for entry in record["artifacts"])
        reclaimed = 0
        if runs.store.is_dir():
            for blob in runs.store.glob("*/*"):
                if blob.name not in used:
                    reclaimed += blob.stat().st_size
                    blob.unlink()
    return removed, reclaimed


def format_runs(rows):
    """:func:`list_runs` as text."""
    if not rows:
        return "no runs recorded"
    lines = []
    for row in rows:
        changes = ", ".join(row["config_changes"][:6]) or "-"
        if len(row["config_changes"]) > 6:
            changes += f", ... ({len(row['config_changes'])} keys)"
        lines.append(
            f"{row['id']}  {row['ended']}  {row['jobs']:4d} jobs  "
            f"{row['artifacts_changed']:4d} of {row['artifacts']} artifacts changed  config: {changes}"
        )
    return "\n".join(lines)


def show_run(results_dir, run_id, manifest=False):
    """A run's record (config, code, versions, jobs, artifacts) as JSON text, or with
    ``manifest`` the run manifest it wrote, as it wrote it."""
    runs = RunStore(results_dir)
    record = runs.record(run_id)
    if manifest:
        return runs.blob_path(record["manifest_sha256"]).read_text(encoding="utf-8").rstrip("\n")
    return json.dumps(record, indent=2)
