"""Anomaly detectors judged on held-out rows, by kind, in a real snakemake run."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import LIGHT_SELECTION, run_snakemake, write_config
from sklearn.metrics import average_precision_score, roc_auc_score

CONFIG = {
    "datasets": {
        "blobs": {
            "generator": "blobs",
            "n_samples": 400,
            "centers": 3,
            "seed": 7,
            "inject_outliers": [
                {"fraction": 0.05, "kind": "uniform", "seed": 0},
                {"fraction": 0.03, "kind": "cluster", "seed": 1},
            ],
        }
    },
    "fit": {
        "covariance_types": ["full"],
        "n_components": [1, 2, 3, 4],
        "seeds": 2,
        "init_params": ["kmeans"],
    },
    "selection": LIGHT_SELECTION,
    "bayesian": {"max_components": 4, "n_init": 1, "max_iter": 100},
    "anomalies": {"holdout_fraction": 0.4, "holdout_seed": 3},
    "figures": {"grid_resolution": 30, "dpi": 30},
}


@pytest.fixture(scope="module")
def heldout_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("heldout")
    run_snakemake(workdir, "--configfile", write_config(workdir / "config.yaml", CONFIG), "--cores", 2)
    return workdir / "results" / "anomalies" / "blobs"


def test_detectors_are_scored_on_the_held_out_rows_only(heldout_run):
    scores = pd.read_csv(heldout_run / "scores.csv")
    detectors = pd.read_csv(heldout_run / "detectors.csv").set_index("detector")
    test = scores[scores["split"] == "test"]
    n_rows = len(scores)
    assert len(test) == np.ceil(0.4 * n_rows)
    # Stratified: the test part holds its share of the anomalies.
    assert abs(test["is_outlier"].sum() - 0.4 * scores["is_outlier"].sum()) <= 1
    assert detectors.index.tolist() == ["gmm", "noise_component", "isolation_forest", "local_outlier_factor"]
    assert (detectors["n_rows"] == len(test)).all()
    assert detectors["evaluated_on"].str.startswith(f"test part: {len(test)} of {n_rows} rows").all()
    held_out = [c for c in scores if c.startswith("heldout_")]
    assert len(held_out) == 4
    assert scores.loc[scores["split"] == "fit", held_out].isna().all().all()
    assert test[held_out].notna().all().all()
    truth = test["is_outlier"].to_numpy(dtype=bool)
    columns = {
        "gmm": "heldout_log_density",
        "noise_component": "heldout_noise_log_likelihood_ratio",
        "isolation_forest": "heldout_isolation_forest_score",
        "local_outlier_factor": "heldout_local_outlier_factor_score",
    }
    for name, column in columns.items():
        score = -test[column] if name == "gmm" else test[column]
        assert detectors.loc[name, "roc_auc"] == pytest.approx(roc_auc_score(truth, score))
        assert detectors.loc[name, "average_precision"] == pytest.approx(
            average_precision_score(truth, score)
        )
    # The held-out mixture is a refit: its densities differ from the all-rows model's.
    assert not np.allclose(test["heldout_log_density"], test["log_density"])
    summary = json.loads((heldout_run / "summary.json").read_text())
    assert summary["holdout"]["n_test"] == len(test) and summary["holdout"]["seed"] == 3


def test_scores_are_broken_down_by_kind_on_the_same_rows(heldout_run):
    scores = pd.read_csv(heldout_run / "scores.csv")
    test = scores[scores["split"] == "test"]
    by_kind = pd.read_csv(heldout_run / "detectors_by_kind.csv")
    assert sorted(by_kind["kind"].unique()) == ["cluster", "uniform"]
    assert len(by_kind) == 8
    for kind, rows in by_kind.groupby("kind"):
        assert (rows["n_anomalies"] == (test["outlier_kind"] == kind).sum()).all()
        assert (rows["n_normal"] == (test["outlier_kind"] == "normal").sum()).all()
        judged = test[test["outlier_kind"].isin(["normal", kind])]
        gmm = rows.set_index("detector").loc["gmm"]
        assert gmm["roc_auc"] == pytest.approx(
            roc_auc_score(judged["outlier_kind"] == kind, -judged["heldout_log_density"])
        )


def test_noise_mixture_is_written_portably_with_its_fits(heldout_run):
    record = json.loads((heldout_run / "noise_model.json").read_text())
    assert record["format"] == "gmm-pipeline.noise-mixture" and 0 < record["noise_weight"] < 0.5
    fits = pd.read_csv(heldout_run / "noise_fits.csv")
    assert sorted(fits["n_components"].unique()) == [1, 2, 3, 4]
    summary = json.loads((heldout_run / "summary.json").read_text())
    assert summary["noise_component"]["n_components"] == int(
        fits.loc[fits["bic_lower_is_better"].idxmin(), "n_components"]
    )
