"""Bayesian weight pruning on real fits."""

import numpy as np
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.stages.prune_weights import fit_bayesian, weights_table


def test_surplus_components_are_driven_to_zero_weight(three_blobs):
    X, _ = three_blobs
    model, _ = fit_bayesian(X, max_components=8, n_init=2, seed=0)
    table = weights_table(model.weights_, threshold=0.01)
    assert table["kept"].sum() == 3
    kept = np.sort(table.loc[table["kept"], "weight"].to_numpy())
    np.testing.assert_allclose(kept, [1 / 3] * 3, atol=0.02)
    assert table.loc[~table["kept"], "weight"].max() < 0.01


def test_weights_table_ranks_and_threshold():
    table = weights_table([0.1, 0.6, 0.005, 0.295], threshold=0.1)
    assert table["rank"].tolist() == [3, 1, 4, 2]
    assert table["kept"].tolist() == [True, True, False, True]


def test_more_components_than_points_is_refused():
    with pytest.raises(PipelineInputError, match="bayesian.max_components is 10 but the data has only 6"):
        fit_bayesian(np.zeros((6, 2)), max_components=10)
