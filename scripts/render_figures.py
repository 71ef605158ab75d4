"""Snakemake entry for rule render_figures: see gmm_pipeline.execution.steps.render_figures and gmm_pipeline.stages.figures."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "render_figures")  # noqa: F821 (snakemake is injected by Snakemake)
