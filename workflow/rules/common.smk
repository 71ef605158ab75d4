# Names shared by the rule files.
import os

from gmm_pipeline.code_version import step_code
from gmm_pipeline.artifacts import sha256_file
from gmm_pipeline.memory import BASE_MIB, rule_mem_mb

DATASETS = list(config["datasets"])
COVARIANCE_TYPES = config["fit"]["covariance_types"]
# The sweep settings a fitting job depends on. Its covariance type is a wildcard, so adding a
# type to the list must not rerun the jobs of the others.
FIT_SETTINGS = {key: value for key, value in config["fit"].items() if key != "covariance_types"}
# Cross-validation and the stability refits can be switched off (0 folds, 0 replicates);
# then their jobs are not planned at all.
CROSS_VALIDATION = config["selection"]["cross_validation"]["folds"] > 0
STABILITY = (
    config["selection"]["stability"]["bootstrap"] + config["selection"]["stability"]["data_seeds"]
) > 0
# Which ready job runs first: the one with more of the workflow waiting behind it. So every
# dataset gets its data first, and a dataset whose fits are done goes on to selection,
# anomalies and figures before more figures of others: on several cores, no dataset's
# chain of last steps is left to run alone at the end. Figures and the manifest keep 0.
PRIORITY = {"data": 4, "sweep": 3, "select": 2, "anomalies": 1}


def dataset_mem_mb(wildcards):
    """The ``mem_mb`` a job of the wildcard's dataset asks for: the estimated peak of its
    heaviest step (``MEMORY_MIB``, which the config check held within this run's limits)."""
    return rule_mem_mb(MEMORY_MIB[wildcards.dataset], RUN_MEM_MB)


# Fewest rows a dataset may have: one per component of the largest model.
MIN_ROWS = max(max(config["fit"]["n_components"]), config["bayesian"]["max_components"])


def source_files(wildcards):
    """A file dataset's own file and its check report; nothing for other sources."""
    spec = config["datasets"][wildcards.dataset]
    if "path" not in spec:
        return {}
    return {
        "source": spec["path"],
        "check": f"results/data/{wildcards.dataset}/input_check.json",
    }


def source_content(wildcards):
    """The SHA-256 of a file dataset's bytes, watched by the ``params`` rerun trigger: a
    replaced file reruns its check even when its modification time is older."""
    path = config["datasets"][wildcards.dataset]["path"]
    # A missing file is left to Snakemake, which names it as a missing input.
    return sha256_file(path) if os.path.isfile(path) else None


def dataset_files(wildcards):
    """The data and column description of the job's dataset."""
    return {
        "data": f"results/data/{wildcards.dataset}/data.csv",
        "meta": f"results/data/{wildcards.dataset}/dataset.json",
    }


def per_covariance_type(path, enabled=True):
    """``path`` for each configured covariance type, the dataset left as a wildcard (none
    when the step producing it is switched off)."""
    if not enabled:
        return []
    return expand(path, dataset="{dataset}", covariance_type=COVARIANCE_TYPES)


def run_artifacts(wildcards):
    """Every artifact of the run: each step's outputs for each dataset."""
    per_dataset = [
        rules.prepare_data,
        rules.select_model,
        rules.prune_weights,
        rules.extract_anomalies,
        rules.render_figures,
    ]
    paths = []
    for dataset in DATASETS:
        if "path" in config["datasets"][dataset]:
            paths += expand(list(rules.check_input.output), dataset=dataset)
        for step in per_dataset:
            paths += expand(list(step.output), dataset=dataset)
        per_type = [rules.fit_models]
        per_type += [rules.cross_validate] if CROSS_VALIDATION else []
        per_type += [rules.assess_stability] if STABILITY else []
        for step in per_type:
            paths += expand(list(step.output), dataset=dataset, covariance_type=COVARIANCE_TYPES)
    return paths
