"""Snakemake entry for rule check_input: see gmm_pipeline.execution.steps.check_input and gmm_pipeline.stages.sources."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "check_input")  # noqa: F821 (snakemake is injected by Snakemake)
