"""A user's own files through the real workflow: good files run, bad ones stop their job
with a message naming file and column, and leave earlier results as they were."""

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow


def _config(path, **extra):
    return {
        "datasets": {
            "mine": {
                "path": str(path),
                "label_column": "kind",
                "outlier_labels": ["odd"],
                "standardize": True,
                **extra,
            }
        },
        "fit": {"covariance_types": ["full"], "n_components": [1, 2, 3], "seeds": 2},
        "selection": {
            "cross_validation": {"folds": 3, "seeds": 1},
            "stability": {"bootstrap": 2, "data_seeds": 0, "seeds": 1},
        },
        "bayesian": {"max_components": 3, "n_init": 1},
        "figures": {"grid_resolution": 40, "dpi": 40},
    }


def _points(n=150, seed=0):
    rng = np.random.default_rng(seed)
    normal = np.vstack([rng.normal([0, 0], 1.0, (n // 2, 2)), rng.normal([6, 100], [1.0, 20.0], (n // 2, 2))])
    odd = rng.uniform([-10, -200], [16, 400], (8, 2))
    frame = pd.DataFrame(np.vstack([normal, odd]), columns=["length", "weight"])
    frame["kind"] = ["normal"] * n + ["odd"] * 8
    frame["comment"] = "free text"
    return frame


def _state(workdir):
    """Every artifact's hash and modification time, the input check's own report aside."""
    results = workdir / "results"
    return {
        str(path.relative_to(workdir)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(results.rglob("*"))
        if path.is_file()
        and path.relative_to(results).parts[0] not in ("logs", "runs")
        and "input_check" not in path.name
    }


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user_data")
    data = workdir / "measurements.parquet"
    _points().to_parquet(data)
    configfile = write_config(workdir / "config.yaml", _config(data, columns=["length", "weight"]))
    run_snakemake(workdir, "--configfile", configfile, "--cores", 2)
    return workdir, data, configfile


def test_a_parquet_file_runs_through_every_step(user_run):
    workdir, data, _ = user_run
    meta = json.loads((workdir / "results/data/mine/dataset.json").read_text())
    assert meta["features"] == ["length", "weight"] and meta["outlier_column"] == "is_outlier"
    frame = pd.read_csv(workdir / "results/data/mine/data.csv")
    raw = _points()
    scaler = meta["standardization"]
    np.testing.assert_allclose(
        frame[["length", "weight"]], (raw[["length", "weight"]] - scaler["mean"]) / scaler["scale"]
    )
    np.testing.assert_allclose(scaler["mean"], raw[["length", "weight"]].mean())
    assert frame["source_row"].tolist() == list(range(len(raw)))
    check = json.loads((workdir / "results/data/mine/input_check.json").read_text())
    assert check["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and check["n_rows"] == 158
    detectors = pd.read_csv(workdir / "results/anomalies/mine/detectors.csv").set_index("detector")
    assert list(detectors.index) == ["gmm", "noise_component", "isolation_forest", "local_outlier_factor"]
    assert detectors["roc_auc"].notna().all() and detectors.loc["gmm", "roc_auc"] > 0.9
    summary = json.loads((workdir / "results/anomalies/mine/summary.json").read_text())
    assert summary["has_ground_truth"] and summary["gmm_scores"]["roc_auc"] == detectors.loc["gmm", "roc_auc"]
    for figure in ("anomaly_scores.png", "anomaly_curves.png", "model.png"):
        assert (workdir / f"results/figures/mine/{figure}").stat().st_size > 3000


BAD_FILES = [
    (
        "non-numeric",
        lambda f: f.assign(weight=f["weight"].map(lambda value: f"{value:.1f} kg")),
        r"measurements.parquet: feature column 'weight' is not numeric",
    ),
    (
        "nan",
        lambda f: f.assign(length=f["length"].where(f.index != 11, np.nan)),
        r"measurements.parquet: feature column 'length' has 1 missing, NaN or infinite value\(s\), first at data row 11",
    ),
    (
        "infinite",
        lambda f: f.assign(weight=f["weight"].where(f.index != 5, np.inf)),
        r"measurements.parquet: feature column 'weight' has 1 missing, NaN or infinite value\(s\), first at data row 5",
    ),
    (
        "constant",
        lambda f: f.assign(length=1.5),
        r"measurements.parquet: feature column 'length' is constant",
    ),
    (
        "too few rows",
        lambda f: f.iloc[:2],
        # The row count alone refuses it, while the run is planned.
        r"Invalid config: .*measurements.parquet has 2 data rows, fewer than the largest component count "
        r"\(fit\.n_components up to 3",
    ),
    (
        "label column absent",
        lambda f: f.drop(columns="kind"),
        r"measurements.parquet: label_column 'kind' is not a column",
    ),
    ("empty", None, r"measurements.parquet: the file is empty"),
]


@pytest.mark.parametrize("case, mutate, expected", BAD_FILES, ids=[case for case, _, _ in BAD_FILES])
def test_a_bad_file_stops_its_job_and_keeps_earlier_results(user_run, case, mutate, expected):
    workdir, data, configfile = user_run
    good = data.read_bytes()
    before = _state(workdir)
    try:
        if mutate is None:
            data.write_bytes(b"")
        else:
            mutate(_points()).to_parquet(data)
        process = run_snakemake(workdir, "--configfile", configfile, "--cores", 2, check=False)
        output = process.stdout + process.stderr
        assert process.returncode != 0
        assert re.search(expected, output), output[-3000:]
        assert ("check_input failed" in output) != expected.startswith("Invalid config")
        assert _state(workdir) == before  # nothing made from the good file was touched
    finally:
        data.write_bytes(good)


def test_a_missing_file_is_named_before_any_job_runs(user_run, tmp_path):
    workdir, data, _ = user_run
    before = _state(workdir)
    configfile = write_config(tmp_path / "missing.yaml", _config(workdir / "absent.csv"))
    process = run_snakemake(workdir, "--configfile", configfile, "--cores", 2, check=False)
    assert process.returncode != 0
    assert re.search(
        r"datasets\.mine\.path is '.*absent\.csv', which is not a file", process.stdout + process.stderr
    )
    assert _state(workdir) == before


def test_outlier_labels_matching_no_row_stop_the_input_check_and_keep_the_data(user_run, tmp_path):
    # Refused by the input check, before the dataset step (whose old outputs Snakemake
    # would delete before running it) sees the labels.
    workdir, data, _ = user_run
    before = _state(workdir)
    configfile = write_config(
        tmp_path / "labels.yaml", _config(data, columns=["length", "weight"], outlier_labels=["zzz"])
    )
    process = run_snakemake(workdir, "--configfile", configfile, "--cores", 2, check=False)
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert re.search(
        r"check_input failed: .*measurements\.parquet: outlier_labels: \['zzz'\] match no row; the labels "
        r"in the data are \['normal', 'odd'\]",
        output,
    ), output[-3000:]
    assert _state(workdir) == before


def test_verify_reports_results_made_from_a_data_file_that_has_changed_since(user_run, monkeypatch):
    from gmm_pipeline.records.verify import verify_results

    workdir, data, configfile = user_run
    run_snakemake(workdir, "--configfile", configfile, "--cores", 2)  # whatever other tests left
    monkeypatch.chdir(workdir)  # records name files by their path from the run's folder
    assert verify_results("results")[0] == []
    good = data.read_bytes()
    try:
        frame = pd.read_parquet(data)
        frame[["length", "weight"]] *= 3
        frame.to_parquet(data)
        findings = verify_results("results")[0]
        # Both steps that read the file: the input check and the dataset it made.
        assert [(f.kind, f.path, f.detail) for f in findings] == [
            ("stale", f"results/data/mine/{record}", f"made from an earlier version of {data}")
            for record in ("input_check.provenance.json", "provenance.json")
        ]
    finally:
        data.write_bytes(good)


def test_a_file_replaced_after_its_input_check_is_refused(tmp_path):
    from gmm_pipeline.errors import PipelineInputError
    from gmm_pipeline.stages.check_input import check_to_file, check_unchanged_since_checked

    path = tmp_path / "mine.csv"
    _points().drop(columns="comment").to_csv(path, index=False)
    report = tmp_path / "input_check.json"
    check_to_file({"path": str(path), "label_column": "kind"}, min_rows=3, report_path=report)
    check_unchanged_since_checked(path, report)  # the file the check read passes
    _points(seed=1).drop(columns="comment").to_csv(path, index=False)
    with pytest.raises(
        PipelineInputError, match=rf"^{re.escape(str(path))}: the file changed after its input check"
    ):
        check_unchanged_since_checked(path, report)


def test_a_label_column_of_one_class_is_not_taken_as_truth_and_the_summaries_say_why(tmp_path):
    path = tmp_path / "one_class.csv"
    _points().drop(columns="comment").assign(kind="normal").to_csv(path, index=False)
    config = _config(path, columns=["length", "weight"])
    del config["datasets"]["mine"]["outlier_labels"]
    config["selection"] = {"cross_validation": {"folds": 0}, "stability": {"bootstrap": 0, "data_seeds": 0}}
    run_snakemake(tmp_path, "--configfile", write_config(tmp_path / "c.yaml", config), "--cores", 2)
    note = "the label column holds one class: agreement with it says nothing, so none is given"
    selection = json.loads((tmp_path / "results/select/mine/selection.json").read_text())
    assert selection["agreement_note"] == note and "agreement_with_truth" not in selection["chosen"]
    clusters = json.loads((tmp_path / "results/clusters/mine/summary.json").read_text())
    assert clusters["agreement_note"] == note and clusters["agreement_with_truth"] is None
    merges = pd.read_csv(tmp_path / "results/clusters/mine/merges.csv")
    assert merges["adjusted_rand_index"].isna().all()


def test_a_nul_byte_in_a_number_is_shown_as_the_value_at_fault(tmp_path):
    from gmm_pipeline.errors import PipelineInputError
    from gmm_pipeline.stages.check_input import load_file

    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b\n1.5,2\n2.5\x00,3\n3.5,4\n4.5,1\n")
    with pytest.raises(PipelineInputError) as refused:
        load_file({"path": str(path)})
    assert str(refused.value) == (
        f"{path}: feature column 'a' is not numeric (dtype str, e.g. '2.5\\x00' at data row 1); "
        f"expected numbers, or leave it out with `columns`"
    )
