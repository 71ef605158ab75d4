"""Snakemake entry for rule render_figures: see gmm_pipeline.figures."""

from gmm_pipeline.figures import render_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "figures",
    lambda: render_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta, model_path=smk.input.model,
        scores_path=smk.input.scores, criteria_path=smk.input.criteria,
        selection_path=smk.input.selection, weights_path=smk.input.weights,
        bayes_summary_path=smk.input.bayes_summary, params=smk.params.figures,
        model_figure=smk.output.model, criteria_figure=smk.output.criteria,
        weights_figure=smk.output.weights,
    ),
    params=smk.params.figures,
)
