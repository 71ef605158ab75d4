"""A Gaussian mixture plus a uniform noise component (Banfield and Raftery 1993).

Outliers scattered over the data's range are modelled by one more component of constant
density ``1 / V`` over a region of volume ``V``:

    f(x) = pi_0 / V + sum_k pi_k N(x; mu_k, Sigma_k),   pi_0 + sum_k pi_k = 1.

EM estimates ``pi_0`` with the Gaussian parameters (:func:`gmm_pipeline.maths.em.run_starts` with
``noise_log_density = -log V``). The posterior probability of the noise component is an
anomaly score of its own. This follows mclust's ``noise`` initialisation:

* ``V`` is mclust's ``hypvol``: the smaller of the volume of the data's bounding box and of
  the bounding box of its principal-component scores (:func:`log_hypervolume`);
* EM starts from an initial guess of the noise points; the Gaussian components start from
  k-means on the other rows. mclust leaves the guess to the user (often ``NNclean``); here
  it is the ``initial_fraction`` of rows farthest from their ``n_neighbors``-th nearest
  neighbour (:func:`initial_noise`), a simple form of the same idea;
* BIC counts one parameter more than the Gaussian mixture's, the noise weight (``V`` is
  fixed by the data, not fitted), and uses the log-likelihood of the whole mixture.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from ..errors import PipelineInputError
from .covariance_models import PRIOR_MODELS
from .criteria import column, n_parameters
from .em import Start, as_estimator, default_prior, estimate_parameters, initial_responsibilities, run_starts
from .estimators import COVARIANCE_TYPES
from .parsimonious_em import run_em
from .parsimonious_mixture import fitted_mixture
from .parsimonious_prior import model_prior, run_map_em

BIC_COLUMN = column("bic")
TABLE_COLUMNS = [
    "n_components",
    "seed",
    "total_log_likelihood",
    BIC_COLUMN,
    "noise_weight",
    "n_iter",
    "converged",
    "error",
]


def log_hypervolume(X):
    """log of mclust's ``hypvol``: the smaller bounding-box volume of the data and of its
    principal-component scores. A zero range (a constant column) gives ``-inf``."""
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    # Principal-component scores: the centred rows in the basis of the right singular
    # vectors (as R's princomp, up to signs, which do not change a range).
    _, _, basis = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ basis.T
    with np.errstate(divide="ignore"):
        box = float(np.sum(np.log(np.ptp(X, axis=0))))
        rotated = float(np.sum(np.log(np.ptp(scores, axis=0))))
    return min(box, rotated)


def initial_noise(X, *, fraction=0.1, n_neighbors=10):
    """The rows first taken as noise: the ``fraction`` farthest from their
    ``n_neighbors``-th nearest neighbour (at least one row, and at least one row left)."""
    n = len(X)
    n_noise = min(n - 1, max(1, int(round(fraction * n))))
    neighbours = min(n_neighbors, n - 1)
    distances, _ = NearestNeighbors(n_neighbors=neighbours + 1).fit(X).kneighbors(X)
    farthest = np.argsort(-distances[:, -1], kind="stable")[:n_noise]
    noise = np.zeros(n, dtype=bool)
    noise[farthest] = True
    return noise


@dataclass
class NoiseMixture:
    """A fitted Gaussian mixture with a uniform noise component.

    Attributes
    ----------
    gaussian : GaussianMixture
        The Gaussian components, their weights renormalised to sum to one.
    noise_weight : float
        ``pi_0``, the noise component's weight.
    log_volume : float
        ``log V``; the noise density is ``exp(-log_volume)`` everywhere.
    """

    gaussian: object
    noise_weight: float
    log_volume: float

    @property
    def n_components(self):
        return int(self.gaussian.n_components)

    @property
    def covariance_type(self):
        return self.gaussian.covariance_type

    def _log_parts(self, X):
        """log of each part's weighted density: (n, 2), Gaussian mixture then noise."""
        # A noise weight that EM drove to exactly 0 (it can underflow on data with no
        # scattered points) gives the noise part log-density -inf: the Gaussians alone.
        with np.errstate(divide="ignore"):
            gaussian = np.log1p(-self.noise_weight) + self.gaussian.score_samples(X)
            noise = np.full(len(X), np.log(self.noise_weight) - self.log_volume)
        return np.column_stack([gaussian, noise])

    @staticmethod
    def _total(parts):
        largest = parts.max(axis=1)
        return largest + np.log(np.exp(parts - largest[:, np.newaxis]).sum(axis=1))

    def score_samples(self, X):
        """Log-density of each row under the whole mixture."""
        return self._total(self._log_parts(X))

    def noise_probability(self, X):
        """Posterior probability that each row comes from the noise component."""
        parts = self._log_parts(X)
        return np.exp(parts[:, 1] - self._total(parts))

    def noise_log_likelihood_ratio(self, X):
        """log of the noise density over the Gaussian part's density, for each row.

        The noise posterior is this ratio plus the constant log-odds of the weights,
        through a logistic function, so it ranks rows exactly as the posterior does; but
        it keeps that ranking where the posterior rounds to 1 (rows far from every
        Gaussian) or is 0 everywhere (a noise weight of 0). The anomaly step scores the
        noise detector by it.
        """
        return -self.log_volume - self.gaussian.score_samples(X)

    def n_parameters(self, n_features):
        """The Gaussian mixture's free parameters plus one, the noise weight."""
        return n_parameters(self.covariance_type, self.n_components, n_features) + 1

    def bic(self, X):
        """``-2 log L + p log n``, lower is better (as the pipeline's other criteria)."""
        n, d = X.shape
        return float(-2 * self.score_samples(X).sum() + self.n_parameters(d) * math.log(n))


def _start(X, noise, n_components, covariance_type, reg_covar, seed, prior=None):
    """EM's start: k-means of the rows not taken as noise, the noise rows in the noise
    component; the parameters are the M-step of those responsibilities (under ``prior``,
    a conjugate prior of :func:`gmm_pipeline.maths.em.default_prior`, if given)."""
    resp = np.zeros((len(X), n_components))
    resp[~noise] = initial_responsibilities(X[~noise], n_components, "kmeans", seed)
    nk, means, covariances = estimate_parameters(
        X,
        resp[np.newaxis],
        covariance_type,
        reg_covar,
        gaussian_share=resp.sum(axis=1)[np.newaxis],
        prior=prior,
    )
    weights = np.append(nk[0], noise.sum()) / len(X)
    return Start(weights / weights.sum(), means[0], covariances[0])


def fit_noise_mixture(
    X,
    *,
    covariance_type,
    n_components,
    seeds=(0, 1, 2),
    initial_fraction=0.1,
    n_neighbors=10,
    reg_covar=1e-6,
    tol=1e-6,
    max_iter=1000,
    log_volume=None,
    prior=None,
):
    """Fit Gaussian mixtures with a noise component over component counts; keep the best BIC.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance_type : str
        scikit-learn's four types, or one of mclust's other ten models (fitted by the
        fourteen-model engine, without a prior).
    n_components : sequence of int
        The Gaussian component counts tried.
    seeds : sequence of int
        One k-means start per seed and count; the best log-likelihood of a count is kept.
    initial_fraction, n_neighbors
        The initial noise guess (:func:`initial_noise`).
    reg_covar, tol, max_iter
        As for the pipeline's fits.
    log_volume : float, optional
        ``log V``; by default :func:`log_hypervolume` of ``X``.
    prior : dict, optional
        Options of :func:`gmm_pipeline.maths.em.default_prior` (``fit.prior``, as
        :func:`gmm_pipeline.stages.fit_models.conjugate_prior_options` gives them): the Gaussian
        components' means and covariances are then posterior modes, as in the pipeline's
        other fits and in mclust's ``me`` with both a prior and ``Vinv``. BIC uses the
        log-likelihood at the mode, as there.

    Returns
    -------
    model : NoiseMixture or None
        The count with the lowest BIC (None if every start failed).
    table : DataFrame
        One row per start: ``TABLE_COLUMNS`` (the log-likelihood is the sum over rows).
    """
    X = np.asarray(X, dtype=np.float64)
    if log_volume is None:
        log_volume = log_hypervolume(X)
    if not np.isfinite(log_volume):
        raise PipelineInputError(
            "the data span no volume (a constant column or fewer distinct rows than features); "
            "a uniform noise component needs a region of positive volume"
        )
    if covariance_type not in COVARIANCE_TYPES + PRIOR_MODELS and prior is not None:
        raise PipelineInputError(
            f"fit.prior: mclust has no conjugate prior for {covariance_type} (it has one for "
            f"{', '.join(PRIOR_MODELS)} and scikit-learn's four types)"
        )
    noise = initial_noise(X, fraction=initial_fraction, n_neighbors=n_neighbors)
    n, d = X.shape
    rows, best = [], None
    for k in n_components:
        if k > int((~noise).sum()):
            continue
        settings = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter}
        if covariance_type in COVARIANCE_TYPES:
            conjugate = None if prior is None else default_prior(X, k, covariance_type, **prior)
            starts = [_start(X, noise, k, covariance_type, reg_covar, seed, conjugate) for seed in seeds]
            fits = run_starts(
                X,
                starts,
                covariance_type=covariance_type,
                noise_log_density=-log_volume,
                prior=conjugate,
                **settings,
            )
            outcomes = [
                (
                    None if fit.error else _noise_mixture(fit, covariance_type, d, log_volume, settings),
                    fit.error or "",
                    len(fit.lower_bounds),
                    fit.converged,
                )
                for fit in fits
            ]
        else:
            conjugate = None if prior is None else model_prior(X, k, covariance_type, **prior)
            outcomes = [
                _parsimonious_fit(X, noise, k, covariance_type, seed, log_volume, settings, conjugate)
                for seed in seeds
            ]
        for seed, (model, error, n_iter, converged) in zip(seeds, outcomes, strict=True):
            row = {
                "n_components": k,
                "seed": seed,
                "n_iter": n_iter,
                "error": error,
                "converged": bool(converged),
            }
            if model is not None:
                log_likelihood = float(model.score_samples(X).sum())
                row |= {
                    "total_log_likelihood": log_likelihood,
                    BIC_COLUMN: -2 * log_likelihood + model.n_parameters(d) * math.log(n),
                    "noise_weight": model.noise_weight,
                }
                # The best start of a count by likelihood; the best count by BIC.
                if best is None or (row[BIC_COLUMN], -log_likelihood) < (best[0], -best[1]):
                    best = (row[BIC_COLUMN], log_likelihood, model)
            rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return (best[2] if best else None), table


def _parsimonious_fit(X, noise, n_components, covariance_type, seed, log_volume, settings, prior=None):
    """One start of one of mclust's other ten models with the noise component, by the
    fourteen-model engine (mclust's ``me`` with ``Vinv``), from the same start as
    :func:`_start`: k-means of the rows not taken as noise, the noise rows in the noise
    component, at the posterior mode under ``prior`` if given: (the NoiseMixture or None,
    the error, the iterations, whether EM converged)."""
    resp = np.zeros((len(X), n_components + 1))
    resp[~noise, :n_components] = initial_responsibilities(X[~noise], n_components, "kmeans", seed)
    resp[noise, n_components] = 1.0
    if prior is None:
        fit = run_em(X, resp, covariance_type, noise_log_density=-log_volume, **settings)
    else:
        fit = run_map_em(
            X,
            resp,
            covariance_type,
            prior,
            noise_log_density=-log_volume,
            tol=settings["tol"],
            max_iter=settings["max_iter"],
        )
    if fit.singular:
        return None, f"singular at EM iteration {fit.n_iter} (mclust's test)", fit.n_iter, False
    weights = fit.weights[:-1] / fit.weights[:-1].sum()
    gaussian = fitted_mixture(
        replace(fit, weights=weights),
        n_features=X.shape[1],
        sample_weight_sum=len(X),
        n_components=n_components,
        covariance_type=covariance_type,
        init_params="kmeans",
        random_state=int(seed),
        **settings,
    )
    return NoiseMixture(gaussian, float(fit.weights[-1]), float(log_volume)), "", fit.n_iter, fit.converged


def _noise_mixture(fit, covariance_type, n_features, log_volume, settings):
    gaussian = as_estimator(
        fit,
        covariance_type=covariance_type,
        n_features=n_features,
        init_params="kmeans",
        seed=0,
        weights=fit.weights[:-1] / fit.weights[:-1].sum(),
        **settings,
    )
    return NoiseMixture(gaussian, float(fit.weights[-1]), float(log_volume))
