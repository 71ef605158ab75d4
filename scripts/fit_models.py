"""Snakemake entry for rule fit_models: see gmm_pipeline.execution.steps.fit_models and gmm_pipeline.stages.fitting."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "fit_models")  # noqa: F821 (snakemake is injected by Snakemake)
