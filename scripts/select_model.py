"""Snakemake entry for rule select_model: see gmm_pipeline.steps.select_model and gmm_pipeline.selection."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "select_model")  # noqa: F821 (snakemake is injected by Snakemake)
