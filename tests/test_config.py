"""Config checking: every bad value stops the run before any job, naming the key."""

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMALL_CONFIG, planned_jobs, run_snakemake, small_config, write_config
from gmm_pipeline.config.config_checks import coerce_cli_strings, read_schema


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    target = config
    for key in parents:
        target = target.setdefault(key, {})
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("fit.seeds", "three", r"config key 'fit\.seeds': 'three' is not valid.*Expected: Random starts"),
        ("fit.seeds", 0, r"config key 'fit\.seeds'"),
        ("fit.n_components", [0, 2], r"config key 'fit\.n_components\.0': 0 is less than the minimum of 1"),
        (
            "fit.covariance_types",
            ["full", "round"],
            r"config key 'fit\.covariance_types\.1': 'round' is not one of",
        ),
        (
            "fit.max_itr",
            5,
            r"config key 'fit': Additional properties are not allowed \('max_itr' was unexpected\); allowed keys are \[.*'max_iter'",
        ),
        (
            "datasets.moons.noise",
            -1,
            r"config key 'datasets\.moons\.noise': -1 is less than the minimum of 0",
        ),
        (
            "datasets.moons.n_samples",
            "many",
            r"config key 'datasets\.moons\.n_samples': 'many' is not of type 'integer'",
        ),
        ("datasets.moons.seed", _DELETE, r"config key 'datasets\.moons': 'seed' is a required property"),
        (
            "datasets.blobs.generator",
            "blob",
            r"config key 'datasets\.blobs\.generator': 'blob' is not one of \['moons', 'blobs', 'circles', 'anisotropic'\]",
        ),
        (
            "selection.criterion",
            "bic_lower",
            r"config key 'selection\.criterion': 'bic_lower' is not one of \['bic', 'aic', 'icl', 'cv_nll'\]",
        ),
        (
            "selection.cross_validation.folds",
            1,
            r"config key 'selection\.cross_validation\.folds': 1 is not valid.*Expected: number of folds K \(at least 2\), or 0",
        ),
        (
            "selection.stability.bootstrap",
            -1,
            r"config key 'selection\.stability\.bootstrap': -1 is less than the minimum of 0",
        ),
        ("fit.init_params", ["kmeans", "ward"], r"config key 'fit\.init_params\.1': 'ward' is not one of"),
        (
            "anomalies.percentile",
            100,
            r"config key 'anomalies\.percentile': 100 is greater than or equal to the maximum of 100",
        ),
        ("bayesian.weight_threshold", -0.1, r"config key 'bayesian\.weight_threshold'"),
        (
            "datasets.moons.path",
            "moons.csv",
            r"config key 'datasets\.moons': Additional properties are not allowed \('path' was unexpected\)",
        ),
        (
            "datasets.moons.bundled",
            "iris",
            r"config key 'datasets\.moons': Additional properties are not allowed \('bundled' was unexpected\)",
        ),
        (
            "datasets.blobs.generator",
            _DELETE,
            r"datasets\.blobs has no source; expected exactly one of generator, bundled, path",
        ),
        (
            "datasets.blobs.inject_outliers",
            {"fraction": 2},
            r"config key 'datasets\.blobs\.inject_outliers\.fraction': 2 is greater than the maximum of 1",
        ),
        (
            "datasets.blobs.inject_outliers",
            {"fraction": 0.05, "kind": "local", "box_scale": 2},
            r"datasets\.blobs\.inject_outliers\.box_scale does not apply to kind 'local'; its options are "
            r"fraction, seed, scale, n_components",
        ),
        (
            "datasets.blobs.inject_outliers",
            [{"fraction": 0.05}, {"fraction": 0.01, "kind": "spiral"}],
            r"config key 'datasets\.blobs\.inject_outliers\.1\.kind': 'spiral' is not one of",
        ),
        (
            "selection.lrt",
            {"replicates": 9, "max_k": 4},
            r"selection\.lrt tests k against k \+ 1 from k = 1 up to max_k = 4, but fit\.n_components lacks \[5\]",
        ),
        (
            "fit.engine",
            "sklearn",
            r"selection\.stability\.method 'weighted' needs fit\.engine: fast",
        ),
        (
            "fit.prior",
            {"dof": -1},
            r"config key 'fit\.prior\.dof': -1 is less than or equal to the minimum of 0",
        ),
        (
            "anomalies.holdout_fraction",
            1.0,
            r"config key 'anomalies\.holdout_fraction': 1\.0 is not valid",
        ),
        (
            "merging",
            {"cutoff": 0.3},
            r"merging\.cutoff applies to the rules bhattacharyya, ridgeline, misclassification, but "
            r"merging\.rule is 'valley'; expected cutoff: null",
        ),
        ("merging.rule", "entropy", r"config key 'merging\.rule': 'entropy' is not one of"),
        ("merging.significance", 1.5, r"config key 'merging\.significance': 1\.5 is greater than or equal"),
        (
            "anomalies.threshold",
            "log_density",
            r"anomalies\.threshold is 'log_density' but anomalies\.log_density is not set",
        ),
        ("anomalies.contamination", 0.9, r"config key 'anomalies\.contamination'"),
        # Integers written as floats: jsonschema counts 7.0 as an integer, the steps do not.
        ("datasets.moons.seed", 7.0, r"config key 'datasets\.moons\.seed': 7\.0 is not of type 'integer'"),
        (
            "datasets.moons.n_samples",
            120.0,
            r"config key 'datasets\.moons\.n_samples': 120\.0 is not of type 'integer'",
        ),
        (
            "fit.n_components",
            [1, 2, 3.0],
            r"config key 'fit\.n_components\.2': 3\.0 is not of type 'integer'",
        ),
        (
            "figures.grid_resolution",
            30.0,
            r"config key 'figures\.grid_resolution': 30\.0 is not of type 'integer'",
        ),
        ("fit.max_iter", 100.0, r"config key 'fit\.max_iter': 100\.0 is not of type 'integer'"),
        # Checks across keys, after the schema.
        (
            "datasets.moons.model",
            {"covariance_type": "full", "n_components": 9},
            r"datasets\.moons\.model\.n_components is 9, which is not in fit\.n_components \[1, 2, 3, 4\]",
        ),
        (
            "datasets.moons.model",
            {"covariance_type": "tied", "n_components": 3},
            r"datasets\.moons\.model\.covariance_type is 'tied', which is not in fit\.covariance_types",
        ),
        (
            "datasets.blobs.n_samples",
            3,
            r"datasets\.blobs\.n_samples is 3, fewer than the largest component count",
        ),
        (
            "datasets.blobs.n_samples",
            5,
            r"datasets\.blobs\.n_samples is 5: with selection\.cross_validation\.folds = 3 a training fold has 3 points",
        ),
    ],
)
def test_bad_config_value_is_refused_before_any_job(tmp_path, key, value, expected):
    config = small_config()
    _set(config, key, value)
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "bad.yaml", config), "--cores", 1, check=False
    )
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert re.search(expected, output), output[-2000:]
    assert not (tmp_path / "results").exists()


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    # 850 bytes of nested anchors: nine levels of ten aliases each, a billion values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "\n".join(lines) + "\ndatasets: {moons: {generator: moons, n_samples: 50, seed: 0, noise: *a9}}\n"
    )
    process = run_snakemake(tmp_path, "--configfile", bomb, "--dry-run", check=False, timeout=60)
    assert process.returncode != 0
    assert "the config holds more than 100000 values" in process.stdout + process.stderr


@pytest.mark.parametrize("datasets", ["absent", "empty"])
def test_a_config_without_any_dataset_is_refused(tmp_path, datasets):
    config = small_config()
    if datasets == "absent":
        del config["datasets"]
    else:
        config["datasets"] = {}
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "bad.yaml", config), "--dry-run", check=False
    )
    assert process.returncode != 0
    assert (
        "Invalid config: the config names no dataset; expected at least one entry in datasets or sweeps"
        in process.stdout + process.stderr
    )


def test_defaults_fill_what_the_config_leaves_out(tmp_path):
    # The bootstrap LRT switched on: it runs one job per dataset and covariance type.
    minimal = {"datasets": copy.deepcopy(small_config()["datasets"]), "selection": {"lrt": {"replicates": 9}}}
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "minimal.yaml", minimal), "--dry-run"
    )
    # Defaults: all four covariance types, cross-validation and the stability refits.
    jobs = planned_jobs(process.stdout)
    assert jobs["test_components"] == 2 * 4
    assert jobs["fit_models"] == jobs["cross_validate"] == jobs["assess_stability"] == 2


SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def test_numbers_typed_on_the_command_line_become_numbers_only_where_the_key_takes_numbers():
    # What snakemake --config gives for nested values: every scalar a string.
    config = {
        "datasets": {
            "m": {
                "generator": "moons",
                "n_samples": "300",
                "noise": "0.1",
                "seed": "4",
                "model": {"covariance_type": "full", "n_components": "2"},
            },
            "b": {"generator": "blobs", "n_samples": "90", "seed": "1", "center_box": ["-5", "5"]},
        },
        "fit": {"seeds": ["1", "2"], "n_components": ["1", "2"], "init_params": "kmeans", "tol": "1e-4"},
        "bayesian": {"weight_concentration_prior": "null"},
        # contamination takes a number or the string "truth": "0.1" is no valid string there.
        "anomalies": {"percentile": "2.5", "contamination": "0.1"},
    }
    coerce_cli_strings(config, read_schema(SCHEMA_PATH))
    assert config["datasets"]["m"] == {
        "generator": "moons",
        "n_samples": 300,
        "noise": 0.1,
        "seed": 4,
        "model": {"covariance_type": "full", "n_components": 2},
    }
    assert config["datasets"]["b"]["center_box"] == [-5, 5]
    assert config["fit"] == {"seeds": [1, 2], "n_components": [1, 2], "init_params": "kmeans", "tol": 1e-4}
    assert config["bayesian"]["weight_concentration_prior"] is None
    assert config["anomalies"] == {"percentile": 2.5, "contamination": 0.1}


def test_strings_that_are_not_numbers_are_left_for_the_schema_to_refuse():
    config = {"fit": {"seeds": "three", "max_iter": "1.5"}, "selection": {"criterion": "1"}}
    coerce_cli_strings(config, read_schema(SCHEMA_PATH))
    # "1.5" is a number but max_iter takes integers only; "1" stays a string for an enum of strings.
    assert config == {"fit": {"seeds": "three", "max_iter": "1.5"}, "selection": {"criterion": "1"}}
    config = {"anomalies": {"contamination": "truth"}}  # valid as it stands
    coerce_cli_strings(config, read_schema(SCHEMA_PATH))
    assert config == {"anomalies": {"contamination": "truth"}}


def test_command_line_config_overrides_nested_numbers_and_lists(tmp_path):
    process = run_snakemake(
        tmp_path,
        "--configfile",
        SMALL_CONFIG,
        "--dry-run",
        "--config",
        "fit={seeds: [4, 5], n_components: [1, 3], covariance_types: [full], tol: 1e-4}",
        "anomalies={percentile: 2.5}",
    )
    assert planned_jobs(process.stdout)["fit_models"] == 2  # one per dataset


@pytest.mark.parametrize("section, key, value", [("anomalies", "percentile", ".nan"), ("fit", "tol", ".inf")])
def test_non_finite_numbers_are_refused(tmp_path, section, key, value):
    # jsonschema lets NaN through every bound, and tol has no upper bound for inf to hit.
    config = small_config()
    config.setdefault(section, {})[key] = float(value.replace(".", ""))
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "bad.yaml", config), "--dry-run", check=False
    )
    assert process.returncode != 0
    assert f"config key '{section}.{key}' is {float(value.replace('.', ''))}; expected a finite number" in (
        process.stdout + process.stderr
    )


def _refusal(process):
    """The one line a refused dry run ends with, after checking it is alone: no traceback,
    no stack of Snakefile lines."""
    assert process.returncode == 1
    assert "Traceback" not in process.stderr and 'File "' not in process.stderr, process.stderr[-3000:]
    return process.stderr.strip().splitlines()[-1]


def _user_file_config(tmp_path, path):
    config = small_config()
    config["datasets"] = {"mine": {"path": str(path)}}
    return write_config(tmp_path / "user.yaml", config)


def test_a_latin1_file_is_named_with_its_encoding_before_any_job(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"city,x\n" + "".join(f"Zürich,{i}\n" for i in range(50)).encode("latin-1"))
    process = run_snakemake(
        tmp_path, "--configfile", _user_file_config(tmp_path, path), "--dry-run", check=False
    )
    assert _refusal(process) == (
        f"Invalid config: {path}: byte 0xfc at offset 8 is not UTF-8; expected a UTF-8 CSV file "
        f"(a Latin-1 file converts with `iconv -f latin1 -t utf-8`)"
    )


def test_a_gzip_file_named_csv_is_named_before_any_job(tmp_path):
    import gzip

    path = tmp_path / "packed.csv"
    path.write_bytes(gzip.compress(b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(50))))
    process = run_snakemake(
        tmp_path, "--configfile", _user_file_config(tmp_path, path), "--dry-run", check=False
    )
    assert _refusal(process) == (
        f"Invalid config: {path}: the file is gzip-compressed; expected plain CSV text (decompress it with gunzip)"
    )


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ("fit:\n  seeds: 3\n  n_components: [1, 2]\n  seeds: 5\n", "seeds", (2, 4)),
        ("bayesian:\n  max_components: 5\nfit:\n  seeds: 2\nbayesian:\n  n_init: 2\n", "bayesian", (1, 5)),
    ],
)
def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path, text, key, lines):
    base = tmp_path / "base.yaml"
    write_config(base, small_config())
    repeated = tmp_path / "repeated.yaml"
    repeated.write_text(text)
    process = run_snakemake(tmp_path, "--configfile", base, repeated, "--dry-run", check=False)
    assert _refusal(process) == (
        f"Invalid config: {repeated}: key {key!r} appears twice in one mapping, at lines {lines[0]} and "
        f"{lines[1]}; YAML would silently keep only the second, so keep one"
    )


def test_a_yaml_merge_may_override_the_keys_it_brings():
    from gmm_pipeline.config.config_checks import UniqueKeyLoader

    text = "base: &b {seeds: 3, tol: 0.001}\nfit:\n  <<: *b\n  seeds: 5\n"
    assert yaml.load(text, Loader=UniqueKeyLoader)["fit"] == {"seeds": 5, "tol": 0.001}


def test_an_out_of_range_number_on_the_command_line_is_named_as_out_of_range(tmp_path):
    process = run_snakemake(
        tmp_path,
        "--configfile",
        SMALL_CONFIG,
        "--dry-run",
        "--config",
        "anomalies={percentile: 700}",
        check=False,
    )
    assert _refusal(process).startswith(
        "Invalid config: config key 'anomalies.percentile': 700 is greater than or equal to the maximum of 100"
    )


@pytest.mark.parametrize(
    "rows, features, settings, expected",
    [
        (
            5,
            12,
            # Full covariances alone: each component needs features + 1 points of its own.
            {"fit": {"covariance_types": ["full"]}},
            r"has 5 data rows for 12 features: every fit of fit\.n_components \(from 1\) would be "
            r"degenerate, since a component needs 13 points .*; expected at least 13 rows",
        ),
        (
            50,
            2,
            {"selection": {"cross_validation": {"folds": 60}}},
            r"has 50 data rows, fewer than selection\.cross_validation\.folds = 60",
        ),
    ],
)
def test_what_a_files_row_count_refuses_is_named_before_any_job(tmp_path, rows, features, settings, expected):
    path = tmp_path / "rows.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(rows, features)), columns=[f"f{i}" for i in range(features)]).to_csv(
        path, index=False
    )
    config = small_config()
    config["datasets"] = {"mine": {"path": str(path)}}
    config["fit"]["n_components"] = [1, 2]
    config["bayesian"]["max_components"] = 3
    for section, values in settings.items():
        config[section].update(values)
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "c.yaml", config), "--dry-run", check=False
    )
    assert re.search(rf"^Invalid config: {re.escape(str(path))} {expected}", _refusal(process)), (
        process.stderr
    )


def test_a_run_of_more_em_starts_than_a_run_may_take_is_refused_up_front(tmp_path):
    # seeds: 1000000 was still fitting after four minutes; the count says so at once.
    process = run_snakemake(
        tmp_path, "--configfile", SMALL_CONFIG, "--dry-run", "--config", "fit={seeds: 1000000}", check=False
    )
    # 2 covariance types x 4 counts x (10^6 seeds x 4 start methods + 3 folds x 2 seeds +
    # (4 bootstrap + 2 data seeds) x 2 seeds), plus 2 Bayesian starts.
    starts = 2 * 4 * (10**6 * 4 + 3 * 2 + (4 + 2) * 2) + 2
    assert _refusal(process) == (
        f"Invalid config: datasets.moons: the settings ask for about {starts:,} EM starts per dataset, more "
        "than the 1,000,000 a run may take (hours on one core); lower fit.seeds, "
        "selection.stability.bootstrap, selection.lrt.replicates or bayesian.n_init, or split the work "
        "into a sweep"
    )


def test_code_reads_defaults_and_enumerations_from_the_schema_and_no_copy_drifts():
    from gmm_pipeline.config.schema import schema_default, schema_definition_enum, schema_enum
    from gmm_pipeline.maths.covariance_models import MODELS
    from gmm_pipeline.maths.estimators import COVARIANCE_TYPES
    from gmm_pipeline.maths.initialisation import AGGLOMERATIVE, DEFAULT_MAX_SAMPLES
    from gmm_pipeline.stages.fit_models import HC_VVV, INIT_METHODS, grid_settings

    schema = read_schema(SCHEMA_PATH)
    assert schema_definition_enum("covariance_type") == list(COVARIANCE_TYPES) + list(MODELS)
    assert schema["properties"]["fit"]["properties"]["covariance_types"]["items"] == {
        "$ref": "#/$defs/covariance_type"
    }
    assert schema_enum("bayesian.covariance_type") == list(COVARIANCE_TYPES)
    # A fit section that says only what has no default gets the schema's defaults.
    settings = grid_settings({"n_components": [1, 2], "seeds": 2})
    fit = schema["properties"]["fit"]["properties"]
    for key in (
        "init_params",
        "max_iter",
        "tol",
        "reg_covar",
        "agglomerative_max_samples",
        "engine",
        "prior",
    ):
        assert settings[key] == fit[key]["default"], key
    assert settings["eigenvalue_factor"] == fit["degenerate"]["properties"]["eigenvalue_factor"]["default"]
    assert DEFAULT_MAX_SAMPLES == schema_default("fit.agglomerative_max_samples")
    # The start methods the code knows by name are among those the schema allows.
    assert {AGGLOMERATIVE, HC_VVV} <= set(INIT_METHODS) == set(schema["$defs"]["init_method"]["enum"])


def test_no_stage_function_keeps_its_own_copy_of_a_config_default():
    # A keyword named as a fit or bayesian setting defaults to the schema's value, or has no
    # default; a literal copy would drift the day the schema's default changes.
    import importlib
    import inspect
    import pkgutil

    import gmm_pipeline.stages as stages
    from gmm_pipeline.config.schema import schema_default

    settings = {
        "tol": "fit.tol",
        "max_iter": "fit.max_iter",
        "reg_covar": "fit.reg_covar",
        "eigenvalue_factor": "fit.degenerate.eigenvalue_factor",
        "agglomerative_max_samples": "fit.agglomerative_max_samples",
        "init_params": "fit.init_params",
        "engine": "fit.engine",
        "prior": "fit.prior",
    }
    bayesian = {"max_iter", "engine", "n_init", "seed", "covariance_type", "weight_concentration_prior_type"}
    checked = []
    for info in pkgutil.iter_modules(stages.__path__):
        module = importlib.import_module(f"gmm_pipeline.stages.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__:
                continue
            section = "bayesian" if name == "fit_bayesian" else "fit"
            for parameter in inspect.signature(function).parameters.values():
                if parameter.default is inspect.Parameter.empty:
                    continue
                if section == "bayesian" and parameter.name in bayesian:
                    key = f"bayesian.{parameter.name}"
                elif section == "fit" and parameter.name in settings:
                    key = settings[parameter.name]
                else:
                    continue
                checked.append(f"{name}({parameter.name})")
                assert parameter.default == schema_default(key), f"{module.__name__}.{name}: {parameter.name}"
    assert len(checked) > 20, checked


@pytest.mark.parametrize(
    "fit, expected",
    [
        (
            {"covariance_types": ["full", "VEV", "EVE"], "prior": "default"},
            "Invalid config: fit.prior: mclust has no conjugate prior for EVE (it has one for EII, EEI, "
            "VEI, EVI, EEV, VEV and scikit-learn's four types)",
        ),
        (
            {"covariance_types": ["full", "VEV"], "engine": "sklearn"},
            "Invalid config: fit.covariance_types has VEV, which need fit.engine: fast (the fourteen-model engine)",
        ),
        (
            {"covariance_types": ["full", "VVV"]},
            "Invalid config: fit.covariance_types: full is listed twice ('VVV' is full)",
        ),
        (
            {"covariance_types": ["full", "VVX"]},
            "Invalid config: config key 'fit.covariance_types.1': 'VVX' is not one of ['full', 'tied', "
            "'diag', 'spherical', 'EII',",
        ),
    ],
)
def test_mclusts_models_in_the_fit_grid_are_checked_before_any_job(tmp_path, fit, expected):
    config = small_config()
    config["fit"].update(fit)
    process = run_snakemake(
        tmp_path, "--configfile", write_config(tmp_path / "c.yaml", config), "--dry-run", check=False
    )
    assert _refusal(process).startswith(expected)
