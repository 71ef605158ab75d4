"""Dataset generation and the validated dataset loader."""

import json

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.maths.outlier_kinds import uniform_outliers
from gmm_pipeline.stages.prepare_data import (
    Preprocessing,
    generate_dataset,
    load_dataset,
    prepare_dataset,
    prepare_to_files,
)
from sklearn.datasets import make_moons

MOONS = {"generator": "moons", "n_samples": 200, "noise": 0.05, "seed": 42}


def test_moons_matches_scikit_learn_generator():
    X, labels, features = generate_dataset(MOONS)
    expected_X, expected_labels = make_moons(n_samples=200, noise=0.05, random_state=42)
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(labels, expected_labels)
    assert features == ["x0", "x1"]


@pytest.mark.parametrize(
    "spec, n_features, n_classes",
    [
        ({"generator": "circles", "n_samples": 90, "noise": 0.1, "factor": 0.3, "seed": 1}, 2, 2),
        ({"generator": "blobs", "n_samples": 90, "centers": 5, "n_features": 3, "seed": 1}, 3, 5),
    ],
)
def test_generators_give_features_and_labels(spec, n_features, n_classes):
    frame, description = prepare_dataset(spec)
    assert list(frame.columns) == [f"x{j}" for j in range(n_features)] + ["label", "source_row"]
    assert len(frame) == 90 and description["outlier_column"] is None
    assert frame["label"].nunique() == n_classes


def test_same_seed_same_data_other_seed_other_data():
    assert prepare_dataset(MOONS)[0].equals(prepare_dataset(MOONS)[0])
    assert not prepare_dataset(MOONS)[0].equals(prepare_dataset(MOONS | {"seed": 43})[0])


def test_written_dataset_reads_back_bit_for_bit(tmp_path):
    frame = prepare_to_files(
        MOONS, name="moons", data_path=tmp_path / "data.csv", meta_path=tmp_path / "dataset.json"
    )
    dataset = load_dataset(tmp_path / "data.csv", tmp_path / "dataset.json")
    # Exact equality: the CSV keeps every float's shortest round-trip form.
    np.testing.assert_array_equal(dataset.X, frame[["x0", "x1"]].to_numpy())
    np.testing.assert_array_equal(dataset.labels, frame["label"].to_numpy())
    assert dataset.features == ["x0", "x1"] and dataset.name == "moons"


@pytest.fixture
def written(tmp_path):
    prepare_to_files(
        MOONS, name="moons", data_path=tmp_path / "data.csv", meta_path=tmp_path / "dataset.json"
    )
    return tmp_path / "data.csv", tmp_path / "dataset.json"


def _rewrite(path, mutate):
    mutate(pd.read_csv(path)).to_csv(path, index=False)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda f: f.assign(x1=f["x1"].astype(object).where(f.index != 5, "oops")),
            r"feature column 'x1' is not numeric",
        ),
        (
            lambda f: f.assign(x0=f["x0"].where(f.index != 7, np.nan)),
            r"feature column 'x0' has 1 NaN or infinite value\(s\), first at row 7",
        ),
        (
            lambda f: f.assign(x0=f["x0"].where(f.index != 3, np.inf)),
            r"feature column 'x0' has 1 NaN or infinite",
        ),
        (lambda f: f.drop(columns="x1"), r"column\(s\) \['x1'\] described in dataset.json are absent"),
        (lambda f: f.drop(columns="label"), r"column\(s\) \['label'\] described"),
        (lambda f: f.iloc[:0], r"no rows"),
    ],
)
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


def test_injected_outliers_are_uniform_in_the_enlarged_box_flagged_and_seeded():
    spec = MOONS | {"inject_outliers": {"fraction": 0.1, "box_scale": 2.0, "seed": 5}}
    frame, description = prepare_dataset(spec)
    original, _ = prepare_dataset(MOONS)
    assert len(frame) == 220 and description["n_injected_outliers"] == 20
    assert frame["is_outlier"].sum() == 20 and frame["is_outlier"].iloc[200:].all()
    assert (frame["label"].iloc[200:] == -1).all() and (frame["source_row"].iloc[200:] == -1).all()
    pd.testing.assert_frame_equal(frame.iloc[:200][["x0", "x1", "label"]], original[["x0", "x1", "label"]])
    X = original[["x0", "x1"]].to_numpy()
    centre, half = (X.min(0) + X.max(0)) / 2, (X.max(0) - X.min(0))  # box_scale 2: twice the half-width
    extra = frame[["x0", "x1"]].iloc[200:].to_numpy()
    assert np.all(np.abs(extra - centre) <= half)
    assert np.any(np.abs(extra - centre) > (X.max(0) - X.min(0)) / 2)  # some fall outside the data's own box
    np.testing.assert_array_equal(extra, uniform_outliers(X, 20, box_scale=2.0, seed=5))
    assert not np.array_equal(extra, uniform_outliers(X, 20, box_scale=2.0, seed=6))


def test_standardized_features_and_the_recorded_scaler_applied_to_new_rows(tmp_path):
    spec = {"bundled": "wine", "standardize": True}
    frame = prepare_to_files(
        spec, name="wine", data_path=tmp_path / "data.csv", meta_path=tmp_path / "dataset.json"
    )
    dataset = load_dataset(tmp_path / "data.csv", tmp_path / "dataset.json")
    np.testing.assert_allclose(dataset.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(dataset.X.std(axis=0), 1, atol=1e-12)
    # Raw rows of the source, scored later, get exactly the same transformation.
    from sklearn.datasets import load_wine

    raw = load_wine(as_frame=True).data.rename(columns=lambda c: c.replace(" ", "_"))
    preprocessing = Preprocessing.from_description(tmp_path / "dataset.json")
    np.testing.assert_allclose(preprocessing.transform(raw), dataset.X, rtol=0, atol=1e-12)
    assert list(frame["label"].unique()) == ["class_0", "class_1", "class_2"]
    with pytest.raises(PipelineInputError, match=r"new rows lack feature column\(s\) \['alcohol'\]"):
        preprocessing.transform(raw.drop(columns="alcohol"))


def test_outlier_labels_make_the_truth_and_need_labels(tmp_path):
    frame, description = prepare_dataset(
        {
            "bundled": "breast_cancer",
            "subsample_labels": {"malignant": 21},
            "outlier_labels": ["malignant"],
            "seed": 0,
        }
    )
    assert len(frame) == 357 + 21 and frame["is_outlier"].sum() == 21
    assert (frame.loc[frame["is_outlier"], "label"] == "malignant").all()
    assert description["outlier_column"] == "is_outlier"
    path = tmp_path / "points.csv"
    pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 3.0]}).to_csv(path, index=False)
    with pytest.raises(PipelineInputError, match="outlier_labels needs labels"):
        prepare_dataset({"path": str(path), "outlier_labels": [1]})


def test_outlier_labels_that_match_no_row_are_refused_naming_the_key_and_the_labels():
    with pytest.raises(
        PipelineInputError,
        match=r"datasets\.flowers\.outlier_labels: \['virginia'\] match no "
        r"row; the labels in the data are \['setosa', 'versicolor', 'virginica'\]",
    ):
        prepare_dataset(
            {"bundled": "iris", "outlier_labels": ["virginica", "virginia"], "seed": 0}, name="flowers"
        )


def test_outlier_labels_match_by_their_text_too(tmp_path):
    # [1] typed on the command line may arrive as the string "1"; the data's labels are 0/1.
    path = tmp_path / "flags.csv"
    pd.DataFrame({"a": [0.0, 1.0, 2.0, 5.0], "b": [1.0, 0.0, 3.0, 9.0], "flag": [0, 0, 0, 1]}).to_csv(
        path, index=False
    )
    for wanted in (1, "1"):
        frame, _ = prepare_dataset({"path": str(path), "label_column": "flag", "outlier_labels": [wanted]})
        assert frame["is_outlier"].tolist() == [False, False, False, True]
    with pytest.raises(
        PipelineInputError,
        match=r"outlier_labels: \[7\] match no row; the labels in the data are \['0', '1'\]",
    ):
        prepare_dataset({"path": str(path), "label_column": "flag", "outlier_labels": [7]})


@pytest.mark.parametrize("damage", ["truncated", "binary"])
def test_a_truncated_or_binary_data_file_is_refused_clearly(written, damage):
    data_path, meta_path = written
    whole = data_path.read_bytes()
    data_path.write_bytes(
        whole[: len(whole) // 2 + 7] if damage == "truncated" else b"\x80\x04\x95\x00\xff\xfe" * 50
    )
    with pytest.raises(PipelineInputError) as info:
        load_dataset(data_path, meta_path)
    assert str(data_path) in str(info.value)
