# Summaries across datasets: the run's metrics, and each sweep's tables and figures.
# Each reads only the per-dataset artifacts; adding a point to a sweep reruns its own jobs
# and these, nothing else.


# The configured datasets' metrics as one flat JSON file (dvc metrics diff reads it).
rule collect_metrics:
    input:
        **metric_inputs(CONFIGURED_DATASETS),
    output:
        metrics="results/metrics.json",
        provenance="results/metrics.provenance.json",
    log:
        "results/logs/collect_metrics.log",
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=rule_mem_mb(BASE_MIB, RUN_MEM_MB),
        runtime=10,
    params:
        code=step_code("collect_metrics"),
        datasets=CONFIGURED_DATASETS,
    script:
        "../../scripts/collect_metrics.py"


# One row per point and criterion, one per point and detector, and the flat metrics.
rule summarise_sweep:
    input:
        unpack(sweep_metric_inputs),
    output:
        summary=report(
            "results/sweeps/{sweep}/summary.csv",
            caption="../report/sweep_summary.rst",
            category="Sweeps",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "summary (table)"},
        ),
        detectors="results/sweeps/{sweep}/detectors.csv",
        metrics="results/sweeps/{sweep}/metrics.json",
        provenance="results/sweeps/{sweep}/provenance.json",
    log:
        "results/logs/summarise_sweep/{sweep}.log",
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=rule_mem_mb(BASE_MIB, RUN_MEM_MB),
        runtime=10,
    params:
        code=step_code("summarise_sweep"),
        points=lambda wildcards: sweep_points(wildcards.sweep),
        axes=sweep_axes,
    script:
        "../../scripts/summarise_sweep.py"


# A metric against one axis, a line per value of another grouping, the band over the rest.
rule plot_sweep:
    input:
        summary="results/sweeps/{sweep}/summary.csv",
        detectors="results/sweeps/{sweep}/detectors.csv",
    output:
        figure=report(
            "results/sweeps/{sweep}/{plot}.png",
            caption="../report/sweep_figure.rst",
            category="Sweeps",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "{plot}"},
        ),
        provenance="results/sweeps/{sweep}/{plot}.provenance.json",
    log:
        "results/logs/plot_sweep/{sweep}_{plot}.log",
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=rule_mem_mb(BASE_MIB, RUN_MEM_MB),
        runtime=10,
    params:
        code=step_code("plot_sweep"),
        plot=lambda wildcards: SWEEP_PLOTS[wildcards.sweep][wildcards.plot],
        axes=sweep_axes,
        dpi=config["figures"]["dpi"],
    script:
        "../../scripts/plot_sweep.py"


# The sweeps' tables and figures alone, as a target. `snakemake --report results/report.html
# sweep_summaries` reports just those (and what they are made from), without every point's
# own figures: for the 95 points of sweeps.yaml, 4.7 MB instead of 86 MB (make sweeps).
rule sweep_summaries:
    input:
        sweep_artifacts,
    localrule: True
