"""Snakemake entry for rule prepare_data.

Runs gmm_pipeline.execution.steps.prepare_data, which calls gmm_pipeline.stages.prepare_data.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "prepare_data")  # noqa: F821 (snakemake is injected by Snakemake)
