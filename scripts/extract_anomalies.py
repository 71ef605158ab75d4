"""Snakemake entry for rule extract_anomalies.

Runs gmm_pipeline.execution.steps.extract_anomalies, which calls gmm_pipeline.stages.extract_anomalies.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "extract_anomalies")  # noqa: F821 (snakemake is injected by Snakemake)
