"""Posterior modes (MAP) under mclust's conjugate prior for the six of its ten other models
that mclust gives a prior: EII, EEI, VEI, EVI, EEV and VEV (``priorControl()``; mclust has
none for EVE, VEE, VVE and EVV).

The prior is mclust's ``defaultPrior`` (:func:`gmm_pipeline.maths.em.default_prior`: a
scalar scale for the diagonal models, a matrix for EEV and VEV). Each M-step is the one in
mclust 6.0.0's EM with a prior (its Fortran ``meeiip``, ``meeeip``, ``meveip``,
``meevip``, ``meeevp``, ``mevevp``), which differ from one another in places
(docs/upstream.md); one component takes mclust's ``mvn`` forms instead. On iris every cell
of mclust's table equals ours (``tests/test_parsimonious.py``). With ``kappa`` the
shrinkage, ``nu`` the dof, ``Lambda`` the scale, ``n`` the Gaussian part's size,
``W_k`` the scatter around the sample mean, ``c_k = n_k kappa / (n_k + kappa)``,
``d_k = xbar_k - mu_P``, ``B_k = W_k + c_k d_k d_k'`` and ``[kappa]`` 1 with shrinkage:

* EII: ``sigma^2 = sum_k tr B_k / (nu + (n + G) d + 2)`` (no ``Lambda``);
* EEI: ``diag(Lambda + sum_k B_k) / (nu + n + 1 + [kappa])``, means not shrunk;
* VEI: mclust's alternation of volumes and one shape on ``Lambda + diag(B_k)``, each
  volume over ``nu + d n_k + 2 + [kappa]``;
* EVI: shapes ``Lambda + diag(B_k)``, one volume, the sum of their geometric means over
  ``nu + n + 1 + [kappa]``;
* EEV: eigenvalues of ``Lambda + B_k`` pooled, one volume over ``nu + d + 1 + n + [kappa]``;
* VEV: the maximum-likelihood VEV step on ``Lambda + B_k`` with sizes ``n_k``;
* one component: ``Lambda + tr B`` over ``nu + n d + 2 + d [kappa]`` (EII),
  ``diag(Lambda + B)`` over ``nu + n + 2 + [kappa]`` (EEI, VEI, EVI), ``Lambda + B`` over
  ``nu + n + d + 1 + [kappa]`` (EEV, VEV).

Means are shrunk, ``(n_k xbar_k + kappa mu_P) / (n_k + kappa)``, except EEI's. The BIC
of a fit uses the data's log-likelihood at the mode, as mclust's. EM runs in numpy, as the
pipeline's other fits with a prior do, with or without a uniform noise component.
"""

import numpy as np

from .compiled import parsimonious_kernels as kernels
from .covariance_models import INNER_MAX_ITER, INNER_TOL, PRIOR_MODELS, m_step_covariances, model_name
from .em import default_prior
from .parsimonious_em import ParsimoniousFit, e_step


def model_prior(X, n_components, covariance_type, **options):
    """mclust's ``defaultPrior`` for one of :data:`PRIOR_MODELS` (options as
    :func:`gmm_pipeline.maths.em.default_prior`'s)."""
    family = "full" if model_name(covariance_type) in ("EEV", "VEV") else "spherical"
    return default_prior(X, n_components, family, **options)


def map_m_step(X, resp, model, sample_weight, prior, state=None):
    """Proportions (of the Gaussian part), means and covariances at the posterior mode,
    by mclust's M-step with a prior for ``model`` (see the module docstring)."""
    kappa, mu, nu, scale = prior["shrinkage"], prior["mean"], prior["dof"], prior["scale"]
    shrunk = 1.0 if kappa > 0 else 0.0
    weighted = resp * sample_weight[:, None]
    nk = weighted.sum(axis=0)
    n = nk.sum()  # without the noise component's share, as mclust's sumz
    G, d = len(nk), X.shape[1]
    xbar = (weighted.T @ X) / nk[:, None]
    means = (nk[:, None] * xbar + kappa * mu) / (nk + kappa)[:, None]
    centred = X[None, :, :] - xbar[:, None, :]
    scatter = np.swapaxes(centred * weighted.T[:, :, None], 1, 2) @ centred  # W_k, (G, d, d)
    c = nk * kappa / (nk + kappa)
    delta = xbar - mu
    augmented = scatter + c[:, None, None] * delta[:, :, None] * delta[:, None, :]  # W_k + c_k d_k d_k'
    eye = np.eye(d)
    if G == 1:  # mclust's mvn: one component, whatever the model's constraints
        if model == "EII":
            variance = (scale + np.trace(augmented[0])) / (nu + n * d + 2 + shrunk * d)
            covariance = variance * eye
        elif model in ("EEI", "VEI", "EVI"):
            covariance = np.diag(scale + np.diagonal(augmented[0])) / (nu + n + 2 + shrunk)
        else:  # EEV, VEV
            covariance = (scale + augmented[0]) / (nu + n + d + 1 + shrunk)
        return nk, means, covariance[None], state
    if model == "EII":  # meeiip: no scale, (n + G) d
        variance = np.trace(augmented, axis1=1, axis2=2).sum() / (nu + (n + G) * d + 2)
        covariances = np.broadcast_to(variance * eye, (G, d, d)).copy()
    elif model == "EEI":  # meeeip: means left unshrunk
        pooled = scale + np.diagonal(augmented, axis1=1, axis2=2).sum(axis=0)
        covariances = np.broadcast_to(np.diag(pooled / (nu + n + 1 + shrunk)), (G, d, d)).copy()
        means = xbar
    elif model == "EVI":
        diagonals = scale + np.diagonal(augmented, axis1=1, axis2=2)
        sizes = np.exp(np.log(diagonals).mean(axis=1))
        volume = sizes.sum() / (nu + n + 1 + shrunk)
        covariances = np.stack(
            [np.diag(volume * row / size) for row, size in zip(diagonals, sizes, strict=True)]
        )
    elif model == "VEI":
        diagonals = scale + np.diagonal(augmented, axis1=1, axis2=2)
        shape, volumes = np.ones(d), np.ones(G)
        kernels.alternate_volumes(
            np.ascontiguousarray(diagonals),
            nu + d * nk + 2 + shrunk,
            shape,
            volumes,
            INNER_TOL,
            INNER_MAX_ITER,
        )
        covariances = np.stack([np.diag(volume * shape) for volume in volumes])
    elif model == "EEV":
        values, vectors = np.linalg.eigh(scale + augmented)
        values, vectors = values[:, ::-1], vectors[:, :, ::-1]
        pooled = values.sum(axis=0)
        size = np.exp(np.log(pooled).mean())
        volume = size / (nu + d + 1 + n + shrunk)
        covariances = volume * (vectors * (pooled / size)[None, None, :]) @ np.swapaxes(vectors, 1, 2)
    else:  # VEV: the maximum-likelihood step on the augmented scatters, with sizes n_k
        covariances, state = m_step_covariances("VEV", scale + augmented, nk, state)
    return nk, means, covariances, state


def run_map_em(
    X, resp, covariance_type, prior, *, sample_weight=None, tol=1e-5, max_iter=1000, noise_log_density=None
):
    """EM to the posterior mode from starting responsibilities (as
    :func:`gmm_pipeline.maths.parsimonious_em.run_em`, whose :class:`ParsimoniousFit` it
    returns: the log-likelihood is the data's, at the mode, as mclust's BIC with a prior)."""
    model = model_name(covariance_type)
    if model not in PRIOR_MODELS:
        raise ValueError(
            f"mclust has no conjugate prior for {model}; it has one for {', '.join(PRIOR_MODELS)}"
        )
    X = np.asarray(X, dtype=float)
    sample_weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    resp = np.asarray(resp, dtype=float)
    G = resp.shape[1] - (noise_log_density is not None)
    state, previous, fit = None, None, None
    for iteration in range(1, max_iter + 1):
        gaussian = resp[:, :G]
        with np.errstate(divide="ignore", invalid="ignore"):
            nk, means, covariances, state = map_m_step(X, gaussian, model, sample_weight, prior, state)
        weights = (resp.T @ sample_weight) / sample_weight.sum()
        try:
            if nk.min() < 1.5e-8 or not np.all(np.isfinite(covariances)):
                raise np.linalg.LinAlgError
            np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            if fit is None:
                return ParsimoniousFit(weights, means, covariances, -np.inf, iteration, False, True)
            fit.singular = True
            return fit
        resp, log_likelihood = e_step(X, weights, means, covariances, sample_weight, noise_log_density)
        fit = ParsimoniousFit(weights, means, covariances, log_likelihood, iteration, False, False)
        if previous is not None:
            fit.final_relative_change = abs(log_likelihood - previous) / (1 + abs(log_likelihood))
            if fit.final_relative_change <= tol:
                fit.converged = True
                return fit
        previous = log_likelihood
    return fit
