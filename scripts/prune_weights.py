"""Snakemake entry for rule prune_weights.

Runs gmm_pipeline.execution.steps.prune_weights, which calls gmm_pipeline.stages.prune_weights.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "prune_weights")  # noqa: F821 (snakemake is injected by Snakemake)
