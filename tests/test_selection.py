"""Model selection over real fits: criteria table, choices, runner-up, known answers."""

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.maths.criteria import column
from gmm_pipeline.stages.cross_validate import cross_validate
from gmm_pipeline.stages.fit_models import fit_type_grid
from gmm_pipeline.stages.select_model import (
    CRITERIA_COLUMNS,
    agreement_with_truth,
    criteria_table,
    init_comparison,
    select_model,
)
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

BIC, AIC, ICL, CV = (column(name) for name in ("bic", "aic", "icl", "cv_nll"))


@pytest.fixture(scope="module")
def four_blobs():
    X, labels = make_blobs(
        n_samples=400, centers=[[0, 0], [10, 0], [0, 10], [10, 10]], cluster_std=1.0, random_state=3
    )
    sweep = {
        "n_components": [1, 2, 3, 4, 5, 6],
        "seeds": [0, 1, 2],
        "init_params": ["kmeans", "agglomerative"],
    }
    fits = {cov: fit_type_grid(X, covariance_type=cov, **sweep) for cov in ("full", "spherical")}
    starts = pd.concat([starts for starts, _ in fits.values()], ignore_index=True)
    folds = cross_validate(X, covariance_types=list(fits), folds=3, seed=0, **sweep)
    models = {(m.covariance_type, m.n_components): m for _, ms in fits.values() for m in ms}
    return X, labels, starts, criteria_table(starts, folds), models


def test_table_has_one_row_per_model_from_its_best_start(four_blobs):
    _, _, starts, table, _ = four_blobs
    assert list(table.columns) == CRITERIA_COLUMNS
    assert len(table) == 2 * 6
    assert (table["n_starts"] == 4).all()  # three k-means seeds and one deterministic Ward start
    for _, row in table.iterrows():
        rows = starts[
            (starts["covariance_type"] == row["covariance_type"])
            & (starts["n_components"] == row["n_components"])
        ]
        # The best start: the highest bound, or the first within 1e-10 of it (a tie).
        assert row["lower_bound"] == pytest.approx(rows["lower_bound"].max(), rel=1e-10)
        assert row[BIC] == rows.loc[rows["is_best"], BIC].iloc[0]
        assert row[BIC] == pytest.approx(rows[BIC].loc[rows["lower_bound"].idxmax()], rel=1e-10)
        assert row["bic_worst_over_starts"] == rows[BIC].max()
        assert row["bic_median_over_starts"] == rows[BIC].median()
        assert row["n_at_best"] == (rows["lower_bound"] >= rows["lower_bound"].max() - 1e-3).sum()
        assert 1 <= row["n_at_best"] <= row["n_starts"]
    assert table[CV].notna().all() and (table["cv_nll_fold_std"] > 0).all()


def test_every_criterion_finds_the_four_blobs_and_agrees_with_truth(four_blobs):
    X, labels, _, table, models = four_blobs
    selection = select_model(table, criterion="bic")
    for name in ("bic", "icl", "cv_nll"):
        assert selection["by_criterion"][name]["n_components"] == 4, name
    chosen = selection["chosen"]
    assert chosen["n_components"] == 4 and chosen["reason"] == "lowest bic"
    assert chosen["value"] == table[BIC].min()
    agreement = agreement_with_truth(models[(chosen["covariance_type"], 4)], X, labels)
    assert agreement["adjusted_rand_index"] > 0.99 and agreement["normalized_mutual_info"] > 0.99


def test_runner_up_is_the_second_lowest_and_the_gap_is_their_difference(four_blobs):
    _, _, _, table, _ = four_blobs
    selection = select_model(table, criterion="icl")
    for name, col in (("bic", BIC), ("aic", AIC), ("icl", ICL), ("cv_nll", CV)):
        entry = selection["by_criterion"][name]
        two = table.sort_values(col).iloc[:2]
        assert entry["value"] == two[col].iloc[0]
        assert entry["runner_up"] == {
            "covariance_type": two["covariance_type"].iloc[1],
            "n_components": int(two["n_components"].iloc[1]),
            "value": two[col].iloc[1],
        }
        assert entry["gap_to_runner_up"] == pytest.approx(two[col].iloc[1] - two[col].iloc[0])
        assert entry["gap_to_runner_up"] >= 0


@pytest.mark.parametrize("true_type", ["diag", "full"])
def test_bic_recovers_k_and_covariance_type_of_a_known_mixture(true_type):
    truth = GaussianMixture(n_components=3, covariance_type=true_type, random_state=0)
    truth.weights_ = np.array([0.3, 0.3, 0.4])
    truth.means_ = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    if true_type == "diag":
        truth.covariances_ = np.array([[3.0, 0.3], [0.3, 3.0], [1.0, 1.0]])
        truth.precisions_cholesky_ = 1 / np.sqrt(truth.covariances_)
    else:
        truth.covariances_ = np.array(
            [[[2.0, 1.2], [1.2, 1.0]], [[1.0, -0.6], [-0.6, 1.0]], [[0.5, 0.0], [0.0, 2.0]]]
        )
        truth.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(truth.covariances_))
    X, _ = truth.sample(1500)
    starts = pd.concat(
        [
            fit_type_grid(
                X, covariance_type=cov, n_components=[1, 2, 3, 4, 5], seeds=[0, 1, 2], init_params=["kmeans"]
            )[0]
            for cov in ("full", "tied", "diag", "spherical")
        ],
        ignore_index=True,
    )
    chosen = select_model(criteria_table(starts), criterion="bic")["chosen"]
    assert (chosen["covariance_type"], chosen["n_components"]) == (true_type, 3)


def test_pinned_model_overrides_the_criterion_and_reports_its_gap(four_blobs):
    _, _, _, table, _ = four_blobs
    pinned = {"covariance_type": "spherical", "n_components": 2}
    selection = select_model(table, criterion="bic", pinned=pinned, dataset="blobs")
    chosen = selection["chosen"]
    assert {k: chosen[k] for k in ("covariance_type", "n_components", "reason")} == pinned | {
        "reason": "pinned by datasets.blobs.model"
    }
    assert chosen["runner_up"]["n_components"] == 4
    assert chosen["gap_to_runner_up"] < 0  # the pinned model is worse by BIC than the best one
    assert selection["by_criterion"]["bic"]["n_components"] == 4


def test_pinned_model_outside_the_sweep_is_refused(four_blobs):
    _, _, _, table, _ = four_blobs
    with pytest.raises(PipelineInputError, match=r"datasets.blobs.model asks for .*'tied'"):
        select_model(
            table, criterion="bic", pinned={"covariance_type": "tied", "n_components": 2}, dataset="blobs"
        )


def test_a_best_start_that_did_not_converge_is_flagged_with_its_warning(three_blobs):
    X, _ = three_blobs
    starts, _ = fit_type_grid(
        X, covariance_type="full", n_components=[2, 3], seeds=[0, 1], max_iter=2, init_params="random"
    )
    table = criteria_table(starts)
    selection = select_model(table, criterion="bic")
    assert not table["converged"].any()
    assert all("did not converge" in w for w in table["warnings"])
    assert [(e["covariance_type"], e["n_components"]) for e in selection["not_converged"]] == [
        ("full", 2),
        ("full", 3),
    ]
    assert "did not converge" in selection["not_converged"][0]["warnings"]


def test_init_comparison_marks_which_method_reaches_the_best_optimum(four_blobs):
    _, _, starts, _, _ = four_blobs
    inits = init_comparison(starts)
    assert len(inits) == 2 * 6 * 2
    best = starts.groupby(["covariance_type", "n_components"])["lower_bound"].max()
    for _, row in inits.iterrows():
        overall = best[(row["covariance_type"], row["n_components"])]
        assert row["reaches_best_optimum"] == (row["lower_bound"] >= overall - 1e-3)
    assert inits.groupby(["covariance_type", "n_components"])["reaches_best_optimum"].any().all()


def test_counts_of_converged_and_failed_starts_and_all_failed_models_left_out():
    def start(k, seed, lower_bound, converged=True, is_best=False, error=np.nan):
        return {
            "dataset": "d",
            "covariance_type": "full",
            "n_components": k,
            "init_params": "kmeans",
            "seed": seed,
            "lower_bound": lower_bound,
            "log_likelihood": lower_bound,
            "converged": converged,
            "n_iter": 5,
            "final_relative_change": 1e-9,
            "degenerate": False,
            "degenerate_reason": "",
            BIC: -lower_bound,
            AIC: -lower_bound,
            ICL: -lower_bound,
            "n_parameters": 5,
            "is_best": is_best,
            "fit_seconds": 0.01,
            "warnings": np.nan,
            "error": error,
        }

    starts = pd.DataFrame(
        [
            start(1, 0, -2.0, is_best=True),
            start(1, 1, -2.5, converged=False),
            start(1, 2, np.nan, converged=False, error="ill-defined empirical covariance"),
            start(2, 0, np.nan, converged=False, error="ill-defined empirical covariance"),
        ]
    )
    table = criteria_table(starts)
    assert table["n_components"].tolist() == [1]
    assert table.iloc[0][["n_starts", "n_converged", "n_failed", "best_seed", "n_at_best"]].tolist() == [
        3,
        1,
        1,
        0,
        1,
    ]
    assert np.isnan(table.iloc[0][CV])
