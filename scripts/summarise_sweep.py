"""Snakemake entry for rule summarise_sweep: see gmm_pipeline.execution.steps.summarise_sweep and gmm_pipeline.stages.sweep_summary."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "summarise_sweep")  # noqa: F821 (snakemake is injected by Snakemake)
