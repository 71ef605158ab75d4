"""Snakemake entry for rule assess_stability.

Runs gmm_pipeline.execution.steps.assess_stability, which calls gmm_pipeline.stages.assess_stability.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "assess_stability")  # noqa: F821 (snakemake is injected by Snakemake)
