"""Model-selection criteria of a fitted Gaussian mixture, all on one scale: lower is better.

BIC and AIC are scikit-learn's (``-2 log L + penalty``). ICL is BIC plus the classification
entropy term, in the hard (MAP) form mclust uses:

    ICL = BIC - 2 * sum_i log max_k tau_ik,

with ``tau = predict_proba(X)``; it is never below BIC, and the gap grows with overlapping
components. The held-out criterion ``cv_nll`` is minus the mean held-out log-likelihood per
point (see :mod:`gmm_pipeline.stages.cross_validate`), negated so that it too is lower-is-better.
"""

import numpy as np

from .covariance_models import n_parameters

CRITERIA = ("bic", "aic", "icl", "cv_nll")
# Criteria each start gets on its own data; cv_nll needs refits and is per model.
START_CRITERIA = ("bic", "aic", "icl")
SIGN_CONVENTION = "lower is better"


def column(criterion):
    """Table column of ``criterion``: its name with the sign convention, as every table states it."""
    return f"{criterion}_lower_is_better"


def describe(criterion):
    """Axis and report label of a criterion, with its sign convention."""
    names = {
        "bic": "BIC",
        "aic": "AIC",
        "icl": "ICL",
        "cv_nll": "held-out negative log-likelihood per point",
    }
    return f"{names[criterion]} ({SIGN_CONVENTION})"


def classification_entropy_penalty(model, X, sample_weight=None):
    """The ICL term ``-2 * sum_i log max_k tau_ik`` (zero when every point is certain);
    with ``sample_weight`` each row's term counts its weight times."""
    log_largest = np.log(model.predict_proba(X).max(axis=1))
    return float(-2.0 * (log_largest.sum() if sample_weight is None else log_largest @ sample_weight))


def icl(model, X):
    """Integrated completed likelihood criterion of a fitted model on ``X`` (lower is better)."""
    return float(model.bic(X)) + classification_entropy_penalty(model, X)


def start_criteria(model, X, sample_weight=None):
    """Mean log-likelihood per point and BIC, AIC and ICL of a fitted model on ``X``.

    The same numbers as ``model.score``, ``model.bic``, ``model.aic`` and :func:`icl`, from
    one pass of ``score_samples`` and one of ``predict_proba`` instead of five. With
    ``sample_weight`` each row counts its weight times, and n is the weights' sum (the
    weighted likelihood of a weighted bootstrap).
    """
    return criteria_from_rows(
        model.score_samples(X),
        np.log(model.predict_proba(X).max(axis=1)),
        n_parameters(model.covariance_type, model.n_components, X.shape[1]),
        sample_weight,
    )


def criteria_from_rows(log_density, log_largest_responsibility, n_free, sample_weight=None):
    """:func:`start_criteria` from each row's log-likelihood and the log of its largest
    responsibility (however computed: scikit-learn's passes, or
    :func:`gmm_pipeline.maths.em.score_rows` in one compiled pass), and the model's number of
    free parameters (:func:`n_parameters`)."""
    if sample_weight is None:
        n_samples = len(log_density)
        mean = float(log_density.mean())
        largest = float(log_largest_responsibility.sum())
    else:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        n_samples = float(sample_weight.sum())
        mean = float(log_density @ sample_weight / n_samples)
        largest = float(log_largest_responsibility @ sample_weight)
    bic = -2 * mean * n_samples + n_free * np.log(n_samples)
    aic = -2 * mean * n_samples + 2 * n_free
    return {"log_likelihood": mean, "bic": float(bic), "aic": float(aic), "icl": float(bic) - 2.0 * largest}
