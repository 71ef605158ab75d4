# gmm-pipeline: Gaussian mixture experiments as a reproducible Snakemake workflow.
# Rules live in workflow/rules/, step logic in scripts/gmm_pipeline/; see README.md.
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# This repository's folder, also when the workflow runs as a module of another one (then
# workflow.basedir is the outer workflow's folder).
REPOSITORY = Path(str(workflow.current_basedir))
sys.path.insert(0, str(REPOSITORY / "scripts"))
from gmm_pipeline.config_checks import (  # noqa: E402
    check_config,
    check_config_size,
    check_strict_types,
    coerce_cli_strings,
    config_errors_reported,
    normalise_config,
    read_schema,
)
from gmm_pipeline.history import record_completed_run  # noqa: E402
from gmm_pipeline.memory import check_memory  # noqa: E402
from gmm_pipeline.plan import dataset_pattern, plan_datasets, plot_specs  # noqa: E402
from gmm_pipeline.provenance import share_code_identity  # noqa: E402
from gmm_pipeline.worker import mark_local_run, start_worker  # noqa: E402


configfile: "config.yaml"


# Check the whole config before any job runs: each value against the schema, then how the
# values fit together. Either failure stops the run with one line naming the key.
CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"
with config_errors_reported():
    check_config_size(config)
    config_schema = read_schema(REPOSITORY / CONFIG_SCHEMA)
    coerce_cli_strings(config, config_schema)
    validate(config, CONFIG_SCHEMA)
    check_strict_types(config, config_schema)
    normalise_config(config)
    # Every dataset of the run, the configured ones and each sweep point, with the
    # settings its steps use (common.smk).
    PLAN = plan_datasets(config, config_schema)
    check_config(config, PLAN)
    # Each sweep's figures, {sweep: {name: spec}}: the configured ones or the defaults.
    SWEEP_PLOTS = {sweep: plot_specs(sweep, PLAN, config) for sweep in config["sweeps"]}
    # The run's --resources mem_mb, if the user gave one. Snakemake has no public accessor
    # for it; if this attribute path changes, the check falls back to the machine's limits.
    try:
        RUN_MEM_MB = workflow.global_resources["mem_mb"].value
    except (KeyError, AttributeError, TypeError):
        RUN_MEM_MB = None
    # Each dataset's estimated peak memory, also what its jobs ask for (common.smk).
    MEMORY_MIB = check_memory(PLAN, RUN_MEM_MB)


report: "workflow/report/workflow.rst"


# Jobs run in a warm worker that has scikit-learn imported (scripts/gmm_pipeline/worker.py),
# only those this process starts itself (the local executor). Start it while Snakemake
# plans the jobs rather than when the first job asks for it. The code identity every
# provenance record cites is taken once here, not in every job.
# When the run started, for its record in the run history.
RUN_STARTED = {}


onstart:
    RUN_STARTED["at"] = datetime.now(UTC)
    share_code_identity()
    mark_local_run()
    if workflow.local_exec:
        start_worker()


# A completed run that changed the results records itself: results/runs/<id>/ (see
# gmm_pipeline/history.py and `scripts/runs.py`). Jobs on a cluster node run without hooks.
onsuccess:
    record_completed_run(
        os.path.dirname(rules.manifest.output.manifest), started=RUN_STARTED.get("at"), log_path=log
    )


include: "workflow/rules/common.smk"


# Dataset names are the configured ones and each sweep's points, so "moons" never matches
# "moons_big/...". A point is matched by its form, "<sweep>/<axis>~<value>/...", which no
# other path part has: one short pattern however many points (a list of every point name
# made Snakemake compile a pattern thousands of characters long for each rule).
wildcard_constraints:
    dataset=dataset_pattern(PLAN),
    covariance_type="full|tied|diag|spherical",
    sweep="|".join(map(re.escape, SWEEPS)) or "(?!)",
    plot="[A-Za-z0-9][A-Za-z0-9_-]*",


include: "workflow/rules/data.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/clusters.smk"
include: "workflow/rules/bayes.smk"
include: "workflow/rules/anomalies.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summaries.smk"
include: "workflow/rules/manifest.smk"


# Everything: every step's artifacts for every dataset, and the run manifest that lists
# them. Each artifact is a target itself: Snakemake does not rebuild a missing file that
# only an up-to-date file downstream (the manifest) depends on.
rule all:
    default_target: True
    input:
        run_artifacts,
        "results/manifest.json",
