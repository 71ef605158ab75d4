# gmm-pipeline: Gaussian mixture experiments as a reproducible Snakemake workflow.
# Rules live in workflow/rules/, step logic in scripts/gmm_pipeline/; see README.md.
import re
import sys

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, f"{workflow.basedir}/scripts")
from gmm_pipeline.config_checks import check_config, schema_error_message  # noqa: E402
from gmm_pipeline.errors import PipelineInputError  # noqa: E402


configfile: "config.yaml"


# Check the whole config before any job runs: first each value (schema), then how the
# values fit together.
try:
    validate(config, "workflow/schemas/config.schema.yaml")
    check_config(config)
except WorkflowError as err:
    # validate() raises while handling the jsonschema error, which stays as the context.
    if not isinstance(err.__context__, ValidationError):
        raise
    raise WorkflowError(f"Invalid config: {schema_error_message(err.__context__)}") from None
except PipelineInputError as err:
    raise WorkflowError(f"Invalid config: {err}") from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Dataset names are exactly the configured ones, so "moons" never matches "moons_big/...".
wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    covariance_type="full|tied|diag|spherical",


include: "workflow/rules/data.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/bayes.smk"
include: "workflow/rules/anomalies.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/manifest.smk"


# Everything: every step for every dataset, and the run manifest that lists them.
rule all:
    default_target: True
    input:
        "results/manifest.json",
