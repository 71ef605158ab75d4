"""Compare two results folders: config keys, metrics and artifacts that differ.

Each folder is read through its run manifest (``manifest.json``): the config the run used,
every artifact with its SHA-256, and among them the flat metrics files (``metrics.json``
of the configured datasets and of each sweep). Artifacts are matched by their path below
the results folder, so a folder copied or moved elsewhere compares with the original.
"""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineInputError
from ..files.artifacts import read_json

MANIFEST_NAME = "manifest.json"
METRICS_NAME = "metrics.json"


@dataclass
class Run:
    """What a results folder holds, as its manifest describes it."""

    folder: Path
    config: dict
    artifacts: dict  # {path below the results folder: SHA-256}
    metrics: dict  # {metrics file below the results folder: {key: number}}


def load_run(folder):
    """Read a results folder's manifest and metrics files.

    Raises
    ------
    PipelineInputError
        Naming the folder when it has no readable manifest or a metrics file is missing.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError) as err:
        raise PipelineInputError(
            f"{manifest_path}: no readable run manifest ({err}); expected a results folder of a completed run"
        ) from None
    entries = manifest.get("artifacts", []) if isinstance(manifest, dict) else []
    if not entries:
        raise PipelineInputError(f"{manifest_path}: lists no artifacts; expected a run manifest")
    root = _run_root(entries)
    artifacts = {os.path.relpath(entry["path"], root): entry["sha256"] for entry in entries}
    metrics = {}
    for relative in sorted(artifacts):
        if os.path.basename(relative) == METRICS_NAME:
            try:
                metrics[relative] = read_json(folder / relative)
            except (OSError, ValueError) as err:
                raise PipelineInputError(f"{folder / relative}: unreadable metrics file ({err})") from None
    return Run(folder=folder, config=manifest.get("config", {}), artifacts=artifacts, metrics=metrics)


def _run_root(entries):
    """The results folder the run wrote to, as its manifest's paths begin: ``results`` (or
    ``<prefix>/results`` for a module run with a prefix)."""
    first = Path(entries[0]["path"]).parts
    for index, part in enumerate(first):
        if part == "results":
            return str(Path(*first[: index + 1]))
    return str(Path(first[0]))


def flatten(value, prefix=""):
    """A nested config as ``{dotted.key: value}``; lists stay whole values."""
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def compare_runs(a, b):
    """What differs between two runs (:func:`load_run`).

    Returns
    -------
    comparison : dict
        ``config``: ``[{key, a, b}]`` for each dotted config key that differs (a value
        absent from one run is None); ``metrics``: ``[{file, key, a, b, delta}]`` for each
        metric that differs (``delta`` is b - a where both are numbers); ``artifacts``:
        ``{changed, only_a, only_b, same}`` (paths below the results folders; ``same`` is a
        count).
    """
    config_a, config_b = flatten(a.config), flatten(b.config)
    config = [
        {"key": key, "a": config_a.get(key), "b": config_b.get(key)}
        for key in changed_keys(config_a, config_b)
    ]
    metrics = []
    for file in sorted(set(a.metrics) | set(b.metrics)):
        values_a, values_b = a.metrics.get(file, {}), b.metrics.get(file, {})
        for key in sorted(set(values_a) | set(values_b)):
            value_a, value_b = values_a.get(key), values_b.get(key)
            if value_a == value_b and key in values_a and key in values_b:
                continue
            delta = value_b - value_a if _is_number(value_a) and _is_number(value_b) else None
            metrics.append({"file": file, "key": key, "a": value_a, "b": value_b, "delta": delta})
    shared = set(a.artifacts) & set(b.artifacts)
    artifacts = {
        "changed": sorted(path for path in shared if a.artifacts[path] != b.artifacts[path]),
        "only_a": sorted(set(a.artifacts) - shared),
        "only_b": sorted(set(b.artifacts) - shared),
        "same": sum(a.artifacts[path] == b.artifacts[path] for path in shared),
    }
    return {
        "a": str(a.folder),
        "b": str(b.folder),
        "config": config,
        "metrics": metrics,
        "artifacts": artifacts,
    }


_ABSENT = object()


def changed_keys(a, b):
    """The keys of two flat dicts whose values differ, a key absent from one included, sorted."""
    return sorted(key for key in set(a) | set(b) if a.get(key, _ABSENT) != b.get(key, _ABSENT))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_comparison(comparison, limit=50):
    """The comparison as text for a terminal, at most ``limit`` lines per section."""
    lines = [f"A: {comparison['a']}", f"B: {comparison['b']}", ""]
    config = comparison["config"]
    lines.append(f"config: {len(config)} key{'s differ' if len(config) != 1 else ' differs'}")
    lines += [f"  {row['key']}: {_show(row['a'])} -> {_show(row['b'])}" for row in config[:limit]]
    lines += _more(config, limit)
    metrics = comparison["metrics"]
    lines += ["", f"metrics: {len(metrics)} differ"]
    for row in metrics[:limit]:
        delta = f" ({row['delta']:+.6g})" if row["delta"] is not None else ""
        lines.append(f"  {row['file']}: {row['key']}: {_show(row['a'])} -> {_show(row['b'])}{delta}")
    lines += _more(metrics, limit)
    artifacts = comparison["artifacts"]
    lines += [
        "",
        f"artifacts: {len(artifacts['changed'])} changed, {len(artifacts['only_a'])} only in A, "
        f"{len(artifacts['only_b'])} only in B, {artifacts['same']} identical",
    ]
    for kind, label in (("changed", "changed"), ("only_a", "only in A"), ("only_b", "only in B")):
        lines += [f"  {label}: {path}" for path in artifacts[kind][:limit]]
        lines += _more(artifacts[kind], limit)
    return "\n".join(lines)


def _show(value):
    return "(absent)" if value is None else json.dumps(value)


def _more(rows, limit):
    return [f"  ... and {len(rows) - limit} more (--json lists all)"] if len(rows) > limit else []
