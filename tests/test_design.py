"""The package's shape: imports flow one way, so each module can be read and tested alone."""

from gmm_pipeline.code_version import module_imports, package_modules


def test_the_package_has_no_import_cycle():
    modules = package_modules()
    state = {}

    def visit(module, path):
        state[module] = "open"
        # A module's own name is not a cycle (worker.py runs itself as __main__).
        for imported in sorted(module_imports(module) - {module}):
            assert state.get(imported) != "open", " -> ".join([*path, module, imported])
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in modules:
        if module not in state:
            visit(module, [])
    assert len(state) == len(modules) > 20


def test_the_job_side_never_imports_the_worker_server():
    for module in ("steps", "runner", "job_process", "provenance", "verify"):
        assert "worker" not in module_imports(module), module
