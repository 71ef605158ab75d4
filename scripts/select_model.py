"""Snakemake entry for rule select_model: see gmm_pipeline.selection."""

from gmm_pipeline.runner import run_step
from gmm_pipeline.selection import select_to_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
selection = smk.params.selection
run_step(
    smk, "select",
    lambda: select_to_files(
        data_path=smk.input.data, meta_path=smk.input.meta,
        starts_paths=smk.input.starts, models_paths=smk.input.models,
        folds_paths=smk.input.folds, replicates_paths=smk.input.replicates,
        criterion=smk.params.criterion, pinned=smk.params.pinned,
        tolerance=selection["optimum_tolerance"], dataset=smk.wildcards.dataset,
        outputs={name: path for name, path in smk.output.items() if name != "provenance"},
    ),
    params={"selection": selection, "criterion": smk.params.criterion, "pinned": smk.params.pinned},
)
