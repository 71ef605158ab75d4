"""Snakemake entry for rule manifest: see gmm_pipeline.steps.write_manifest and gmm_pipeline.manifest."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "write_manifest")  # noqa: F821 (snakemake is injected by Snakemake)
