"""Snakemake entry for rule prune_weights: see gmm_pipeline.steps.prune_weights and gmm_pipeline.bayesian."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "prune_weights")  # noqa: F821 (snakemake is injected by Snakemake)
