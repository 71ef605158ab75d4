"""Snakemake entry for rule cross_validate.

Runs gmm_pipeline.execution.steps.cross_validate, which calls gmm_pipeline.stages.cross_validate.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "cross_validate")  # noqa: F821 (snakemake is injected by Snakemake)
