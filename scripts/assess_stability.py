"""Snakemake entry for rule assess_stability: see gmm_pipeline.stability."""

from gmm_pipeline.fitting import sweep_settings
from gmm_pipeline.runner import run_step
from gmm_pipeline.stability import stability_to_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
stability = smk.params.stability
run_step(
    smk, "stability",
    lambda: stability_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta, spec=smk.params.spec,
        covariance_type=smk.wildcards.covariance_type, fit_params=smk.params.fit,
        stability_params=stability, replicates_path=smk.output.replicates,
    ),
    params={"fit": smk.params.fit, "stability": stability, "dataset": smk.params.spec},
    seeds=[stability["seed"], *sweep_settings(smk.params.fit, n_seeds=stability["seeds"])["seeds"]],
)
