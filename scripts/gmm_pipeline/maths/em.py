"""EM for Gaussian mixtures, many starts at once.

scikit-learn's ``GaussianMixture.fit`` runs one start at a time, and on small data most of
an iteration goes to Python and numpy call overhead per component: the arithmetic of one
iteration on 1000 x 2 rows is tens of microseconds. Here each start runs in a compiled
loop (:mod:`gmm_pipeline.maths.em_kernels`), one pass over the rows per iteration with no Python
inside, with or without a noise component. Starts with a prior run in numpy instead (as
does every start with ``compiled=False``, the reference the loop is tested against), every
start of a component count together: those arrays carry a leading axis over starts (and
one over components), so one numpy call does the work of one call per start and
component.

It is the same algorithm as scikit-learn's, step for step:

* the same starting responsibilities (:func:`initial_responsibilities`: scikit-learn's own
  ``KMeans`` and ``kmeans_plusplus`` with the start's seed, or the same uniform draws), or
  the same explicit starting parameters;
* the same E-step (log-densities through the Cholesky factors of the precisions, the
  log-likelihood per point by log-sum-exp), the same M-step formulas for the four
  covariance types, the same ``reg_covar`` added to each covariance's diagonal;
* the lower bound is the mean log-likelihood per point before each M-step, and EM stops by
  the pipeline's rule (:func:`relative_change`): when the relative
  change of the total log-likelihood is at most ``tol``, or after ``max_iter`` iterations.

It adds what scikit-learn lacks: a weight per row (``sample_weight``; integer weights give
the fit of the data with rows repeated), and an optional component of constant density
(``noise_log_density``: Banfield and Raftery's uniform noise component, as mclust's
``noise`` option; see :mod:`gmm_pipeline.maths.noise`). The fitted results become ordinary
scikit-learn ``GaussianMixture`` estimators (:func:`as_estimator`).
"""

import math

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from .compiled import em_kernels
from .estimators import fitted_estimator, precisions_cholesky_from_covariances

RESPONSIBILITY_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
# scikit-learn adds this to each component's total responsibility so none is exactly 0.
_TINY = 10 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2 * math.pi)
# Most values a full-covariance temporary may hold (64 MB): large data goes a slice of
# components at a time, as scikit-learn goes one component at a time.
_BATCH_VALUES = 2**23
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


def initial_responsibilities(X, n_components, init_params, seed, sample_weight=None):
    """The responsibilities ``GaussianMixture(init_params=..., random_state=seed)`` starts from.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}
    seed : int
    sample_weight : ndarray of shape (n_samples,), optional
        Passed to k-means and k-means++; the random methods do not use weights.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    """
    n_samples = len(X)
    random_state = np.random.RandomState(seed)
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(
            X, sample_weight=sample_weight
        )
        resp[np.arange(n_samples), labels.labels_] = 1
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1)[:, np.newaxis]
    elif init_params == "random_from_data":
        indices = random_state.choice(n_samples, size=n_components, replace=False)
        resp[indices, np.arange(n_components)] = 1
    elif init_params == "k-means++":
        _, indices = kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=sample_weight)
        resp[indices, np.arange(n_components)] = 1
    else:
        raise ValueError(f"init_params {init_params!r} is not one of {RESPONSIBILITY_METHODS}")
    return resp


def relative_change(lower_bounds, n_samples):
    """mclust's convergence measure at the last iteration: ``|L_t - L_(t-1)| / (1 + |L_t|)``
    of the total log-likelihood ``L = n_samples * lower bound`` (NaN before two iterations;
    with sample weights, ``n_samples`` is their sum)."""
    if len(lower_bounds) < 2:
        return float("nan")
    current, previous = n_samples * lower_bounds[-1], n_samples * lower_bounds[-2]
    return abs(current - previous) / (1.0 + abs(current))


def estimate_parameters(
    X, resp, covariance_type, reg_covar, sample_weight=None, gaussian_share=None, prior=None
):
    """Weights (unnormalised), means and covariances from responsibilities, for a batch.

    ``resp`` has shape (n_starts, n_samples, n_components); the results carry the same
    leading axis. These are scikit-learn's M-step formulas, with each row's responsibility
    multiplied by its weight. ``gaussian_share`` (n_starts, n_samples), given when a noise
    component takes part of each row, is each row's total Gaussian responsibility: the
    tied covariance pools only that part of the rows (mclust's EEE with noise). With a
    conjugate ``prior`` (:func:`default_prior`) the means and covariances are the
    posterior modes instead (:func:`map_parameters`).
    """
    if prior is not None:
        nk, means, covariances = estimate_parameters(
            X, resp, covariance_type, 0.0, sample_weight, gaussian_share
        )
        return map_parameters(nk, means, covariances, covariance_type, prior, reg_covar)
    if sample_weight is not None:
        resp = resp * sample_weight[np.newaxis, :, np.newaxis]
    nk = resp.sum(axis=1) + _TINY  # (S, K)
    means = np.matmul(np.swapaxes(resp, 1, 2), X) / nk[..., np.newaxis]  # (S, K, d)
    d = X.shape[1]
    if covariance_type == "full":
        pieces = []
        for part in _component_parts(means.shape[0], means.shape[1], X.shape):
            diff = X[np.newaxis, np.newaxis] - means[:, part, np.newaxis, :]  # (S, K', n, d)
            weighted = diff * np.swapaxes(resp[:, :, part], 1, 2)[..., np.newaxis]
            pieces.append(np.matmul(np.swapaxes(weighted, 2, 3), diff) / nk[:, part, np.newaxis, np.newaxis])
        covariances = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)
        covariances[..., np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        row_weights = np.ones(len(X)) if sample_weight is None else sample_weight
        if gaussian_share is None:
            avg_X2 = ((X * row_weights[:, np.newaxis]).T @ X)[np.newaxis]
        else:
            shares = gaussian_share * row_weights[np.newaxis]
            avg_X2 = np.matmul(np.swapaxes(X[np.newaxis] * shares[..., np.newaxis], 1, 2), X)
        avg_means2 = np.matmul(np.swapaxes(means, 1, 2) * nk[:, np.newaxis, :], means)
        covariances = (avg_X2 - avg_means2) / nk.sum(axis=1)[:, np.newaxis, np.newaxis]
        covariances[..., np.arange(d), np.arange(d)] += reg_covar
    else:
        avg_X2 = np.matmul(np.swapaxes(resp, 1, 2), X * X) / nk[..., np.newaxis]
        covariances = avg_X2 - means**2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=2)
    return nk, means, covariances


def default_prior(X, n_components, covariance_type, *, shrinkage=0.01, dof=None, scale=None):
    """mclust's conjugate prior for ``n_components`` components (``defaultPrior``, Fraley
    and Raftery 2007): a normal prior on each mean centred on the data's mean with
    ``shrinkage`` (kappa), an inverse-Wishart (inverse-gamma) prior on covariances with
    ``dof`` (nu, default d + 2) and ``scale``: by default the data's covariance (full,
    tied; its diagonal when n <= d) or mean variance (diag, spherical), times
    ``(1 / n_components) ** (2 / d)``. A given ``scale`` number s means s I (or s)."""
    n, d = X.shape
    factor = (1.0 / n_components) ** (2.0 / d)
    if covariance_type in ("full", "tied"):
        if scale is not None:
            prior_scale = scale * np.eye(d)
        elif n > d:
            prior_scale = factor * np.atleast_2d(np.cov(X, rowvar=False))
        else:
            prior_scale = factor * np.diag(X.var(axis=0, ddof=1))
    else:
        prior_scale = float(scale) if scale is not None else factor * float(X.var(axis=0, ddof=1).sum()) / d
    return {
        "shrinkage": float(shrinkage),
        "mean": X.mean(axis=0),
        "dof": float(d + 2 if dof is None else dof),
        "scale": prior_scale,
    }


def map_parameters(nk, means, covariances, covariance_type, prior, reg_covar):
    """Posterior-mode means and covariances from the maximum-likelihood ones (no
    ``reg_covar`` in them), as mclust's M-steps with a prior (``msvvvp``, ``mseeep``,
    ``msvvip``, ``msviip``). With kappa the shrinkage, nu the dof, Lambda the scale,
    W_k the component's scatter and c_k = n_k kappa / (n_k + kappa):

    * means: ``(n_k xbar_k + kappa mu_P) / (n_k + kappa)``;
    * full: ``(Lambda + W_k + c_k d_k d_k^T) / (nu + n_k + d + 2)``, d_k = xbar_k - mu_P;
    * tied: ``(Lambda + sum_k W_k + sum_k c_k d_k d_k^T) / (nu + n + d + 1 + K)``;
    * diag: ``(lambda + W_k,jj + c_k d_kj^2) / (nu + n_k + 3)``;
    * spherical: ``(lambda + tr W_k + c_k |d_k|^2) / (nu + n_k d + 2 + d)``;

    (without shrinkage, the terms mclust adds for it, the last 1, K or d, go too). Then
    ``reg_covar`` is added as without a prior.
    """
    kappa, mu, nu, scale = prior["shrinkage"], prior["mean"], prior["dof"], prior["scale"]
    d = means.shape[-1]
    shrunk = 1.0 if kappa > 0 else 0.0
    c = nk * kappa / (nk + kappa)  # (S, K)
    delta = means - mu  # (S, K, d)
    if covariance_type == "full":
        scatter = covariances * nk[..., np.newaxis, np.newaxis]
        outer = delta[..., :, np.newaxis] * delta[..., np.newaxis, :]
        numerator = scale + scatter + c[..., np.newaxis, np.newaxis] * outer
        covariances = numerator / (nu + nk + d + 1 + shrunk)[..., np.newaxis, np.newaxis]
        covariances[..., np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        n = nk.sum(axis=1)
        scatter = covariances * n[:, np.newaxis, np.newaxis]
        outer = np.einsum("sk,ski,skj->sij", c, delta, delta)
        covariances = (scale + scatter + outer) / (nu + n + d + 1 + shrunk * nk.shape[1])[
            :, np.newaxis, np.newaxis
        ]
        covariances[..., np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "diag":
        numerator = scale + covariances * nk[..., np.newaxis] + c[..., np.newaxis] * delta**2
        covariances = numerator / (nu + nk + 2 + shrunk)[..., np.newaxis] + reg_covar
    else:
        numerator = scale + covariances * d * nk + c * (delta**2).sum(axis=-1)
        covariances = numerator / (nu + nk * d + 2 + shrunk * d) + reg_covar
    means = (nk[..., np.newaxis] * means + kappa * mu) / (nk + kappa)[..., np.newaxis]
    return nk, means, covariances


def precision_factors(covariances, covariance_type):
    """Upper-triangular ``U`` with ``U U^T`` the precision, per start (and component).

    Returns the factors and a boolean mask of the starts whose covariances are not
    positive definite (their factors are meaningless).
    """
    if covariance_type in ("diag", "spherical"):
        bad = np.any(covariances.reshape(len(covariances), -1) <= 0.0, axis=1)
        safe = np.where(bad.reshape((-1,) + (1,) * (covariances.ndim - 1)), 1.0, covariances)
        return 1.0 / np.sqrt(safe), bad
    bad = np.zeros(len(covariances), dtype=bool)
    try:
        lower = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:  # find the starts that fail; the others go on
        for start, stack in enumerate(covariances):
            try:
                np.linalg.cholesky(stack)
            except np.linalg.LinAlgError:
                bad[start] = True
        safe = covariances.copy()
        safe[bad] = np.eye(covariances.shape[-1])
        lower = np.linalg.cholesky(safe)
    # scikit-learn's factor: the inverse of the covariance's Cholesky factor, transposed.
    # numpy inverts the whole stack in one call (scipy's solve_triangular loops in Python
    # over the stack); the inverse of a triangular factor is triangular.
    return np.swapaxes(np.tril(np.linalg.inv(lower)), -1, -2), bad


def _component_parts(n_starts, n_components, shape):
    """Slices of the component axis small enough that a (starts, components, rows,
    features) temporary stays under :data:`_BATCH_VALUES` values; all at once on small data.
    The arithmetic per component is the same either way, so are the results."""
    per_component = n_starts * shape[0] * shape[1]
    step = max(1, min(n_components, _BATCH_VALUES // max(1, per_component)))
    return [slice(start, min(start + step, n_components)) for start in range(0, n_components, step)]


def log_densities(X, means, factors, covariance_type):
    """Gaussian log-densities of every row under every component: shape (S, n, K)."""
    d = X.shape[1]
    if covariance_type == "full":
        parts = _component_parts(means.shape[0], means.shape[1], X.shape)
        pieces = []
        for part in parts:
            projected = np.matmul(X, factors[:, part]) - np.matmul(
                means[:, part, np.newaxis, :], factors[:, part]
            )
            pieces.append(np.einsum("sknd,sknd->snk", projected, projected))
        squared = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=2)
        log_det = np.log(np.diagonal(factors, axis1=-2, axis2=-1)).sum(axis=-1)  # (S, K)
    elif covariance_type == "tied":
        projected = np.matmul(X, factors)[:, :, np.newaxis, :] - np.matmul(means, factors)[:, np.newaxis]
        squared = np.einsum("snkd,snkd->snk", projected, projected)
        log_det = np.log(np.diagonal(factors, axis1=-2, axis2=-1)).sum(axis=-1)[:, np.newaxis]
    elif covariance_type == "diag":
        precisions = factors**2  # (S, K, d)
        squared = (
            np.sum(means**2 * precisions, axis=2)[:, np.newaxis, :]
            - 2.0 * np.matmul(X, np.swapaxes(means * precisions, 1, 2))
            + np.matmul(X**2, np.swapaxes(precisions, 1, 2))
        )
        log_det = np.log(factors).sum(axis=2)
    else:
        precisions = factors**2  # (S, K)
        squared = (
            (np.sum(means**2, axis=2) * precisions)[:, np.newaxis, :]
            - 2.0 * np.matmul(X, np.swapaxes(means, 1, 2)) * precisions[:, np.newaxis, :]
            + np.einsum("ij,ij->i", X, X)[np.newaxis, :, np.newaxis] * precisions[:, np.newaxis, :]
        )
        log_det = d * np.log(factors)
    return -0.5 * (d * _LOG_2PI + squared) + log_det[:, np.newaxis, :]


class Start:
    """One start's parameters: weights (K,), means (K, d) and covariances, or an error.

    With a noise component, ``weights`` has K + 1 entries, the noise component's last.
    """

    def __init__(self, weights=None, means=None, covariances=None, error=None):
        self.weights, self.means, self.covariances, self.error = weights, means, covariances, error


def start_from_responsibilities(X, resp, covariance_type, reg_covar, sample_weight=None, prior=None):
    """The parameters scikit-learn's first M-step makes of starting responsibilities."""
    nk, means, covariances = estimate_parameters(
        X, resp[np.newaxis], covariance_type, reg_covar, sample_weight, prior=prior
    )
    total = len(X) if sample_weight is None else float(np.sum(sample_weight))
    return Start(nk[0] / total, means[0], covariances[0])


def start_from_parameters(weights_init, means_init, precisions_init, covariance_type):
    """A start from explicit parameters (as ``GaussianMixture(weights_init=..., ...)``)."""
    precisions = np.asarray(precisions_init, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        covariances = np.linalg.inv(precisions)
        covariances = (covariances + np.swapaxes(covariances, -1, -2)) / 2
    else:
        covariances = 1.0 / precisions
    return Start(
        np.asarray(weights_init, dtype=np.float64), np.asarray(means_init, dtype=np.float64), covariances
    )


class Fit:
    """What EM made of one start: the final parameters and the lower bound at each iteration."""

    def __init__(self):
        self.weights = self.means = self.covariances = None
        self.lower_bounds, self.converged, self.error = [], False, None


def run_starts(
    X,
    starts,
    *,
    covariance_type,
    reg_covar,
    tol,
    max_iter,
    sample_weight=None,
    noise_log_density=None,
    prior=None,
    compiled=True,
):
    """Run EM from every start at once; each stops by its own convergence.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    starts : list of Start
        All with the same number of components; a start with an ``error`` is passed through.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar, tol, max_iter
        As for :class:`~sklearn.mixture.GaussianMixture`; ``tol`` bounds the relative
        change of the total log-likelihood (see the module docstring).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weight of each row.
    noise_log_density : float, optional
        The log-density of a noise component of constant density (minus the log of the
        volume it spreads over). Then every start's weights end with the noise weight,
        and so do the fits'.
    prior : dict, optional
        A conjugate prior (:func:`default_prior`): the M-steps give posterior modes (MAP).
        EM then stops by the same rule on the log-likelihood.
    compiled : bool
        Run each start without a prior in the compiled loop (:mod:`gmm_pipeline.maths.em_kernels`);
        False runs every start in the batched numpy path, the reference the compiled loop
        is tested against. Starts with a prior always take the numpy path.

    Returns
    -------
    fits : list of Fit
        One per start, in order.
    """
    X = np.asarray(X, dtype=np.float64)
    weights_per_row = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total_weight = len(X) if weights_per_row is None else float(weights_per_row.sum())
    fits = [Fit() for _ in starts]
    active = [index for index, start in enumerate(starts) if start.error is None]
    for index, start in enumerate(starts):
        fits[index].error = start.error
    if not active:
        return fits
    if compiled and prior is None:
        # Made once for all starts: the rows (row-major: one compiled variant), the rows
        # transposed, and the weights.
        X = np.ascontiguousarray(X)
        columns = np.ascontiguousarray(X.T)
        row_weights = np.ones(len(X)) if weights_per_row is None else np.ascontiguousarray(weights_per_row)
        noise = math.nan if noise_log_density is None else float(noise_log_density)
        for index in active:
            _run_compiled(
                X,
                columns,
                row_weights,
                starts[index],
                fits[index],
                covariance_type,
                (reg_covar, tol, max_iter, noise),
            )
        return fits
    weights = np.stack([starts[i].weights for i in active])
    means = np.stack([starts[i].means for i in active])
    covariances = np.stack([starts[i].covariances for i in active])
    factors, bad = precision_factors(covariances, covariance_type)
    active, weights, means, covariances, factors = _drop(
        bad, active, fits, weights, means, covariances, factors
    )
    for _ in range(max_iter):
        if not active:
            break
        densities = log_densities(X, means, factors, covariance_type)
        if noise_log_density is not None:
            noise_column = np.full(densities.shape[:2] + (1,), float(noise_log_density))
            densities = np.concatenate([densities, noise_column], axis=2)
        with np.errstate(divide="ignore"):
            weighted_log = densities + np.log(weights)[:, np.newaxis, :]
        per_point = _logsumexp(weighted_log)  # (S, n)
        if weights_per_row is None:
            bounds = per_point.mean(axis=1)
        else:
            bounds = per_point @ weights_per_row / total_weight
        resp = np.exp(weighted_log - per_point[:, :, np.newaxis])
        if noise_log_density is None:
            nk, means, covariances = estimate_parameters(
                X, resp, covariance_type, reg_covar, weights_per_row, prior=prior
            )
        else:
            gaussian, noise = resp[..., :-1], resp[..., -1]
            nk, means, covariances = estimate_parameters(
                X, gaussian, covariance_type, reg_covar, weights_per_row, gaussian.sum(axis=2), prior=prior
            )
            noise_total = noise.sum(axis=1) if weights_per_row is None else noise @ weights_per_row
            nk = np.concatenate([nk, noise_total[:, np.newaxis]], axis=1)
        weights = nk / nk.sum(axis=1, keepdims=True)
        factors, bad = precision_factors(covariances, covariance_type)
        finished = np.zeros(len(active), dtype=bool)
        for position, index in enumerate(active):
            fit = fits[index]
            fit.lower_bounds.append(float(bounds[position]))
            fit.converged = relative_change(fit.lower_bounds, total_weight) <= tol  # NaN: False
            if fit.converged and not bad[position]:
                fit.weights, fit.means, fit.covariances = (
                    weights[position],
                    means[position],
                    covariances[position],
                )
                finished[position] = True
        active, weights, means, covariances, factors = _drop(
            bad | finished, active, fits, weights, means, covariances, factors
        )
    for position, index in enumerate(active):  # max_iter spent
        fit = fits[index]
        fit.weights, fit.means, fit.covariances = weights[position], means[position], covariances[position]
    return fits


def _kernel_covariances(covariances, covariance_type, n_components, n_features):
    """Covariances in the compiled loops' layout, a fresh C-ordered array: (K, d, d) for
    full and tied (a tied model's one matrix repeated), (K, d) for diag and spherical (a
    spherical component's one variance repeated over the features)."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        return np.array(np.broadcast_to(covariances, (n_components, n_features, n_features)), order="C")
    shape = (n_components, n_features) if covariance_type == "diag" else (n_components, 1)
    return np.array(np.broadcast_to(covariances.reshape(shape), (n_components, n_features)), order="C")


def _run_compiled(X, columns, row_weights, start, fit, covariance_type, settings):
    """One start through the compiled loop (:mod:`gmm_pipeline.maths.em_kernels`); fills ``fit``.
    ``settings`` are ``reg_covar``, ``tol``, ``max_iter`` and the noise component's
    log-density (NaN for none)."""
    reg_covar, tol, max_iter, noise = settings
    n_components, d = start.means.shape
    weights = np.array(start.weights, dtype=np.float64)
    means = np.array(start.means, dtype=np.float64)
    bounds = np.empty(max_iter)
    stacked = _kernel_covariances(start.covariances, covariance_type, n_components, d)
    if covariance_type in ("full", "tied"):
        n_iter, converged, status = em_kernels.em_full(
            X,
            columns,
            row_weights,
            weights,
            means,
            stacked,
            covariance_type == "tied",
            reg_covar,
            tol,
            max_iter,
            bounds,
            noise,
        )
        final = stacked[0] if covariance_type == "tied" else stacked
    else:
        n_iter, converged, status = em_kernels.em_diagonal(
            X,
            columns,
            row_weights,
            weights,
            means,
            stacked,
            covariance_type == "spherical",
            reg_covar,
            tol,
            max_iter,
            bounds,
            noise,
        )
        final = stacked if covariance_type == "diag" else stacked[:, 0].copy()
    fit.lower_bounds = bounds[:n_iter].tolist()
    fit.converged = bool(converged)
    if status:
        fit.error = ILL_DEFINED
    else:
        fit.weights, fit.means, fit.covariances = weights, means, final


def score_rows(model, X):
    """Each row's log-likelihood under a fitted ``GaussianMixture`` and the log of its
    largest responsibility, in one compiled pass over the rows (:mod:`gmm_pipeline.maths.em_kernels`).

    The numbers of ``model.score_samples(X)`` and ``np.log(model.predict_proba(X).max(axis=1))``
    to rounding (tests/test_em.py), without scikit-learn's input checks and per-component
    numpy calls, which cost about a millisecond per call on small data: the criteria of
    every start of a fit grid are computed from these.

    Parameters
    ----------
    model : GaussianMixture
        Fitted (its ``weights_``, ``means_``, ``covariances_`` and ``covariance_type``).
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    log_density, log_largest_responsibility : ndarray of shape (n_samples,)
    """
    # Fresh writable copies: numba compiles a variant per array type, and a read-only view
    # (the stability step's rows) would be one more than em_kernels.warm loads.
    columns = np.array(np.asarray(X, dtype=np.float64).T, order="C")
    weights = np.array(model.weights_, dtype=np.float64)
    means = np.array(model.means_, dtype=np.float64, order="C")
    stacked = _kernel_covariances(model.covariances_, model.covariance_type, *means.shape)
    log_density, log_largest = np.empty(columns.shape[1]), np.empty(columns.shape[1])
    if model.covariance_type in ("full", "tied"):
        usable = em_kernels.score_full(
            columns, weights, means, stacked, model.covariance_type == "tied", log_density, log_largest
        )
    else:
        usable = em_kernels.score_diagonal(columns, weights, means, stacked, log_density, log_largest)
    if not usable:
        raise ValueError(f"a {model.covariance_type} covariance of the model is not positive definite")
    return log_density, log_largest


def _logsumexp(values):
    """log(sum(exp(values))) over the last axis, shifted by its maximum (as scipy's, without
    its per-call overhead, which dominates on small data)."""
    largest = values.max(axis=-1)
    with np.errstate(divide="ignore"):
        return largest + np.log(np.exp(values - largest[..., np.newaxis]).sum(axis=-1))


def _drop(leaving, active, fits, *arrays):
    """Take the starts marked ``leaving`` out of the batch; a failed one gets its error."""
    for position, index in enumerate(active):
        if leaving[position] and fits[index].weights is None and fits[index].error is None:
            fits[index].error = ILL_DEFINED
    keep = ~leaving
    return ([index for index, kept in zip(active, keep, strict=True) if kept], *(a[keep] for a in arrays))


def run_from_model(model, X, *, tol, max_iter, reg_covar, sample_weight=None):
    """EM on ``X`` started from a fitted ``GaussianMixture``'s own parameters (as mclust's
    ``em`` from given parameters: bootstrap refits); one :class:`Fit`."""
    start = start_from_parameters(model.weights_, model.means_, model.precisions_, model.covariance_type)
    (fit,) = run_starts(
        X,
        [start],
        covariance_type=model.covariance_type,
        reg_covar=reg_covar,
        tol=tol,
        max_iter=max_iter,
        sample_weight=sample_weight,
    )
    return fit


def as_estimator(
    fit, *, covariance_type, n_features, tol, reg_covar, max_iter, init_params, seed, weights=None
):
    """The fitted result as a scikit-learn ``GaussianMixture`` (predict, score_samples, ...);
    ``weights`` replaces the fit's own (the Gaussian part of a mixture with noise)."""
    weights = fit.weights if weights is None else weights
    n_components = len(weights)
    params = {
        "n_components": n_components,
        "covariance_type": covariance_type,
        "tol": tol,
        "reg_covar": reg_covar,
        "max_iter": max_iter,
        "n_init": 1,
        "init_params": init_params,
        "random_state": seed,
    }
    model = fitted_estimator(
        params,
        weights=weights,
        means=fit.means,
        covariances=fit.covariances,
        precisions_cholesky=precisions_cholesky_from_covariances(fit.covariances, covariance_type),
        converged=fit.converged,
        n_iter=len(fit.lower_bounds),
        lower_bound=fit.lower_bounds[-1],
        n_features=n_features,
    )
    model.lower_bounds_ = list(fit.lower_bounds)
    return model
