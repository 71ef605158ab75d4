"""Snakemake entry for rule prepare_data: see gmm_pipeline.execution.steps.prepare_data and gmm_pipeline.stages.datasets."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "prepare_data")  # noqa: F821 (snakemake is injected by Snakemake)
