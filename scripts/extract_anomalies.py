"""Snakemake entry for rule extract_anomalies: see gmm_pipeline.anomalies."""

from gmm_pipeline.anomalies import extract_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "anomalies",
    lambda: extract_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta, model_path=smk.input.model,
        percentile=smk.params.percentile, scores_path=smk.output.scores,
        anomalies_path=smk.output.anomalies, summary_path=smk.output.summary,
    ),
    params={"percentile": smk.params.percentile},
)
