"""Snakemake entry for rule generate_data: see gmm_pipeline.datasets."""

from gmm_pipeline.datasets import generate_to_files
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
spec = smk.params.spec
run_step(
    smk, "data",
    lambda: generate_to_files(
        spec, name=smk.wildcards.dataset, data_path=smk.output.data, meta_path=smk.output.meta,
    ),
    params=spec, seeds=[spec["seed"]],
)
