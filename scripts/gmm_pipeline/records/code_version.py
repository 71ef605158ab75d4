"""Which code a rule's jobs run, as one hash Snakemake can watch.

Snakemake reruns a job when its ``script:`` file changes, but each script here is a
five-line entry that calls into this package: edits to the modules that do the work would
go unseen. Every rule therefore passes :func:`step_code` of its step as a ``params:`` value,
which Snakemake's ``params`` rerun trigger compares with what the last run recorded. The
value covers exactly the modules the step runs:

* the step's function in ``steps.py`` and the rest of that module except the other steps'
  functions (so editing one step's wiring reruns that step alone);
* every module of this package those import, followed transitively through relative and
  absolute imports, wherever they stand (module level or inside a function) and in
  whichever subpackage (a module is named by its dotted path in the package, such as
  ``files.artifacts``; a subpackage's ``__init__`` by the subpackage's name);
* the versions of the libraries whose arithmetic or output format the results depend on.

This module is the one place code is hashed. :func:`files_sha256` gives the bytes-level
identity of a set of files, which the provenance records (:mod:`gmm_pipeline.records.provenance`,
the whole repository's code) and the warm worker's key (the package) use; :func:`step_code`
the logic-level identity of one step, which decides reruns.

Only the logic counts for a step: each module is hashed as its syntax tree without docstrings,
comments, line numbers or formatting, so rewording a comment reruns nothing while
changing a constant or an expression reruns that step and everything downstream. What
each source text gives (its logic's hash and its imports) is kept in the user's cache
folder, under the hash of that text (:func:`_cached`).
"""

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from ..files.artifacts import write_json

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name
STEPS_MODULE = "execution.steps"
# Libraries whose results or file formats the artifacts depend on: upgrading one reruns
# every step, since its numbers may change in the last bits.
RESULT_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "matplotlib",
    "pyarrow",
    "threadpoolctl",
    "numba",
    "diptest",
)
# The form of the cached facts (:func:`_cached`); a change to it must change this number.
_CACHE_FORMAT = 2
_CACHE_ENTRIES = 2000


def files_sha256(root, paths):
    """SHA-256 of files by their paths below ``root`` and their contents.

    Without the final newlines: Snakemake's git sources (``gitfile``) drop a file's last
    newline, and a copy made from them must be identified as the same code.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(path) for path in paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().rstrip(b"\n") + b"\0")
    return digest.hexdigest()


def module_file(module):
    """The file of ``module`` (a dotted path in the package, ``""`` for the package
    itself), or None if there is no such module."""
    base = PACKAGE_DIR.joinpath(*module.split(".")) if module else PACKAGE_DIR
    for path in (base.with_suffix(".py") if module else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


def package_modules():
    """Every module of the package, as dotted paths (subpackages by their ``__init__``)."""
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and "__pycache__" not in parts:
            modules.append(".".join(parts))
    return modules


@functools.cache
def _source(module):
    return module_file(module).read_text(encoding="utf-8")


def _parse(module):
    """A new syntax tree of ``module``, which the caller may change."""
    return ast.parse(_source(module), filename=str(module_file(module)))


def _statements(node):
    """``node`` and every statement within it, at any depth: only statements can hold a
    docstring or an import, and skipping the expressions makes this ten times faster than
    ``ast.walk``."""
    yield node
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(node, field, ()):
            yield from _statements(child)


def _without_docstrings(tree):
    """``tree``, changed in place: every module, class and function docstring removed."""
    for node in _statements(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _is_docstring(statement):
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _logic_sha256(tree):
    """Hash of the part of ``tree`` that changes what it does (``tree`` is changed: pass a
    new one). Comments are not in a syntax tree, nor, in the dump, line numbers."""
    dump = ast.dump(_without_docstrings(tree), annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()


def _facts(tree):
    """What a module or statement contributes: its logic's hash, and its imports as written
    (``level|module|name``), which :func:`_resolve` turns into modules of this package
    from where the importing module stands."""
    imports = sorted(_imports_written(tree))
    return {"logic": _logic_sha256(tree), "imports": imports}


@functools.cache
def _module_facts(module):
    return _cached(_source(module), lambda: _facts(_parse(module)))


@functools.cache
def _steps_facts():
    """The facts of each top-level statement of ``steps.py``, with the name of the step
    function it is, if it is one: worked out once for all the steps."""

    def statements():
        body = _parse(STEPS_MODULE).body
        # The module's docstring goes here; each statement's own, in _facts.
        return body[1:] if body and _is_docstring(body[0]) else body

    return _cached(
        f"{STEPS_MODULE}.py, by statement\0{_source(STEPS_MODULE)}",
        lambda: [
            dict(_facts(node), step=node.name if _is_step_function(node) else None) for node in statements()
        ],
    )


def _cached(source, compute):
    """``compute()``, a JSON value that depends on ``source`` alone, kept in the user's cache.

    Parsing every module for every step is a large part of a no-op rerun's time, and
    sources rarely change between runs. The entry's name is the hash of the source's
    text, this Python's version (syntax trees differ between versions) and the package
    name, so an entry can only be stale if that hash collides. An entry that cannot be read
    or does not have the expected form is computed again; a cache that cannot be written is
    left alone.
    """
    folder = _cache_folder()
    if folder is None:
        return compute()
    key = hashlib.sha256(f"{_CACHE_FORMAT}\0{sys.version}\0{PACKAGE}\0{source}".encode()).hexdigest()
    path = folder / f"{key}.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if _well_formed(value):
            return value
    except (OSError, ValueError):
        pass
    value = compute()
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_json(path, value)
        _prune(folder)
    return value


def _cache_folder():
    """``$XDG_CACHE_HOME/gmm-pipeline/code-logic``, by default under ``~/.cache``; None when
    neither gives an absolute path (no home folder), so nothing is written into the working
    folder."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gmm-pipeline" / "code-logic" if os.path.isabs(base) else None


def _well_formed(value):
    def facts(item):
        return (
            isinstance(item, dict)
            and isinstance(item.get("logic"), str)
            and len(item["logic"]) == 64
            and isinstance(item.get("imports"), list)
            and all(isinstance(name, str) for name in item["imports"])
        )

    if isinstance(value, list):
        return all(facts(item) and isinstance(item.get("step"), (str, type(None))) for item in value)
    return facts(value)


def _prune(folder):
    """Keep the cache to its newest :data:`_CACHE_ENTRIES` entries (each a few kB)."""
    entries = list(folder.glob("*.json"))
    if len(entries) > _CACHE_ENTRIES:
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns)
        for entry in entries[: len(entries) - _CACHE_ENTRIES // 2]:
            with contextlib.suppress(OSError):
                entry.unlink()


@functools.cache
def module_imports(module):
    """The modules of this package that ``module`` imports anywhere in its code."""
    return frozenset(_resolve(module, _module_facts(module)["imports"]))


def _resolve(module, imports):
    """The modules of this package that ``imports`` (:func:`_imports_written` of code in
    ``module``) name: each imported module and package, and each imported name that is a
    module itself (``from .files import artifacts``)."""
    path = module_file(module)
    # The package a relative import starts from: a subpackage's own for its __init__.
    here = module.split(".") if path is not None and path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for written in imports:
        level, target, name = written.split("|")
        level = int(level)
        if level == 0:
            parts = target.split(".")
            if parts[0] != PACKAGE:
                continue
            base = parts[1:]
        elif level - 1 > len(here):
            continue  # above the package: not one of its modules
        else:
            base = here[: len(here) - (level - 1)] + (target.split(".") if target else [])
        for candidate in (base + [name] if name else None, base):
            dotted = ".".join(candidate) if candidate is not None else None
            if dotted and module_file(dotted) is not None:
                found.add(dotted)
                break
    # Importing a module runs the __init__ of each package above it.
    for dotted in list(found):
        parts = dotted.split(".")
        found.update(
            ".".join(parts[:end]) for end in range(1, len(parts)) if module_file(".".join(parts[:end]))
        )
    found.discard("")
    return found


@functools.cache
def _library_versions():
    versions = {}
    for name in RESULT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _imports_written(tree):
    """Every import in ``tree`` that may name this package, as ``level|module|name``
    strings: relative imports, and absolute ones of this package."""
    found = set()
    for node in _statements(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").split(".")[0] == PACKAGE
        ):
            for alias in node.names:
                found.add(f"{node.level}|{node.module or ''}|{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.add(f"0|{alias.name}|")
    return found


def step_names():
    """The step functions of ``steps.py``: its public top-level functions, one per rule."""
    return [statement["step"] for statement in _steps_facts() if statement["step"] is not None]


def _is_step_function(node):
    return isinstance(node, ast.FunctionDef) and not node.name.startswith("_")


@functools.cache
def step_code(step):
    """Identify the code the jobs of ``step`` run.

    Parameters
    ----------
    step : str
        Name of a step function in ``steps.py`` (the rule's name, ``write_manifest`` for the
        manifest).

    Returns
    -------
    code : dict
        ``{"step", "sha256", "modules", "libraries"}``: the hash of the logic of every module
        the step runs and of the library versions, the modules it covers (sorted) and those
        versions.
    """
    steps = step_names()
    if step not in steps:
        raise ValueError(f"no step function {step!r} in {STEPS_MODULE}.py; steps: {sorted(steps)}")
    # steps.py with only this step's own function among the step functions.
    entry = [statement for statement in _steps_facts() if statement["step"] in (None, step)]
    modules, pending = (
        set(),
        _resolve(STEPS_MODULE, [name for statement in entry for name in statement["imports"]]),
    )
    while pending:
        module = pending.pop()
        if module not in modules and module != STEPS_MODULE:
            modules.add(module)
            pending |= module_imports(module)
    libraries = _library_versions()
    digest = hashlib.sha256()
    digest.update(f"{STEPS_MODULE}:{step}\0{' '.join(statement['logic'] for statement in entry)}\0".encode())
    for module in sorted(modules):
        digest.update(f"{module}\0{_module_facts(module)['logic']}\0".encode())
    digest.update(json.dumps(libraries, sort_keys=True).encode())
    return {
        "step": step,
        "sha256": digest.hexdigest(),
        "modules": sorted(modules),
        "libraries": dict(libraries),
    }
