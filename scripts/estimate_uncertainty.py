"""Snakemake entry for rule estimate_uncertainty: see gmm_pipeline.steps.estimate_uncertainty and gmm_pipeline.uncertainty."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "estimate_uncertainty")  # noqa: F821 (snakemake is injected by Snakemake)
