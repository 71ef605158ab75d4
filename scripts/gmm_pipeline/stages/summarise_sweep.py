"""A sweep's results across its points, as tidy tables and flat metrics.

Every row is read from the point's own artifacts (:mod:`gmm_pipeline.stages.collect_metrics`), so the
tables hold exactly what the per-point results say. ``summary.csv`` has one row per point
and selection criterion, ``detectors.csv`` one per point and anomaly detector; both start
with the point's folder and one column per axis.
"""

import pandas as pd

from ..files.artifacts import write_csv, write_json
from ..files.summary_columns import CRITERION_COLUMNS, DETECTOR_COLUMNS
from .collect_metrics import dataset_rows, flat_metrics


def summarise(points, axes, inputs):
    """The summary tables of a sweep.

    Parameters
    ----------
    points : list of dict
        Each point's ``name`` (its folder below the sweep's) and ``values`` ({axis: value}).
    axes : list of str
        The sweep's axes, in its order: the tables' leading columns.
    inputs : dict
        Lists of the points' artifact paths by kind, in the order of ``points`` (see
        :func:`gmm_pipeline.stages.collect_metrics.collect_to_file`).

    Returns
    -------
    summary, detectors : pandas.DataFrame
        One row per point and criterion, one per point and detector.
    metrics : dict
        Flat metrics, ``{"<point>/<criterion>/<metric>": number}``.
    """
    summary_rows, detector_rows, metrics = [], [], {}
    for index, point in enumerate(points):
        leading = {"point": point["name"], **{axis: point["values"][axis] for axis in axes}}
        criteria, detectors = dataset_rows(inputs, index)
        summary_rows += [{**leading, **row} for row in criteria]
        detector_rows += [{**leading, **row} for row in detectors]
        metrics.update(flat_metrics(point["name"], criteria, detectors))
    leading_columns = ["point", *axes]
    summary = pd.DataFrame(summary_rows, columns=[*leading_columns, *CRITERION_COLUMNS])
    detectors = pd.DataFrame(detector_rows, columns=[*leading_columns, *DETECTOR_COLUMNS])
    return summary, detectors, dict(sorted(metrics.items()))


def summarise_to_files(*, points, axes, inputs, outputs):
    """Write :func:`summarise` to ``outputs`` (``summary``, ``detectors``, ``metrics``)."""
    summary, detectors, metrics = summarise(points, axes, inputs)
    write_csv(outputs["summary"], summary)
    write_csv(outputs["detectors"], detectors)
    write_json(outputs["metrics"], metrics)
