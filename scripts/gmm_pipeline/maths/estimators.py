"""A fitted scikit-learn ``GaussianMixture`` built from its parameters, and the parameters'
derived forms: the one way every engine and the model format make an estimator.
"""

import numpy as np
from scipy import linalg
from sklearn.mixture import GaussianMixture

# scikit-learn's covariance types, each a constraint on the components' covariances.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


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
