"""Snakemake entry for rule plot_sweep: see gmm_pipeline.execution.steps.plot_sweep and gmm_pipeline.stages.sweep_figures."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "plot_sweep")  # noqa: F821 (snakemake is injected by Snakemake)
