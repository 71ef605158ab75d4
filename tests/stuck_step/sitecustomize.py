"""Loaded by Python at start-up in the tests that put this folder on ``PYTHONPATH``: makes
the step named in ``GMM_TEST_STUCK_STEP`` hang inside a C call that holds the GIL, as a job
stuck in a library (OpenBLAS retrying an allocation under ``ulimit -v``) does. No Python
code of the process runs again, so only the kernel or another process can end it.

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


class _PatchSteps(importlib.abc.MetaPathFinder):
    """Replaces the step once gmm_pipeline.steps is imported, wherever that happens."""

    def find_spec(self, name, path, target=None):
        if name != "gmm_pipeline.steps":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            module.STEPS[os.environ["GMM_TEST_STUCK_STEP"]] = _stuck

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("GMM_TEST_STUCK_STEP"):
    sys.meta_path.insert(0, _PatchSteps())
