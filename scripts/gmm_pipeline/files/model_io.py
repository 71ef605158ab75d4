"""A portable, validated file format for fitted mixture models (no pickle).

Two estimators have a format each: scikit-learn's ``GaussianMixture`` (below) and
:class:`~gmm_pipeline.maths.parsimonious_mixture.ParsimoniousGaussianMixture`
(:func:`parsimonious_to_dict`: mclust's name of its covariance model, every covariance in
full, checked on load against that model's constraints). :func:`save_model` and
:func:`load_model` take either.

A model is a JSON object holding the estimator parameters and the fitted arrays
(``weights``, ``means``, ``covariances``, ``precisions_cholesky``). JSON keeps every float
in its shortest round-trip form, so a loaded model gives bit-for-bit the same ``predict``,
``predict_proba`` and ``score_samples`` as the fitted one. Loading checks every field
(types, shapes, finiteness, weights on the simplex, Cholesky factors that agree with the
covariances) and builds the estimator from plain numbers, so a tampered file fails with a
clear message and can never execute code.
"""

import math

import numpy as np
from scipy import linalg
from sklearn.mixture import GaussianMixture

from ..errors import ModelFormatError
from ..maths.covariance_models import MODELS, constraint_violations
from ..maths.estimators import COVARIANCE_TYPES, fitted_estimator, precisions_cholesky_from_covariances
from ..maths.noise import NoiseMixture
from ..maths.parsimonious_mixture import ParsimoniousGaussianMixture, set_fitted
from .artifacts import read_json, write_json

MODEL_FORMAT = "gmm-pipeline.gaussian-mixture"
MODEL_FORMAT_VERSION = 1
NOISE_MODEL_FORMAT = "gmm-pipeline.noise-mixture"
NOISE_MODEL_FORMAT_VERSION = 1
PARSIMONIOUS_FORMAT = "gmm-pipeline.parsimonious-mixture"
PARSIMONIOUS_FORMAT_VERSION = 1

# Estimator parameters stored with the model, with the type each must have.
_PARAMS = {
    "n_components": int,
    "covariance_type": str,
    "tol": float,
    "reg_covar": float,
    "max_iter": int,
    "n_init": int,
    "init_params": str,
    "random_state": (int, type(None)),
}
_FIT_STATE = {"converged": bool, "n_iter": int, "lower_bound": float}
_ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")
_RECORD_KEYS = {"format", "format_version", "estimator", "params", "n_features", "start"}
_RECORD_KEYS |= set(_FIT_STATE) | set(_ARRAYS)
# Far above any real model (a full 20-component model of 200 features is about 30 MB),
# far below what would exhaust memory while parsing.
MAX_MODEL_FILE_BYTES = 256 * 2**20


def model_to_dict(model):
    """Describe a fitted GaussianMixture as plain JSON-ready values."""
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "estimator": "GaussianMixture",
        "params": {name: _plain(getattr(model, name)) for name in _PARAMS},
        "n_features": int(model.means_.shape[1]),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
        "covariances": model.covariances_.tolist(),
        "precisions_cholesky": model.precisions_cholesky_.tolist(),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        # How EM was started (method and seed); scikit-learn's params alone cannot say
        # so for an agglomerative start.
        "start": getattr(model, "start_", None),
    }


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _expected_shapes(covariance_type, k, d):
    return {
        "full": ((k, d, d), (k, d, d)),
        "tied": ((d, d), (d, d)),
        "diag": ((k, d), (k, d)),
        "spherical": ((k,), (k,)),
    }[covariance_type]


def _array(record, key, shape, source):
    if key not in record:
        raise ModelFormatError(f"{source}: field {key!r} is missing")
    # dtype=object keeps each leaf as written: numpy would turn "5.0" or true into 5.0 or 1.0.
    try:
        leaves = np.array(record[key], dtype=object)
    except (TypeError, ValueError):
        leaves = None
    numbers = leaves is not None and all(
        type(leaf) in (int, float) for leaf in leaves.flat
    )  # type(), not isinstance: bool is an int
    if not numbers:
        raise ModelFormatError(f"{source}: field {key!r} must be a nested list of numbers")
    if leaves.shape != shape:
        raise ModelFormatError(f"{source}: field {key!r} has shape {leaves.shape}, expected {shape}")
    non_finite = ModelFormatError(f"{source}: field {key!r} holds non-finite values")
    try:
        array = leaves.astype(np.float64)
    except OverflowError:  # an integer beyond any float
        raise non_finite from None
    if not np.all(np.isfinite(array)):
        raise non_finite
    return array


def _check_type(value, expected, where):
    # bool is an int in Python; a flag must not pass for a count, nor a count for a flag.
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ModelFormatError(f"{where} has type {type(value).__name__}, expected {expected}")


def _check_estimator_params(params, source):
    """Check the estimator parameters with scikit-learn's own validation.

    scikit-learn validates an estimator's parameters first thing in ``fit``, before it
    looks at the data, and reports a bad one as ``InvalidParameterError`` (a subclass of
    both ``ValueError`` and ``TypeError``). Fitting zero rows therefore runs exactly that
    validation through the public API, then stops at the empty data with a plain
    ``ValueError``.
    """
    try:
        GaussianMixture(**params).fit(np.empty((0, 1)))
    except TypeError as err:
        raise ModelFormatError(f"{source}: params: {err}") from None
    except ValueError:
        return


def _check_header(record, source, model_format, version, estimator):
    """The record's ``format``, ``format_version`` and ``estimator`` are these."""
    if not isinstance(record, dict):
        raise ModelFormatError(f"{source}: expected a JSON object, got {type(record).__name__}")
    if record.get("format") != model_format:
        raise ModelFormatError(f"{source}: 'format' is {record.get('format')!r}, expected {model_format!r}")
    if record.get("format_version") != version:
        raise ModelFormatError(
            f"{source}: 'format_version' is {record.get('format_version')!r}, this code reads version {version}"
        )
    if record.get("estimator") != estimator:
        raise ModelFormatError(f"{source}: 'estimator' must be {estimator!r}")


def _checked_start(start, source):
    """How EM was started (``{"init_params": str, "seed": int}``) or None."""
    if start is not None and not (
        isinstance(start, dict)
        and set(start) == {"init_params", "seed"}
        and isinstance(start["init_params"], str)
        and isinstance(start["seed"], int)
        and not isinstance(start["seed"], bool)
    ):
        raise ModelFormatError(f'{source}: \'start\' must be null or {{"init_params": str, "seed": int}}')
    return start


def model_from_dict(record, source="model"):
    """Rebuild a fitted GaussianMixture from :func:`model_to_dict` output, validating it.

    Parameters
    ----------
    record : dict
        The model description.
    source : str
        Where the record came from, used in error messages (usually the file path).

    Returns
    -------
    model : GaussianMixture
        A fitted estimator ready for ``predict``, ``predict_proba``, ``score_samples``,
        ``sample``, ``bic`` and ``aic``.

    Raises
    ------
    ModelFormatError
        If any field is missing, of the wrong type or shape, non-finite, or inconsistent.
    """
    _check_header(record, source, MODEL_FORMAT, MODEL_FORMAT_VERSION, "GaussianMixture")
    unknown = sorted(set(record) - _RECORD_KEYS)
    if unknown:
        raise ModelFormatError(f"{source}: unknown field(s) {unknown}; a model holds {sorted(_RECORD_KEYS)}")

    params = record.get("params")
    if not isinstance(params, dict) or set(params) != set(_PARAMS):
        raise ModelFormatError(f"{source}: 'params' must hold exactly {sorted(_PARAMS)}")
    for name, expected in _PARAMS.items():
        _check_type(params[name], expected, f"{source}: params.{name}")
    for name, expected in _FIT_STATE.items():
        if name not in record:
            raise ModelFormatError(f"{source}: field {name!r} is missing")
        _check_type(record[name], expected, f"{source}: {name}")
    if record["n_iter"] < 0 or not np.isfinite(record["lower_bound"]):
        raise ModelFormatError(f"{source}: 'n_iter' must be at least 0 and 'lower_bound' finite")

    start = _checked_start(record.get("start"), source)

    covariance_type, k = params["covariance_type"], params["n_components"]
    if covariance_type not in COVARIANCE_TYPES:
        raise ModelFormatError(f"{source}: params.covariance_type must be one of {COVARIANCE_TYPES}")
    _check_estimator_params(params, source)
    d = record.get("n_features")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1 or k < 1:
        raise ModelFormatError(f"{source}: 'n_features' and params.n_components must be positive integers")

    weights = _array(record, "weights", (k,), source)
    means = _array(record, "means", (k, d), source)
    covariance_shape, cholesky_shape = _expected_shapes(covariance_type, k, d)
    covariances = _array(record, "covariances", covariance_shape, source)
    precisions_cholesky = _array(record, "precisions_cholesky", cholesky_shape, source)

    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ModelFormatError(f"{source}: 'weights' must be non-negative and sum to 1")
    try:
        expected_cholesky = precisions_cholesky_from_covariances(covariances, covariance_type)
    except (linalg.LinAlgError, ValueError, FloatingPointError):
        raise ModelFormatError(f"{source}: 'covariances' are not positive definite") from None
    if not np.allclose(precisions_cholesky, expected_cholesky, rtol=1e-6, atol=1e-9):
        raise ModelFormatError(f"{source}: 'precisions_cholesky' does not match 'covariances'")

    model = fitted_estimator(
        params,
        weights=weights,
        means=means,
        covariances=covariances,
        precisions_cholesky=precisions_cholesky,
        converged=record["converged"],
        n_iter=record["n_iter"],
        lower_bound=float(record["lower_bound"]),
        n_features=d,
    )
    if start is not None:
        model.start_ = dict(start)
    return model


def any_to_dict(model):
    """:func:`model_to_dict` or :func:`parsimonious_to_dict`, by the estimator."""
    if isinstance(model, ParsimoniousGaussianMixture):
        return parsimonious_to_dict(model)
    return model_to_dict(model)


def any_from_dict(record, source="model"):
    """:func:`model_from_dict` or :func:`parsimonious_from_dict`, by the record's format."""
    if isinstance(record, dict) and record.get("format") == PARSIMONIOUS_FORMAT:
        return parsimonious_from_dict(record, source)
    return model_from_dict(record, source)


def save_model(path, model):
    """Write one fitted GaussianMixture or ParsimoniousGaussianMixture to ``path``."""
    write_json(path, any_to_dict(model))


def load_model(path):
    """Read and validate one model written by :func:`save_model`."""
    return any_from_dict(_read(path), source=str(path))


def save_models(path, models):
    """Write several fitted models (for example one per component count) to one file."""
    write_json(path, {"format": MODEL_FORMAT + ".collection", "models": [any_to_dict(m) for m in models]})


def load_models(path):
    """Read and validate every model in a file written by :func:`save_models`."""
    record = _read(path)
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT + ".collection":
        raise ModelFormatError(f"{path}: not a gmm-pipeline model collection")
    if set(record) != {"format", "models"}:
        raise ModelFormatError(f"{path}: a model collection holds exactly 'format' and 'models'")
    models = record.get("models")
    if not isinstance(models, list):
        raise ModelFormatError(f"{path}: 'models' must be a list")
    return [any_from_dict(m, source=f"{path} (model {i})") for i, m in enumerate(models)]


def _read(path):
    try:
        return read_json(path, max_bytes=MAX_MODEL_FILE_BYTES)
    except (OSError, ValueError) as err:
        raise ModelFormatError(f"{path}: cannot read model file: {err}") from err


def noise_mixture_to_dict(model):
    """A JSON-ready description: the Gaussian part as :func:`model_to_dict`."""
    return {
        "format": NOISE_MODEL_FORMAT,
        "format_version": NOISE_MODEL_FORMAT_VERSION,
        "noise_weight": model.noise_weight,
        "log_volume": model.log_volume,
        "gaussian": any_to_dict(model.gaussian),
    }


def noise_mixture_from_dict(record, source="noise model"):
    """Rebuild a :class:`NoiseMixture`, checking the record first."""
    if not isinstance(record, dict) or record.get("format") != NOISE_MODEL_FORMAT:
        raise ModelFormatError(f"{source}: not a noise mixture (expected format {NOISE_MODEL_FORMAT!r})")
    if record.get("format_version") != NOISE_MODEL_FORMAT_VERSION:
        raise ModelFormatError(
            f"{source}: format_version {record.get('format_version')!r}; expected {NOISE_MODEL_FORMAT_VERSION}"
        )
    weight, log_volume = record.get("noise_weight"), record.get("log_volume")
    if not isinstance(weight, float) or not 0.0 <= weight < 1.0:
        raise ModelFormatError(f"{source}: noise_weight {weight!r}; expected a number in [0, 1)")
    if not isinstance(log_volume, float) or not math.isfinite(log_volume):
        raise ModelFormatError(f"{source}: log_volume {log_volume!r}; expected a finite number")
    return NoiseMixture(any_from_dict(record.get("gaussian"), f"{source} (gaussian)"), weight, log_volume)


# ParsimoniousGaussianMixture's parameters, with the type each must have.
_PARSIMONIOUS_PARAMS = {
    "n_components": int,
    "covariance_type": str,
    "tol": float,
    "max_iter": int,
    "reg_covar": float,
    "init_params": (str, list),
    "n_init": int,
    "random_state": (int, type(None)),
    "hc_max_samples": int,
}
_PARSIMONIOUS_KEYS = {"format", "format_version", "estimator", "model", "params", "n_features", "start"}
_PARSIMONIOUS_KEYS |= set(_FIT_STATE) | {"weights", "means", "covariances"}


def parsimonious_to_dict(model):
    """Describe a fitted :class:`ParsimoniousGaussianMixture` as plain JSON-ready values:
    its parameters, mclust's name of its model, and every covariance in full."""
    params = {name: _plain(getattr(model, name)) for name in _PARSIMONIOUS_PARAMS}
    if not isinstance(params["init_params"], str):
        params["init_params"] = list(params["init_params"])
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        raise ModelFormatError(
            "a model whose random_state is a RandomState cannot be saved: give an int or None"
        )
    return {
        "format": PARSIMONIOUS_FORMAT,
        "format_version": PARSIMONIOUS_FORMAT_VERSION,
        "estimator": "ParsimoniousGaussianMixture",
        "model": model.model_name_,
        "params": params,
        "n_features": int(model.n_features_in_),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
        "covariances": model.covariances_.tolist(),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "start": getattr(model, "start_", None),
    }


def parsimonious_from_dict(record, source="model"):
    """Rebuild a fitted :class:`ParsimoniousGaussianMixture` from
    :func:`parsimonious_to_dict` output, validating every field: the covariances must be
    positive definite and satisfy the named model's constraints.

    Raises
    ------
    ModelFormatError
        If any field is missing, of the wrong type or shape, non-finite, or inconsistent.
    """
    _check_header(
        record, source, PARSIMONIOUS_FORMAT, PARSIMONIOUS_FORMAT_VERSION, "ParsimoniousGaussianMixture"
    )
    if set(record) != _PARSIMONIOUS_KEYS:
        raise ModelFormatError(f"{source}: a parsimonious mixture holds exactly {sorted(_PARSIMONIOUS_KEYS)}")
    model_name = record["model"]
    if model_name not in MODELS:
        raise ModelFormatError(f"{source}: 'model' is {model_name!r}, expected one of {', '.join(MODELS)}")
    params = record["params"]
    if not isinstance(params, dict) or set(params) != set(_PARSIMONIOUS_PARAMS):
        raise ModelFormatError(f"{source}: 'params' must hold exactly {sorted(_PARSIMONIOUS_PARAMS)}")
    for name, expected in _PARSIMONIOUS_PARAMS.items():
        _check_type(params[name], expected, f"{source}: params.{name}")
    for name, expected in _FIT_STATE.items():
        _check_type(record[name], expected, f"{source}: {name}")
    if record["n_iter"] < 0 or not np.isfinite(record["lower_bound"]):
        raise ModelFormatError(f"{source}: 'n_iter' must be at least 0 and 'lower_bound' finite")
    start = _checked_start(record["start"], source)
    estimator = ParsimoniousGaussianMixture(**params)
    try:
        named = estimator.checked_parameters()[0]
    except ValueError as err:
        raise ModelFormatError(f"{source}: params: {err}") from None
    if named != model_name:
        raise ModelFormatError(
            f"{source}: 'model' is {model_name!r} but params.covariance_type names {named!r}"
        )
    k, d = params["n_components"], record["n_features"]
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ModelFormatError(f"{source}: 'n_features' must be a positive integer")
    weights = _array(record, "weights", (k,), source)
    means = _array(record, "means", (k, d), source)
    covariances = _array(record, "covariances", (k, d, d), source)
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ModelFormatError(f"{source}: 'weights' must be non-negative and sum to 1")
    if not np.allclose(covariances, np.swapaxes(covariances, 1, 2), rtol=1e-12, atol=0):
        raise ModelFormatError(f"{source}: 'covariances' are not symmetric")
    try:
        np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ModelFormatError(f"{source}: 'covariances' are not positive definite") from None
    problems = constraint_violations(model_name, covariances)
    if problems:
        raise ModelFormatError(
            f"{source}: the covariances are not a {model_name} model: {'; '.join(problems)}"
        )
    set_fitted(
        estimator,
        weights=weights,
        means=means,
        covariances=covariances,
        converged=record["converged"],
        n_iter=record["n_iter"],
        lower_bound=float(record["lower_bound"]),
        n_features=d,
    )
    if start is not None:
        estimator.start_ = dict(start)
    return estimator
