"""Snakemake entry for rule prune_weights: see gmm_pipeline.execution.steps.prune_weights and gmm_pipeline.stages.bayesian."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "prune_weights")  # noqa: F821 (snakemake is injected by Snakemake)
