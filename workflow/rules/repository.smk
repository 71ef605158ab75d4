# Where this repository's files are: its own folder, or a copy of its code on disk when
# the workflow is a module referenced by a git tag (gitfile, github, gitlab).
import hashlib
import os
import shutil
from pathlib import Path


def copy_of_repository():
    """Copy this repository's code (listed in workflow/repository_files.txt) from Snakemake's
    source cache into one folder of the working directory; return that folder.

    Referenced remotely (gitfile, github, gitlab), Snakemake fetches each file it reads
    itself, but the rules import scripts/gmm_pipeline as a package, which must be on disk.
    The copy holds every file the code identity hashes, so it is identified as the same
    code as a checkout of the same revision. The Snakefile then marks the copy with the
    reference it came from (``provenance.mark_repository_copy``).
    """
    source = str(workflow.current_basedir)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    folder = Path(".snakemake", "gmm-pipeline-copies", digest).resolve()
    names = Path(workflow.source_path("../repository_files.txt")).read_text().split()
    for name in names:  # paths from the repository's root; this file is in workflow/rules/
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.copyfile(workflow.source_path(f"../../{name}"), partial)
        os.replace(partial, target)  # whole or not at all, also with two runs starting
    # A folder holding only the package, for job scripts to import it from (below).
    package = folder / "package"
    package.mkdir(exist_ok=True)
    if not (package / "gmm_pipeline").exists():
        (package / "gmm_pipeline").symlink_to(folder / "scripts" / "gmm_pipeline")
    return folder


# This repository's folder, also when the workflow runs as a module of another one (then
# workflow.basedir is the outer workflow's folder), or a copy of its code when the
# module is referenced by a git tag or a hosting service.
# For a copy, COPY_REFERENCE is the reference it came from, and PACKAGE_PATH the folder
# job scripts must import the package from (Snakemake runs a remote script from its own
# copy, with no path to the script's folder).
if os.path.isdir(str(workflow.current_basedir)):
    REPOSITORY = Path(str(workflow.current_basedir)).parents[1]
    COPY_REFERENCE = PACKAGE_PATH = None
else:
    REPOSITORY = copy_of_repository()
    COPY_REFERENCE = str(workflow.current_basedir)
    PACKAGE_PATH = REPOSITORY / "package"
