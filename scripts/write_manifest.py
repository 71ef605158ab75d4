"""Snakemake entry for rule write_manifest.

Runs gmm_pipeline.execution.steps.write_manifest, which calls gmm_pipeline.stages.write_manifest.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "write_manifest")  # noqa: F821 (snakemake is injected by Snakemake)
