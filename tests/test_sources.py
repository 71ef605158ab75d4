"""Users' own files and scikit-learn's bundled datasets: every bad file named with its column."""

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.stages.check_input import BUNDLED, check_report, load_bundled, load_file


@pytest.fixture
def good_frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, 50),
            "weight": rng.normal(70, 8, 50),
            "species": rng.choice(["a", "b"], 50),
        }
    )


def _write(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["data.csv", "data.parquet"])
def test_csv_and_parquet_read_alike(tmp_path, good_frame, name):
    path = _write(tmp_path, good_frame, name)
    X, labels, features = load_file({"path": str(path), "label_column": "species"}, min_rows=10)
    np.testing.assert_array_equal(X, good_frame[["height", "weight"]].to_numpy())
    assert features == ["height", "weight"] and list(labels) == list(good_frame["species"])


def test_columns_choose_the_features(tmp_path, good_frame):
    path = _write(tmp_path, good_frame.assign(note="text"))
    X, labels, features = load_file({"path": str(path), "columns": ["weight"]})
    assert features == ["weight"] and X.shape == (50, 1) and labels is None


@pytest.mark.parametrize(
    "mutate, spec, expected",
    [
        (None, {"path": "absent.csv"}, r"absent.csv: no such file"),
        ("empty", {}, r"data.csv: the file is empty"),
        (lambda f: f.iloc[:0], {}, r"data.csv: the file has a header but no data rows"),
        (
            lambda f: f,
            {},
            r"data.csv: feature column 'species' is not numeric \(dtype .*e\.g\. '[ab]' at data row 0\).*leave it out with `columns`",
        ),
        (
            lambda f: f.assign(weight=f["weight"].where(f.index != 9, np.nan)),
            {"label_column": "species"},
            r"data.csv: feature column 'weight' has 1 missing, NaN or infinite value\(s\), first at data row 9",
        ),
        (
            lambda f: f.assign(height=f["height"].where(f.index != 4, np.inf)),
            {"label_column": "species"},
            r"data.csv: feature column 'height' has 1 missing, NaN or infinite value\(s\), first at data row 4",
        ),
        (
            lambda f: f.assign(height=5.0),
            {"label_column": "species"},
            r"data.csv: feature column 'height' is constant \(every value is 5\)",
        ),
        (
            lambda f: f.iloc[:6],
            {"label_column": "species"},
            r"data.csv: 6 data rows, fewer than the largest component count \(10",
        ),
        (
            lambda f: f,
            {"label_column": "kind"},
            r"data.csv: label_column 'kind' is not a column; the file has \['height', 'weight', 'species'\]",
        ),
        (
            lambda f: f,
            {"columns": ["height", "mass"]},
            r"data.csv: column\(s\) \['mass'\] named in columns are absent",
        ),
        (
            lambda f: f.assign(species=f["species"].where(f.index != 2, None)),
            {"label_column": "species"},
            r"data.csv: label_column 'species' has 1 missing value\(s\), first at data row 2",
        ),
    ],
)
def test_each_bad_file_is_refused_naming_file_and_column(tmp_path, good_frame, mutate, spec, expected):
    path = tmp_path / "data.csv"
    if mutate == "empty":
        path.write_bytes(b"")
    elif mutate is not None:
        _write(tmp_path, mutate(good_frame))
    spec = {"path": str(tmp_path / spec.pop("path", "data.csv")), **spec}
    with pytest.raises(PipelineInputError, match=expected):
        load_file(spec, min_rows=10)


def test_repeated_and_empty_column_names_are_refused_not_renamed(tmp_path, good_frame):
    # pandas would read these as "height.1" and "Unnamed: 0" and fit them as features.
    path = tmp_path / "data.csv"
    path.write_text("height,weight,height\n1,2,3\n4,5,7\n")
    with pytest.raises(
        PipelineInputError, match=r"data.csv: column name 'height' appears 2 times in the header"
    ):
        load_file({"path": str(path)})
    good_frame.to_csv(path)  # the index saved as a first, unnamed column
    with pytest.raises(
        PipelineInputError, match=r"data.csv: column 1 has no name in the header .*index=False"
    ):
        load_file({"path": str(path), "label_column": "species"})


def test_values_too_large_to_square_are_refused_naming_the_row(tmp_path, good_frame):
    frame = good_frame.assign(weight=good_frame["weight"].where(good_frame.index != 7, -1e308))
    path = _write(tmp_path, frame)
    with pytest.raises(
        PipelineInputError, match=r"data.csv: feature column 'weight' holds 1e\+308 at data row 7; .*rescale"
    ):
        load_file({"path": str(path), "label_column": "species"})
    frame["weight"] *= 1e140  # large, but squares stay finite: accepted
    assert load_file({"path": str(_write(tmp_path, frame.drop(7))), "label_column": "species"})[0].shape == (
        49,
        2,
    )


def test_unreadable_bytes_are_refused(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(PipelineInputError, match=r"data.parquet: cannot read as Parquet"):
        load_file({"path": str(path)})


def test_check_report_describes_the_file(tmp_path, good_frame):
    path = _write(tmp_path, good_frame)
    report = check_report({"path": str(path), "label_column": "species"}, min_rows=2)
    assert report["n_rows"] == 50 and report["n_labels"] == 2 and len(report["sha256"]) == 64
    assert report["features"]["height"]["mean"] == pytest.approx(good_frame["height"].mean())


@pytest.mark.parametrize(
    "name, shape, classes",
    [
        ("iris", (150, 4), {"setosa", "versicolor", "virginica"}),
        ("wine", (178, 13), {"class_0", "class_1", "class_2"}),
        ("breast_cancer", (569, 30), {"malignant", "benign"}),
    ],
)
def test_bundled_datasets_come_with_their_class_names(name, shape, classes):
    X, labels, features, rows = load_bundled({"bundled": name})
    assert X.shape == shape and set(labels) == classes and len(features) == shape[1]
    np.testing.assert_array_equal(rows, np.arange(shape[0]))
    assert all(" " not in feature for feature in features)
    assert set(BUNDLED) == {"iris", "wine", "breast_cancer"}


def test_subsampling_a_class_is_seeded_and_keeps_the_others():
    X, labels, _, rows = load_bundled(
        {"bundled": "breast_cancer", "subsample_labels": {"malignant": 21}, "seed": 3}
    )
    assert (labels == "malignant").sum() == 21 and (labels == "benign").sum() == 357
    again = load_bundled({"bundled": "breast_cancer", "subsample_labels": {"malignant": 21}, "seed": 3})[3]
    other = load_bundled({"bundled": "breast_cancer", "subsample_labels": {"malignant": 21}, "seed": 4})[3]
    np.testing.assert_array_equal(rows, again)
    assert not np.array_equal(rows, other)
    with pytest.raises(PipelineInputError, match="class 'cancer'.*classes are \\['benign', 'malignant'\\]"):
        load_bundled({"bundled": "breast_cancer", "subsample_labels": {"cancer": 2}})
    with pytest.raises(
        PipelineInputError, match="asks for 999 rows of class 'malignant'; breast_cancer has 212"
    ):
        load_bundled({"bundled": "breast_cancer", "subsample_labels": {"malignant": 999}})
