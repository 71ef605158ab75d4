"""A scikit-learn estimator for Gaussian mixtures with any of mclust's fourteen covariance models.

:class:`ParsimoniousGaussianMixture` fits by EM (:mod:`gmm_pipeline.maths.parsimonious_em`:
mclust's M-steps and stopping rule) from one or more starts and keeps the start with the
highest log-likelihood. It needs nothing of the workflow::

    from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture

    model = ParsimoniousGaussianMixture(n_components=2, covariance_type="VEV").fit(X)
    model.bic(X), model.predict(X), model.sample(100)

It uses scikit-learn's public interfaces only, so it runs in a ``Pipeline``, in
``GridSearchCV`` (scored by the mean log-likelihood, as ``GaussianMixture``) and passes
``sklearn.utils.estimator_checks.check_estimator``.
"""

import numbers
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .covariance_models import ALIASES, MODELS, model_name, n_parameters
from .hierarchical import hierarchical_partitions
from .initialisation import ward_partitions
from .parsimonious_em import e_step, log_gaussian_densities, m_step, run_em

# Starts a seed does not change run once; the others run ``n_init`` times.
DETERMINISTIC_STARTS = ("hc_vvv", "agglomerative")
START_METHODS = DETERMINISTIC_STARTS + ("kmeans", "k-means++", "random", "random_from_data")


def _one_hot(labels, n_components):
    resp = np.zeros((len(labels), n_components))
    resp[np.arange(len(labels)), labels] = 1.0
    return resp


def _whole_repeats(sample_weight, max_samples):
    """Integer weights as repeat counts, if they are whole numbers, none is 0 and the
    repeated rows fit the hierarchy's ``max_samples``; otherwise None (weights of 1 also
    give None: the rows as they are)."""
    if sample_weight is None:
        return None
    repeats = np.rint(sample_weight)
    if not np.array_equal(repeats, sample_weight) or repeats.min() < 1 or np.all(repeats == 1):
        return None
    return repeats.astype(int) if repeats.sum() <= max_samples else None


def partition_responsibilities(X, rows, labels, n_components, *, covariance_type="VVV", sample_weight=None):
    """Responsibilities of a hard partition of ``X[rows]``: the partition itself when it
    covers every row, else (mclust's ``subset`` start) the E-step of every row under the
    model's M-step of the partitioned rows."""
    resp = _one_hot(labels, n_components)
    if len(rows) == len(X):
        return resp
    weights = np.ones(len(rows)) if sample_weight is None else sample_weight[rows]
    _, proportions, means, covariances, _ = m_step(X[rows], resp, covariance_type, weights)
    return e_step(X, proportions, means, covariances, np.ones(len(X)))[0]


def start_responsibilities(
    X, n_components, method, seed, *, sample_weight=None, max_samples=2000, covariance_type="VVV"
):
    """Starting responsibilities of one start.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    method : {"hc_vvv", "agglomerative", "kmeans", "k-means++", "random", "random_from_data"}
        ``"hc_vvv"``: mclust's model-based hierarchical agglomeration;
        ``"agglomerative"``: Ward's; ``"kmeans"``: k-means' partition (one run, weighted);
        ``"k-means++"``: each row to its nearest k-means++ seed point; ``"random"``:
        uniform random responsibilities, as scikit-learn's; ``"random_from_data"``: each
        row to the nearest of ``n_components`` rows drawn at random.
    seed : int
    sample_weight : ndarray of shape (n_samples,), optional
    max_samples : int
        The hierarchies are built on at most this many rows (drawn with ``seed``); the
        other rows get the responsibilities of one EM step from that partition
        (:func:`partition_responsibilities`, with ``covariance_type``'s M-step). With
        whole-number weights, the hierarchies are built on the rows repeated; other
        weights do not change them.
    covariance_type : str
        The model of that M-step.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    """
    n = len(X)
    if method in DETERMINISTIC_STARTS:
        build = hierarchical_partitions if method == "hc_vvv" else ward_partitions
        repeats = _whole_repeats(sample_weight, max_samples)
        if repeats is not None:
            # Integer weights: the hierarchy of the rows repeated, so that a weight of 2
            # starts as two copies of the row would (each row takes its first copy's cluster).
            _, labels = build(
                np.repeat(X, repeats, axis=0), [n_components], seed=seed, max_samples=max_samples
            )
            if n_components not in labels:
                raise ValueError(f"the {method} start cannot make {n_components} clusters of {n} rows")
            first_copies = np.concatenate([[0], np.cumsum(repeats)[:-1]])
            return _one_hot(labels[n_components][first_copies], n_components)
        rows, labels = build(X, [n_components], seed=seed, max_samples=max_samples)
        if n_components not in labels:
            raise ValueError(f"the {method} start cannot make {n_components} clusters of {len(rows)} rows")
        return partition_responsibilities(
            X,
            rows,
            labels[n_components],
            n_components,
            covariance_type=covariance_type,
            sample_weight=sample_weight,
        )
    random_state = np.random.RandomState(seed)
    if method == "kmeans":
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X, sample_weight=sample_weight)
            .labels_
        )
        return _one_hot(labels, n_components)
    if method in ("k-means++", "random_from_data"):
        if method == "k-means++":
            centres, _ = kmeans_plusplus(
                X, n_components, random_state=random_state, sample_weight=sample_weight
            )
        else:
            centres = X[random_state.choice(n, size=n_components, replace=False)]
        distances = ((X[:, np.newaxis, :] - centres[np.newaxis]) ** 2).sum(axis=2)
        return _one_hot(distances.argmin(axis=1), n_components)
    resp = random_state.uniform(size=(n, n_components))
    return resp / resp.sum(axis=1, keepdims=True)


class ParsimoniousGaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture with one of mclust's fourteen covariance models, fitted by EM.

    Each component's covariance is ``lambda_k D_k A_k D_k'`` (volume, shape, orientation);
    the model fixes which of them are equal across components (Celeux and Govaert 1995).
    The M-steps, the parameter counts of BIC and the stopping rule are mclust's.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default="VVV"
        One of mclust's models ``"EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE",
        "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"``, or scikit-learn's names for four of
        them: ``"spherical"`` (VII), ``"diag"`` (VVI), ``"tied"`` (EEE), ``"full"`` (VVV).
    tol : float, default=1e-5
        EM stops when the relative change of the log-likelihood,
        ``|L_t - L_(t-1)| / (1 + |L_t|)``, is at most ``tol`` (mclust's rule and default).
    max_iter : int, default=1000
        Most EM iterations per start.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's scatter matrix, times the component's
        size, before the model's M-step: for scikit-learn's four models this is exactly
        ``GaussianMixture``'s ``reg_covar``. mclust has none: set 0 for mclust's fits.
    init_params : str or tuple of str, default="hc_vvv"
        The start methods (see :func:`start_responsibilities`): ``"hc_vvv"`` (mclust's
        default), ``"agglomerative"``, ``"kmeans"``, ``"k-means++"``, ``"random"``.
    n_init : int, default=1
        Starts per seeded method (``"kmeans"``, ``"k-means++"``, ``"random"``); the
        hierarchies run once. The start with the highest log-likelihood is kept.
    random_state : int, RandomState instance or None, default=None
        Seeds the seeded starts.
    hc_max_samples : int, default=2000
        Rows the hierarchical starts are built on at most (mclust's ``subset`` option).

    Attributes
    ----------
    model_name_ : str
        mclust's name of the fitted model.
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
        Every model's covariances, stored in full.
    precisions_cholesky_ : ndarray of shape (n_components, n_features, n_features)
        Upper-triangular factors ``U`` with ``precision = U U'``, as scikit-learn's full.
    converged_ : bool
    n_iter_ : int
        EM iterations of the kept start.
    lower_bound_ : float
        Mean log-likelihood per row (weighted) of the kept start.
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X = load_iris().data
    >>> model = ParsimoniousGaussianMixture(2, covariance_type="VEV", reg_covar=0).fit(X)
    >>> round(model.bic(X), 3)
    561.728
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="VVV",
        tol=1e-5,
        max_iter=1000,
        reg_covar=1e-6,
        init_params="hc_vvv",
        n_init=1,
        random_state=None,
        hc_max_samples=2000,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.n_init = n_init
        self.random_state = random_state
        self.hc_max_samples = hc_max_samples

    def checked_parameters(self):
        """mclust's name of the model and the start methods, after checking every
        parameter; raises ValueError naming the first bad one."""

        def positive_int(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")

        for name in ("n_components", "max_iter", "n_init", "hc_max_samples"):
            positive_int(name)
        for name in ("tol", "reg_covar"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{name} must be a number of at least 0, got {value!r}")
        if not isinstance(self.covariance_type, str):
            raise ValueError(f"covariance_type must be a string, got {self.covariance_type!r}")
        model = model_name(self.covariance_type)
        methods = (self.init_params,) if isinstance(self.init_params, str) else tuple(self.init_params)
        unknown = [method for method in methods if method not in START_METHODS]
        if unknown or not methods:
            raise ValueError(f"init_params must name methods among {START_METHODS}, got {self.init_params!r}")
        return model, methods

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture by EM from every start and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights; integer weights fit the data with rows repeated.

        Returns
        -------
        self
        """
        model, methods = self.checked_parameters()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        weights = self._check_sample_weight(sample_weight, X)
        if self.n_components > len(X):
            raise ValueError(
                f"n_components={self.n_components} must be at most the number of samples, {len(X)}"
            )
        random_state = check_random_state(self.random_state)
        seeds = random_state.randint(np.iinfo(np.int32).max, size=self.n_init)
        best = None
        for method in methods:
            for seed in seeds[:1] if method in DETERMINISTIC_STARTS else seeds:
                fit = self._fit_start(X, model, method, int(seed), weights)
                if fit is not None and (best is None or fit.log_likelihood > best.log_likelihood):
                    best = fit
        if best is None:
            raise ValueError(
                f"every start of {model} with {self.n_components} components was singular: "
                "try fewer components or another covariance_type"
            )
        if not best.converged:
            warnings.warn(
                f"the best start did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return set_fitted(
            self,
            weights=best.weights,
            means=best.means,
            covariances=best.covariances,
            converged=best.converged,
            n_iter=best.n_iter,
            lower_bound=best.log_likelihood / weights.sum(),
            n_features=X.shape[1],
        )

    def _check_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return np.ones(len(X))
        weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
        if weights.ndim != 1 or len(weights) != len(X):
            raise ValueError(f"sample_weight must have shape ({len(X)},), got {weights.shape}")
        if np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError("sample_weight must be non-negative and not all zero")
        return weights

    def _fit_start(self, X, model, method, seed, weights):
        kept = weights > 0  # a row of weight 0 takes no part, as if absent
        try:
            resp = start_responsibilities(
                X[kept],
                self.n_components,
                method,
                seed,
                sample_weight=weights[kept],
                max_samples=self.hc_max_samples,
                covariance_type=model,
            )
        except ValueError:  # fewer distinct rows than components
            return None
        fit = run_em(
            X[kept],
            resp,
            model,
            sample_weight=weights[kept],
            tol=self.tol,
            max_iter=self.max_iter,
            reg_covar=self.reg_covar,
        )
        return None if fit.singular else fit

    def _estimate_weighted_log_prob(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return log_gaussian_densities(X, self.means_, self.covariances_) + np.log(self.weights_)

    def score_samples(self, X):
        """Log-density of the mixture at each row, shape (n_samples,)."""
        return logsumexp(self._estimate_weighted_log_prob(X), axis=1)

    def score(self, X, y=None):
        """Mean log-density per row."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """Each row's posterior probability of each component, shape (n_samples, n_components)."""
        joint = self._estimate_weighted_log_prob(X)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict(self, X):
        """The most probable component of each row."""
        return self._estimate_weighted_log_prob(X).argmax(axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then predict the component of each row of ``X``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def n_parameters(self):
        """Free parameters (weights, means, covariances), as mclust counts them."""
        check_is_fitted(self)
        return n_parameters(self.model_name_, self.n_components, self.n_features_in_)

    def bic(self, X):
        """Bayesian information criterion on ``X``, lower is better (scikit-learn's sign)."""
        return -2 * self.score(X) * len(X) + self.n_parameters() * np.log(len(X))

    def aic(self, X):
        """Akaike information criterion on ``X``, lower is better."""
        return -2 * self.score(X) * len(X) + 2 * self.n_parameters()

    def icl(self, X):
        """BIC plus twice the classification entropy (Biernacki et al. 2000), lower is better:
        mclust's ICL with scikit-learn's sign."""
        proba = self.predict_proba(X)
        entropy = -np.sum(proba * np.log(np.clip(proba, np.finfo(float).tiny, None)))
        return self.bic(X) + 2 * entropy

    def sample(self, n_samples=1):
        """Draw rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component each row was drawn from, in component order.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer of at least 1, got {n_samples!r}")
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        X = np.vstack(
            [
                rng.multivariate_normal(mean, covariance, int(count))
                for mean, covariance, count in zip(self.means_, self.covariances_, counts, strict=True)
            ]
        )
        labels = np.repeat(np.arange(self.n_components), counts)
        return X, labels


def fitted_mixture(fit, *, n_features, sample_weight_sum, **params):
    """A fitted :class:`ParsimoniousGaussianMixture` from one EM run (a
    :class:`~gmm_pipeline.maths.parsimonious_em.ParsimoniousFit` without a noise component)
    and the estimator's parameters."""
    return set_fitted(
        ParsimoniousGaussianMixture(**params),
        weights=fit.weights,
        means=fit.means,
        covariances=fit.covariances,
        converged=fit.converged,
        n_iter=fit.n_iter,
        lower_bound=fit.log_likelihood / sample_weight_sum,
        n_features=n_features,
    )


def set_fitted(model, *, weights, means, covariances, converged, n_iter, lower_bound, n_features):
    """Give a :class:`ParsimoniousGaussianMixture` its fitted attributes (the one place
    they are set: by ``fit``, by the fit grid's starts and by the model file); returns it."""
    model.model_name_ = model_name(model.covariance_type)
    model.weights_, model.means_, model.covariances_ = weights, means, covariances
    model.precisions_cholesky_ = _precision_factors(covariances)
    model.converged_, model.n_iter_, model.lower_bound_ = converged, n_iter, lower_bound
    model.n_features_in_ = n_features
    return model


def refit_from_model(model, X, *, tol, max_iter, reg_covar, sample_weight=None):
    """EM on ``X`` started from a fitted model's own parameters (its E-step first, as
    mclust's ``em`` from given parameters: bootstrap refits and tests); the refitted
    :class:`ParsimoniousGaussianMixture`, or None if the fit turned singular."""
    X = np.asarray(X, dtype=float)
    weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    resp, _ = e_step(X, model.weights_, model.means_, model.covariances_, weights)
    fit = run_em(
        X, resp, model.model_name_, sample_weight=weights, tol=tol, max_iter=max_iter, reg_covar=reg_covar
    )
    if fit.singular:
        return None
    return fitted_mixture(
        fit,
        n_features=X.shape[1],
        sample_weight_sum=float(weights.sum()),
        n_components=model.n_components,
        covariance_type=model.covariance_type,
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg_covar,
        init_params=model.init_params,
        random_state=model.random_state,
    )


def _precision_factors(covariances):
    """scikit-learn's ``precisions_cholesky_`` for full covariances."""
    lower = np.linalg.cholesky(covariances)
    return np.swapaxes(np.linalg.inv(lower), 1, 2)


__all__ = ["ParsimoniousGaussianMixture", "start_responsibilities", "MODELS", "ALIASES"]
