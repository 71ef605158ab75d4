"""The package's shape: layers you can see, imports flowing one way, so each module can be
read and tested alone."""

import re
from pathlib import Path

from gmm_pipeline.execution.steps import STEPS
from gmm_pipeline.records.code_version import module_imports, package_modules

REPO = Path(__file__).resolve().parents[1]

# Lowest first: a module may import from its own layer and those before it, never after.
LAYERS = ("errors", "maths", "files", "config", "records", "stages", "execution")


def _layer(module):
    return module.split(".")[0]


def test_every_module_sits_in_a_layer():
    strays = [module for module in package_modules() if _layer(module) not in LAYERS]
    assert strays == []
    # The package root holds nothing but the base errors.
    assert {module for module in package_modules() if "." not in module} == set(LAYERS)


def test_imports_flow_from_higher_layers_to_lower_ones_only():
    upward = [
        f"{module} -> {imported}"
        for module in package_modules()
        for imported in module_imports(module)
        if LAYERS.index(_layer(imported)) > LAYERS.index(_layer(module))
    ]
    assert upward == []


def test_the_package_has_no_import_cycle():
    modules = package_modules()
    state = {}

    def visit(module, path):
        state[module] = "open"
        # A module's own name is not a cycle (the worker runs itself as __main__); nor is
        # a subpackage's __init__, which every module below it counts as imported.
        for imported in sorted(module_imports(module) - {module, _layer(module)}):
            assert state.get(imported) != "open", " -> ".join([*path, module, imported])
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in modules:
        if module not in state:
            visit(module, [])
    assert len(state) == len(modules) > 40


def test_the_job_side_never_imports_the_worker_server():
    for module in (
        "execution.steps",
        "execution.runner",
        "execution.job_process",
        "records.provenance",
        "records.verify",
    ):
        assert "execution.worker_server" not in module_imports(module), module


def _rules_and_scripts():
    """Each rule of workflow/rules/ with the entry script its ``script:`` names."""
    rules = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", path.read_text(), re.M | re.S):
            script = re.search(r'script:\s*\n\s*"([^"]+)"', match.group(2))
            if script:
                rules[match.group(1)] = (path.parent / script.group(1)).resolve()
    return rules


def test_each_step_has_one_name_rule_script_step_function_and_stage_module():
    rules = _rules_and_scripts()
    assert len(rules) == 17
    stage_modules = {module.split(".")[1] for module in package_modules() if module.startswith("stages.")}
    for rule, script in rules.items():
        assert script == REPO / "scripts" / f"{rule}.py", rule
        # The entry passes its rule's name: the step function, and the provenance `step`.
        assert re.search(rf'run_job\(snakemake, "{rule}"\)', script.read_text()), rule
        assert callable(STEPS.get(rule)), rule
        assert rule in stage_modules, rule
    # And no stage module is named for anything but a rule.
    assert stage_modules - set(rules) == set()
    assert set(STEPS) == set(rules)
