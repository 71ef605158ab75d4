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
changing a constant or an expression reruns that step and everything downstream.
"""

import ast
import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path

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


@functools.cache
def _source(module):
    return (PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8")


def _parse(module):
    """A new syntax tree of ``module``, which the caller may change (parsing the text again
    is cheaper than copying a tree)."""
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
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _dump(node):
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _logic(tree):
    """The part of a module's text that changes what it does (``tree`` is changed: pass a
    new one). Comments are not in a syntax tree, nor, in the dump, line numbers."""
    return _dump(_without_docstrings(tree))


@functools.cache
def _module_logic(module):
    return _logic(_parse(module))


@functools.cache
def module_imports(module):
    """The modules of this package that ``module`` imports anywhere in its code."""
    return frozenset(_package_imports(_parse(module)))


@functools.cache
def _library_versions():
    versions = {}
    for name in RESULT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _package_imports(tree):
    """Modules of this package that ``tree`` imports anywhere (module names, no prefix)."""
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
    return {name for name in found if (PACKAGE_DIR / f"{name}.py").is_file()}


def step_names():
    """The step functions of ``steps.py``: its public top-level functions, one per rule."""
    return [node.name for node, _ in _steps_statements() if _is_step_function(node)]


def _is_step_function(node):
    return isinstance(node, ast.FunctionDef) and not node.name.startswith("_")


@functools.cache
def _steps_statements():
    """``steps.py``'s top-level statements without docstrings, each with its dump: parsed
    and dumped once for all the steps."""
    return tuple((node, _dump(node)) for node in _without_docstrings(_parse(STEPS_MODULE)).body)


def _step_entry(step):
    """``steps.py`` with only ``step``'s own function among the step functions: the modules
    it imports, and its logic (the dump of that module, which ``ast.dump`` writes as
    ``Module([<statements>], [])``)."""
    statements = _steps_statements()
    steps = {node.name for node, _ in statements if _is_step_function(node)}
    if step not in steps:
        raise ValueError(f"no step function {step!r} in {STEPS_MODULE}.py; steps: {sorted(steps)}")
    kept = [(node, text) for node, text in statements if not _is_step_function(node) or node.name == step]
    imports = set().union(*(_package_imports(node) for node, _ in kept))
    return imports, f"Module([{', '.join(text for _, text in kept)}], [])"


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
    pending, entry_logic = _step_entry(step)
    modules = set()
    while pending:
        module = pending.pop()
        if module not in modules and module != STEPS_MODULE:
            modules.add(module)
            pending |= module_imports(module)
    libraries = _library_versions()
    digest = hashlib.sha256()
    digest.update(f"{STEPS_MODULE}:{step}\0{entry_logic}\0".encode())
    for module in sorted(modules):
        digest.update(f"{module}\0{_module_logic(module)}\0".encode())
    digest.update(json.dumps(libraries, sort_keys=True).encode())
    return {
        "step": step,
        "sha256": digest.hexdigest(),
        "modules": sorted(modules),
        "libraries": dict(libraries),
    }
