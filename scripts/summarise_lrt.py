"""Snakemake entry for rule summarise_lrt: see gmm_pipeline.steps.summarise_lrt and gmm_pipeline.lrt."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "summarise_lrt")  # noqa: F821 (snakemake is injected by Snakemake)
