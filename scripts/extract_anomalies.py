"""Snakemake entry for rule extract_anomalies: see gmm_pipeline.execution.steps.extract_anomalies and gmm_pipeline.stages.anomalies."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "extract_anomalies")  # noqa: F821 (snakemake is injected by Snakemake)
