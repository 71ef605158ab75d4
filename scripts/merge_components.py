"""Snakemake entry for rule merge_components: see gmm_pipeline.execution.steps.merge_components and gmm_pipeline.stages.clusters."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "merge_components")  # noqa: F821 (snakemake is injected by Snakemake)
