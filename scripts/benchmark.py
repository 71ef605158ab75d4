"""Benchmark: what orchestration costs, and how fitting scales with rows.

Usage: ``python scripts/benchmark.py [--config FILE] [--repeats N] [--large]`` (or
``make benchmark``).

Prints, for the sweep in ``--config`` (default ``workflow/benchmark/sweep.yaml``):

* the pipeline end to end from clean with 1 core and with all cores, against the floor
  (each the median of ``--repeats`` runs, 3 by default, as one run varies by a few percent):
  the same step functions, in DAG order, in one plain Python process, timed from its start
  to its exit like the pipeline. The floor and the 1-core run are held to CPU 0 (and one
  BLAS thread), so "1 core" means one CPU. The 1-core run is also timed with each job in
  its own process (``GMM_PIPELINE_WORKER=off``), to show what the warm worker
  (``gmm_pipeline.execution.worker_client``) saves;
* the floor's steps run as one copy per CPU at once: how much the same work slows down when
  every CPU is busy, which bounds any speed-up from more cores;
* a plain scikit-learn loop doing the same science by hand in one process on CPU 0 (every
  fit as ``GaussianMixture(k, covariance_type, random_state=seed).fit(X)``, the Bayesian
  model and the anomalies), against the pipeline on 1 core; and the same loop with each fit
  given the config's ``tol`` and ``max_iter``, so that it runs to its optimum as the
  pipeline's fits do (one run);
* a no-op rerun, and the dry run of a 20,000-fit sweep (job count and time);
* sweeps (``--sweeps-only`` runs just these): the dry run of a 200-point sweep, and the
  orchestration per point of a 50-point sweep, the pipeline on one CPU beside its floor on
  the other, twice with the CPUs swapped; ``--default-points`` adds the same sweep with
  ``config.yaml``'s settings per point (about 75 minutes);
* the EM engine (``gmm_pipeline.maths.em``) on one CPU: per fit over the sweep's fits against the
  pipeline's scikit-learn path and a plain scikit-learn loop, and per iteration on
  1,000,000 x 2 (k = 3) and 200,000 x 20 (k = 5) rows against scikit-learn's ``fit``
  (``--engine-only`` runs just these);
* the fourteen-model engine (``--models-only`` runs just these): its compilation from a
  fresh copy of the package, first with an empty machine cache and then again from another
  copy, and mclust's whole 14-model BIC table on Old Faithful on one CPU against mclust's
  time and, for scikit-learn's four models, against ``GaussianMixture``;
* with ``--large``: the pipeline on 1,000,000 x 2 and 200,000 x 20 rows, with each job's
  peak memory against the limit of 4 x the data's size + 500 MiB.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

from gmm_pipeline.config.config_checks import check_config, normalise_config, read_schema  # noqa: E402
from gmm_pipeline.config.memory import largest_component_count, peak_memory_mib  # noqa: E402
from gmm_pipeline.config.plan import plan_datasets, plot_specs  # noqa: E402
from gmm_pipeline.maths import em  # noqa: E402
from gmm_pipeline.maths.compiled import em_kernels  # noqa: E402
from gmm_pipeline.stages.assess_stability import stability_to_files  # noqa: E402
from gmm_pipeline.stages.collect_metrics import collect_to_file  # noqa: E402
from gmm_pipeline.stages.cross_validate import cross_validate_to_files  # noqa: E402
from gmm_pipeline.stages.estimate_uncertainty import uncertainty_to_files  # noqa: E402
from gmm_pipeline.stages.extract_anomalies import extract_to_files  # noqa: E402
from gmm_pipeline.stages.fit_models import fit_grid, fit_to_files, fit_type_grid, resolve_seeds  # noqa: E402
from gmm_pipeline.stages.merge_components import merge_to_files  # noqa: E402
from gmm_pipeline.stages.plot_sweep import plot_to_file  # noqa: E402
from gmm_pipeline.stages.prepare_data import generate_dataset, prepare_to_files  # noqa: E402
from gmm_pipeline.stages.prune_weights import fit_bayesian, prune_to_files  # noqa: E402
from gmm_pipeline.stages.render_figures import CLUSTER_OUTPUTS, render_to_files  # noqa: E402
from gmm_pipeline.stages.select_model import select_to_files  # noqa: E402
from gmm_pipeline.stages.summarise_sweep import summarise_to_files  # noqa: E402

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"


def full_config(path):
    """The config as the workflow sees it: schema defaults filled in, checked, normalised."""
    from snakemake.utils import validate

    config = yaml.safe_load(Path(path).read_text())
    validate(config, str(SCHEMA_PATH))
    normalise_config(config)
    check_config(config, plan_datasets(config, read_schema(SCHEMA_PATH)))
    return config


def run_floor(config, workdir):
    """Every step of every dataset and sweep point, in DAG order, in this one process, then
    the run's metrics and each sweep's summary and figures."""
    plan = plan_datasets(config, read_schema(SCHEMA_PATH))
    for name, planned in plan.items():
        run_floor_dataset(name, planned.spec, planned.settings, Path(workdir) / name)
    kinds = {
        "selection": "selection.out",
        "bayes_summary": "bayes.json",
        "anomaly_summary": "anomaly_summary.out",
        "cluster_summary": "cluster_summary.out",
        "starts": "starts.out",
        "detectors": "anomaly_detectors.out",
    }

    def inputs_of(names):
        names = list(names)
        return {kind: [Path(workdir) / name / file for name in names] for kind, file in kinds.items()}

    configured = [name for name, planned in plan.items() if planned.sweep is None]
    collect_to_file(
        datasets=configured, inputs=inputs_of(configured), metrics_path=Path(workdir) / "metrics.json"
    )
    for sweep, grid in config["sweeps"].items():
        points = [planned for planned in plan.values() if planned.sweep == sweep]
        folder = Path(workdir) / "sweeps" / sweep
        outputs = {key: folder / f"{key}.out" for key in ("summary", "detectors", "metrics")}
        summarise_to_files(
            points=[{"name": point.folder, "values": point.values} for point in points],
            axes=list(grid["axes"]),
            inputs=inputs_of(point.name for point in points),
            outputs=outputs,
        )
        for name, spec in plot_specs(sweep, plan, config).items():
            plot_to_file(
                summary_path=outputs["summary"],
                detectors_path=outputs["detectors"],
                spec=spec,
                axes=list(grid["axes"]),
                sweep=sweep,
                figure_path=folder / f"{name}.png",
                dpi=config["figures"]["dpi"],
            )


def run_floor_dataset(name, spec, settings, d):
    """Every step of one dataset, with its settings, writing into folder ``d``."""
    selection = settings["selection"]
    if selection["lrt"]["replicates"] > 0:
        # The floor must run every step the pipeline runs, or the comparison flatters it.
        sys.exit("the floor does not run the LRT: keep it off in benchmark configs")
    min_rows = largest_component_count(settings)
    data, meta = d / "data.csv", d / "dataset.json"
    prepare_to_files(spec, name=name, data_path=data, meta_path=meta, min_rows=min_rows)
    starts, models, folds, replicates = d / "starts.csv", d / "models.json", [], []
    fit_to_files(
        data_path=data,
        meta_path=meta,
        fit_params=settings["fit"],
        starts_path=starts,
        models_path=models,
    )
    if selection["cross_validation"]["folds"]:
        folds.append(d / "cv.csv")
        cross_validate_to_files(
            data_path=data,
            meta_path=meta,
            fit_params=settings["fit"],
            cv_params=selection["cross_validation"],
            folds_path=folds[-1],
        )
    if selection["stability"]["bootstrap"] + selection["stability"]["data_seeds"]:
        replicates.append(d / "stability.csv")
        stability_to_files(
            data_path=data,
            meta_path=meta,
            spec=spec,
            fit_params=settings["fit"],
            stability_params=selection["stability"],
            replicates_path=replicates[-1],
        )
    outputs = {
        key: d / f"{key}.out"
        for key in ("starts", "criteria", "init_comparison", "stability", "selection", "model")
    }
    select_to_files(
        data_path=data,
        meta_path=meta,
        starts_path=starts,
        models_path=models,
        folds_paths=folds,
        replicates_paths=replicates,
        criterion=spec.get("criterion", selection["criterion"]),
        pinned=spec.get("model"),
        tolerance=selection["optimum_tolerance"],
        dataset=name,
        outputs=outputs,
    )
    if selection["stability"]["bootstrap"] > 0:
        uncertainty_to_files(
            data_path=data,
            meta_path=meta,
            model_path=outputs["model"],
            stability_params=selection["stability"],
            fit_params=settings["fit"],
            table_path=d / "parameter_uncertainty.out",
            replicates_path=d / "parameter_replicates.out",
            figure_path=d / "parameter_uncertainty.png",
            dpi=settings["figures"]["dpi"],
        )
    prune_to_files(
        data_path=data,
        meta_path=meta,
        params=settings["bayesian"],
        weights_path=d / "weights.csv",
        summary_path=d / "bayes.json",
    )
    anomaly_outputs = {
        key: d / f"anomaly_{key}.out"
        for key in (
            "scores",
            "anomalies",
            "detectors",
            "detectors_by_kind",
            "noise_model",
            "noise_fits",
            "summary",
        )
    }
    extract_to_files(
        data_path=data,
        meta_path=meta,
        model_path=outputs["model"],
        params=settings["anomalies"],
        fit_params=settings["fit"],
        outputs=anomaly_outputs,
    )
    cluster_outputs = {key: d / f"cluster_{key}.out" for key in ("merges", "labels", "summary")}
    merge_to_files(
        data_path=data,
        meta_path=meta,
        selection_path=outputs["selection"],
        models_path=models,
        outputs=cluster_outputs,
    )
    render_to_files(
        inputs={
            "data": data,
            "meta": meta,
            "model": outputs["model"],
            "scores": anomaly_outputs["scores"],
            "anomaly_summary": anomaly_outputs["summary"],
            "criteria": outputs["criteria"],
            "selection": outputs["selection"],
            "stability": outputs["stability"],
            "weights": d / "weights.csv",
            "bayes_summary": d / "bayes.json",
            "merges": cluster_outputs["merges"],
            "cluster_labels": cluster_outputs["labels"],
            "cluster_summary": cluster_outputs["summary"],
        },
        params=settings["figures"],
        outputs={
            key: d / f"{key}.png"
            for key in (
                "model",
                "criteria",
                "stability",
                "uncertainty",
                "anomaly_scores",
                "anomaly_curves",
                "weights",
                *CLUSTER_OUTPUTS,
            )
        },
    )


def snakemake(workdir, configfile, *args, cpu=None, worker=True):
    """Time one snakemake command; with ``cpu``, it and everything it starts run on that CPU.

    Each command gets a fresh folder for the warm worker's socket, so a worker is started
    (and paid for) inside the timing, and none is shared with another measurement.
    """
    command = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--replace-workflow-config",
        "--quiet",
        "all",
        *map(str, args),
    ]
    runtime_dir = tempfile.mkdtemp(prefix="gmm-bench-", dir="/tmp")
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime_dir, GMM_PIPELINE_WORKER="on" if worker else "off")
    started = time.perf_counter()
    process = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(runtime_dir, ignore_errors=True)  # its worker exits once idle
    if process.returncode != 0:
        sys.exit(
            f"snakemake {' '.join(map(str, args))} failed:\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
        )
    return seconds, process.stdout + process.stderr


def floor_process(config, cpus=(0,)):
    """The floor: a plain Python process, on CPU 0 with one BLAS thread, that imports the step
    modules and runs every step of ``config`` (see :func:`run_floor`).

    Returns its wall time from start to exit, and the part of it spent in the steps. With
    several ``cpus``, one copy runs on each at the same time, and the slowest is returned:
    how much the same work slows down when every CPU is busy.
    """
    with tempfile.TemporaryDirectory() as workdir:
        config_path = Path(workdir) / "config.json"
        config_path.write_text(json.dumps(config))
        started = time.perf_counter()
        processes = []
        for cpu in cpus:
            (Path(workdir) / f"cpu{cpu}").mkdir()
            command = [
                sys.executable,
                __file__,
                "--floor",
                str(config_path),
                str(Path(workdir) / f"cpu{cpu}"),
            ]
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    preexec_fn=lambda cpu=cpu: os.sched_setaffinity(0, {cpu}),
                )
            )
        outputs = [process.communicate() for process in processes]
        seconds = time.perf_counter() - started
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            sys.exit(f"floor failed:\n{stderr[-3000:]}")
    return seconds, max(float(stdout.split()[-1]) for stdout, _ in outputs)


def floor_steps(config_path, workdir):
    """In the floor's process: run the steps with one BLAS thread; print their wall time."""
    from threadpoolctl import threadpool_limits

    config = json.loads(Path(config_path).read_text())
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        run_floor(config, workdir)
        print(f"{time.perf_counter() - started:.3f}")


def count_fits(config):
    """The fits of the run's fit sweeps: every dataset and sweep point, with its own settings
    (an agglomerative or hc_vvv start is one fit where its tree is deterministic)."""
    from gmm_pipeline.config.memory import dataset_shape
    from gmm_pipeline.maths.initialisation import is_deterministic

    total = 0
    for planned in plan_datasets(config, read_schema(SCHEMA_PATH)).values():
        fit = planned.settings["fit"]
        seeds = fit["seeds"] if isinstance(fit["seeds"], int) else len(fit["seeds"])
        shape = dataset_shape(planned.spec)
        one_tree = shape is not None and is_deterministic(shape[0], fit["agglomerative_max_samples"])
        starts = sum(
            1 if method in ("agglomerative", "hc_vvv") and one_tree else seeds
            for method in fit["init_params"]
        )
        total += len(fit["covariance_types"]) * len(fit["n_components"]) * starts
    return total


def median_run(repeats, measure):
    """Run ``measure()`` (which returns seconds, or a tuple starting with them) ``repeats``
    times; return the median run and the sorted seconds of all runs."""

    def seconds_of(run):
        return run[0] if isinstance(run, tuple) else run

    runs = sorted((measure() for _ in range(repeats)), key=seconds_of)
    return runs[len(runs) // 2], [seconds_of(run) for run in runs]


def spread(seconds):
    return (
        f"median of {len(seconds)}, {seconds[0]:.1f} to {seconds[-1]:.1f}" if len(seconds) > 1 else "one run"
    )


def orchestration(configfile, repeats):
    config = full_config(configfile)
    cores = os.cpu_count()
    print(
        f"sweep: {configfile}, {len(config['datasets'])} datasets, {count_fits(config)} fits; "
        f"{cores} cores; timed runs repeated {repeats} times, medians shown"
    )
    (floor, floor_work), floor_runs = median_run(repeats, lambda: floor_process(config))
    with tempfile.TemporaryDirectory() as workdir:
        _, planned = snakemake(workdir, configfile, "--dry-run")
    n_jobs = int(re.search(r"^total\s+(\d+)", planned, flags=re.MULTILINE).group(1))

    def from_clean(cores_used, **options):
        with tempfile.TemporaryDirectory() as workdir:
            return snakemake(workdir, configfile, "--cores", cores_used, **options)[0]

    # Each job in its own process: one run, it only shows what the worker saves.
    own_processes = from_clean(1, cpu=0, worker=False)
    one_core, one_core_runs = median_run(repeats, lambda: from_clean(1, cpu=0))
    all_cores, all_cores_runs = median_run(repeats, lambda: from_clean(cores))
    with tempfile.TemporaryDirectory() as workdir:
        snakemake(workdir, configfile, "--cores", cores)
        no_op, _ = snakemake(workdir, configfile, "--cores", cores)
    (loop, loop_iterations), loop_runs = median_run(repeats, lambda: plain_loop_process(configfile))
    # One run: it takes minutes, and it is several times the pipeline's time.
    converged_loop, converged_iterations = plain_loop_process(configfile, converged=True)
    print(
        f"  floor, one plain Python process on 1 CPU:   {floor:7.1f} s   ({spread(floor_runs)}; start to "
        f"exit, {floor_work:.1f} s of it in the steps, the rest Python and imports)"
    )
    print(
        f"  pipeline from clean, 1 core (CPU 0 only):   {one_core:7.1f} s   ratio to floor {one_core / floor:.2f} "
        f"(target <= 1.5; {spread(one_core_runs)})"
    )
    print(
        f"    the same, each job in its own process:    {own_processes:7.1f} s   ratio to floor "
        f"{own_processes / floor:.2f} (GMM_PIPELINE_WORKER=off; one run)"
    )
    print(
        f"  pipeline from clean, {cores} cores:               {all_cores:7.1f} s   speed-up over 1 core "
        f"{one_core / all_cores:.2f} (target >= 1.7 on 2 cores; {spread(all_cores_runs)})"
    )
    print(
        f"  a plain scikit-learn loop, same science, 1 CPU: {loop:5.1f} s   pipeline 1 core / loop "
        f"{one_core / loop:.2f} (target <= 1; {spread(loop_runs)}; scikit-learn's stopping rule, "
        f"median {loop_iterations:.0f} iterations per fit)"
    )
    print(
        f"    the same loop, each fit run to the config's tol {config['fit']['tol']:g}: {converged_loop:5.1f} s   "
        f"pipeline 1 core / loop {one_core / converged_loop:.2f} (one run; median {converged_iterations:.0f} "
        "iterations per fit)"
    )
    print(f"  no-op rerun:                                {no_op:7.1f} s   (target < 3)")
    print(f"  pipeline 1 core against the floor's steps alone: ratio {one_core / floor_work:.2f}")
    if cores > 1:
        # The ceiling for any speed-up here: the same steps, one copy per CPU at once.
        _, crowded_work = floor_process(config, cpus=range(cores))
        print(
            f"  the floor's steps with every CPU busy (one copy per CPU): {crowded_work:.1f} s, "
            f"{crowded_work / floor_work:.2f} x their time alone"
        )
    print(
        f"  {n_jobs} jobs: orchestration costs {(one_core - floor) / n_jobs:.2f} s per job with the warm "
        f"worker, {(own_processes - floor) / n_jobs:.2f} s with a fresh process per job"
    )


def plain_loop_process(configfile, converged=False):
    """Seconds a plain scikit-learn loop (:func:`plain_loop`) takes in a fresh process on
    CPU 0, start to exit, and the median number of EM iterations of its fits."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, __file__, "--plain-loop", str(configfile), *(["--converged"] if converged else [])],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
        env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"),
    )
    return time.perf_counter() - started, float(process.stdout.split()[-1])


def plain_loop(configfile, converged=False):
    """What a user would write by hand for the sweep's science, in one process: every
    (dataset, covariance type, k, seed) as ``GaussianMixture(k, covariance_type,
    random_state=seed).fit(X)``, then per dataset a ``BayesianGaussianMixture(n_components=10,
    n_init=10, max_iter=1000, random_state=0)`` and the 4th-percentile anomalies of the
    lowest-BIC model. No files, no records. Prints the median of the fits' ``n_iter_``.

    With ``converged``, each fit also gets the config's ``tol`` and ``max_iter``, as a user
    who wants each fit run to its optimum (as the pipeline does) writes it; without, it
    stops by scikit-learn's own, looser rule (``tol=1e-3``, ``max_iter=100``).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    warnings.simplefilter("ignore", ConvergenceWarning)
    config = full_config(configfile)
    fit = config["fit"]
    stopping = {"tol": fit["tol"], "max_iter": fit["max_iter"]} if converged else {}
    iterations = []
    for spec in config["datasets"].values():
        X = generate_dataset(spec)[0]
        best, best_bic = None, np.inf
        for covariance_type in fit["covariance_types"]:
            for k in fit["n_components"]:
                for seed in resolve_seeds(fit["seeds"]):
                    model = GaussianMixture(
                        k, covariance_type=covariance_type, random_state=seed, **stopping
                    ).fit(X)
                    iterations.append(model.n_iter_)
                    bic = model.bic(X)
                    if bic < best_bic:
                        best, best_bic = model, bic
        BayesianGaussianMixture(n_components=10, n_init=10, max_iter=1000, random_state=0).fit(X)
        densities = best.score_samples(X)
        _ = X[densities < np.percentile(densities, 4)]
    print(np.median(iterations))


def large_dag(configfile):
    """Dry run of a sweep of 20,000 fits: how long the job graph takes and how many jobs."""
    config = yaml.safe_load(Path(configfile).read_text())
    config["fit"]["seeds"] = 100
    config["datasets"] = {
        f"{name}_{i}": dict(spec, seed=spec["seed"] + i)
        for i in range(5)
        for name, spec in list(config["datasets"].items())[:1]
    }
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "large.yaml"
        path.write_text(yaml.safe_dump(config))
        seconds, output = snakemake(workdir, path, "--dry-run")
    jobs = re.search(r"^total\s+(\d+)", output, flags=re.MULTILINE)
    n_fits = 5 * len(config["fit"]["covariance_types"]) * len(config["fit"]["n_components"]) * 100
    print(
        f"  dry run of {n_fits:,} fits: {seconds:.1f} s (target < 15), {jobs.group(1) if jobs else '?'} jobs"
    )


def sweep_config(settings_from, sweep, path):
    """A config of one sweep and no other dataset, its settings those of ``settings_from``."""
    config = yaml.safe_load(Path(settings_from).read_text())
    config["datasets"] = {}
    config["sweeps"] = sweep
    path.write_text(yaml.safe_dump(config))
    return path


def sweep_dag():
    """Dry run of a 200-point sweep, each point with the default config's per-point fit sweep
    (four covariance types, k 1 to 10, 40 starts, cross-validation, stability refits)."""
    sweep = {
        "scale": {
            "base": {"generator": "moons", "n_samples": 1000, "noise": 0.05, "seed": 0},
            "axes": {
                "n_samples": [250, 500, 1000, 2000, 4000],
                "noise": [0.02, 0.05, 0.1, 0.2],
                "seed": list(range(10)),
            },
        }
    }
    with tempfile.TemporaryDirectory() as workdir:
        path = sweep_config(REPO / "config.yaml", sweep, Path(workdir) / "scale.yaml")
        seconds, output = snakemake(workdir, path, "--dry-run")
        n_fits = count_fits(full_config(path))
    jobs = int(re.search(r"^total\s+(\d+)", output, flags=re.MULTILINE).group(1))
    print(
        f"  dry run of a 200-point sweep ({n_fits:,} fits in the points' own sweeps, more in their "
        f"refits): {seconds:.1f} s (target < 15), {jobs:,} jobs = {jobs / 200:.1f} per point"
    )


# The 50-point sweep's points: each one dataset of moons, 1,000 rows.
ORCHESTRATION_SWEEP = {
    "points": {
        "base": {"generator": "moons", "n_samples": 1000, "noise": 0.05, "seed": 0},
        "axes": {"noise": [0.02, 0.05, 0.1, 0.15, 0.2], "seed": list(range(10))},
    }
}


def sweep_orchestration(settings_from, description, cpu_orders=((0, 1), (1, 0))):
    """Orchestration per point of a 50-point sweep: the pipeline from clean on one CPU
    against the same step functions in one process (the floor) on the other, run side by
    side so that both see the same machine; each point with the settings of ``settings_from``.

    The two CPUs of a machine need not be equally fast (one may serve the interrupts, or
    share its core with a busy neighbour): measured here, the same floor on both at once
    took 1.1 % longer on CPU 0. So the pair runs twice, the CPUs swapped (``cpu_orders``:
    pairs of the pipeline's CPU and the floor's), and the shares are averaged.
    """
    n_points = 50
    shares = []
    with tempfile.TemporaryDirectory() as folder:
        path = sweep_config(settings_from, ORCHESTRATION_SWEEP, Path(folder) / "points.yaml")
        config = full_config(path)
        for pipeline_cpu, floor_cpu in cpu_orders:
            with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(max_workers=1) as pool:
                floor_timing = pool.submit(floor_process, config, cpus=(floor_cpu,))
                one_core, _ = snakemake(workdir, path, "--cores", 1, cpu=pipeline_cpu)
                floor, floor_work = floor_timing.result()
                _, planned = snakemake(workdir, path, "--dry-run", "--forceall")
            jobs = int(re.search(r"^total\s+(\d+)", planned, flags=re.MULTILINE).group(1))
            work, orchestration_cost = floor_work / n_points, (one_core - floor) / n_points
            shares.append(orchestration_cost / work)
            print(
                f"  50-point sweep, {description} ({count_fits(config) // n_points:,} fits per point in "
                f"its own sweep), pipeline on CPU {pipeline_cpu}, floor on CPU {floor_cpu}: pipeline "
                f"{one_core:.1f} s, floor {floor:.1f} s ({floor_work:.1f} s in the steps), {jobs} jobs; per "
                f"point: own work {work:.2f} s, orchestration {orchestration_cost:.2f} s = {shares[-1]:.1%}"
            )
    mean = sum(shares) / len(shares)
    print(
        f"    mean of the {len(shares)} CPU orders: orchestration {mean:.1%} of a point's work (target < 10 %)"
    )


def sweep_orchestrations(default_points):
    """The 50-point sweep with light points and, if asked, with the default config's."""
    sweep_orchestration(
        REPO / "workflow/benchmark/sweep.yaml", "light points, the benchmark sweep's settings"
    )
    if default_points:
        sweep_orchestration(REPO / "config.yaml", "default points, config.yaml's settings")


def em_throughput():
    """Per EM iteration on large data, one CPU and one BLAS thread: the engine against
    scikit-learn's own ``fit``, each in a fresh process (so its peak memory is its own)."""
    for n_rows, n_features, k in ((1_000_000, 2, 3), (200_000, 20, 5)):
        measured = {}
        for engine in ("fast", "sklearn"):
            command = [sys.executable, __file__, "--iteration", engine, str(n_rows), str(n_features), str(k)]
            process = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=True,
                preexec_fn=lambda: os.sched_setaffinity(0, {0}),
                env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"),
            )
            measured[engine] = [float(value) for value in process.stdout.split()]
        (fast, fast_mib), (sklearn, sklearn_mib) = measured["fast"], measured["sklearn"]
        data_mib = n_rows * n_features * 8 / 2**20
        print(
            f"  {n_rows:>9,} x {n_features:<2} k={k} full: engine {fast * 1e3:7.1f} ms/iteration, "
            f"scikit-learn {sklearn * 1e3:7.1f} (ratio {sklearn / fast:.2f}); peak memory "
            f"{fast_mib:.0f} MiB against {sklearn_mib:.0f} (data {data_mib:.0f} MiB)"
        )


def iteration_time(engine, n_rows, n_features, k, iterations=10):
    """Seconds per EM iteration (full covariances) and peak memory; for em_throughput."""
    import resource

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    warnings.simplefilter("ignore", ConvergenceWarning)
    X = np.random.default_rng(0).normal(size=(n_rows, n_features))
    X[: n_rows // 2] += 3.0
    resp = em.initial_responsibilities(X, k, "random_from_data", 0)
    if engine == "fast":
        start = em.start_from_responsibilities(X, resp, "full", 1e-6)
        # Load (or compile) the engine's loops first, as the warm worker does once per run.
        em_kernels.warm()
        started = time.perf_counter()
        # tol=-1 never holds: exactly `iterations` iterations.
        em.run_starts(X, [start], covariance_type="full", reg_covar=1e-6, tol=-1.0, max_iter=iterations)
    else:
        model = GaussianMixture(
            k, init_params="random_from_data", random_state=0, max_iter=iterations, tol=0.0
        )
        started = time.perf_counter()
        model.fit(X)
    seconds = (time.perf_counter() - started) / iterations
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def engine_speed(configfile):
    """Per fit over the benchmark sweep's fits, one CPU and one BLAS thread: the engine, the
    pipeline's scikit-learn path (same starts and stopping rule) and a plain scikit-learn
    loop (``GaussianMixture(k, covariance_type, random_state=seed).fit(X)``, its own
    default stopping rule)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    config = full_config(configfile)
    fit = config["fit"]
    seeds = resolve_seeds(fit["seeds"])
    timings = {"fast": 0.0, "sklearn": 0.0, "plain loop": 0.0}
    n_fits = 0
    em_kernels.warm()  # once, as the warm worker does, not inside the timing
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for spec in config["datasets"].values():
                X = generate_dataset(spec)[0]
                options = {
                    "n_components": fit["n_components"],
                    "seeds": seeds,
                    "init_params": fit["init_params"],
                    "tol": fit["tol"],
                    "max_iter": fit["max_iter"],
                }
                # The engine as the fitting job runs it: every covariance type from shared starts.
                started = time.perf_counter()
                starts, _ = fit_grid(X, covariance_types=fit["covariance_types"], **options)
                timings["fast"] += time.perf_counter() - started
                n_fits += len(starts)
                for covariance_type in fit["covariance_types"]:
                    started = time.perf_counter()
                    fit_type_grid(X, covariance_type=covariance_type, engine="sklearn", **options)
                    timings["sklearn"] += time.perf_counter() - started
                    started = time.perf_counter()
                    for k in fit["n_components"]:
                        for seed in seeds:
                            GaussianMixture(k, covariance_type=covariance_type, random_state=seed).fit(X)
                    timings["plain loop"] += time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, affinity)
    per_fit = {name: seconds / n_fits * 1e3 for name, seconds in timings.items()}
    print(
        f"  {n_fits:,} fits, per fit: engine {per_fit['fast']:.2f} ms, scikit-learn path "
        f"{per_fit['sklearn']:.2f} ms (ratio {per_fit['sklearn'] / per_fit['fast']:.2f}), plain "
        f"scikit-learn loop {per_fit['plain loop']:.2f} ms (ratio {per_fit['plain loop'] / per_fit['fast']:.2f}; "
        f"it stops by scikit-learn's looser rule and records nothing)"
    )


def bayesian_speed(configfile):
    """The Bayesian step's fit per dataset of the benchmark sweep, one CPU and one BLAS
    thread: the engine (:mod:`gmm_pipeline.maths.variational`) against ``BayesianGaussianMixture``
    with the same settings."""
    from threadpoolctl import threadpool_limits

    config = full_config(configfile)
    settings = {
        key: value for key, value in config["bayesian"].items() if key not in ("weight_threshold", "engine")
    }
    timings = {"fast": 0.0, "sklearn": 0.0}
    em_kernels.warm()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        with threadpool_limits(1):
            for spec in config["datasets"].values():
                X = generate_dataset(spec)[0]
                for engine in timings:
                    started = time.perf_counter()
                    fit_bayesian(X, engine=engine, **settings)
                    timings[engine] += time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, affinity)
    n = len(config["datasets"])
    print(
        f"  Bayesian step, {n} datasets ({settings['max_components']} components, {settings['n_init']} starts): "
        f"engine {timings['fast'] / n:.3f} s per dataset, BayesianGaussianMixture "
        f"{timings['sklearn'] / n:.3f} s (ratio {timings['sklearn'] / timings['fast']:.2f})"
    )


def large_data(configfile):
    """The pipeline on large data: wall time and every job's peak memory against its limit."""
    config = full_config(configfile)
    with tempfile.TemporaryDirectory() as workdir:
        seconds, _ = snakemake(workdir, configfile, "--cores", os.cpu_count())
        print(f"  {configfile}: every step, {seconds:.0f} s on {os.cpu_count()} cores")
        for name in config["datasets"]:
            meta = yaml.safe_load((Path(workdir) / f"results/data/{name}/dataset.json").read_text())
            data_mib = meta["n_samples"] * meta["n_features"] * 8 / 2**20
            # What the config check estimated, and held within the machine's memory.
            limit = peak_memory_mib(meta["n_samples"], meta["n_features"], largest_component_count(config))
            peaks = {}
            for log in sorted(Path(workdir, "results/logs").rglob(f"*{name}*.log")):
                match = re.search(r"peak resident memory: ([\d.]+) MiB", log.read_text())
                if match:
                    peaks[log.parent.name] = max(peaks.get(log.parent.name, 0.0), float(match.group(1)))
            worst = max(peaks, key=peaks.get)
            print(
                f"  {name}: {meta['n_samples']:,} x {meta['n_features']} ({data_mib:.0f} MiB); "
                f"peak memory per step (MiB): "
                + ", ".join(f"{step} {peak:.0f}" for step, peak in peaks.items())
            )
            print(
                f"    largest: {worst} {peaks[worst]:.0f} MiB, estimated {limit:.0f} MiB: "
                f"{'within' if peaks[worst] < limit else 'OVER'} the estimate"
            )


FAITHFUL = REPO / "tests/data/faithful.csv"
# mclust 6.0.0's time for mclustBIC(faithful, G = 1:9), all fourteen models, one core, on
# these machines (shared/reference/mclust/README.md: 0.6 to 0.7 s); R is not needed here.
MCLUST_TABLE_SECONDS = (0.6, 0.7)


def fourteen_models():
    """The fourteen-model engine (gmm_pipeline.maths.parsimonious_em): its compilation from
    a fresh copy of the package with an empty machine cache and again from another fresh
    copy (the second finds the first's machine code), and mclust's whole BIC table on Old
    Faithful (14 models x G 1 to 9, one hc_vvv start per cell) on one CPU, against mclust's
    time and, for scikit-learn's four models, against ``GaussianMixture`` from the same
    starts to the same stopping point."""
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache"
        seconds = []
        for copy in ("first", "second"):
            package = Path(folder) / copy
            shutil.copytree(REPO / "scripts/gmm_pipeline", package / "gmm_pipeline")
            code = (
                "import sys, time; start = time.perf_counter(); sys.path.insert(0, sys.argv[1]);"
                "from gmm_pipeline.maths.compiled import warm; from gmm_pipeline.maths.parsimonious_em import run_em;"
                "import numpy as np; warm(); run_em(np.eye(3), np.ones((3, 1)), 'EEE');"
                "print(time.perf_counter() - start)"
            )
            process = subprocess.run(
                [sys.executable, "-c", code, str(package)],
                capture_output=True,
                text=True,
                check=True,
                env=dict(os.environ, GMM_PIPELINE_CACHE=str(cache)),
            )
            seconds.append(float(process.stdout))
    print(
        f"  compile and load the engines from a fresh copy: first {seconds[0]:.1f} s (empty machine cache), "
        f"second {seconds[1]:.1f} s (a new copy of the same code)"
    )
    process = subprocess.run(
        [sys.executable, __file__, "--fourteen-table"],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
        env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"),
    )
    measured = json.loads(process.stdout)
    low, high = MCLUST_TABLE_SECONDS
    table = measured["table"]
    print(
        f"  faithful, 14 models x G 1-9 from one hc_vvv start each, 1 CPU: {table:.3f} s "
        f"({measured['iterations']} EM iterations); mclust {low}-{high} s: ratio {low / table:.1f}-{high / table:.1f}"
    )
    print(
        f"  the 36 cells of scikit-learn's four types: engine {measured['four']:.3f} s, GaussianMixture "
        f"{measured['sklearn']:.3f} s from the same starts to the same stop (ratio {measured['sklearn'] / measured['four']:.1f})"
    )


def fourteen_table(repeats=5):
    """Times for :func:`fourteen_models`, printed as JSON (run on one CPU)."""
    import pandas as pd
    from gmm_pipeline.maths.covariance_models import ALIASES, MODELS
    from gmm_pipeline.maths.hierarchical import hierarchical_partitions
    from gmm_pipeline.maths.initialisation import partition_parameters
    from gmm_pipeline.maths.parsimonious_em import run_em
    from sklearn.mixture import GaussianMixture

    X = pd.read_csv(FAITHFUL).to_numpy(float)
    n = len(X)

    def table(models):
        _, labels = hierarchical_partitions(X, range(1, 10))
        fits = {}
        for G in range(1, 10):
            resp = np.zeros((n, G))
            resp[np.arange(n), labels[G]] = 1.0
            for model in models:
                fits[model, G] = run_em(X, resp, model, tol=1e-5)
        return fits

    table(MODELS)  # loads the compiled code
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        fits = table(MODELS)
        timings.append(time.perf_counter() - start)
    four = []
    for _ in range(repeats):
        start = time.perf_counter()
        table(tuple(ALIASES.values()))
        four.append(time.perf_counter() - start)
    # scikit-learn from the same partitions, stopped where mclust's rule stops: its tol is a
    # change of the mean log-likelihood, ours |dL| / (1 + |L|) <= 1e-5 of the total.
    sklearn = []
    _, labels = hierarchical_partitions(X, range(1, 10))
    for _ in range(repeats):
        start = time.perf_counter()
        for kind, model in ALIASES.items():
            for G in range(1, 10):
                tol = 1e-5 * (1 + abs(fits[model, G].log_likelihood)) / n
                init = partition_parameters(X, labels[G], G, kind, 0.0)
                GaussianMixture(G, covariance_type=kind, tol=tol, max_iter=10_000, reg_covar=0.0, **init).fit(
                    X
                )
        sklearn.append(time.perf_counter() - start)
    iterations = sum(fit.n_iter for fit in fits.values())
    print(
        json.dumps(
            {"table": min(timings), "four": min(four), "sklearn": min(sklearn), "iterations": iterations}
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=REPO / "workflow/benchmark/sweep.yaml")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the floor and of each pipeline timing; the median is shown (default 3)",
    )
    parser.add_argument("--large", action="store_true", help="also run the large-data cases (minutes)")
    parser.add_argument("--large-only", action="store_true", help="run only the large-data cases")
    parser.add_argument("--engine-only", action="store_true", help="run only the EM engine comparisons")
    parser.add_argument("--sweeps-only", action="store_true", help="run only the sweep scale measures")
    parser.add_argument(
        "--models-only", action="store_true", help="run only the fourteen-model engine measures"
    )
    parser.add_argument("--fourteen-table", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--default-points",
        action="store_true",
        help="also time the 50-point sweep with the default config's settings per point (about 75 minutes)",
    )
    parser.add_argument("--floor", nargs=2, metavar=("CONFIG_JSON", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--plain-loop", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--converged", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--iteration", nargs=4, metavar=("ENGINE", "ROWS", "FEATURES", "K"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.floor:
        floor_steps(*args.floor)
        return
    if args.plain_loop:
        plain_loop(args.plain_loop, converged=args.converged)
        return
    if args.iteration:
        engine, *sizes = args.iteration
        iteration_time(engine, *map(int, sizes))
        return
    if args.fourteen_table:
        fourteen_table()
        return
    if args.models_only:
        print("fourteen covariance models")
        fourteen_models()
        return
    if args.engine_only:
        print("EM engine")
        engine_speed(args.config)
        bayesian_speed(args.config)
        em_throughput()
        return
    if args.sweeps_only:
        print("sweeps")
        sweep_dag()
        sweep_orchestrations(args.default_points)
        return
    if args.large_only:
        print("large data")
        large_data(REPO / "workflow/benchmark/large.yaml")
        return
    print("orchestration")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    orchestration(args.config, args.repeats)
    large_dag(args.config)
    print("sweeps")
    sweep_dag()
    sweep_orchestrations(args.default_points)
    print("EM engine")
    engine_speed(args.config)
    bayesian_speed(args.config)
    em_throughput()
    print("fourteen covariance models")
    fourteen_models()
    if args.large:
        print("large data")
        large_data(REPO / "workflow/benchmark/large.yaml")


if __name__ == "__main__":
    main()
