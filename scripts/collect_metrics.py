"""Snakemake entry for rule collect_metrics: see gmm_pipeline.steps.collect_metrics and gmm_pipeline.metrics."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "collect_metrics")  # noqa: F821 (snakemake is injected by Snakemake)
