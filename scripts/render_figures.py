"""Snakemake entry for rule render_figures.

Runs gmm_pipeline.execution.steps.render_figures, which calls gmm_pipeline.stages.render_figures.
"""

from gmm_pipeline.execution.worker_client import run_job

run_job(snakemake, "render_figures")  # noqa: F821 (snakemake is injected by Snakemake)
