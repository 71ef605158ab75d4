"""Snakemake entry for rule check_input: see gmm_pipeline.sources."""

from gmm_pipeline.runner import run_step
from gmm_pipeline.sources import check_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "check_input",
    lambda: check_to_file(smk.params.spec, min_rows=smk.params.min_rows, report_path=smk.output.report),
    params=smk.params.spec,
)
