"""Injected anomalies of ADBench's kinds (gmm_pipeline.maths.outlier_kinds) and their flags."""

import numpy as np
import pytest
from gmm_pipeline.maths.outlier_kinds import KINDS, generate_outliers
from gmm_pipeline.stages.prepare_data import load_dataset, prepare_dataset, prepare_to_files
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

BLOBS = {"generator": "blobs", "n_samples": 600, "centers": 3, "seed": 1}


@pytest.fixture(scope="module")
def normal_rows():
    X, _ = make_blobs(n_samples=600, centers=3, random_state=1)
    return X


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_reproducible_from_its_seed(normal_rows, kind):
    entry = {"fraction": 0.05, "kind": kind, "seed": 3}
    rows = generate_outliers(normal_rows, entry)
    assert rows.shape == (30, 2) and np.isfinite(rows).all()
    np.testing.assert_array_equal(rows, generate_outliers(normal_rows, entry))
    assert not np.array_equal(rows, generate_outliers(normal_rows, entry | {"seed": 4}))


def test_uniform_outliers_fill_the_enlarged_box(normal_rows):
    rows = generate_outliers(normal_rows, {"fraction": 0.5, "kind": "uniform", "box_scale": 2.0})
    low, high = normal_rows.min(axis=0), normal_rows.max(axis=0)
    centre, half = (low + high) / 2, (high - low)
    assert np.all(np.abs(rows - centre) <= half)
    assert np.any(np.abs(rows - centre) > half / 2)


def test_local_outliers_follow_the_fitted_mixture_with_inflated_covariance(normal_rows):
    rows = generate_outliers(normal_rows, {"fraction": 1.0, "kind": "local", "scale": 5.0, "seed": 0})
    mixture = GaussianMixture(3, covariance_type="full", random_state=0).fit(normal_rows)
    nearest = mixture.predict(rows)
    # Around the components' means, but spread about sqrt(5) times as wide.
    for k in range(3):
        spread = np.sqrt(np.trace(np.cov(rows[nearest == k].T)) / np.trace(mixture.covariances_[k]))
        assert 1.5 < spread < 3.0
    # And lower in density than the normal rows, on average.
    assert mixture.score_samples(rows).mean() < mixture.score_samples(normal_rows).mean() - 1.0


def test_cluster_outliers_are_a_tight_cluster_beyond_the_data(normal_rows):
    rows = generate_outliers(normal_rows, {"fraction": 0.05, "kind": "cluster", "seed": 2})
    centre = normal_rows.mean(axis=0)
    reach = np.max(np.linalg.norm(normal_rows - centre, axis=1))
    distance = np.linalg.norm(rows - centre, axis=1)
    assert distance.min() > reach  # every one beyond the farthest normal row
    assert np.all(rows.std(axis=0) < 0.1 * normal_rows.std(axis=0))


def test_dependency_outliers_keep_each_feature_but_break_their_pattern(normal_rows):
    rows = generate_outliers(normal_rows, {"fraction": 0.2, "kind": "dependency", "seed": 0})
    for j in range(normal_rows.shape[1]):
        assert np.isin(rows[:, j], normal_rows[:, j]).all()
    # The rows themselves are new: their nearest normal row is farther than normal rows' own.
    neighbours = NearestNeighbors(n_neighbors=2).fit(normal_rows)
    own = neighbours.kneighbors(normal_rows)[0][:, 1]
    theirs = neighbours.kneighbors(rows, n_neighbors=1)[0][:, 0]
    assert np.median(theirs) > 3 * np.median(own)


def test_several_kinds_in_one_dataset_are_flagged_with_their_kind(tmp_path):
    spec = BLOBS | {
        "inject_outliers": [
            {"fraction": 0.02, "kind": "uniform", "seed": 0},
            {"fraction": 0.01, "kind": "cluster", "seed": 1},
            {"fraction": 0.03, "kind": "dependency", "seed": 2},
        ]
    }
    frame, description = prepare_dataset(spec)
    assert description["n_injected_outliers"] == 12 + 6 + 18
    counts = frame["outlier_kind"].value_counts().to_dict()
    assert counts == {"normal": 600, "dependency": 18, "uniform": 12, "cluster": 6}
    assert (frame["is_outlier"] == (frame["outlier_kind"] != "normal")).all()
    # Each kind is drawn from the source rows alone, so one kind's rows do not move another's.
    alone, _ = prepare_dataset(
        BLOBS | {"inject_outliers": {"fraction": 0.03, "kind": "dependency", "seed": 2}}
    )
    np.testing.assert_array_equal(
        frame.loc[frame["outlier_kind"] == "dependency", ["x0", "x1"]].to_numpy(),
        alone.loc[alone["outlier_kind"] == "dependency", ["x0", "x1"]].to_numpy(),
    )
    prepare_to_files(spec, name="mixed", data_path=tmp_path / "data.csv", meta_path=tmp_path / "dataset.json")
    loaded = load_dataset(tmp_path / "data.csv", tmp_path / "dataset.json")
    assert list(loaded.outlier_kind) == list(frame["outlier_kind"])


def test_labelled_anomalies_have_their_own_kind():
    frame, _ = prepare_dataset(
        {
            "bundled": "breast_cancer",
            "outlier_labels": ["malignant"],
            "subsample_labels": {"malignant": 10},
            "seed": 0,
        }
    )
    assert set(frame.loc[frame["is_outlier"], "outlier_kind"]) == {"labelled"}
    assert set(frame.loc[~frame["is_outlier"], "outlier_kind"]) == {"normal"}
