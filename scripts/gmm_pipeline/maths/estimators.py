"""A fitted scikit-learn ``GaussianMixture`` built from its parameters, and the parameters'
derived forms: the one way every engine and the model format make an estimator.
"""

import numpy as np
from scipy import linalg
from sklearn.mixture import GaussianMixture

from .covariance_models import model_name

# scikit-learn's covariance types, each a constraint on the components' covariances.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# mclust's models whose covariance is pooled over every row (EEE is scikit-learn's tied).
POOLED_MODELS = ("EII", "EEI", "EEE")


def fewest_points(covariance_type, n_features):
    """The fewest points a component needs, by what it estimates from its own points.

    A covariance pooled over every row (EII, EEI, EEE = tied) asks nothing of a component's
    own points: it estimates only its mean and weight from them, and its size alone makes
    no fit degenerate (0). Every other model estimates part of each covariance from the
    component's own points (its volume, shape or orientation) and needs
    ``n_features + 1``: a full covariance to be non-singular; a volume or diagonal shape
    would need only 2 points, but components that small win BIC on bootstrap resamples by
    fitting a few near-duplicate rows, so those keep ``n_features + 1`` too.
    """
    return 0 if model_name(covariance_type) in POOLED_MODELS else n_features + 1


def precisions_cholesky_from_covariances(covariances, covariance_type):
    """Cholesky factors of the precision matrices, computed as scikit-learn does."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    stack = covariances[np.newaxis] if covariance_type == "tied" else covariances
    factors = np.empty_like(stack)
    for index, covariance in enumerate(stack):
        lower = linalg.cholesky(covariance, lower=True)
        factors[index] = linalg.solve_triangular(lower, np.eye(len(covariance)), lower=True).T
    return factors[0] if covariance_type == "tied" else factors


def fitted_estimator(
    params, *, weights, means, covariances, precisions_cholesky, converged, n_iter, lower_bound, n_features
):
    """A fitted ``GaussianMixture`` from its parameters, through its public fitted attributes
    (those ``predict``, ``predict_proba``, ``score_samples``, ``sample``, ``bic`` and ``aic``
    read)."""
    model = GaussianMixture(**params)
    model.weights_ = weights
    model.means_ = means
    model.covariances_ = covariances
    model.precisions_cholesky_ = precisions_cholesky
    if params["covariance_type"] in ("full", "tied"):
        model.precisions_ = np.matmul(precisions_cholesky, np.swapaxes(precisions_cholesky, -1, -2))
    else:
        model.precisions_ = precisions_cholesky**2
    model.converged_ = converged
    model.n_iter_ = n_iter
    model.lower_bound_ = lower_bound
    model.n_features_in_ = n_features
    return model
