"""Where a dataset's rows come from besides the generators: a user's CSV or Parquet file, or
a dataset bundled with scikit-learn. Every check here names the file and column at fault.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as sklearn_datasets

from ..errors import PipelineInputError
from ..files.artifacts import PARQUET_SUFFIXES, csv_header, read_json, sha256_file, write_json

BUNDLED = {
    "iris": sklearn_datasets.load_iris,
    "wine": sklearn_datasets.load_wine,
    "breast_cancer": sklearn_datasets.load_breast_cancer,
}
# Squares and sums of squares of larger values overflow float64 (about 1.8e308) in EM.
MAX_MAGNITUDE = 1e150


def read_table(path):
    """Read a CSV or Parquet file (by its suffix) into a DataFrame.

    Raises
    ------
    PipelineInputError
        If the file is missing, empty, unreadable or has no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineInputError(f"{path}: no such file; expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise PipelineInputError(f"{path}: the file is empty; expected a header row and data rows")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise PipelineInputError(
            f"{path}: the file holds no columns; expected a header row and data rows"
        ) from None
    except Exception as err:  # parser, encoding and Arrow errors all mean the same to a user
        raise PipelineInputError(
            f"{path}: cannot read as {'Parquet' if path.suffix.lower() in PARQUET_SUFFIXES else 'CSV'}: {err}"
        ) from err
    if len(frame) == 0:
        raise PipelineInputError(f"{path}: the file has a header but no data rows")
    # The header as written: pandas' renaming would hide repeated and empty names.
    names = csv_header(path) if path.suffix.lower() not in PARQUET_SUFFIXES else list(frame.columns)
    _check_column_names(names, path)
    return frame


def _check_column_names(names, path):
    seen = set()
    for position, name in enumerate(names):
        if str(name).strip() == "":
            raise PipelineInputError(
                f"{path}: column {position + 1} has no name in the header (a DataFrame index saved "
                f"with to_csv looks like this); name it, or save without the index (index=False)"
            )
        if name in seen:
            raise PipelineInputError(
                f"{path}: column name {name!r} appears {names.count(name)} times in the header; "
                f"expected each column named once"
            )
        seen.add(name)


def feature_columns(frame, spec, source):
    """The feature columns a dataset entry asks for: ``columns``, or every column but the label."""
    label_column = spec.get("label_column")
    if label_column is not None and label_column not in frame.columns:
        raise PipelineInputError(
            f"{source}: label_column {label_column!r} is not a column; the file has {list(frame.columns)}"
        )
    columns = spec.get("columns")
    if columns is None:
        return [column for column in frame.columns if column != label_column]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise PipelineInputError(
            f"{source}: column(s) {missing} named in columns are absent; the file has {list(frame.columns)}"
        )
    if label_column in columns:
        raise PipelineInputError(
            f"{source}: column {label_column!r} is both a feature (columns) and the label_column"
        )
    return list(columns)


def check_features(frame, features, source, *, min_rows=1):
    """Check that ``features`` of ``frame`` can be fitted; return them as a float array.

    Each feature must be numeric, finite and not constant, and there must be at least
    ``min_rows`` rows (the largest component count of the sweep).
    """
    if not features:
        raise PipelineInputError(f"{source}: no feature columns; expected at least one numeric column")
    for column in features:
        values = frame[column]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            # The first value that is not a number, as written (a NUL byte or a unit shows).
            unreadable = values.notna() & pd.to_numeric(values, errors="coerce").isna()
            example = (
                f", e.g. {values[unreadable].iloc[0]!r} at data row {int(np.argmax(unreadable.to_numpy()))}"
                if unreadable.any()
                else ""
            )
            raise PipelineInputError(
                f"{source}: feature column {column!r} is not numeric (dtype {values.dtype}{example}); "
                f"expected numbers, or leave it out with `columns`"
            )
        numbers = values.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers)
        if bad.any():
            raise PipelineInputError(
                f"{source}: feature column {column!r} has {int(bad.sum())} missing, NaN or infinite "
                f"value(s), first at data row {int(np.argmax(bad))}; expected finite numbers"
            )
        largest = float(np.max(np.abs(numbers)))
        if largest > MAX_MAGNITUDE:
            raise PipelineInputError(
                f"{source}: feature column {column!r} holds {largest:g} at data row "
                f"{int(np.argmax(np.abs(numbers)))}; expected magnitudes up to {MAX_MAGNITUDE:g} "
                f"(squared distances must stay finite in float64), so rescale the column"
            )
        if np.ptp(numbers) == 0:
            raise PipelineInputError(
                f"{source}: feature column {column!r} is constant (every value is {numbers[0]:g}); "
                f"a Gaussian mixture needs variance in every feature, so leave it out with `columns`"
            )
    if len(frame) < min_rows:
        raise PipelineInputError(
            f"{source}: {len(frame)} data rows, fewer than the largest component count ({min_rows}, "
            f"from fit.n_components and bayesian.max_components); expected at least one row per component"
        )
    return frame[features].to_numpy(dtype=np.float64)


def load_file(spec, *, min_rows=1):
    """Read and check a user's file entry.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray or None
        The ``label_column`` values, where one is named.
    features : list of str
    """
    path = spec["path"]
    frame = read_table(path)
    features = feature_columns(frame, spec, path)
    X = check_features(frame, features, path, min_rows=min_rows)
    label_column = spec.get("label_column")
    labels = None
    if label_column is not None:
        labels = frame[label_column]
        if labels.isna().any():
            raise PipelineInputError(
                f"{path}: label_column {label_column!r} has {int(labels.isna().sum())} missing value(s), "
                f"first at data row {int(np.argmax(labels.isna().to_numpy()))}; expected a label on every row"
            )
        labels = labels.to_numpy()
    return X, labels, [str(f) for f in features]


def outlier_truth(labels, outlier_labels, key="outlier_labels"):
    """Which rows carry one of ``outlier_labels``, refusing a label that matches no row.

    A label also matches by its text, so ``[1]`` given on the command line (where it may
    arrive as the string ``"1"``) finds the integer label 1 of the data, and the other way
    round.

    Raises
    ------
    PipelineInputError
        Naming each configured label that matches no row, and the labels the data has.
    """
    labels = np.asarray(labels, dtype=object)
    as_text = labels.astype(str)
    truth = np.zeros(len(labels), dtype=bool)
    unmatched = []
    for wanted in outlier_labels:
        rows = (labels == wanted) | (as_text == str(wanted))
        if not rows.any():
            unmatched.append(wanted)
        truth |= rows
    if unmatched:
        present = sorted(set(as_text.tolist()))
        shown = present[:20] + (["..."] if len(present) > 20 else [])
        raise PipelineInputError(f"{key}: {unmatched} match no row; the labels in the data are {shown}")
    return truth


def load_bundled(spec):
    """A dataset shipped inside scikit-learn, with its class names as labels.

    ``subsample_labels`` (``{class name: count}``) keeps only ``count`` rows of those classes,
    drawn with ``seed``: the usual way to make a rare class for anomaly benchmarks.
    """
    name = spec["bundled"]
    if name not in BUNDLED:
        raise PipelineInputError(f"bundled dataset {name!r} is unknown; expected one of {sorted(BUNDLED)}")
    bunch = BUNDLED[name]()
    X = np.asarray(bunch.data, dtype=np.float64)
    labels = np.array([str(name) for name in bunch.target_names], dtype=object)[bunch.target]
    features = [str(f).replace(" ", "_") for f in bunch.feature_names]
    keep = np.ones(len(X), dtype=bool)
    rng = np.random.default_rng(spec.get("seed", 0))
    for label, count in (spec.get("subsample_labels") or {}).items():
        rows = np.flatnonzero(labels == label)
        if len(rows) == 0:
            raise PipelineInputError(
                f"subsample_labels names class {label!r}, which {name} does not have; "
                f"its classes are {sorted(set(labels))}"
            )
        if count > len(rows):
            raise PipelineInputError(
                f"subsample_labels asks for {count} rows of class {label!r}; {name} has {len(rows)}"
            )
        keep[rows] = False
        keep[np.sort(rng.choice(rows, size=count, replace=False))] = True
    return X[keep], labels[keep], features, np.flatnonzero(keep)


def check_report(spec, *, min_rows=1):
    """Check a file entry and describe what was found: rows, features, per-feature ranges."""
    X, labels, features = load_file(spec, min_rows=min_rows)
    if spec.get("outlier_labels") is not None:
        # Checked here, not first by the dataset step: a failing job loses its old outputs.
        outlier_truth(labels, spec["outlier_labels"], key=f"{spec['path']}: outlier_labels")
    return {
        "path": str(spec["path"]),
        "sha256": sha256_file(spec["path"]),
        "n_rows": int(len(X)),
        "features": {
            name: {
                "mean": float(column.mean()),
                "std": float(column.std()),
                "min": float(column.min()),
                "max": float(column.max()),
            }
            for name, column in zip(features, X.T, strict=True)
        },
        "label_column": spec.get("label_column"),
        "n_labels": int(len(set(labels.tolist()))) if labels is not None else None,
    }


def check_unchanged_since_checked(path, report_path):
    """Refuse a file whose bytes differ from those its input check read (replaced after the
    check, before the dataset step): what flows on is only ever what was checked."""
    checked = read_json(report_path).get("sha256")
    if sha256_file(path) != checked:
        raise PipelineInputError(
            f"{path}: the file changed after its input check ({report_path} read SHA-256 "
            f"{str(checked)[:12]}, it is now {sha256_file(path)[:12]}); run snakemake again to check it anew"
        )


def check_to_file(spec, *, min_rows, report_path):
    """Check a file entry; write the report, or stop with the first problem found."""
    write_json(report_path, check_report(spec, min_rows=min_rows))
