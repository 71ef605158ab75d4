"""The repository's own promises: pins agree, CI runs the README's test command."""

import re
import subprocess

import yaml
from conftest import REPO, SMALL_CONFIG, SNAKEMAKE, planned_jobs


def _pins(path):
    pins = {}
    for line in (REPO / path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_direct_dependency_is_pinned_in_the_lock_file():
    direct, locked = _pins("requirements.in"), _pins("requirements.txt")
    assert direct and all(locked.get(name) == version for name, version in direct.items())
    assert len(locked) > len(direct)  # transitive dependencies are pinned too


def test_conda_environment_pins_the_same_versions():
    env = yaml.safe_load((REPO / "workflow/envs/gmm.yaml").read_text())
    conda = dict(entry.split("=", 1) for entry in env["dependencies"] if isinstance(entry, str))
    direct = _pins("requirements.in")
    assert conda.pop("python") == "3.11"
    conda["matplotlib"] = conda.pop("matplotlib-base")
    # Snakemake, its executor plugin and its report's Pygments run the workflow; the
    # environment runs the jobs.
    assert conda == {
        name: version
        for name, version in direct.items()
        if not name.startswith("snakemake") and name != "pygments"
    }


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^\s*(make \w+)\s*$", readme, flags=re.MULTILINE)
    assert "make run" in commands and "make test" in commands
    ci = (REPO / ".ci/run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_ci_runs_the_main_job_before_anything_installs_test_tools():
    # `make run` on a clean checkout must work alone: every package it needs (the report's
    # Pygments included) comes from requirements.txt, not from the test requirements.
    steps = re.findall(r"^make ([\w-]+)$", (REPO / ".ci/run").read_text(), flags=re.MULTILINE)
    assert steps[0] == "run"
    assert "pygments" in _pins("requirements.txt") and "pygments" not in _pins("requirements-test.txt")


def test_snakemake_from_the_root_runs_workflow_snakefile(tmp_path):
    # The top-level Snakefile includes workflow/Snakefile and names its target; from the
    # root, with no --snakefile, the same jobs are planned (the target rule aside).
    def planned(*snakefile):
        process = subprocess.run(
            [SNAKEMAKE, *snakefile, "--configfile", SMALL_CONFIG, "--directory", tmp_path, "--dry-run"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert process.returncode == 0, process.stderr[-2000:]
        return planned_jobs(process.stdout)

    from_root, from_workflow = planned(), planned("--snakefile", "workflow/Snakefile")
    assert from_root.pop("default") == from_workflow.pop("all") == 1
    assert from_root == from_workflow and sum(from_root.values()) > 20
