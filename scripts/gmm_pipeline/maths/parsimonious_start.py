"""One start of the fourteen-model engine, recorded as the fit grid records a start.

The fit grid (:mod:`gmm_pipeline.stages.fit_models`) fits mclust's models beyond
scikit-learn's four here: each planned start's responsibilities
(:func:`~gmm_pipeline.maths.parsimonious_mixture.start_responsibilities`, or a hierarchy's
partition), EM (:func:`~gmm_pipeline.maths.parsimonious_em.run_em`), and the start's row
with the same columns and the same degeneracy rule as every other start
(:func:`~gmm_pipeline.maths.single_start.degeneracy`). A fit that turned singular by
mclust's test keeps its last sound iteration and is marked degenerate, so selection leaves
it out as mclust leaves such a cell empty.
"""

import time

import numpy as np

from .parsimonious_em import run_em
from .parsimonious_mixture import fitted_mixture, partition_responsibilities, start_responsibilities
from .parsimonious_prior import model_prior, run_map_em
from .single_start import describe_fit, start_row


def fit_planned_starts(X, planned, n_components, covariance_type, settings):
    """Every planned start of one component count of one model, by the fourteen-model
    engine; each start's (model, row), in the planned order.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    planned : list of (method, seed, partitions)
        As the fit grid plans them (:func:`gmm_pipeline.stages.fit_models.fit_batch`):
        ``partitions`` None for a seeded method, else a hierarchy's partition per count
        (rows, labels) or the reason there is none.
    n_components : int
    covariance_type : str
        One of mclust's models.
    settings : dict
        ``tol``, ``max_iter``, ``reg_covar``, ``eigenvalue_factor``, ``min_points``,
        ``sample_weight`` and ``prior_options`` (None, or ``fit.prior`` as options of
        :func:`~gmm_pipeline.maths.parsimonious_prior.model_prior`), as for the fit grid.

    Returns
    -------
    list of (ParsimoniousGaussianMixture or None, dict)
    """
    weights = settings["sample_weight"]
    weight_sum = len(X) if weights is None else float(np.sum(weights))
    fitted = []
    for method, seed, partitions in planned:
        row = start_row(X, n_components, covariance_type, method, seed)
        started = time.perf_counter()
        try:
            if partitions is None:
                resp = start_responsibilities(
                    X, n_components, method, seed, sample_weight=weights, covariance_type=covariance_type
                )
            elif isinstance(partitions[n_components], str):
                raise ValueError(partitions[n_components])
            else:
                rows, labels = partitions[n_components]
                resp = partition_responsibilities(
                    X, rows, labels, n_components, covariance_type=covariance_type, sample_weight=weights
                )
        except (ValueError, np.linalg.LinAlgError) as err:
            row["error"] = str(err).replace("\n", " ")
            fitted.append((None, row))
            continue
        if settings.get("prior_options") is None:
            fit = run_em(
                X,
                resp,
                covariance_type,
                sample_weight=weights,
                tol=settings["tol"],
                max_iter=settings["max_iter"],
                reg_covar=settings["reg_covar"],
            )
        else:  # the posterior mode; the prior's scale keeps covariances sound, as in mclust
            prior = model_prior(X, n_components, covariance_type, **settings["prior_options"])
            fit = run_map_em(
                X,
                resp,
                covariance_type,
                prior,
                sample_weight=weights,
                tol=settings["tol"],
                max_iter=settings["max_iter"],
            )
        row["fit_seconds"] = round(time.perf_counter() - started, 6)
        if not np.isfinite(fit.log_likelihood):
            row["error"] = "the first M-step gave a singular covariance (mclust's test)"
            fitted.append((None, row))
            continue
        model = fitted_mixture(
            fit,
            n_features=X.shape[1],
            sample_weight_sum=weight_sum,
            n_components=n_components,
            covariance_type=covariance_type,
            tol=settings["tol"],
            max_iter=settings["max_iter"],
            reg_covar=settings["reg_covar"],
            init_params=method,
            random_state=int(seed),
        )
        model.start_ = {"init_params": method, "seed": int(seed)}
        describe_fit(
            model,
            row,
            X,
            n_iter=fit.n_iter,
            final_change=fit.final_relative_change,
            converged=fit.converged,
            messages=[],
            tol=settings["tol"],
            max_iter=settings["max_iter"],
            reg_covar=settings["reg_covar"],
            eigenvalue_factor=settings["eigenvalue_factor"],
            min_points=settings["min_points"],
            singular_at=fit.n_iter if fit.singular else None,
        )
        fitted.append((model, row))
    return fitted
