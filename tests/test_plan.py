"""Sweep planning: each point a dataset with its own settings; bad axes named before any job."""

import copy

import pytest
from conftest import full_plan, planned_jobs, run_snakemake, write_config
from gmm_pipeline.errors import PipelineInputError

BASE = {
    "datasets": {"blobs": {"generator": "blobs", "n_samples": 150, "centers": 3, "seed": 7}},
    "fit": {"covariance_types": ["full", "spherical"], "n_components": [1, 2, 3, 4], "seeds": 2},
    "bayesian": {"max_components": 5},
    "sweeps": {
        "moons_n": {
            "base": {"generator": "moons", "n_samples": 200, "noise": 0.05, "seed": 0},
            "axes": {"n_samples": [100, 200], "noise": [0.05, 0.1], "anomalies.percentile": [2, 5]},
            "settings": {"fit": {"covariance_types": ["full"], "init_params": "kmeans"}},
        },
        "outliers": {"base": "blobs", "axes": {"inject_outliers.fraction": [0.05, 0.1], "seed": [0, 1]}},
    },
}


def config_with(**changes):
    """BASE with sweep keys changed: ``changes`` maps "sweep.key" to a value (None deletes)."""
    config = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        sweep, key = dotted.split(".", 1)
        grid = config["sweeps"][sweep]
        *parents, last = key.split("|")
        for parent in parents:
            grid = grid[parent]
        if value is None:
            del grid[last]
        else:
            grid[last] = value
    return config


def test_every_combination_is_a_dataset_named_by_its_values():
    plan = full_plan(copy.deepcopy(BASE))
    points = [name for name, planned in plan.items() if planned.sweep == "moons_n"]
    assert len(points) == 8
    assert points[0] == "moons_n/n_samples~100/noise~0.05/anomalies.percentile~2"
    point = plan["moons_n/n_samples~200/noise~0.1/anomalies.percentile~5"]
    assert point.spec == {"generator": "moons", "n_samples": 200, "noise": 0.1, "seed": 0}
    assert point.values == {"n_samples": 200, "noise": 0.1, "anomalies.percentile": 5}
    # The grid's settings over the top-level ones, the axis over both, defaults filled.
    assert point.settings["fit"]["covariance_types"] == ["full"]
    assert point.settings["fit"]["init_params"] == ["kmeans"]
    assert point.settings["fit"]["n_components"] == [1, 2, 3, 4]
    assert point.settings["anomalies"]["percentile"] == 5
    assert point.settings["anomalies"]["threshold"] == "percentile"
    # The configured dataset keeps the top-level settings; a named base is copied.
    assert plan["blobs"].settings["fit"]["covariance_types"] == ["full", "spherical"]
    outlier_point = plan["outliers/inject_outliers.fraction~0.1/seed~1"]
    assert outlier_point.spec["inject_outliers"] == {"fraction": 0.1}
    assert outlier_point.spec["seed"] == 1 and plan["blobs"].spec["seed"] == 7
    assert outlier_point.has_truth and not point.has_truth


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"moons_n.axes|nois": [0.1]}, "'sweeps.moons_n.axes.nois' is not a key the points can vary"),
        (
            {"moons_n.axes|fit.covariance_types": ["full"]},
            "'sweeps.moons_n.axes.fit.covariance_types' is not",
        ),
        ({"moons_n.axes|generator": ["circles"]}, "'sweeps.moons_n.axes.generator' is not a key"),
        ({"moons_n.axes|noise": [0.05, -0.1]}, "'sweeps.moons_n.axes.noise': value -0.1 is not valid"),
        ({"moons_n.axes|n_samples": [100, 2.5]}, "'sweeps.moons_n.axes.n_samples': value 2.5 is not valid"),
        (
            {"moons_n.axes|fit.reg_covar": ["big"]},
            "'sweeps.moons_n.axes.fit.reg_covar': value 'big' is not valid",
        ),
        (
            {"moons_n.axes|selection.criterion": ["bic", "b/c"]},
            "'sweeps.moons_n.axes.selection.criterion': value",
        ),
        ({"moons_n.axes|n_samples": [100, 3]}, "sweeps.moons_n.axes.n_samples (point n_samples~3/"),
        (
            {"moons_n.base": "circles"},
            "'sweeps.moons_n.base' is 'circles', which is not an entry of datasets",
        ),
        ({"moons_n.settings|fit": {"tol": -1}}, "'sweeps.moons_n.settings.fit.tol'"),
        ({"moons_n.settings|fit": {"tolerance": 1}}, "'sweeps.moons_n.settings.fit'"),
        ({"moons_n.plots": {"k": {"x": "noise", "y": "chosen"}}}, "'sweeps.moons_n.plots.k.y' is 'chosen'"),
        ({"moons_n.plots": {"k": {"x": "seed", "y": "f1"}}}, "'sweeps.moons_n.plots.k.x' is 'seed'"),
        (
            {"moons_n.plots": {"k": {"x": "noise", "y": "f1"}}},
            "'sweeps.moons_n.plots.k.y' is 'f1', which needs",
        ),
    ],
)
def test_a_bad_sweep_is_named_by_its_key(changes, expected):
    from gmm_pipeline.config.plan import plot_specs

    config = config_with(**changes)
    with pytest.raises(PipelineInputError) as caught:
        plan = full_plan(config)
        for sweep in config["sweeps"]:
            plot_specs(sweep, plan, config)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_values_that_name_one_folder_are_refused():
    config = config_with(**{"moons_n.axes|noise": [0.1, 0.10000000000000001]})
    # YAML reads both as the same float; the schema's uniqueItems refuses them first.
    with pytest.raises(Exception, match="noise"):
        full_plan(config)


def test_a_grid_of_too_many_points_is_refused_before_planning():
    config = config_with(
        **{"moons_n.axes": {"seed": list(range(200)), "noise": [0.01 * i for i in range(1, 60)]}}
    )
    with pytest.raises(PipelineInputError, match="makes 11,800 points; expected at most 10,000"):
        full_plan(config)


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"moons_n.axes|noise": []}, "config key 'sweeps.moons_n.axes.noise': [] should be non-empty"),
        (
            {"moons_n.axes|nois": [0.1]},
            "config key 'sweeps.moons_n.axes.nois' is not a key the points can vary",
        ),
        (
            {"moons_n.axes|noise": [0.05, -0.1]},
            "config key 'sweeps.moons_n.axes.noise': value -0.1 is not valid",
        ),
    ],
)
def test_snakemake_names_a_bad_axis_before_any_job_runs(tmp_path, changes, expected):
    earlier = tmp_path / "results/data/blobs/data.csv"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("x\n1\n")
    process = run_snakemake(
        tmp_path,
        "--configfile",
        write_config(tmp_path / "c.yaml", config_with(**changes)),
        "-c1",
        check=False,
    )
    assert process.returncode != 0
    assert expected in process.stderr + process.stdout
    assert planned_jobs(process.stdout) == {}
    assert earlier.read_text() == "x\n1\n"


def test_the_dataset_pattern_matches_exactly_the_planned_names():
    import re

    from gmm_pipeline.config.plan import dataset_pattern

    plan = full_plan(copy.deepcopy(BASE))
    pattern = re.compile(f"(?:{dataset_pattern(plan)})")
    assert all(pattern.fullmatch(name) for name in plan)
    for other in (
        "blob",
        "blobs_big",
        "moons_n",
        "moons_n/n_samples~100/noise~0.05",  # an axis short
        "moons_n/noise~0.05/n_samples~100/anomalies.percentile~2",  # axes out of order
        "moons_n/n_samples~100/noise~0.05/anomalies.percentile~2/cv",
        "outliers/inject_outliers.fraction~0.1/seed~1/full",
    ):
        assert not pattern.fullmatch(other), other
