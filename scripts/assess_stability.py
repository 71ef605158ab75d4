"""Snakemake entry for rule assess_stability: see gmm_pipeline.steps.assess_stability and gmm_pipeline.stability."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "assess_stability")  # noqa: F821 (snakemake is injected by Snakemake)
