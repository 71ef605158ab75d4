"""Snakemake entry for rule summarise_lrt: see gmm_pipeline.execution.steps.summarise_lrt and gmm_pipeline.stages.lrt."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "summarise_lrt")  # noqa: F821 (snakemake is injected by Snakemake)
