"""Snakemake entry for rule select_model: see gmm_pipeline.selection."""

from gmm_pipeline.runner import run_step
from gmm_pipeline.selection import select_to_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    smk, "select",
    lambda: select_to_files(
        starts_paths=smk.input.starts, models_paths=smk.input.models,
        criterion=smk.params.criterion, pinned=smk.params.pinned, dataset=smk.wildcards.dataset,
        criteria_path=smk.output.criteria, selection_path=smk.output.selection,
        model_path=smk.output.model,
    ),
    params={"criterion": smk.params.criterion, "pinned": smk.params.pinned},
)
