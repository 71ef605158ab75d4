"""Snakemake entry for rule check_input: see gmm_pipeline.steps.check_input and gmm_pipeline.sources."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "check_input")  # noqa: F821 (snakemake is injected by Snakemake)
