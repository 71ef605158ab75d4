"""Snakemake entry for rule render_figures: see gmm_pipeline.figures."""

from gmm_pipeline.figures import render_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
figures = {name: path for name, path in smk.output.items() if name != "provenance"}
run_step(
    smk, "figures",
    lambda: render_to_files(inputs=dict(smk.input.items()), params=smk.params.figures, outputs=figures),
    params=smk.params.figures,
)
