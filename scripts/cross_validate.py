"""Snakemake entry for rule cross_validate: see gmm_pipeline.execution.steps.cross_validate and gmm_pipeline.stages.crossval."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "cross_validate")  # noqa: F821 (snakemake is injected by Snakemake)
