"""Snakemake entry for rule estimate_uncertainty.

Runs gmm_pipeline.execution.steps.estimate_uncertainty, which calls gmm_pipeline.stages.estimate_uncertainty.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "estimate_uncertainty")  # noqa: F821 (snakemake is injected by Snakemake)
