"""A sweep's figures: a metric against one axis, a line per value of a second grouping.

Points that differ only in the axes not drawn (typically the data seed) are pooled: the
line is their mean and the band their range, so the figure shows how much of a trend is
the condition and how much the draw.
"""

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..files.figure_files import save_figure  # noqa: E402
from ..files.summary_columns import DETECTOR_METRICS  # noqa: E402


def plot_rows(summary, detectors, spec):
    """The rows a figure draws: its metric's table, narrowed to one criterion or detector
    unless the lines are grouped by it."""
    hue = spec["hue"]
    if spec["y"] in DETECTOR_METRICS:
        table = detectors
        if hue != "detector":
            table = table[table["detector"] == spec["detector"]]
    else:
        table = summary
        if hue != "criterion":
            table = (
                table[table["criterion"] == spec["criterion"]]
                if spec["criterion"]
                else table[table["downstream"]]
            )
    return table


def line_statistics(rows, x, y, hue):
    """Per line (``hue`` value) and ``x`` value: the mean, least and greatest ``y`` and how
    many points were pooled, as a table with columns hue, x, mean, min, max, count."""
    keys = [hue, x] if hue else [x]
    stats = rows.groupby(keys, sort=True)[y].agg(["mean", "min", "max", "count"]).reset_index()
    if not hue:
        stats.insert(0, "line", "all points")
        return stats.rename(columns={"line": "hue"})
    return stats.rename(columns={hue: "hue"})


def plot_sweep(ax, summary, detectors, spec, axes, *, sweep):
    """Draw one sweep figure on ``ax`` (see the module docstring)."""
    x, y, hue = spec["x"], spec["y"], spec["hue"]
    rows = plot_rows(summary, detectors, spec)
    stats = line_statistics(rows, x, y, hue)
    pooled = [axis for axis in axes if axis not in (x, hue)]
    for value, line in stats.groupby("hue", sort=True):
        label = str(value) if not hue else f"{hue} = {value}"
        (drawn,) = ax.plot(line[x], line["mean"], marker="o", label=label)
        if (line["count"] > 1).any():
            ax.fill_between(
                line[x], line["min"], line["max"], color=drawn.get_color(), alpha=0.2, linewidth=0
            )
    if stats["mean"].isna().all():
        ax.text(
            0.5, 0.5, f"no values of {y} (no ground truth or labels?)", ha="center", transform=ax.transAxes
        )
    if spec["log_x"]:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y if y not in DETECTOR_METRICS or hue == "detector" else f"{y} ({spec['detector']})")
    # Whose choice is drawn: the criterion each point's downstream steps use, unless named.
    criteria = sorted(rows["criterion"].unique()) if "criterion" in rows and hue != "criterion" else []
    which = f", chosen by {' / '.join(criteria)}" if criteria else ""
    pooled_text = f"mean over {', '.join(pooled)}, band: range" if pooled else "one point each"
    ax.set_title(f"{sweep}: {y} against {x}{which}\n({pooled_text})", fontsize="medium")
    if hue or len(stats["hue"].unique()) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)


def plot_to_file(*, summary_path, detectors_path, spec, axes, sweep, figure_path, dpi):
    """Render :func:`plot_sweep` from the sweep's tables to a PNG file."""
    summary, detectors = pd.read_csv(summary_path), pd.read_csv(detectors_path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_sweep(ax, summary, detectors, spec, axes, sweep=sweep)
    fig.tight_layout()
    save_figure(fig, figure_path, dpi)
