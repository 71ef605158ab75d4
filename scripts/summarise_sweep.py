"""Snakemake entry for rule summarise_sweep: see gmm_pipeline.steps.summarise_sweep and gmm_pipeline.sweep_summary."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "summarise_sweep")  # noqa: F821 (snakemake is injected by Snakemake)
