"""Check artifacts against the provenance records and the manifest that describe them.

Two users of the same checks:

* every job, before it runs, refuses an input under ``results/`` whose contents differ from
  what the provenance record of the job that made it says (:func:`check_inputs_against_records`), so a
  hand-edited artifact never flows downstream;
* ``make verify`` (``scripts/verify_results.py``) checks a whole results folder
  (:func:`verify_results`) and lists every file that is missing, edited, made from inputs
  that have changed since, made by other code than this checkout's, or listed nowhere.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineInputError
from ..files.artifacts import read_json
from .code_version import step_code, step_names
from .provenance import file_entry

RECORD_SUFFIX = "provenance.json"
MANIFEST_NAME = "manifest.json"
# Made by runs but described by no record: Snakemake's job logs, its HTML report and the
# run history (gmm_pipeline.records.history checks its own bytes by hash).
NOT_ARTIFACTS = ("logs", "runs")
NOT_ARTIFACT_FILES = ("report.html",)


def _key(path):
    return os.path.normpath(str(path))


class RecordIndex:
    """Finds the provenance record that lists a file among its outputs.

    A job's record lies in the folder of its outputs (``provenance.json``, or
    ``<name>.provenance.json`` beside a step's per-type tables), so only the records in the
    file's own folder are read, each folder once.
    """

    def __init__(self):
        self._by_folder = {}

    def records_in(self, folder):
        """``{output path: (record path, output entry)}`` for the records in ``folder``."""
        folder = _key(folder)
        if folder not in self._by_folder:
            listed = {}
            for record_path in sorted(Path(folder).glob(f"*{RECORD_SUFFIX}")):
                record = _read_record(record_path)
                for entry in (record or {}).get("outputs", []):
                    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                        listed[_key(entry["path"])] = (str(record_path), entry)
            self._by_folder[folder] = listed
        return self._by_folder[folder]

    def producer(self, path):
        """The record path and output entry that describe ``path``, or None."""
        return self.records_in(Path(path).parent).get(_key(path))


def _read_record(path):
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def check_inputs_against_records(paths, index=None):
    """Hash a job's inputs, refusing one that differs from its provenance record.

    Parameters
    ----------
    paths : sequence of path-like
        The job's input files.
    index : RecordIndex, optional
        Records already read (a new index by default).

    Returns
    -------
    entries : list of dict
        One :func:`gmm_pipeline.records.provenance.file_entry` per input, in order.

    Raises
    ------
    PipelineInputError
        Naming the first input whose SHA-256 differs from the one its record gives.
    """
    index = index or RecordIndex()
    entries = []
    for path in paths:
        entry = file_entry(path)
        _refuse_if_edited(path, entry, index)
        entries.append(entry)
    return entries


def _refuse_if_edited(path, entry, index):
    made_by = index.producer(path)
    if made_by is not None and made_by[1].get("sha256") != entry["sha256"]:
        raise PipelineInputError(
            f"{path}: its contents differ from what {made_by[0]} recorded when the pipeline "
            f"made it (edited by hand?); delete the file and rerun to rebuild it, or run "
            f"`make verify` to list every such file"
        )


def check_no_hand_edits(results_dir="results"):
    """Refuse, before any job runs, an artifact edited since the job that made it.

    A job refuses such an input itself (:func:`check_inputs_against_records`), but only after Snakemake
    has deleted the job's earlier outputs. Here, while the run is planned, only the files
    written after every provenance record of their folder (records are written after the
    outputs they list, so an untouched artifact never is) are hashed: a stat of each file
    otherwise.

    Raises
    ------
    PipelineInputError
        Naming the first such file whose contents differ from its record.
    """
    index = RecordIndex()
    for folder, _, names in os.walk(results_dir):
        relative = Path(folder).relative_to(results_dir)
        if relative.parts and (relative.parts[0] in NOT_ARTIFACTS or relative.parts[0].startswith(".")):
            continue
        records = [name for name in names if name.endswith(RECORD_SUFFIX)]
        if not records:
            continue
        newest_record = max(os.stat(os.path.join(folder, name)).st_mtime_ns for name in records)
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name in records or name.startswith(".") or os.stat(path).st_mtime_ns <= newest_record:
                continue
            _refuse_if_edited(_key(path), file_entry(path), index)


@dataclass(frozen=True)
class Finding:
    """One problem with one file of a results folder."""

    kind: str  # missing, edited, stale, other code, unreadable, unlisted
    path: str
    detail: str

    def __str__(self):
        return f"{self.kind}: {self.path}: {self.detail}"


class _Hashes:
    """Each file hashed at most once per check."""

    def __init__(self):
        self._entries = {}

    def sha256(self, path):
        key = _key(path)
        if key not in self._entries:
            self._entries[key] = file_entry(key)["sha256"] if Path(key).is_file() else None
        return self._entries[key]


def verify_results(results_dir="results"):
    """Check every artifact under ``results_dir`` against its record and the manifest.

    Paths in the records are relative to the folder the pipeline ran in, so call this from
    there (``results_dir`` relative to it).

    Returns
    -------
    findings : list of Finding
        Sorted by path; empty when the folder is exactly what its records describe.
    n_checked : int
        How many artifacts were checked.
    """
    results_dir = Path(results_dir)
    hashes, findings, described = _Hashes(), set(), set()

    def check_file(path, expected, source):
        described.add(_key(path))
        actual = hashes.sha256(path)
        if actual is None:
            findings.add(Finding("missing", _key(path), f"listed in {source}"))
        elif actual != expected:
            findings.add(Finding("edited", _key(path), f"its SHA-256 differs from the one in {source}"))

    manifest_path = results_dir / MANIFEST_NAME
    manifest = _read_record(manifest_path)
    if manifest is None:
        findings.add(
            Finding(
                "missing" if not manifest_path.exists() else "unreadable",
                _key(manifest_path),
                "the run manifest, written when a run completes",
            )
        )
    else:
        described.add(_key(manifest_path))
        for entry in manifest.get("artifacts", []):
            check_file(entry["path"], entry.get("sha256"), _key(manifest_path))

    known_steps = set(step_names())
    for record_path in sorted(results_dir.rglob(f"*{RECORD_SUFFIX}")):
        if _is_excluded(record_path, results_dir):
            continue
        described.add(_key(record_path))
        record = _read_record(record_path)
        if record is None:
            findings.add(Finding("unreadable", _key(record_path), "not a JSON provenance record"))
            continue
        outputs = [entry for entry in record.get("outputs", []) if isinstance(entry, dict)]
        for entry in outputs:
            check_file(entry["path"], entry.get("sha256"), _key(record_path))
        for entry in record.get("inputs", []):
            # An input that has changed since, the pipeline's or a user's data file: this
            # record's outputs were made from an earlier version of it. A user's file that is
            # gone is stale too (an artifact that is gone is reported as missing).
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            current = hashes.sha256(entry["path"])
            made_here = entry["path"].startswith(f"{_key(results_dir)}{os.sep}")
            if current is None and not made_here:
                findings.add(Finding("stale", _key(record_path), f"made from {entry['path']}, which is gone"))
            elif current is not None and current != entry.get("sha256"):
                findings.add(
                    Finding("stale", _key(record_path), f"made from an earlier version of {entry['path']}")
                )
        code = record.get("step_code")
        if not isinstance(code, dict) or code.get("step") not in known_steps:
            findings.add(
                Finding("other code", _key(record_path), "the record names no step code of this checkout")
            )
        elif code.get("sha256") != step_code(code["step"])["sha256"]:
            findings.add(
                Finding(
                    "other code",
                    _key(record_path),
                    f"made by {code['step']} code {str(code.get('sha256'))[:12]}, this checkout's is "
                    f"{step_code(code['step'])['sha256'][:12]} (rerun snakemake to rebuild it)",
                )
            )

    for path in sorted(results_dir.rglob("*")):
        if path.is_file() and not _is_excluded(path, results_dir) and _key(path) not in described:
            findings.add(Finding("unlisted", _key(path), "no provenance record or manifest lists it"))
    return sorted(findings, key=lambda finding: (finding.path, finding.kind, finding.detail)), len(described)


def _is_excluded(path, results_dir):
    relative = path.relative_to(results_dir)
    return (
        relative.parts[0] in NOT_ARTIFACTS
        or relative.as_posix() in NOT_ARTIFACT_FILES
        or relative.name.startswith(".")
    )
