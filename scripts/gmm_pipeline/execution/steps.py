"""What each Snakemake rule runs: one function per rule, taking its :class:`~gmm_pipeline.execution.jobs.Job`.

Each function passes the job's files and params to the step's module and records its
provenance (:func:`gmm_pipeline.execution.runner.run_step`). The step modules are imported inside the
functions so that a job run in its own process imports only what its step needs; the warm
worker has imported them all already.
"""

import os

from .job_process import process_description
from .runner import run_step


def _named_outputs(job):
    """The job's outputs by name, without its provenance record."""
    return {name: path for name, path in job.output.items() if name != "provenance"}


def check_input(job):
    from ..stages.sources import check_to_file

    run_step(
        job,
        "check_input",
        lambda: check_to_file(job.params.spec, min_rows=job.params.min_rows, report_path=job.output.report),
        params=job.params.spec,
    )


def prepare_data(job):
    from ..stages.datasets import prepare_to_files, source_seeds
    from ..stages.sources import check_unchanged_since_checked

    spec = job.params.spec

    def prepare():
        if "check" in dict(job.input.items()):
            check_unchanged_since_checked(job.input.source, job.input.check)
        prepare_to_files(
            spec,
            name=job.wildcards.dataset,
            data_path=job.output.data,
            meta_path=job.output.meta,
            min_rows=job.params.min_rows,
        )

    run_step(job, "data", prepare, params=spec, seeds=source_seeds(spec))


def fit_models(job):
    from ..stages.fitting import fit_to_files, resolve_seeds

    run_step(
        job,
        "fit",
        lambda: fit_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            fit_params=job.params.fit,
            starts_path=job.output.starts,
            models_path=job.output.models,
        ),
        params=job.params.fit,
        seeds=resolve_seeds(job.params.fit["seeds"]),
    )


def cross_validate(job):
    from ..stages.crossval import cross_validate_to_files
    from ..stages.fitting import sweep_settings

    cv = job.params.cross_validation
    run_step(
        job,
        "cross_validate",
        lambda: cross_validate_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            fit_params=job.params.fit,
            cv_params=cv,
            folds_path=job.output.folds,
        ),
        params={"fit": job.params.fit, "cross_validation": cv},
        seeds=[cv["seed"], *sweep_settings(job.params.fit, n_seeds=cv["seeds"])["seeds"]],
    )


def assess_stability(job):
    from ..stages.fitting import sweep_settings
    from ..stages.stability import stability_to_files

    stability = job.params.stability
    run_step(
        job,
        "stability",
        lambda: stability_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            spec=job.params.spec,
            fit_params=job.params.fit,
            stability_params=stability,
            replicates_path=job.output.replicates,
        ),
        params={"fit": job.params.fit, "stability": stability, "dataset": job.params.spec},
        seeds=[stability["seed"], *sweep_settings(job.params.fit, n_seeds=stability["seeds"])["seeds"]],
    )


def select_model(job):
    from ..stages.selection import select_to_files

    selection = job.params.selection
    run_step(
        job,
        "select",
        lambda: select_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            starts_path=job.input.starts,
            models_path=job.input.models,
            folds_paths=job.input.folds,
            replicates_paths=job.input.replicates,
            criterion=job.params.criterion,
            pinned=job.params.pinned,
            tolerance=selection["optimum_tolerance"],
            dataset=job.wildcards.dataset,
            outputs=_named_outputs(job),
        ),
        params={"selection": selection, "criterion": job.params.criterion, "pinned": job.params.pinned},
    )


def test_components(job):
    from ..stages.lrt import lrt_to_files

    lrt = job.params.lrt
    run_step(
        job,
        "test_components",
        lambda: lrt_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            models_path=job.input.models,
            covariance_type=job.wildcards.covariance_type,
            lrt_params=lrt,
            fit_params=job.params.fit,
            tests_path=job.output.tests,
            replicates_path=job.output.replicates,
        ),
        params={"lrt": lrt, "fit": job.params.fit},
        seeds=[lrt["seed"]],
    )


def summarise_lrt(job):
    from ..stages.lrt_summary import summarise_to_files

    run_step(
        job,
        "summarise_lrt",
        lambda: summarise_to_files(
            tests_paths=list(job.input.tests),
            dataset=job.wildcards.dataset,
            level=job.params.lrt["level"],
            table_path=job.output.table,
            figure_path=job.output.figure,
            dpi=job.params.figures["dpi"],
        ),
        params={"lrt": job.params.lrt, "figures": job.params.figures},
    )


def estimate_uncertainty(job):
    from ..stages.uncertainty import uncertainty_to_files

    stability = job.params.stability
    run_step(
        job,
        "estimate_uncertainty",
        lambda: uncertainty_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            model_path=job.input.model,
            stability_params=stability,
            fit_params=job.params.fit,
            table_path=job.output.table,
            replicates_path=job.output.replicates,
            figure_path=job.output.figure,
            dpi=job.params.figures["dpi"],
        ),
        params={"stability": stability, "fit": job.params.fit, "figures": job.params.figures},
        seeds=[stability["seed"]],
    )


def merge_components(job):
    from ..stages.clusters import merge_to_files

    run_step(
        job,
        "clusters",
        lambda: merge_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            selection_path=job.input.selection,
            models_path=job.input.models,
            outputs=_named_outputs(job),
        ),
        params={"criterion": job.params.criterion},
    )


def prune_weights(job):
    from ..stages.bayesian import prune_to_files

    run_step(
        job,
        "bayes",
        lambda: prune_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            params=job.params.bayesian,
            weights_path=job.output.weights,
            summary_path=job.output.summary,
        ),
        params=job.params.bayesian,
        seeds=[job.params.bayesian["seed"]],
    )


def extract_anomalies(job):
    from ..stages.anomalies import extract_to_files

    run_step(
        job,
        "anomalies",
        lambda: extract_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            model_path=job.input.model,
            params=job.params.anomalies,
            fit_params=job.params.fit,
            outputs=_named_outputs(job),
        ),
        params={"anomalies": job.params.anomalies, "fit": job.params.fit},
        seeds=[job.params.anomalies["seed"], job.params.anomalies["holdout_seed"]],
    )


def render_figures(job):
    from ..stages import cluster_figures, figures

    inputs, outputs = dict(job.input.items()), _named_outputs(job)

    def render():
        figures.render_to_files(inputs=inputs, params=job.params.figures, outputs=outputs)
        cluster_figures.render_to_files(inputs=inputs, params=job.params.figures, outputs=outputs)

    run_step(job, "figures", render, params=job.params.figures)


def _inputs_by_kind(job, kinds):
    """The job's input lists by kind, each in the order of its datasets or points."""
    return {kind: list(getattr(job.input, kind)) for kind in kinds}


METRIC_INPUTS = ("selection", "bayes_summary", "anomaly_summary", "cluster_summary", "starts", "detectors")


def collect_metrics(job):
    from ..stages.metrics import collect_to_file

    run_step(
        job,
        "metrics",
        lambda: collect_to_file(
            datasets=job.params.datasets,
            inputs=_inputs_by_kind(job, METRIC_INPUTS),
            metrics_path=job.output.metrics,
        ),
        params={"datasets": job.params.datasets},
    )


def summarise_sweep(job):
    from ..stages.sweep_summary import summarise_to_files

    run_step(
        job,
        "sweep_summary",
        lambda: summarise_to_files(
            points=job.params.points,
            axes=job.params.axes,
            inputs=_inputs_by_kind(job, METRIC_INPUTS),
            outputs=_named_outputs(job),
        ),
        params={"points": job.params.points, "axes": job.params.axes},
    )


def plot_sweep(job):
    from ..stages.sweep_figures import plot_to_file

    run_step(
        job,
        "sweep_figures",
        lambda: plot_to_file(
            summary_path=job.input.summary,
            detectors_path=job.input.detectors,
            spec=job.params.plot,
            axes=job.params.axes,
            sweep=job.wildcards.sweep,
            figure_path=job.output.figure,
            dpi=job.params.dpi,
        ),
        params={"plot": job.params.plot, "axes": job.params.axes, "dpi": job.params.dpi},
    )


def write_manifest(job):
    from ..errors import PipelineInputError
    from ..records.verify import check_inputs
    from ..stages.manifest import write_manifest as write

    with open(job.log[0], "w", encoding="utf-8") as log_file:
        print(f"running in: {process_description()}", file=log_file)
        try:
            entries = check_inputs(list(job.input))
        except PipelineInputError as err:
            message = f"gmm-pipeline: manifest failed: {err}"
            print(message, file=log_file)
            raise SystemExit(message) from None
        # The results folder is the manifest's own: "results", or "<prefix>/results" when
        # the workflow runs as a module with a prefix.
        write(job.output.manifest, entries, job.config, results_dir=os.path.dirname(job.output.manifest))


STEPS = {
    function.__name__: function
    for function in (
        check_input,
        prepare_data,
        fit_models,
        cross_validate,
        assess_stability,
        select_model,
        test_components,
        summarise_lrt,
        estimate_uncertainty,
        merge_components,
        prune_weights,
        extract_anomalies,
        render_figures,
        collect_metrics,
        summarise_sweep,
        plot_sweep,
        write_manifest,
    )
}
