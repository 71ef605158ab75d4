"""Snakemake entry for rule collect_metrics.

Runs gmm_pipeline.execution.steps.collect_metrics, which calls gmm_pipeline.stages.collect_metrics.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "collect_metrics")  # noqa: F821 (snakemake is injected by Snakemake)
