"""The bootstrap likelihood-ratio tests of a dataset (:mod:`gmm_pipeline.stages.test_components`), every
covariance type in one table and one figure."""

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..files.artifacts import write_csv  # noqa: E402
from ..files.figure_files import save_figure  # noqa: E402
from .render_figures import COVARIANCE_COLORS  # noqa: E402
from .test_components import TEST_COLUMNS, supported_components  # noqa: E402

SUMMARY_COLUMNS = [*TEST_COLUMNS, "supported_n_components"]


def summary_table(tests):
    """The tests of every covariance type, each row with the k its sequence supports."""
    rows = [
        group.assign(supported_n_components=supported_components(group))
        for _, group in tests.groupby("covariance_type", sort=False)
    ]
    return (
        pd.concat(rows, ignore_index=True)[SUMMARY_COLUMNS] if rows else pd.DataFrame(columns=SUMMARY_COLUMNS)
    )


def plot_lrt(ax, table, level):
    """Observed statistics (markers) against their bootstrap 50 % to 99 % quantiles (band)
    and 95 % quantile (dashed), per covariance type; a filled marker is a rejected k."""
    for covariance_type, group in table.groupby("covariance_type", sort=False):
        color = COVARIANCE_COLORS.get(covariance_type, "0.3")
        k = group["n_components"]
        ax.fill_between(
            k, group["bootstrap_q50"], group["bootstrap_q99"], color=color, alpha=0.15, linewidth=0
        )
        ax.plot(k, group["bootstrap_q95"], "--", color=color, linewidth=1)
        supported = int(group["supported_n_components"].iloc[0])
        ax.plot(
            k,
            group["statistic"],
            "-",
            color=color,
            alpha=0.5,
            label=f"{covariance_type}: supports k = {supported}",
        )
        for rejected, face in ((True, color), (False, "white")):
            part = group[group["rejected"] == rejected]
            ax.scatter(part["n_components"], part["statistic"], edgecolors=color, facecolors=face, zorder=3)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xticks(sorted(table["n_components"].unique()))
    ax.set_xlabel("k, tested against k + 1 components")
    ax.set_ylabel("LRT statistic 2 (log L(k+1) - log L(k))")
    ax.set_title(
        f"filled: k rejected at level {level:g}; band: bootstrap 50-99 % quantiles, dashed: 95 %",
        fontsize="small",
    )
    ax.legend(fontsize="small")


def summarise_to_files(*, tests_paths, dataset, level, table_path, figure_path, dpi):
    """Write the dataset's LRT table and figure from the per-covariance-type tables."""
    tests = pd.concat([pd.read_csv(path) for path in tests_paths], ignore_index=True)
    table = summary_table(tests)
    write_csv(table_path, table)
    fig, ax = plt.subplots(figsize=(8, 5))
    plot_lrt(ax, table, level)
    fig.suptitle(f"{dataset}: bootstrap likelihood-ratio tests for the number of components")
    fig.tight_layout()
    save_figure(fig, figure_path, dpi)
    return table
