"""Which code a rule's jobs run, as one hash Snakemake can watch.

Snakemake reruns a job when its ``script:`` file changes, but each script here is a
five-line entry that calls into this package: edits to the modules that do the work would
go unseen. Every rule therefore passes :func:`step_code` of its step as a ``params:`` value,
which Snakemake's ``params`` rerun trigger compares with what the last run recorded. The
value covers exactly the modules the step runs:

* the step's function in ``steps.py`` and the rest of that module except the other steps'
  functions (so editing one step's wiring reruns that step alone);
* every module of this package those import, followed transitively through relative
  imports, wherever they stand (module level or inside a function);
* the versions of the libraries whose arithmetic or output format the results depend on.

Only the logic counts: each module is hashed as its syntax tree without docstrings,
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

from .artifacts import write_json

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
STEPS_MODULE = "steps"
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
)
# The form of the cached facts (:func:`_cached`); a change to it must change this number.
_CACHE_FORMAT = 1
_CACHE_ENTRIES = 2000


@functools.cache
def _source(module):
    return (PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8")


def _parse(module):
    """A new syntax tree of ``module``, which the caller may change."""
    return ast.parse(_source(module), filename=str(PACKAGE_DIR / f"{module}.py"))


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
    """What a module or statement contributes: its logic's hash, and the names it imports
    from this package (whether or not such a module exists)."""
    imports = sorted(_imported_names(tree))
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

    Working out every step's code took 0.84 s of a 3.8 s no-op rerun on a slow machine
    (0.07 s from the cache), and sources rarely change between runs. The
    entry's name is the hash of the source's text, this Python's version (syntax trees
    differ between versions) and the package name, so an entry can only be stale if that
    hash collides. An entry that cannot be read or does not have the expected form is
    computed again; a cache that cannot be written is left alone.
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
    return frozenset(_existing(_module_facts(module)["imports"]))


def _existing(names):
    return {name for name in names if (PACKAGE_DIR / f"{name}.py").is_file()}


@functools.cache
def _library_versions():
    versions = {}
    for name in RESULT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _imported_names(tree):
    """Names of modules of this package that ``tree`` imports anywhere (no prefix)."""
    found = set()
    for node in _statements(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import criteria
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == PACKAGE and len(parts) > 1:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.add(parts[1])
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
    modules, pending = set(), _existing(name for statement in entry for name in statement["imports"])
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
