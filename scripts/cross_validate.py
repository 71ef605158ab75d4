"""Snakemake entry for rule cross_validate: see gmm_pipeline.crossval."""

from gmm_pipeline.crossval import cross_validate_to_files
from gmm_pipeline.fitting import sweep_settings
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
cv = smk.params.cross_validation
run_step(
    smk, "cross_validate",
    lambda: cross_validate_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta,
        covariance_type=smk.wildcards.covariance_type, fit_params=smk.params.fit,
        cv_params=cv, folds_path=smk.output.folds,
    ),
    params={"fit": smk.params.fit, "cross_validation": cv},
    seeds=[cv["seed"], *sweep_settings(smk.params.fit, n_seeds=cv["seeds"])["seeds"]],
)
