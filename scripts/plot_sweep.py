"""Snakemake entry for rule plot_sweep.

Runs gmm_pipeline.execution.steps.plot_sweep, which calls gmm_pipeline.stages.plot_sweep.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "plot_sweep")  # noqa: F821 (snakemake is injected by Snakemake)
