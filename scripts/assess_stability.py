"""Snakemake entry for rule assess_stability: see gmm_pipeline.execution.steps.assess_stability and gmm_pipeline.stages.stability."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "assess_stability")  # noqa: F821 (snakemake is injected by Snakemake)
