"""Snakemake entry for rule prepare_data: see gmm_pipeline.datasets."""

from gmm_pipeline.datasets import prepare_to_files, source_seeds
from gmm_pipeline.runner import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
spec = smk.params.spec
run_step(
    smk, "data",
    lambda: prepare_to_files(
        spec, name=smk.wildcards.dataset, data_path=smk.output.data, meta_path=smk.output.meta,
        min_rows=smk.params.min_rows,
    ),
    params=spec, seeds=source_seeds(spec),
)
