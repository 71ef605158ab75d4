"""Snakemake entry for rule render_figures: see gmm_pipeline.steps.render_figures and gmm_pipeline.figures."""

from gmm_pipeline.worker import run_job

run_job(snakemake, "render_figures")  # noqa: F821 (snakemake is injected by Snakemake)
