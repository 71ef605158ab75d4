"""BIC/AIC selection over real fits."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.fitting import fit_sweep
from gmm_pipeline.selection import CRITERIA_COLUMNS, criteria_table, select_model


@pytest.fixture(scope="module")
def four_blobs_table():
    X, _ = make_blobs(n_samples=400, centers=[[0, 0], [10, 0], [0, 10], [10, 10]], cluster_std=1.0,
                      random_state=3)
    starts = pd.concat([
        fit_sweep(X, covariance_type=cov, n_components=[1, 2, 3, 4, 5, 6], seeds=[0, 1, 2])[0]
        for cov in ("full", "spherical")
    ], ignore_index=True)
    return X, starts, criteria_table(starts)


def test_table_has_one_row_per_model_from_its_best_start(four_blobs_table):
    _, starts, table = four_blobs_table
    assert list(table.columns) == CRITERIA_COLUMNS
    assert len(table) == 2 * 6
    assert (table["n_starts"] == 3).all()
    for _, row in table.iterrows():
        rows = starts[(starts["covariance_type"] == row["covariance_type"])
                      & (starts["n_components"] == row["n_components"])]
        assert row["lower_bound"] == rows["lower_bound"].max()
        assert row["bic"] == rows.loc[rows["is_best"], "bic"].iloc[0]


def test_bic_finds_the_four_blobs(four_blobs_table):
    _, _, table = four_blobs_table
    selection = select_model(table, criterion="bic")
    assert selection["by_criterion"]["bic"]["n_components"] == 4
    assert selection["chosen"]["n_components"] == 4
    assert selection["chosen"]["reason"] == "lowest bic"
    best = table.loc[table["bic"].idxmin()]
    assert selection["by_criterion"]["bic"]["bic"] == best["bic"]


def test_aic_choice_is_its_own_minimum(four_blobs_table):
    _, _, table = four_blobs_table
    selection = select_model(table, criterion="aic")
    assert selection["by_criterion"]["aic"]["aic"] == table["aic"].min()
    assert selection["chosen"]["reason"] == "lowest aic"


def test_pinned_model_overrides_the_criterion(four_blobs_table):
    _, _, table = four_blobs_table
    pinned = {"covariance_type": "spherical", "n_components": 2}
    selection = select_model(table, criterion="bic", pinned=pinned, dataset="blobs")
    assert selection["chosen"] == pinned | {"reason": "pinned by datasets.blobs.model"}
    assert selection["by_criterion"]["bic"]["n_components"] == 4


def test_pinned_model_outside_the_sweep_is_refused(four_blobs_table):
    _, _, table = four_blobs_table
    with pytest.raises(PipelineInputError, match=r"datasets.blobs.model asks for .*'tied'"):
        select_model(table, criterion="bic", pinned={"covariance_type": "tied", "n_components": 2},
                     dataset="blobs")


def test_counts_of_converged_and_failed_starts_and_all_failed_models_left_out():
    def start(k, seed, lower_bound, converged=True, is_best=False, error=np.nan):
        return {"dataset": "d", "covariance_type": "full", "n_components": k, "seed": seed,
                "lower_bound": lower_bound, "log_likelihood": lower_bound, "converged": converged,
                "n_iter": 5, "bic": -lower_bound, "aic": -lower_bound, "n_parameters": 5,
                "is_best": is_best, "warnings": np.nan, "error": error}

    starts = pd.DataFrame([
        start(1, 0, -2.0, is_best=True),
        start(1, 1, -2.5, converged=False),
        start(1, 2, np.nan, converged=False, error="ill-defined empirical covariance"),
        start(2, 0, np.nan, converged=False, error="ill-defined empirical covariance"),
    ])
    table = criteria_table(starts)
    assert table["n_components"].tolist() == [1]
    assert table.iloc[0][["n_starts", "n_converged", "n_failed", "best_seed"]].tolist() == [3, 1, 1, 0]
