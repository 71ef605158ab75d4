"""Snakemake entry for rule prune_weights: see gmm_pipeline.bayesian."""

from gmm_pipeline.bayesian import prune_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "bayes",
    lambda: prune_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta, params=smk.params.bayesian,
        weights_path=smk.output.weights, summary_path=smk.output.summary,
    ),
    params=smk.params.bayesian, seeds=[smk.params.bayesian["seed"]],
)
