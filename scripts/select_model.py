"""Snakemake entry for rule select_model.

Runs gmm_pipeline.execution.steps.select_model, which calls gmm_pipeline.stages.select_model.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "select_model")  # noqa: F821 (snakemake is injected by Snakemake)
