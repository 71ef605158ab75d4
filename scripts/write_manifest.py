"""Snakemake entry for rule manifest: see gmm_pipeline.manifest."""

from gmm_pipeline.manifest import write_manifest

smk = snakemake  # noqa: F821 (injected by Snakemake)
with open(smk.log[0], "w", encoding="utf-8"):
    write_manifest(smk.output.manifest, list(smk.input), smk.config)
