# Names shared by the rule files.
import os
import re

from gmm_pipeline.records.code_version import step_code
from gmm_pipeline.files.artifacts import sha256_file
from gmm_pipeline.config.memory import BASE_MIB, largest_component_count, rule_mem_mb
from gmm_pipeline.config.plan import dataset_pattern
from gmm_pipeline.maths.estimators import COVARIANCE_TYPES
from gmm_pipeline.maths.covariance_models import OTHER_MODELS

# Every dataset of the run: the configured ones and each sweep point (RUN.plan, from the
# Snakefile's check of the config).
# A point's name is its folder, "<sweep>/<axis>~<value>/...".
PLAN, SWEEP_PLOTS, RUN_MEM_MB, MEMORY_MIB = RUN.plan, RUN.sweep_plots, RUN.run_mem_mb, RUN.memory_mib
DATASETS = list(PLAN)
SWEEPS = list(config["sweeps"])


# Dataset names are the configured ones and each sweep's points, so "moons" never matches
# "moons_big/...". A point is matched by its form, "<sweep>/<axis>~<value>/...", which no
# other path part has: one short pattern however many points (a list of every point name
# made Snakemake compile a pattern thousands of characters long for each rule).
wildcard_constraints:
    dataset=dataset_pattern(PLAN),
    covariance_type="|".join(COVARIANCE_TYPES + OTHER_MODELS),
    sweep="|".join(map(re.escape, SWEEPS)) or "(?!)",
    plot="[A-Za-z0-9][A-Za-z0-9_-]*",


# Which ready job runs first (higher first). With few datasets, breadth first: every
# dataset's data, then every dataset's fits (the longest jobs), then selection, anomalies
# and figures, so on several cores no dataset's long fit is left to run alone at the end.
# With many (a sweep's points), the cores stay busy either way, and depth first keeps the
# ready jobs few: each dataset's chain is finished before another's fits start. That
# matters because Snakemake re-examines the inputs of every ready job in each of its
# selection rounds, and the rounds multiply as jobs finish (docs/upstream.md; the
# measurements are in docs/benchmarks/2026-11.md). The order changes no result and triggers no
# rerun.
MANY_DATASETS = 16
BREADTH_FIRST = {"data": 4, "fit": 3, "select": 2, "anomalies": 1, "figures": 0}
DEPTH_FIRST = {"data": 0, "fit": 1, "select": 2, "anomalies": 3, "figures": 4}
PRIORITY = DEPTH_FIRST if len(PLAN) >= MANY_DATASETS else BREADTH_FIRST


def spec(wildcards):
    """The dataset entry of the job's dataset (source and options)."""
    return PLAN[wildcards.dataset].spec


def setting(section, *keys):
    """An input function: the job's dataset's settings of ``section`` (a sweep point's own,
    over the top-level ones), or the part of them ``keys`` lead to."""

    def value(wildcards):
        found = PLAN[wildcards.dataset].settings[section]
        for key in keys:
            found = found[key]
        return found

    return value


def covariance_types(dataset):
    return PLAN[dataset].settings["fit"]["covariance_types"]


def dataset_fit_settings(wildcards):
    """The fit settings of the job's dataset, covariance types included (the fitting job
    fits every type)."""
    return PLAN[wildcards.dataset].settings["fit"]


def fit_settings(wildcards):
    """The fit settings a refitting job depends on. A per-type job (cross-validation,
    stability, LRT) has its covariance type as a wildcard, so adding a type to the list
    must not rerun the jobs of the others."""
    fit = PLAN[wildcards.dataset].settings["fit"]
    return {key: value for key, value in fit.items() if key != "covariance_types"}


# Cross-validation and the stability refits can be switched off (0 folds, 0 replicates);
# then their jobs are not planned at all.
def cross_validation_on(dataset):
    return PLAN[dataset].settings["selection"]["cross_validation"]["folds"] > 0


def stability_on(dataset):
    stability = PLAN[dataset].settings["selection"]["stability"]
    return stability["bootstrap"] + stability["data_seeds"] > 0


def lrt_on(dataset):
    return PLAN[dataset].settings["selection"]["lrt"]["replicates"] > 0


def caption_settings(wildcards):
    """The settings the figure captions quote, the dataset's own (a sweep point's may differ
    from the top-level ones)."""
    settings = PLAN[wildcards.dataset].settings
    selection, bayesian = settings["selection"], settings["bayesian"]
    return {
        "threshold": settings["anomalies"]["threshold"],
        "bayes_max_components": bayesian["max_components"],
        "weight_threshold": bayesian["weight_threshold"],
        "folds": selection["cross_validation"]["folds"],
        "bootstrap": selection["stability"]["bootstrap"],
        "data_seeds": selection["stability"]["data_seeds"],
        "stability_seeds": selection["stability"]["seeds"],
        "stability_method": selection["stability"]["method"],
        "criterion": PLAN[wildcards.dataset].criterion,
    }


def dataset_mem_mb(wildcards):
    """The ``mem_mb`` a job of the wildcard's dataset asks for: the estimated peak of its
    heaviest step (``MEMORY_MIB``, which the config check held within this run's limits)."""
    return rule_mem_mb(MEMORY_MIB[wildcards.dataset], RUN_MEM_MB)


def min_rows(wildcards):
    """Fewest rows the dataset may have: one per component of its largest model."""
    return largest_component_count(PLAN[wildcards.dataset].settings)


def criterion(wildcards):
    """The criterion whose choice the dataset's downstream steps use."""
    return PLAN[wildcards.dataset].criterion


def pinned_model(wildcards):
    return PLAN[wildcards.dataset].spec.get("model")


def source_path(wildcards):
    return PLAN[wildcards.dataset].spec["path"]


def source_files(wildcards):
    """A file dataset's own file and its check report; nothing for other sources."""
    spec = PLAN[wildcards.dataset].spec
    if "path" not in spec:
        return {}
    return {
        "source": spec["path"],
        "check": f"results/data/{wildcards.dataset}/input_check.json",
    }


def source_content(wildcards):
    """The SHA-256 of a file dataset's bytes, watched by the ``params`` rerun trigger: a
    replaced file reruns its check even when its modification time is older."""
    path = PLAN[wildcards.dataset].spec["path"]
    # A missing file is left to Snakemake, which names it as a missing input.
    return sha256_file(path) if os.path.isfile(path) else None


def dataset_files(wildcards):
    """The data and column description of the job's dataset."""
    return {
        "data": f"results/data/{wildcards.dataset}/data.csv",
        "meta": f"results/data/{wildcards.dataset}/dataset.json",
    }


def per_covariance_type(path, enabled):
    """An input function: ``path`` for each covariance type of the job's dataset, or nothing
    when ``enabled`` says the step producing it is switched off for that dataset (the
    per-dataset twin is :func:`when_on`)."""

    def paths(wildcards):
        if not enabled(wildcards.dataset):
            return []
        return expand(path, dataset=wildcards.dataset, covariance_type=covariance_types(wildcards.dataset))

    return paths


def when_on(path, enabled):
    """An input function: ``path`` for the job's dataset, or nothing when ``enabled`` says
    the step producing it is switched off for that dataset."""

    def paths(wildcards):
        return expand(path, dataset=wildcards.dataset) if enabled(wildcards.dataset) else []

    return paths


def dataset_artifacts(dataset):
    """Every artifact of one dataset: each step's outputs."""
    paths = []
    if "path" in PLAN[dataset].spec:
        paths += expand(list(rules.check_input.output), dataset=dataset)
    for step in (
        rules.prepare_data,
        rules.fit_models,
        rules.select_model,
        rules.merge_components,
        rules.prune_weights,
        rules.extract_anomalies,
        rules.render_figures,
    ):
        paths += expand(list(step.output), dataset=dataset)
    if cross_validation_on(dataset):
        paths += expand(list(rules.cross_validate.output), dataset=dataset)
    if stability_on(dataset):
        paths += expand(list(rules.assess_stability.output), dataset=dataset)
    if PLAN[dataset].settings["selection"]["stability"]["bootstrap"] > 0:
        paths += expand(list(rules.estimate_uncertainty.output), dataset=dataset)
    if lrt_on(dataset):
        paths += expand(list(rules.summarise_lrt.output), dataset=dataset)
        paths += expand(
            list(rules.test_components.output), dataset=dataset, covariance_type=covariance_types(dataset)
        )
    return paths


def metric_inputs(datasets):
    """The artifacts the metrics of ``datasets`` are read from, as lists by kind."""
    datasets = list(datasets)
    return {
        "selection": [f"results/select/{name}/selection.json" for name in datasets],
        "bayes_summary": [f"results/bayes/{name}/summary.json" for name in datasets],
        "anomaly_summary": [f"results/anomalies/{name}/summary.json" for name in datasets],
        "cluster_summary": [f"results/clusters/{name}/summary.json" for name in datasets],
        "starts": [f"results/select/{name}/starts.csv" for name in datasets],
        "detectors": [f"results/anomalies/{name}/detectors.csv" for name in datasets],
    }


CONFIGURED_DATASETS = [name for name, planned in PLAN.items() if planned.sweep is None]


def sweep_points(sweep):
    """The points of ``sweep``, each as {name, values}."""
    return [
        {"name": planned.folder, "values": planned.values}
        for planned in PLAN.values()
        if planned.sweep == sweep
    ]


def sweep_metric_inputs(wildcards):
    """The artifacts a sweep's summary is read from, point by point."""
    sweep = wildcards.sweep
    return metric_inputs(f"{sweep}/{point['name']}" for point in sweep_points(sweep))


def sweep_axes(wildcards):
    return list(config["sweeps"][wildcards.sweep]["axes"])


def run_artifacts(wildcards):
    """Every artifact of the run: each dataset's and sweep point's, the metrics of the
    configured datasets, and each sweep's summary and figures."""
    paths = [path for dataset in DATASETS for path in dataset_artifacts(dataset)]
    paths += list(rules.collect_metrics.output)
    return paths + sweep_artifacts(wildcards)


def sweep_artifacts(wildcards):
    """Each sweep's summary tables, flat metrics and figures."""
    paths = []
    for sweep in SWEEPS:
        paths += expand(list(rules.summarise_sweep.output), sweep=sweep)
        for plot in SWEEP_PLOTS[sweep]:
            paths += expand(list(rules.plot_sweep.output), sweep=sweep, plot=plot)
    return paths
