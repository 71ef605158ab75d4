"""Snakemake entry for rule fit_models.

Runs gmm_pipeline.execution.steps.fit_models, which calls gmm_pipeline.stages.fit_models.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "fit_models")  # noqa: F821 (snakemake is injected by Snakemake)
