"""The compiled kernels, loaded from one copy per machine so that numba compiles them once
per machine, not once per checkout.

numba keeps a function's machine code beside the file that defines it (``cache=True``) and
reuses it only while that file keeps its path and modification time. A fresh clone, a CI
run or a test's copy of the package has new files, so each compiled the engine again
(``em_kernels`` alone: 41 s). Here each kernel file (it imports nothing of the package) is
loaded from a copy named by the hash of its contents, in a cache folder of the user's:
every checkout of the same code finds that copy and the machine code numba stored beside
it, and an edit makes a new copy, compiled once. The folder is ``$GMM_PIPELINE_CACHE``,
else ``$XDG_CACHE_HOME/gmm-pipeline``, else ``~/.cache/gmm-pipeline``; where it cannot be
written the kernels load from the package itself, compiled per checkout as before.

Import the kernels from here (``from .compiled import em_kernels``), never the kernel
modules directly, so that one process holds one compiled copy.
"""

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

# A fixed modification time for every copy: numba's cache checks the source file's time,
# and two processes that write the same copy at once must leave the same stamp.
_COPY_MTIME = 1_000_000_000


def cache_folder():
    """Where the kernel copies live (see the module docstring)."""
    if os.environ.get("GMM_PIPELINE_CACHE"):
        return Path(os.environ["GMM_PIPELINE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gmm-pipeline"


def _copy_of(name, text):
    """The machine's copy of a kernel file with these contents, written if missing."""
    digest = hashlib.sha256(text).hexdigest()[:16]
    folder = cache_folder() / "kernels" / f"{name}-{digest}"
    copy = folder / f"{name}.py"
    if copy.is_file() and copy.read_bytes() == text:
        return copy, digest
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{os.getpid()}.partial"
    partial.write_bytes(text)
    os.utime(partial, (_COPY_MTIME, _COPY_MTIME))
    os.replace(partial, copy)
    return copy, digest


def load(name):
    """The kernel module ``gmm_pipeline.maths.<name>``, from the machine's copy if possible."""
    source = Path(__file__).with_name(f"{name}.py")
    text = source.read_bytes()
    try:
        copy, digest = _copy_of(name, text)
    except OSError:
        return importlib.import_module(f"{__package__}.{name}")
    module_name = f"_gmm_pipeline_{name}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, copy)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


em_kernels = load("em_kernels")
parsimonious_kernels = load("parsimonious_kernels")


def warm():
    """Load (or compile, once per machine and code) the engine's loops: the warm worker
    calls this once so that the jobs it forks need not each load the machine code."""
    em_kernels.warm()
