"""Figures stay readable and fast on large data: scatter plots draw a seeded sample, and
a figure is written in one draw where that gives the same bytes as matplotlib's ``savefig``."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from gmm_pipeline.files.figure_files import save_figure
from gmm_pipeline.stages.render_figures import shown_rows
from PIL import Image


def test_small_data_is_drawn_whole_and_large_data_sampled_reproducibly():
    np.testing.assert_array_equal(shown_rows(500, 20_000), np.arange(500))
    rows = shown_rows(1_000_000, 20_000, seed=0)
    assert len(rows) == 20_000 and len(np.unique(rows)) == 20_000
    assert np.all(np.diff(rows) > 0) and rows.max() < 1_000_000
    np.testing.assert_array_equal(rows, shown_rows(1_000_000, 20_000, seed=0))


def _figure(layout):
    """A small two-panel figure with text, legends and a filled band, laid out by ``layout``."""
    fig, axes = plt.subplots(1, 2, figsize=(6, 3), layout="constrained" if layout == "constrained" else None)
    x = np.arange(1, 11)
    for ax, slope in zip(axes, (1.0, -2.0), strict=True):
        ax.plot(x, slope * x, marker="o", label=f"slope {slope}")
        ax.fill_between(x, slope * x - 1, slope * x + 1, alpha=0.2, linewidth=0)
        ax.set_ylabel("a long label that a layout must make room for")
        ax.legend()
    fig.suptitle("a title")
    if layout == "tight":
        fig.tight_layout()
    return fig


@pytest.mark.parametrize("layout", ["none", "tight", "constrained"])
def test_a_saved_figure_is_byte_for_byte_what_savefig_writes(tmp_path, layout):
    # save_figure draws a figure without a layout to run once, where savefig draws it twice.
    save_figure(_figure(layout), tmp_path / "ours.png", dpi=72)
    expected = io.BytesIO()
    fig = _figure(layout)
    fig.savefig(expected, format="png", dpi=72)
    plt.close(fig)
    written = (tmp_path / "ours.png").read_bytes()
    assert written == expected.getvalue()
    assert Image.open(io.BytesIO(written)).size == (6 * 72, 3 * 72)
