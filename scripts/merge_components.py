"""Snakemake entry for rule merge_components.

Runs gmm_pipeline.execution.steps.merge_components, which calls gmm_pipeline.stages.merge_components.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "merge_components")  # noqa: F821 (snakemake is injected by Snakemake)
