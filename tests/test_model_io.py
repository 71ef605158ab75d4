"""The portable model format: exact round trips and refusal of anything malformed."""

import json

import numpy as np
import pytest
from gmm_pipeline.errors import ModelFormatError
from gmm_pipeline.files.model_io import (
    load_model,
    load_models,
    model_from_dict,
    model_to_dict,
    save_model,
    save_models,
)
from sklearn.mixture import GaussianMixture


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return np.vstack([rng.normal(size=(150, 3)), rng.normal(loc=4.0, scale=0.5, size=(150, 3))])


def fitted(data, covariance_type, k=3):
    return GaussianMixture(n_components=k, covariance_type=covariance_type, random_state=0).fit(data)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_loaded_model_predicts_bit_for_bit_like_the_fitted_one(tmp_path, data, covariance_type):
    model = fitted(data, covariance_type)
    save_model(tmp_path / "model.json", model)
    loaded = load_model(tmp_path / "model.json")
    probe = np.vstack([data, data * 3.0 + 1.0])  # also far from the training data
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))
    np.testing.assert_array_equal(loaded.predict_proba(probe), model.predict_proba(probe))
    np.testing.assert_array_equal(loaded.score_samples(probe), model.score_samples(probe))
    assert loaded.bic(data) == model.bic(data) and loaded.aic(data) == model.aic(data)
    assert loaded.get_params() == model.get_params()
    assert (loaded.converged_, loaded.n_iter_, loaded.lower_bound_) == (
        model.converged_,
        model.n_iter_,
        model.lower_bound_,
    )
    samples, labels = loaded.sample(5)
    assert samples.shape == (5, 3) and labels.shape == (5,)


def test_collection_round_trip(tmp_path, data):
    models = [fitted(data, "diag", k) for k in (1, 2, 3)]
    save_models(tmp_path / "models.json", models)
    loaded = load_models(tmp_path / "models.json")
    assert [m.n_components for m in loaded] == [1, 2, 3]
    for original, copy in zip(models, loaded, strict=True):
        np.testing.assert_array_equal(copy.score_samples(data), original.score_samples(data))


def test_file_is_plain_json_with_named_arrays(tmp_path, data):
    save_model(tmp_path / "model.json", fitted(data, "full"))
    record = json.loads((tmp_path / "model.json").read_text())
    assert {"weights", "means", "covariances", "precisions_cholesky", "params"} <= set(record)
    assert record["params"]["covariance_type"] == "full"


def _tamper(record, path, value):
    *parents, last = path
    target = record
    for key in parents:
        target = target[key]
    target[last] = value


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("format",), "pickle", "'format' is 'pickle'"),
        (("format_version",), 99, "this code reads version 1"),
        (("weights",), [0.5, 0.5], r"'weights' has shape \(2,\), expected \(3,\)"),
        (("weights",), [0.5, 0.4, 0.3], "sum to 1"),
        (("weights",), [1.2, -0.1, -0.1], "non-negative"),
        (("means",), "not numbers", "nested list of numbers"),
        (("params", "n_components"), True, "params.n_components has type bool"),
        (("params", "covariance_type"), "banana", "covariance_type must be one of"),
        (("converged",), "yes", "converged has type str"),
        (("n_features",), 0, "positive integers"),
        # Estimator fields go through scikit-learn's own parameter validation.
        (
            ("params", "tol"),
            -1,
            r"params: The 'tol' parameter of GaussianMixture must be a float in the range",
        ),
        (("params", "max_iter"), -5, "params: The 'max_iter' parameter"),
        (("params", "init_params"), "rm -rf /", "params: The 'init_params' parameter .* Got 'rm -rf /'"),
        (("params", "random_state"), 2**80, "params: The 'random_state' parameter"),
        # Numbers must be numbers: numpy alone would read "5.0" as 5.0 and true as 1.0.
        (("means", 0, 0), "5.0", "'means' must be a nested list of numbers"),
        (("means", 0, 0), True, "'means' must be a nested list of numbers"),
        (("means", 0), [1.0], "'means' must be a nested list of numbers"),  # ragged
        (("means", 0, 0), 10**400, "'means' holds non-finite values"),
        (("n_iter",), -3, "'n_iter' must be at least 0"),
        (("comment",), "extra", r"unknown field\(s\) \['comment'\]"),
    ],
)
def test_tampered_fields_are_refused(data, path, value, expected):
    record = model_to_dict(fitted(data, "full"))
    _tamper(record, path, value)
    with pytest.raises(ModelFormatError, match=expected):
        model_from_dict(record)


def test_covariances_that_disagree_with_cholesky_factors_are_refused(data):
    record = model_to_dict(fitted(data, "full"))
    record["covariances"][0][0][0] *= 2.0
    with pytest.raises(ModelFormatError, match="'precisions_cholesky' does not match 'covariances'"):
        model_from_dict(record)
    record["covariances"][0] = [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    with pytest.raises(ModelFormatError, match="not positive definite"):
        model_from_dict(record)


def test_non_finite_values_are_refused(tmp_path, data):
    text = json.dumps(model_to_dict(fitted(data, "diag"))).replace('"means": [[', '"means": [[NaN, ', 1)
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(ModelFormatError, match="NaN is not valid JSON"):
        load_model(tmp_path / "model.json")


def test_out_of_range_numbers_duplicate_keys_and_deep_nesting_are_refused(tmp_path, data):
    path = tmp_path / "model.json"
    text = json.dumps(model_to_dict(fitted(data, "diag")))
    path.write_text(text.replace('"means": [[', '"means": [[1e400, ', 1))
    with pytest.raises(ModelFormatError, match="1e400 is out of a float's range"):
        load_model(path)
    # A second "weights" would silently win in Python's parser.
    path.write_text(text.replace('"weights": [', '"weights": [1.0, 0.0], "weights": [', 1))
    with pytest.raises(ModelFormatError, match="key 'weights' appears more than once"):
        load_model(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFormatError, match="nested too deeply"):
        load_model(path)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, data):
    from gmm_pipeline.files.model_io import MAX_MODEL_FILE_BYTES

    path = tmp_path / "model.json"
    save_model(path, fitted(data, "diag"))
    with open(path, "r+b") as handle:  # sparse padding: the test writes no 256 MB
        handle.truncate(MAX_MODEL_FILE_BYTES + 1)
    with pytest.raises(ModelFormatError, match=r"268,435,457 bytes, more than the 268,435,456 allowed"):
        load_model(path)


def test_a_collection_with_extra_fields_is_refused(tmp_path, data):
    save_models(tmp_path / "models.json", [fitted(data, "diag", 1)])
    record = json.loads((tmp_path / "models.json").read_text())
    record["note"] = "x"
    (tmp_path / "models.json").write_text(json.dumps(record))
    with pytest.raises(ModelFormatError, match="holds exactly 'format' and 'models'"):
        load_models(tmp_path / "models.json")


def test_truncated_and_binary_files_are_refused(tmp_path, data):
    save_model(tmp_path / "model.json", fitted(data, "tied"))
    whole = (tmp_path / "model.json").read_bytes()
    (tmp_path / "model.json").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelFormatError, match="cannot read model file"):
        load_model(tmp_path / "model.json")
    # A pickle stream is never unpickled: it is just not JSON.
    (tmp_path / "model.json").write_bytes(b"\x80\x04\x95\x00\x00\x00cos\nsystem\n.")
    with pytest.raises(ModelFormatError, match="cannot read model file"):
        load_model(tmp_path / "model.json")


class _Payload:
    """Unpickling this would create a file: proof of code execution if it ever ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_with_a_payload_is_refused_and_never_runs(tmp_path):
    import pickle

    marker = tmp_path / "executed"
    (tmp_path / "model.json").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelFormatError, match="cannot read model file"):
        load_model(tmp_path / "model.json")
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(_Payload(marker))) and marker.exists()  # the payload is real


@pytest.mark.parametrize("covariance_type", ["VEV", "EVE", "EEI", "tied"])
def test_a_constrained_model_round_trips_and_says_which_model_it_is(tmp_path, data, covariance_type):
    from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture

    model = ParsimoniousGaussianMixture(3, covariance_type=covariance_type, init_params=["hc_vvv", "kmeans"])
    model.fit(data)
    save_model(tmp_path / "model.json", model)
    record = json.loads((tmp_path / "model.json").read_text())
    assert record["model"] == model.model_name_ and np.array(record["covariances"]).shape == (3, 3, 3)
    loaded = load_model(tmp_path / "model.json")
    assert isinstance(loaded, ParsimoniousGaussianMixture) and loaded.model_name_ == model.model_name_
    probe = np.vstack([data, data * 3.0 + 1.0])
    np.testing.assert_array_equal(loaded.predict_proba(probe), model.predict_proba(probe))
    np.testing.assert_array_equal(loaded.score_samples(probe), model.score_samples(probe))
    assert loaded.bic(data) == model.bic(data) and loaded.get_params() == model.get_params()
    assert loaded.sample(5)[0].shape == (5, 3)


def test_a_constrained_model_whose_covariances_break_its_model_is_refused(tmp_path, data):
    from gmm_pipeline.files.model_io import parsimonious_from_dict, parsimonious_to_dict
    from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture

    record = parsimonious_to_dict(ParsimoniousGaussianMixture(2, covariance_type="EEE").fit(data))
    record["covariances"][1] = (np.array(record["covariances"][1]) * 2.0).tolist()  # no longer equal
    with pytest.raises(ModelFormatError, match="not a EEE model: volumes differ"):
        parsimonious_from_dict(record, "model.json")
    record["model"] = "VVX"
    with pytest.raises(ModelFormatError, match="'model' is 'VVX', expected one of EII"):
        parsimonious_from_dict(record, "model.json")
    record["model"] = "VVV"  # the params still name EEE
    with pytest.raises(ModelFormatError, match="'model' is 'VVV' but params.covariance_type names 'EEE'"):
        parsimonious_from_dict(record, "model.json")
