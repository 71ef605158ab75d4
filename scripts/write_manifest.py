"""Snakemake entry for rule manifest: see gmm_pipeline.execution.steps.write_manifest and gmm_pipeline.stages.manifest."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "write_manifest")  # noqa: F821 (snakemake is injected by Snakemake)
