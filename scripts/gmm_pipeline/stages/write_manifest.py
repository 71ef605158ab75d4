"""The run-level manifest: every artifact with its hash, the config and the code."""

import hashlib
import json
from pathlib import Path

from ..files.artifacts import write_json
from ..records.provenance import code_identity, file_entries, package_versions


def build_manifest(artifact_paths, config, results_dir="results"):
    """Describe a complete run.

    Parameters
    ----------
    artifact_paths : sequence of path-like or dict
        Every artifact of the run (data, tables, models, figures, provenance records), as
        paths or as :func:`gmm_pipeline.records.provenance.file_entry` records already taken.
    config : dict
        The validated config the run used, defaults filled in.
    results_dir : str
        Common folder of the artifacts; the first folder below it is an entry's ``folder``.

    Returns
    -------
    manifest : dict
        ``config``, its SHA-256 (of its canonical JSON), code identity, versions, and one
        entry per artifact (see :func:`gmm_pipeline.records.provenance.file_entry`) with its folder,
        sorted by path.
    """
    canonical_config = json.dumps(config, sort_keys=True, separators=(",", ":"))
    entries = sorted(file_entries(artifact_paths), key=lambda entry: entry["path"])
    for entry in entries:
        parts = Path(entry["path"]).relative_to(results_dir).parts
        entry["folder"] = parts[0] if len(parts) > 1 else None
    return {
        "config": config,
        "config_sha256": hashlib.sha256(canonical_config.encode()).hexdigest(),
        "code": code_identity(),
        "versions": package_versions(),
        "artifacts": entries,
    }


def write_manifest(path, artifact_paths, config, results_dir="results"):
    """Build the manifest and write it as JSON to ``path``."""
    manifest = build_manifest(artifact_paths, config, results_dir)
    write_json(path, manifest)
    return manifest
