"""Writing a matplotlib figure as a PNG artifact: whole or not at all, in one draw."""

import io

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.layout_engine import PlaceHolderLayoutEngine  # noqa: E402

from .artifacts import write_bytes_atomic  # noqa: E402


def save_figure(fig, path, dpi):
    """Write ``fig`` to ``path`` as PNG at ``dpi``, atomically, and close it."""
    # Rendered to memory first so the file appears whole or not at all. savefig draws a
    # figure twice when it has a layout engine, the first time to run it; after
    # tight_layout() the engine is only a placeholder that runs nothing, so the canvas's
    # own print_png, one draw, writes the same bytes (tests/test_figures.py). A
    # constrained layout still goes through savefig, which it needs.
    buffer = io.BytesIO()
    if isinstance(fig.get_layout_engine(), (type(None), PlaceHolderLayoutEngine)):
        fig.set_dpi(dpi)
        fig.canvas.print_png(buffer)
    else:
        fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
