"""Snakemake entry for rule estimate_uncertainty: see gmm_pipeline.execution.steps.estimate_uncertainty
and gmm_pipeline.stages.uncertainty."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "estimate_uncertainty")  # noqa: F821 (snakemake is injected by Snakemake)
