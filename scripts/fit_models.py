"""Snakemake entry for rule fit_models: see gmm_pipeline.fitting."""

from gmm_pipeline.fitting import fit_to_files, resolve_seeds
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "fit",
    lambda: fit_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta,
        covariance_type=smk.wildcards.covariance_type, fit_params=smk.params.fit,
        starts_path=smk.output.starts, models_path=smk.output.models,
    ),
    params=smk.params.fit, seeds=resolve_seeds(smk.params.fit["seeds"]),
)
