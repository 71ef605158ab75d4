"""Snakemake entry for rule cross_validate: see gmm_pipeline.steps.cross_validate and gmm_pipeline.crossval."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "cross_validate")  # noqa: F821 (snakemake is injected by Snakemake)
