"""Snakemake entry for rule summarise_lrt.

Runs gmm_pipeline.execution.steps.summarise_lrt, which calls gmm_pipeline.stages.summarise_lrt.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "summarise_lrt")  # noqa: F821 (snakemake is injected by Snakemake)
