"""Snakemake entry for rule summarise_sweep.

Runs gmm_pipeline.execution.steps.summarise_sweep, which calls gmm_pipeline.stages.summarise_sweep.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "summarise_sweep")  # noqa: F821 (snakemake is injected by Snakemake)
