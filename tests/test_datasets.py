"""Dataset generation and the validated dataset loader."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons

from gmm_pipeline.datasets import generate_dataset, generate_to_files, load_dataset
from gmm_pipeline.errors import PipelineInputError

MOONS = {"generator": "moons", "n_samples": 200, "noise": 0.05, "seed": 42}


def test_moons_matches_scikit_learn_generator():
    frame = generate_dataset(MOONS)
    X, labels = make_moons(n_samples=200, noise=0.05, random_state=42)
    np.testing.assert_array_equal(frame[["x0", "x1"]].to_numpy(), X)
    np.testing.assert_array_equal(frame["label"].to_numpy(), labels)


@pytest.mark.parametrize("spec, n_features, n_classes", [
    ({"generator": "circles", "n_samples": 90, "noise": 0.1, "factor": 0.3, "seed": 1}, 2, 2),
    ({"generator": "blobs", "n_samples": 90, "centers": 5, "n_features": 3, "seed": 1}, 3, 5),
])
def test_generators_give_features_and_labels(spec, n_features, n_classes):
    frame = generate_dataset(spec)
    assert list(frame.columns) == [f"x{j}" for j in range(n_features)] + ["label"]
    assert len(frame) == 90
    assert frame["label"].nunique() == n_classes


def test_same_seed_same_data_other_seed_other_data():
    assert generate_dataset(MOONS).equals(generate_dataset(MOONS))
    assert not generate_dataset(MOONS).equals(generate_dataset(MOONS | {"seed": 43}))


def test_written_dataset_reads_back_bit_for_bit(tmp_path):
    frame = generate_to_files(MOONS, name="moons", data_path=tmp_path / "data.csv",
                              meta_path=tmp_path / "dataset.json")
    dataset = load_dataset(tmp_path / "data.csv", tmp_path / "dataset.json")
    # Exact equality: the CSV keeps every float's shortest round-trip form.
    np.testing.assert_array_equal(dataset.X, frame[["x0", "x1"]].to_numpy())
    np.testing.assert_array_equal(dataset.labels, frame["label"].to_numpy())
    assert dataset.features == ["x0", "x1"] and dataset.name == "moons"


@pytest.fixture
def written(tmp_path):
    generate_to_files(MOONS, name="moons", data_path=tmp_path / "data.csv", meta_path=tmp_path / "dataset.json")
    return tmp_path / "data.csv", tmp_path / "dataset.json"


def _rewrite(path, mutate):
    mutate(pd.read_csv(path)).to_csv(path, index=False)


@pytest.mark.parametrize("mutate, expected", [
    (lambda f: f.assign(x1=f["x1"].astype(object).where(f.index != 5, "oops")),
     r"feature column 'x1' is not numeric"),
    (lambda f: f.assign(x0=f["x0"].where(f.index != 7, np.nan)),
     r"feature column 'x0' has 1 NaN or infinite value\(s\), first at row 7"),
    (lambda f: f.assign(x0=f["x0"].where(f.index != 3, np.inf)),
     r"feature column 'x0' has 1 NaN or infinite"),
    (lambda f: f.drop(columns="x1"), r"column\(s\) \['x1'\] described in dataset.json are absent"),
    (lambda f: f.drop(columns="label"), r"column\(s\) \['label'\] described"),
    (lambda f: f.iloc[:0], r"no rows"),
])
def test_bad_data_is_refused_naming_file_and_column(written, mutate, expected):
    data_path, meta_path = written
    _rewrite(data_path, mutate)
    with pytest.raises(PipelineInputError, match=expected) as info:
        load_dataset(data_path, meta_path)
    assert str(data_path) in str(info.value)


def test_missing_and_foreign_files_are_refused(written, tmp_path):
    data_path, meta_path = written
    with pytest.raises(PipelineInputError, match="cannot read CSV"):
        load_dataset(tmp_path / "absent.csv", meta_path)
    meta_path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(PipelineInputError, match="not a gmm-pipeline dataset description"):
        load_dataset(data_path, meta_path)


def test_unknown_generator_is_refused():
    with pytest.raises(PipelineInputError, match="generator 'spirals' is unknown"):
        generate_dataset({"generator": "spirals", "n_samples": 10, "seed": 0})
