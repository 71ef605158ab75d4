"""Loaded by Python at start-up in the tests that put this folder on ``PYTHONPATH``: makes
the step named in ``GMM_TEST_STUCK_STEP`` (or the import of the module named in
``GMM_TEST_STUCK_IMPORT``) hang inside a C call that holds the GIL, as a job stuck in a
library (OpenBLAS retrying an allocation under ``ulimit -v``) does. No Python code of the
process runs again, so only the kernel or another process can end it.

Each stuck process appends its pid to the file ``GMM_TEST_STUCK_PIDS``.
"""

import importlib.abc
import importlib.util
import os
import re
import sys


def _stuck(job):
    with open(os.environ["GMM_TEST_STUCK_PIDS"], "a", encoding="ascii") as pids:
        pids.write(f"{os.getpid()}\n")
    # Backtracks for ever inside the regular expression engine, which never lets go of the GIL.
    re.fullmatch(r"(a|aa)*c", "a" * 80)


class _Patch(importlib.abc.MetaPathFinder):
    """Runs ``after(module)`` once module ``name`` is imported, wherever that happens."""

    def __init__(self, name, after):
        self.name, self.after = name, after

    def find_spec(self, name, path, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            self.after(module)

        spec.loader.exec_module = exec_module
        return spec


def _replace_step(module):
    module.STEPS[os.environ["GMM_TEST_STUCK_STEP"]] = _stuck


if os.environ.get("GMM_TEST_STUCK_STEP"):
    sys.meta_path.insert(0, _Patch("gmm_pipeline.execution.steps", _replace_step))
if os.environ.get("GMM_TEST_STUCK_IMPORT"):
    sys.meta_path.insert(0, _Patch(os.environ["GMM_TEST_STUCK_IMPORT"], _stuck))
