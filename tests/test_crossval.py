"""Cross-validated held-out log-likelihood against a direct computation."""

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.stages.cross_validate import FOLD_COLUMNS, cross_validate, fold_indices, summarise_folds
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import KFold


def test_cv_nll_is_minus_the_pooled_held_out_log_likelihood(three_blobs):
    X, _ = three_blobs
    table = cross_validate(
        X,
        covariance_types=["diag"],
        folds=4,
        seed=3,
        n_components=[1, 3],
        seeds=[0, 1],
        init_params=["kmeans"],
    )
    assert list(table.columns) == FOLD_COLUMNS and len(table) == 2 * 4
    summary = summarise_folds(table)
    for k in (1, 3):
        # Fit every fold by hand: best of the two seeds by lower bound, scored on the rest.
        total, per_fold = 0.0, []
        for train, test in KFold(4, shuffle=True, random_state=3).split(X):
            fits = [GaussianMixture(k, covariance_type="diag", random_state=s).fit(X[train]) for s in (0, 1)]
            best = max(fits, key=lambda m: m.lower_bound_)
            total += best.score_samples(X[test]).sum()
            per_fold.append(best.score(X[test]))
        row = summary.loc[("diag", k)]
        assert row["cv_nll"] == pytest.approx(-total / len(X), rel=1e-12)
        assert row["cv_nll_fold_std"] == pytest.approx(np.std(per_fold), rel=1e-9)
        assert row["cv_folds"] == 4
    # Three separated blobs predict held-out points far better with three components.
    assert summary.loc[("diag", 3), "cv_nll"] < summary.loc[("diag", 1), "cv_nll"] - 0.5


def test_the_types_cross_validated_together_score_as_each_alone(three_blobs):
    # Each fold's starts are made once for all types; the fits are those of each type alone.
    X, _ = three_blobs
    grid = {
        "folds": 3,
        "seed": 1,
        "n_components": [1, 2, 3],
        "seeds": [0, 1],
        "init_params": ["kmeans", "hc_vvv"],
    }
    together = cross_validate(X, covariance_types=["tied", "full", "spherical"], **grid)
    alone = [cross_validate(X, covariance_types=[name], **grid) for name in ("tied", "full", "spherical")]
    assert together.equals(pd.concat(alone, ignore_index=True))


def test_folds_partition_the_data_reproducibly():
    folds = fold_indices(103, folds=5, seed=7)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(103))
    again = fold_indices(103, folds=5, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_impossible_fold_count_names_the_key():
    with pytest.raises(PipelineInputError, match="selection.cross_validation.folds is 11"):
        fold_indices(10, folds=11, seed=0)
