"""Snakemake entry for rule prepare_data: see gmm_pipeline.steps.prepare_data and gmm_pipeline.datasets."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "prepare_data")  # noqa: F821 (snakemake is injected by Snakemake)
