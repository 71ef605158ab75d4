"""Snakemake entry for rule check_input.

Runs gmm_pipeline.execution.steps.check_input, which calls gmm_pipeline.stages.check_input.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "check_input")  # noqa: F821 (snakemake is injected by Snakemake)
