"""Snakemake entry for rule test_components: see gmm_pipeline.execution.steps.test_components and gmm_pipeline.stages.lrt."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "test_components")  # noqa: F821 (snakemake is injected by Snakemake)
