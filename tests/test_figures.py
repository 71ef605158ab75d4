"""Figures stay readable and fast on large data: scatter plots draw a seeded sample."""

import numpy as np
from gmm_pipeline.figures import shown_rows


def test_small_data_is_drawn_whole_and_large_data_sampled_reproducibly():
    np.testing.assert_array_equal(shown_rows(500, 20_000), np.arange(500))
    rows = shown_rows(1_000_000, 20_000, seed=0)
    assert len(rows) == 20_000 and len(np.unique(rows)) == 20_000
    assert np.all(np.diff(rows) > 0) and rows.max() < 1_000_000
    np.testing.assert_array_equal(rows, shown_rows(1_000_000, 20_000, seed=0))
