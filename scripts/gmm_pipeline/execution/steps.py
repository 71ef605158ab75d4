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
    from ..stages.check_input import check_to_file

    run_step(
        job,
        lambda: check_to_file(job.params.spec, min_rows=job.params.min_rows, report_path=job.output.report),
        params=job.params.spec,
    )


def prepare_data(job):
    from ..stages.check_input import check_unchanged_since_checked
    from ..stages.prepare_data import prepare_to_files, source_seeds

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

    run_step(job, prepare, params=spec, seeds=source_seeds(spec))


def fit_models(job):
    from ..stages.fit_models import fit_to_files, resolve_seeds

    run_step(
        job,
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
    from ..stages.cross_validate import cross_validate_to_files
    from ..stages.fit_models import grid_settings

    cv = job.params.cross_validation
    run_step(
        job,
        lambda: cross_validate_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            fit_params=job.params.fit,
            cv_params=cv,
            folds_path=job.output.folds,
        ),
        params={"fit": job.params.fit, "cross_validation": cv},
        seeds=[cv["seed"], *grid_settings(job.params.fit, n_seeds=cv["seeds"])["seeds"]],
    )


def assess_stability(job):
    from ..stages.assess_stability import stability_to_files
    from ..stages.fit_models import grid_settings

    stability = job.params.stability
    run_step(
        job,
        lambda: stability_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            spec=job.params.spec,
            fit_params=job.params.fit,
            stability_params=stability,
            replicates_path=job.output.replicates,
        ),
        params={"fit": job.params.fit, "stability": stability, "dataset": job.params.spec},
        seeds=[stability["seed"], *grid_settings(job.params.fit, n_seeds=stability["seeds"])["seeds"]],
    )


def select_model(job):
    from ..stages.select_model import select_to_files

    selection = job.params.selection
    run_step(
        job,
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
    from ..stages.test_components import lrt_to_files

    lrt = job.params.lrt
    run_step(
        job,
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
    from ..stages.summarise_lrt import summarise_to_files

    run_step(
        job,
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
    from ..stages.estimate_uncertainty import uncertainty_to_files

    stability = job.params.stability
    run_step(
        job,
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
    from ..stages.merge_components import merge_to_files

    run_step(
        job,
        lambda: merge_to_files(
            data_path=job.input.data,
            meta_path=job.input.meta,
            selection_path=job.input.selection,
            models_path=job.input.models,
            merging=job.params.merging,
            outputs=_named_outputs(job),
        ),
        params={"criterion": job.params.criterion, "merging": job.params.merging},
    )


def prune_weights(job):
    from ..stages.prune_weights import prune_to_files

    run_step(
        job,
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
    from ..stages.extract_anomalies import extract_to_files

    run_step(
        job,
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
    from ..stages.render_figures import render_to_files

    run_step(
        job,
        lambda: render_to_files(
            inputs=dict(job.input.items()), params=job.params.figures, outputs=_named_outputs(job)
        ),
        params=job.params.figures,
    )


def _inputs_by_kind(job, kinds):
    """The job's input lists by kind, each in the order of its datasets or points."""
    return {kind: list(getattr(job.input, kind)) for kind in kinds}


METRIC_INPUTS = ("selection", "bayes_summary", "anomaly_summary", "cluster_summary", "starts", "detectors")


def collect_metrics(job):
    from ..stages.collect_metrics import collect_to_file

    run_step(
        job,
        lambda: collect_to_file(
            datasets=job.params.datasets,
            inputs=_inputs_by_kind(job, METRIC_INPUTS),
            metrics_path=job.output.metrics,
        ),
        params={"datasets": job.params.datasets},
    )


def summarise_sweep(job):
    from ..stages.summarise_sweep import summarise_to_files

    run_step(
        job,
        lambda: summarise_to_files(
            points=job.params.points,
            axes=job.params.axes,
            inputs=_inputs_by_kind(job, METRIC_INPUTS),
            outputs=_named_outputs(job),
        ),
        params={"points": job.params.points, "axes": job.params.axes},
    )


def plot_sweep(job):
    from ..stages.plot_sweep import plot_to_file

    run_step(
        job,
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
    from ..records.verify import check_inputs_against_records
    from ..stages.write_manifest import write_manifest as write

    with open(job.log[0], "w", encoding="utf-8") as log_file:
        print(f"running in: {process_description()}", file=log_file)
        try:
            entries = check_inputs_against_records(list(job.input))
        except PipelineInputError as err:
            message = f"gmm-pipeline: write_manifest failed: {err}"
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
