"""MkDocs hook: the configuration reference page, generated from the config schema's own
descriptions and defaults at every build, so it cannot drift from what the workflow checks."""

from pathlib import Path

import yaml
from mkdocs.structure.files import File

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
PAGE = "configuration-reference.md"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=reference(yaml.safe_load(SCHEMA.read_text()))))
    return files


def reference(schema):
    lines = [
        "# Configuration reference",
        "",
        "Every key of `config.yaml`, as `workflow/schemas/config.schema.yaml` declares it (this",
        "page is generated from that file when the site is built).",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, node in _keys(schema, schema):
        lines.append(
            f"| `{key}` | {_type(node, schema)} | {_default(node)} | {_text(node.get('description', ''))} |"
        )
    return "\n".join(lines) + "\n"


def _keys(node, schema, prefix=""):
    node = _resolved(node, schema)
    for name, child in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield key, _resolved(child, schema)
        yield from _keys(child, schema, f"{key}.")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties"):
        yield from _keys(extra, schema, f"{prefix}<name>.")


def _resolved(node, schema):
    while isinstance(node, dict) and "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node if isinstance(node, dict) else {}


def _type(node, schema):
    kinds = node.get("type")
    if kinds is None and "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if kinds is None:
        branches = node.get("oneOf") or node.get("anyOf") or []
        return " or ".join(_type(_resolved(branch, schema), schema) for branch in branches) or "any"
    return " or ".join(kinds) if isinstance(kinds, list) else kinds


def _default(node):
    return f"`{node['default']}`" if "default" in node else ""


def _text(text):
    return " ".join(str(text).split()).replace("|", "\\|")
