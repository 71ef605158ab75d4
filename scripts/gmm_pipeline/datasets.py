"""Step 1: make a dataset (features plus true labels) and read it back, validated."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs, make_circles, make_moons

from .artifacts import read_json, write_csv, write_json
from .errors import PipelineInputError

LABEL_COLUMN = "label"
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
        Feature matrix, float64, all values finite.
    labels : ndarray of shape (n_samples,) or None
        True class labels, where the source has them.
    features : list of str
        Column names of ``X``.
    """

    name: str
    X: np.ndarray
    labels: np.ndarray | None
    features: list

    @property
    def n_samples(self):
        return self.X.shape[0]


def _moons(spec):
    return make_moons(n_samples=spec["n_samples"], noise=spec["noise"], random_state=spec["seed"])


def _circles(spec):
    return make_circles(
        n_samples=spec["n_samples"], noise=spec["noise"], factor=spec.get("factor", 0.5),
        random_state=spec["seed"],
    )


def _blobs(spec):
    return make_blobs(
        n_samples=spec["n_samples"], centers=spec.get("centers", 3),
        n_features=spec.get("n_features", 2), cluster_std=spec.get("cluster_std", 1.0),
        center_box=tuple(spec.get("center_box", (-10.0, 10.0))), random_state=spec["seed"],
    )


# scikit-learn's k-means example stretches blobs by this map; k-means starts then cut the
# elongated clusters across.
ANISOTROPIC_TRANSFORMATION = [[0.6, -0.6], [-0.4, 0.8]]


def _anisotropic(spec):
    transformation = np.asarray(spec.get("transformation", ANISOTROPIC_TRANSFORMATION), dtype=float)
    X, labels = make_blobs(
        n_samples=spec["n_samples"], centers=spec.get("centers", 3), n_features=transformation.shape[0],
        cluster_std=spec.get("cluster_std", 1.0), random_state=spec["seed"],
    )
    return X @ transformation, labels


GENERATORS = {"moons": _moons, "circles": _circles, "blobs": _blobs, "anisotropic": _anisotropic}


def generate_dataset(spec):
    """Draw a synthetic dataset from its config entry.

    Parameters
    ----------
    spec : dict
        A ``datasets.<name>`` config entry: ``generator`` (see ``GENERATORS``), ``seed``
        and the generator's own parameters.

    Returns
    -------
    frame : DataFrame of shape (n_samples, n_features + 1)
        Feature columns ``x0, x1, ...`` followed by the integer ``label`` column.
    """
    generator = spec.get("generator")
    if generator not in GENERATORS:
        raise PipelineInputError(
            f"generator {generator!r} is unknown; expected one of {sorted(GENERATORS)}"
        )
    X, labels = GENERATORS[generator](spec)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame[LABEL_COLUMN] = labels.astype(np.int64)
    return frame


def redraw_features(spec, seed):
    """The features of a generated dataset drawn again with another seed (stability checks)."""
    frame = generate_dataset({**spec, "seed": seed})
    return frame.drop(columns=LABEL_COLUMN).to_numpy(dtype=np.float64)


def write_dataset(frame, data_path, meta_path, *, name, source, label_column=LABEL_COLUMN):
    """Write a dataset as CSV plus a JSON description of its columns."""
    features = [column for column in frame.columns if column != label_column]
    write_csv(data_path, frame)
    write_json(
        meta_path,
        {
            "format": DATASET_FORMAT,
            "format_version": DATASET_FORMAT_VERSION,
            "name": name,
            "source": source,
            "features": features,
            "label_column": label_column if label_column in frame.columns else None,
            "n_samples": int(len(frame)),
            "n_features": len(features),
        },
    )


def generate_to_files(spec, *, name, data_path, meta_path):
    """Generate the dataset ``name`` from ``spec`` and write it; return the frame."""
    frame = generate_dataset(spec)
    source = {key: value for key, value in spec.items() if key != "model"}
    write_dataset(frame, data_path, meta_path, name=name, source=source)
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
    missing = [c for c in features + ([label_column] if label_column else []) if c not in frame]
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
    )
