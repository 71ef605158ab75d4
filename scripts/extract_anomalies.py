"""Snakemake entry for rule extract_anomalies: see gmm_pipeline.steps.extract_anomalies and gmm_pipeline.anomalies."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "extract_anomalies")  # noqa: F821 (snakemake is injected by Snakemake)
