"""Snakemake entry for rule test_components.

Runs gmm_pipeline.execution.steps.test_components, which calls gmm_pipeline.stages.test_components.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "test_components")  # noqa: F821 (snakemake is injected by Snakemake)
