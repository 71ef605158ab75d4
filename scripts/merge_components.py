"""Snakemake entry for rule merge_components: see gmm_pipeline.steps.merge_components and gmm_pipeline.clusters."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "merge_components")  # noqa: F821 (snakemake is injected by Snakemake)
