"""The config schema, ``workflow/schemas/config.schema.yaml``: the one place each option,
its allowed values and its default are declared. Code that needs a default reads it here
instead of repeating it (``tests/test_config.py`` checks that no copy drifts).
"""

import functools
from pathlib import Path

from .config_checks import read_schema

# scripts/gmm_pipeline/config/schema.py -> the repository (or a module's copy of it).
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def config_schema():
    """The parsed schema (read once per process)."""
    return read_schema(SCHEMA_PATH)


def schema_default(key):
    """The schema's default of a dotted config key, such as ``fit.tol``."""
    node = config_schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node["default"]


def schema_enum(key):
    """The values a dotted config key's items (or the key itself) may take."""
    node = config_schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node.get("items", node)["enum"]


def schema_definition_enum(name):
    """The values of one of the schema's shared definitions (``$defs``), such as ``init_method``."""
    return config_schema()["$defs"][name]["enum"]
