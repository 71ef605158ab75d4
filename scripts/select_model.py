"""Snakemake entry for rule select_model: see gmm_pipeline.execution.steps.select_model and gmm_pipeline.stages.selection."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "select_model")  # noqa: F821 (snakemake is injected by Snakemake)
