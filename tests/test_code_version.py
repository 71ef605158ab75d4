"""The code identity each rule passes to Snakemake (gmm_pipeline.records.code_version), on a small
package of its own: which edits change a step's hash, and which do not."""

import importlib
import importlib.util
import itertools
import json
import shutil
import sys
import textwrap

import pytest
from gmm_pipeline.records import code_version

STEPS = '''
"""Steps."""
from . import shared


def _wiring():
    return 1


def alpha(job):
    """Alpha."""
    return shared.run(_wiring())


def beta(job):
    from .nested import deep

    return deep()
'''
SHARED = '''
"""Shared."""


def run(value):
    return value
'''
# A docstring and an import where only a walk through every statement finds them: a method
# of a class in an if block, an import in an except handler of a try in a with block.
NESTED = '''
import contextlib

if True:
    class Holder:
        def method(self):
            """Method docstring."""
            with contextlib.suppress(ValueError):
                try:
                    pass
                except KeyError:
                    from .leaf import LEAF
    def deep():
        for _ in range(1):
            while False:
                pass
            else:
                def inner():
                    """Inner docstring."""
                    return 2
        return inner()
'''
LEAF = "LEAF = 3\n"


_LOADS = itertools.count()


def load_code_version(package):
    """A fresh copy of code_version that hashes ``package`` (its own folder), caches empty:
    the folder imported as a package of a new name each time."""
    name = f"copied_package_{next(_LOADS)}"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])
    return importlib.import_module(f"{name}.records.code_version")


@pytest.fixture
def package(tmp_path):
    """A layered package of its own: the real code_version (and what it imports) in its
    layers, and small made-up steps in ``execution``; returns that layer's folder."""
    folder = tmp_path / "gmm_pipeline"
    for module in ("", "errors", "records", "records.code_version", "files", "files.artifacts", "execution"):
        source = code_version.module_file(module)
        target = folder / source.relative_to(code_version.PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for name, text in {"steps": STEPS, "shared": SHARED, "nested": NESTED, "leaf": LEAF}.items():
        (folder / "execution" / f"{name}.py").write_text(textwrap.dedent(text).lstrip())
    return folder / "execution"


def hashes(package):
    version = load_code_version(package.parent)
    return {step: version.step_code(step)["sha256"] for step in version.step_names()}


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_steps_cover_the_modules_they_import_at_any_depth(package):
    version = load_code_version(package.parent)
    assert version.step_names() == ["alpha", "beta"]
    assert version.step_code("alpha")["modules"] == ["execution", "execution.shared"]
    # steps.py imports shared for every step; the layer's __init__ runs with any of its modules.
    assert version.step_code("beta")["modules"] == [
        "execution",
        "execution.leaf",
        "execution.nested",
        "execution.shared",
    ]
    with pytest.raises(ValueError, match="no step function 'gamma'"):
        version.step_code("gamma")


def test_a_docstring_or_a_comment_anywhere_changes_no_hash(package):
    before = hashes(package)
    edit(package / "nested.py", "Method docstring.", "Reworded.")
    edit(package / "nested.py", "Inner docstring.", "Reworded too.")
    edit(package / "steps.py", '"""Alpha."""', '"""Alpha, reworded."""  # and a comment')
    edit(package / "shared.py", '"""Shared."""', '"""Shared, reworded."""')
    assert hashes(package) == before


def test_logic_changes_the_hash_of_exactly_the_steps_that_run_it(package):
    before = hashes(package)
    edit(package / "nested.py", "return 2", "return 20")  # deep inside beta's module
    after_nested = hashes(package)
    assert after_nested["beta"] != before["beta"] and after_nested["alpha"] == before["alpha"]
    edit(package / "leaf.py", "LEAF = 3", "LEAF = 4")  # reached only through the except handler
    after_leaf = hashes(package)
    assert after_leaf["beta"] != after_nested["beta"] and after_leaf["alpha"] == before["alpha"]
    edit(
        package / "steps.py", "return shared.run(_wiring())", "return shared.run(_wiring()) + 0"
    )  # alpha alone
    after_alpha = hashes(package)
    assert after_alpha["alpha"] != before["alpha"] and after_alpha["beta"] == after_leaf["beta"]
    edit(package / "steps.py", "return 1", "return 2")  # steps.py's own helper: every step
    after_wiring = hashes(package)
    assert all(after_wiring[step] != after_alpha[step] for step in after_wiring)


def test_the_cache_gives_what_the_sources_give_and_is_checked_on_reading(package, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cold = hashes(package)
    entries = sorted((tmp_path / "cache/gmm-pipeline/code-logic").glob("*.json"))
    assert len(entries) == 5  # steps.py by statement, shared, nested, leaf and the layer's __init__
    assert hashes(package) == cold  # from the cache alone
    for entry in entries:  # damaged entries are worked out again, and replaced
        entry.write_text('{"logic": "0", "imports": []}' if entry == entries[0] else "{not json")
    assert hashes(package) == cold
    assert all(json.loads(entry.read_text()) for entry in entries)
    # A cache folder that cannot be made changes nothing either.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert hashes(package) == cold
    # Without a home folder nothing is cached, and nothing is written where the run is.
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "relative")
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    assert hashes(package) == cold
    assert set(tmp_path.iterdir()) == before


def test_an_edit_makes_a_new_cache_entry_and_the_cache_stays_bounded(package, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    version = load_code_version(package.parent)
    monkeypatch.setattr(version, "_CACHE_ENTRIES", 6)
    folder = tmp_path / "cache/gmm-pipeline/code-logic"
    before = version.step_code("beta")["sha256"]
    for value in range(5):
        edit(package / "leaf.py", f"LEAF = {value + 3}", f"LEAF = {value + 4}")
        version = load_code_version(package.parent)
        monkeypatch.setattr(version, "_CACHE_ENTRIES", 6)
        assert version.step_code("beta")["sha256"] != before
        assert len(list(folder.glob("*.json"))) <= 6


def test_modules_in_subpackages_are_followed_through_every_form_of_import(package):
    # Steps import a stage in another layer, which reaches a module of a third by a
    # two-dot import, and that one a fourth by an absolute import.
    root = package.parent
    for folder in ("stages", "maths", "store"):
        (root / folder).mkdir()
        (root / folder / "__init__.py").write_text(f'"""The {folder} layer."""\n')
    (root / "stages" / "gamma_stage.py").write_text(
        "from ..maths import kernel\n\n\ndef run():\n    return kernel.K\n"
    )
    (root / "maths" / "kernel.py").write_text("from gmm_pipeline.store.writer import W\n\nK = 1 + W\n")
    (root / "store" / "writer.py").write_text("W = 1\n")
    edit(
        package / "steps.py",
        "def beta(job):",
        "def gamma(job):\n    from ..stages.gamma_stage import run\n\n    return run()\n\n\ndef beta(job):",
    )
    version = load_code_version(root)
    assert version.step_code("gamma")["modules"] == [
        "execution",
        "execution.shared",
        "maths",
        "maths.kernel",
        "stages",
        "stages.gamma_stage",
        "store",
        "store.writer",
    ]
    before = hashes(package)
    edit(root / "store" / "writer.py", "W = 1", "W = 2")  # three layers away from the step
    after = hashes(package)
    assert after["gamma"] != before["gamma"] and after["alpha"] == before["alpha"]
    assert {"stages.gamma_stage", "maths.kernel", "store.writer"} <= set(version.package_modules())
