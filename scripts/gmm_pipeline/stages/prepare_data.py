"""Rule prepare_data: a dataset from its source (generator, bundled or user file), prepared and
written with its description; and read back, validated.

Preparing a dataset, in order: take the rows from the source; optionally inject synthetic
anomalies of one or more kinds (:mod:`gmm_pipeline.maths.outlier_kinds`), flagged with their kind;
optionally z-score the features, recording the scaler so new rows can
be scored the same way (:class:`Preprocessing`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs, make_circles, make_moons

from ..errors import PipelineInputError
from ..files.artifacts import read_json, write_csv, write_json
from ..maths.outlier_kinds import generate_outliers, injections
from .check_input import load_bundled, load_file, outlier_truth

LABEL_COLUMN = "label"
OUTLIER_COLUMN = "is_outlier"
KIND_COLUMN = "outlier_kind"
SOURCE_ROW_COLUMN = "source_row"
RESERVED_COLUMNS = (LABEL_COLUMN, OUTLIER_COLUMN, KIND_COLUMN, SOURCE_ROW_COLUMN)
# The kind of a row that is not an anomaly, and of a true anomaly named by outlier_labels.
NORMAL_KIND, LABELLED_KIND = "normal", "labelled"
DATASET_FORMAT = "gmm-pipeline.dataset"
DATASET_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Dataset:
    """A dataset as every later step sees it.

    Attributes
    ----------
    name : str
        The dataset's name in the config.
    X : ndarray of shape (n_samples, n_features)
        Feature matrix, float64, all values finite (standardized if the entry asks).
    labels : ndarray of shape (n_samples,) or None
        True class labels, where the source has them.
    features : list of str
        Column names of ``X``.
    is_outlier : ndarray of bool or None
        Ground truth for anomaly scoring, where it exists (injected outliers, or the
        classes named in ``outlier_labels``).
    outlier_kind : ndarray of str or None
        With ground truth, each row's kind: ``normal``, ``labelled`` (from
        ``outlier_labels``) or the injected kind (``uniform``, ``local``, ...).
    """

    name: str
    X: np.ndarray
    labels: np.ndarray | None
    features: list
    is_outlier: np.ndarray | None = None
    outlier_kind: np.ndarray | None = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def truth(self):
        """The labels where they can judge clusters: two classes or more. One class is no
        truth to compare with (ARI and NMI read 0 or 1 whatever the clusters); None then,
        and :attr:`truth_note` says why."""
        return self.labels if self.labels is not None and len(np.unique(self.labels)) > 1 else None

    @property
    def truth_note(self):
        """Why labels the dataset has are not compared with its clusters, or None."""
        if self.labels is None or self.truth is not None:
            return None
        return "the label column holds one class: agreement with it says nothing, so none is given"


@dataclass(frozen=True)
class Preprocessing:
    """What was done to a source's features before fitting, to be done to new rows too.

    Attributes
    ----------
    features : list of str
        Feature columns, in model order.
    mean, scale : ndarray or None
        The z-score scaler (``(x - mean) / scale``); None if the entry did not standardize.
    """

    features: list
    mean: np.ndarray | None
    scale: np.ndarray | None

    @classmethod
    def from_description(cls, meta_path):
        """The preprocessing recorded in a ``dataset.json``."""
        meta = read_json(meta_path)
        scaler = meta.get("standardization")
        if scaler is None:
            return cls(meta["features"], None, None)
        return cls(meta["features"], np.asarray(scaler["mean"]), np.asarray(scaler["scale"]))

    def transform(self, frame):
        """Model-ready features of new rows (a DataFrame with the source's column names)."""
        missing = [column for column in self.features if column not in frame]
        if missing:
            raise PipelineInputError(f"new rows lack feature column(s) {missing}; expected {self.features}")
        X = frame[self.features].to_numpy(dtype=np.float64)
        return X if self.mean is None else (X - self.mean) / self.scale


def _moons(spec):
    return make_moons(n_samples=spec["n_samples"], noise=spec["noise"], random_state=spec["seed"])


def _circles(spec):
    return make_circles(
        n_samples=spec["n_samples"],
        noise=spec["noise"],
        factor=spec.get("factor", 0.5),
        random_state=spec["seed"],
    )


def _blobs(spec):
    return make_blobs(
        n_samples=spec["n_samples"],
        centers=spec.get("centers", 3),
        n_features=spec.get("n_features", 2),
        cluster_std=spec.get("cluster_std", 1.0),
        center_box=tuple(spec.get("center_box", (-10.0, 10.0))),
        random_state=spec["seed"],
    )


# scikit-learn's k-means example stretches blobs by this map; k-means starts then cut the
# elongated clusters across.
ANISOTROPIC_TRANSFORMATION = [[0.6, -0.6], [-0.4, 0.8]]


def _anisotropic(spec):
    transformation = np.asarray(spec.get("transformation", ANISOTROPIC_TRANSFORMATION), dtype=float)
    X, labels = make_blobs(
        n_samples=spec["n_samples"],
        centers=spec.get("centers", 3),
        n_features=transformation.shape[0],
        cluster_std=spec.get("cluster_std", 1.0),
        random_state=spec["seed"],
    )
    return X @ transformation, labels


GENERATORS = {"moons": _moons, "circles": _circles, "blobs": _blobs, "anisotropic": _anisotropic}


def generate_dataset(spec):
    """Draw a synthetic dataset from its config entry.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of int
    features : list of str
        ``x0, x1, ...``
    """
    generator = spec.get("generator")
    if generator not in GENERATORS:
        raise PipelineInputError(f"generator {generator!r} is unknown; expected one of {sorted(GENERATORS)}")
    X, labels = GENERATORS[generator](spec)
    return X, labels.astype(np.int64), [f"x{j}" for j in range(X.shape[1])]


def load_source(spec, *, min_rows=1):
    """Rows, labels, feature names and source row numbers of a dataset entry's source."""
    if "generator" in spec:
        X, labels, features = generate_dataset(spec)
        return X, labels, features, np.arange(len(X))
    if "bundled" in spec:
        return load_bundled(spec)
    X, labels, features = load_file(spec, min_rows=min_rows)
    return X, labels, features, np.arange(len(X))


def prepare_dataset(spec, *, min_rows=1, name=None):
    """A dataset entry's rows, ready to fit.

    Parameters
    ----------
    spec : dict
        A ``datasets.<name>`` config entry: one source (``generator``, ``bundled`` or
        ``path``) and the optional ``inject_outliers``, ``outlier_labels`` and
        ``standardize``.
    min_rows : int
        Fewest rows a file may have (the largest component count).
    name : str, optional
        The dataset's name, for messages.

    Returns
    -------
    frame : DataFrame
        Feature columns, then ``label`` (if any), ``is_outlier`` (if there is ground truth)
        and ``source_row`` (row in the source; -1 for an injected point).
    description : dict
        ``features``, ``label_column``, ``outlier_column``, ``standardization`` and
        ``n_injected_outliers`` for ``dataset.json``.
    """
    X, labels, features, source_rows = load_source(spec, min_rows=min_rows)
    clash = [f for f in features if f in RESERVED_COLUMNS]
    if clash:
        raise PipelineInputError(
            f"feature column(s) {clash} clash with the columns the pipeline adds "
            f"{list(RESERVED_COLUMNS)}; rename them in the file"
        )
    truth = None
    if spec.get("outlier_labels") is not None:
        if labels is None:
            raise PipelineInputError(
                "outlier_labels needs labels: name a label_column, or use a generator or bundled source"
            )
        key = f"datasets.{name}.outlier_labels" if name else "outlier_labels"
        truth = outlier_truth(labels, spec["outlier_labels"], key=key)
    kinds = None if truth is None else np.where(truth, LABELLED_KIND, NORMAL_KIND).astype(object)
    # Every kind is drawn from the source's rows, not from rows another kind added.
    normal_rows = X
    n_injected = 0
    for entry in injections(spec):
        extra = generate_outliers(normal_rows, entry)
        n_injected += len(extra)
        if truth is None:
            truth, kinds = np.zeros(len(X), dtype=bool), np.full(len(X), NORMAL_KIND, dtype=object)
        truth = np.concatenate([truth, np.ones(len(extra), dtype=bool)])
        kinds = np.concatenate([kinds, np.full(len(extra), entry.get("kind", "uniform"), dtype=object)])
        X = np.vstack([X, extra])
        source_rows = np.concatenate([source_rows, np.full(len(extra), -1)])
        if labels is not None:
            # Injected points belong to no class: -1 among numeric labels, "outlier" among names.
            numeric = np.issubdtype(np.asarray(labels).dtype, np.number)
            marker = -1 if numeric else "outlier"
            labels = pd.concat(
                [pd.Series(labels), pd.Series([marker] * len(extra))], ignore_index=True
            ).to_numpy()
    standardization = None
    if spec.get("standardize"):
        mean, scale = X.mean(axis=0), X.std(axis=0)
        X = (X - mean) / scale
        standardization = {"mean": mean.tolist(), "scale": scale.tolist()}

    frame = pd.DataFrame(X, columns=features)
    if labels is not None:
        frame[LABEL_COLUMN] = labels
    if truth is not None:
        frame[OUTLIER_COLUMN] = truth
        frame[KIND_COLUMN] = kinds
    frame[SOURCE_ROW_COLUMN] = source_rows.astype(np.int64)
    description = {
        "features": features,
        "label_column": LABEL_COLUMN if labels is not None else None,
        "outlier_column": OUTLIER_COLUMN if truth is not None else None,
        "kind_column": KIND_COLUMN if truth is not None else None,
        "standardization": standardization,
        "n_injected_outliers": n_injected,
    }
    return frame, description


def source_seeds(spec):
    """Every seed a dataset entry uses: its generator's or subsample's, and its outliers'."""
    seeds = [spec["seed"]] if "seed" in spec else []
    seeds += [entry.get("seed", 0) for entry in injections(spec)]
    return seeds


def redraw_features(spec, seed):
    """The features of a generated dataset drawn again with another seed (stability checks),
    prepared like the original (outliers injected, standardized)."""
    frame, description = prepare_dataset({**spec, "seed": seed})
    return frame[description["features"]].to_numpy(dtype=np.float64)


def write_dataset(frame, description, data_path, meta_path, *, name, source):
    """Write a prepared dataset as CSV plus its JSON description."""
    write_csv(data_path, frame)
    write_json(
        meta_path,
        {
            "format": DATASET_FORMAT,
            "format_version": DATASET_FORMAT_VERSION,
            "name": name,
            "source": source,
            **description,
            "n_samples": int(len(frame)),
            "n_features": len(description["features"]),
        },
    )


def prepare_to_files(spec, *, name, data_path, meta_path, min_rows=1):
    """Prepare the dataset ``name`` from its entry ``spec`` and write it; return the frame."""
    frame, description = prepare_dataset(spec, min_rows=min_rows, name=name)
    source = {key: value for key, value in spec.items() if key != "model"}
    write_dataset(frame, description, data_path, meta_path, name=name, source=source)
    return frame


def load_dataset(data_path, meta_path):
    """Read a dataset written by :func:`write_dataset`, checking it before use.

    Raises
    ------
    PipelineInputError
        If a file is missing or unreadable, a described column is absent, or a feature
        column holds anything but finite numbers. The message names file and column.
    """
    data_path, meta_path = Path(data_path), Path(meta_path)
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError) as err:
        raise PipelineInputError(f"{meta_path}: cannot read dataset description: {err}") from err
    if meta.get("format") != DATASET_FORMAT or not isinstance(meta.get("features"), list):
        raise PipelineInputError(
            f"{meta_path}: not a gmm-pipeline dataset description "
            f"(expected format {DATASET_FORMAT!r} with a 'features' list)"
        )
    try:
        frame = pd.read_csv(data_path)
    except (OSError, ValueError) as err:
        raise PipelineInputError(f"{data_path}: cannot read CSV: {err}") from err

    features, label_column = meta["features"], meta.get("label_column")
    outlier_column, kind_column = meta.get("outlier_column"), meta.get("kind_column")
    described = features + [c for c in (label_column, outlier_column, kind_column) if c]
    missing = [c for c in described if c not in frame]
    if missing:
        raise PipelineInputError(
            f"{data_path}: column(s) {missing} described in {meta_path.name} are absent; "
            f"the file has {list(frame.columns)}"
        )
    if len(frame) == 0:
        raise PipelineInputError(f"{data_path}: no rows; expected at least one data point")
    for column in features:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            raise PipelineInputError(
                f"{data_path}: feature column {column!r} is not numeric (dtype {values.dtype})"
            )
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            raise PipelineInputError(
                f"{data_path}: feature column {column!r} has {int(bad.sum())} NaN or infinite "
                f"value(s), first at row {int(np.argmax(bad))}; expected finite numbers"
            )
    return Dataset(
        name=meta.get("name", data_path.parent.name),
        X=frame[features].to_numpy(dtype=np.float64),
        labels=frame[label_column].to_numpy() if label_column else None,
        features=features,
        is_outlier=frame[outlier_column].to_numpy(dtype=bool) if outlier_column else None,
        outlier_kind=frame[kind_column].astype(str).to_numpy(dtype=object) if kind_column else None,
    )
