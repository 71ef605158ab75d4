"""Snakemake entry for rule extract_anomalies: see gmm_pipeline.anomalies."""

from gmm_pipeline.anomalies import extract_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "anomalies",
    lambda: extract_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta, model_path=smk.input.model,
        params=smk.params.anomalies,
        outputs={name: path for name, path in smk.output.items() if name != "provenance"},
    ),
    params=smk.params.anomalies, seeds=[smk.params.anomalies["seed"]],
)
