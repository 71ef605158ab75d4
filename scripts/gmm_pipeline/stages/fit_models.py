"""Rule fit_models: multi-seed GaussianMixture fitting, with every start recorded.

A start is one ``GaussianMixture(n_init=1)`` fit from one initialisation method and one seed,
so any start can be rerun on its own. Methods are scikit-learn's own ``init_params``,
``"agglomerative"`` (Ward, :mod:`gmm_pipeline.maths.initialisation`) and ``"hc_vvv"`` (mclust's
model-based hierarchical start, :mod:`gmm_pipeline.maths.hierarchical`). The same grid serves
the main fit, each cross-validation fold and each stability replicate.

**Convergence.** EM stops as mclust's does: when the relative change of the total
log-likelihood, ``|L_t - L_(t-1)| / (1 + |L_t|)``, is at most ``tol`` (scikit-learn's own
rule, an absolute change of the mean per point below ``tol``, stops long before the optimum
on some data). The estimator is driven through its public ``warm_start``: each stage runs
scikit-learn's loop with the absolute tolerance that equals the relative rule at the
current log-likelihood, and continues from where it stopped until the relative rule holds
or ``max_iter`` iterations are spent. The iterates are exactly those of one uninterrupted
EM run. A start that spends ``max_iter`` is recorded as not converged.

**Degenerate fits.** A fit is degenerate when a component's covariance sits at the
regularisation floor (its smallest eigenvalue at most ``eigenvalue_factor * reg_covar``)
or a component's expected size ``n * weight`` is below ``min_points`` (default: the number
of features + 1, the fewest points that determine a full covariance; none for tied
covariances, which are pooled over every row:
:func:`gmm_pipeline.maths.estimators.fewest_points`). Such fits can have an arbitrarily
high likelihood and win every criterion; mclust leaves them out. The best
start of a component count is its highest-lower-bound start that is not degenerate (the
first in table order on a tie, lower bounds within 1e-10 relative counting as tied); only
when every start is degenerate is the best of them kept, marked degenerate, and
selection leaves the model out.

**Engines.** By default (``engine="fast"``) every start of a component count runs at once
in :mod:`gmm_pipeline.maths.em`; ``engine="sklearn"`` fits each start with scikit-learn's
``GaussianMixture`` (:func:`gmm_pipeline.maths.single_start.fit_start`). Both make the same fits from the same starts.
"""

import logging
import time
import warnings

import numpy as np
import pandas as pd

from ..config.schema import schema_default, schema_definition_enum, schema_enum
from ..errors import PipelineInputError
from ..files.artifacts import write_csv
from ..files.model_io import save_models
from ..maths import criteria, em
from ..maths.covariance_models import PRIOR_MODELS, pipeline_names
from ..maths.estimators import COVARIANCE_TYPES
from ..maths.hierarchical import hierarchical_partitions
from ..maths.initialisation import (
    AGGLOMERATIVE,
    DEFAULT_MAX_SAMPLES,
    is_deterministic,
    partition_parameters,
    ward_partitions,
)
from ..maths.parsimonious_start import fit_planned_starts
from ..maths.single_start import add_criteria, describe_fit, estimator_init_params, fit_start, start_row
from .prepare_data import load_dataset

log = logging.getLogger(__name__)

HC_VVV = "hc_vvv"
# The start methods, as the schema declares them: scikit-learn's, AGGLOMERATIVE and HC_VVV.
INIT_METHODS = tuple(schema_definition_enum("init_method"))
# Defaults of the stopping and degeneracy rules and the engine, as the config schema
# declares them (the config's fit section can change them).
DEFAULT_TOL = schema_default("fit.tol")
DEFAULT_MAX_ITER = schema_default("fit.max_iter")
DEFAULT_REG_COVAR = schema_default("fit.reg_covar")
DEFAULT_EIGENVALUE_FACTOR = schema_default("fit.degenerate.eigenvalue_factor")
ENGINES = tuple(schema_enum("fit.engine"))
DEFAULT_ENGINE = schema_default("fit.engine")
DEFAULT_PRIOR = schema_default("fit.prior")

# Columns of the starts table, one row per (n_components, init_params, seed).
START_COLUMNS = [
    "dataset",
    "covariance_type",
    "n_components",
    "init_params",
    "seed",
    "lower_bound",
    "log_likelihood",
    "converged",
    "n_iter",
    "final_relative_change",
    "degenerate",
    "degenerate_reason",
    "min_covariance_eigenvalue",
    "min_component_points",
    *(criteria.column(name) for name in criteria.START_CRITERIA),
    "n_parameters",
    "is_best",
    "fit_seconds",
    "warnings",
    "error",
]


def resolve_seeds(seeds):
    """Turn the ``fit.seeds`` config value (a count or a list) into a list of seeds."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list)):
        raise PipelineInputError(f"fit.seeds must be a positive integer or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise PipelineInputError(f"fit.seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    return list(seeds)


def grid_settings(fit_config, *, n_seeds=None):
    """Keyword arguments of :func:`fit_type_grid` from the ``fit`` config section.

    Parameters
    ----------
    fit_config : dict
        The ``fit`` section (``covariance_types`` is left to the caller).
    n_seeds : int, optional
        Keep only the first ``n_seeds`` seeds (cross-validation and stability refits).
    """
    init_params = fit_config.get("init_params", schema_default("fit.init_params"))
    seeds = resolve_seeds(fit_config["seeds"])
    degenerate = fit_config.get("degenerate") or {}
    return {
        "n_components": list(fit_config["n_components"]),
        "seeds": seeds[:n_seeds] if n_seeds else seeds,
        "init_params": [init_params] if isinstance(init_params, str) else list(init_params),
        "max_iter": fit_config.get("max_iter", DEFAULT_MAX_ITER),
        "tol": fit_config.get("tol", DEFAULT_TOL),
        "reg_covar": fit_config.get("reg_covar", DEFAULT_REG_COVAR),
        "agglomerative_max_samples": fit_config.get(
            "agglomerative_max_samples", schema_default("fit.agglomerative_max_samples")
        ),
        "eigenvalue_factor": degenerate.get("eigenvalue_factor", DEFAULT_EIGENVALUE_FACTOR),
        "min_points": degenerate.get("min_points"),
        "engine": fit_config.get("engine", DEFAULT_ENGINE),
        "prior": fit_config.get("prior", DEFAULT_PRIOR),
    }


def conjugate_prior_options(prior):
    """``fit.prior`` as keyword arguments of :func:`gmm_pipeline.maths.em.default_prior`.

    ``"none"`` (or None) gives None, maximum likelihood; ``"default"`` gives ``{}``, mclust's
    defaults; a dict of ``shrinkage``, ``dof`` and ``scale`` is passed on as it is.
    """
    if prior in (None, "none"):
        return None
    return {} if prior == "default" else dict(prior)


def fit_batch(
    X,
    planned,
    *,
    n_components,
    covariance_types,
    max_iter=DEFAULT_MAX_ITER,
    tol=DEFAULT_TOL,
    reg_covar=DEFAULT_REG_COVAR,
    eigenvalue_factor=DEFAULT_EIGENVALUE_FACTOR,
    min_points=None,
    sample_weight=None,
    prior_options=None,
):
    """Fit every planned start of one component count at once with :mod:`gmm_pipeline.maths.em`,
    for each covariance type.

    The same starts, stopping rule and records as :func:`fit_start` one by one. A start's
    responsibilities (a k-means, k-means++ or random start) are made once and serve every
    covariance type, as ``GaussianMixture`` would make the same ones for each. Each start's
    ``fit_seconds`` is its own initialisation (the shared part split equally between the
    types) plus an equal share of its type's batch of EM.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    planned : list of (method, seed, partitions)
        ``partitions`` is None for scikit-learn's methods, else :func:`_partition_starts`'
        partition per k, or the reason there is none.
    n_components : int
    covariance_types : sequence of str
    max_iter, tol, reg_covar, eigenvalue_factor, min_points
        As for :func:`fit_start`.
    sample_weight : ndarray of shape (n_samples,), optional
        A weight per row, for k-means starts and EM (:func:`gmm_pipeline.maths.em.run_starts`).
    prior_options : dict, optional
        ``fit.prior`` as options of :func:`gmm_pipeline.maths.em.default_prior`
        (:func:`conjugate_prior_options`): the starts'
        first M-step and EM then give posterior modes (MAP).

    Returns
    -------
    fitted : dict of str to list of (GaussianMixture or None, dict)
        For each covariance type, the model and row of each planned start, in order.
    """
    if prior_options is not None and min_points is None:
        # A component of fewer than d + 1 points has a singular scatter, but under the prior
        # its covariance is still well defined: only the covariance floor marks a MAP fit.
        min_points = 0
    parsimonious = [kind for kind in covariance_types if kind not in COVARIANCE_TYPES]
    covariance_types = [kind for kind in covariance_types if kind in COVARIANCE_TYPES]
    settings = {
        "max_iter": max_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        "eigenvalue_factor": eigenvalue_factor,
        "min_points": min_points,
        "sample_weight": sample_weight,
        "prior_options": prior_options,
    }
    fitted = {kind: fit_planned_starts(X, planned, n_components, kind, settings) for kind in parsimonious}
    if not covariance_types:
        return fitted
    conjugate = {
        covariance_type: None
        if prior_options is None
        else em.default_prior(X, n_components, covariance_type, **prior_options)
        for covariance_type in covariance_types
    }
    made = {covariance_type: ([], [], [], []) for covariance_type in covariance_types}
    for method, seed, partitions in planned:
        shared_seconds, shared_messages, resp = 0.0, [], None
        if partitions is None:  # scikit-learn's method: one set of responsibilities for all types
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    resp = em.initial_responsibilities(X, n_components, method, seed, sample_weight)
                except (ValueError, np.linalg.LinAlgError) as err:
                    resp = str(err).replace("\n", " ")
            shared_messages = [str(w.message).replace("\n", " ") for w in caught]
            shared_seconds = (time.perf_counter() - started) / len(covariance_types)
        for covariance_type in covariance_types:
            starts, rows, messages, seconds = made[covariance_type]
            rows.append(start_row(X, n_components, covariance_type, method, seed))
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    starts.append(
                        _make_start(
                            X,
                            resp if partitions is None else partitions[n_components],
                            n_components,
                            covariance_type,
                            reg_covar=reg_covar,
                            sample_weight=sample_weight,
                            prior=conjugate[covariance_type],
                        )
                    )
                except (ValueError, np.linalg.LinAlgError) as err:
                    starts.append(em.Start(error=str(err).replace("\n", " ")))
            messages.append(shared_messages + [str(w.message).replace("\n", " ") for w in caught])
            seconds.append(shared_seconds + time.perf_counter() - started)
    return fitted | {
        covariance_type: _run_batch(
            X, planned, *made[covariance_type], covariance_type, conjugate[covariance_type], settings
        )
        for covariance_type in covariance_types
    }


def _make_start(X, start, n_components, covariance_type, *, reg_covar, sample_weight, prior):
    """An :class:`gmm_pipeline.maths.em.Start` from responsibilities (an array), a hard
    partition (rows, labels) or the reason there is none (a string)."""
    if isinstance(start, str):
        return em.Start(error=start)
    if isinstance(start, tuple):
        parameters = _partition_parameters(X, start, n_components, covariance_type, reg_covar)
        return em.start_from_parameters(
            parameters["weights_init"],
            parameters["means_init"],
            parameters["precisions_init"],
            covariance_type,
        )
    return em.start_from_responsibilities(X, start, covariance_type, reg_covar, sample_weight, prior=prior)


def _run_batch(X, planned, starts, rows, messages, seconds, covariance_type, prior, settings):
    """EM from every start of one covariance type at once; each start's (model, row)."""
    tol, max_iter, reg_covar = settings["tol"], settings["max_iter"], settings["reg_covar"]
    started = time.perf_counter()
    fits = em.run_starts(
        X,
        starts,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        tol=tol,
        max_iter=max_iter,
        sample_weight=settings["sample_weight"],
        prior=prior,
    )
    shared = (time.perf_counter() - started) / max(1, len(fits))
    fitted = []
    for (method, seed, partitions), row, fit, caught, own in zip(
        planned, rows, fits, messages, seconds, strict=True
    ):
        model = None
        if fit.error is not None:
            row["error"] = fit.error
        else:
            model = em.as_estimator(
                fit,
                covariance_type=covariance_type,
                n_features=X.shape[1],
                tol=tol,
                reg_covar=reg_covar,
                max_iter=max_iter,
                init_params=estimator_init_params(method, partitions),
                seed=seed,
            )
            model.start_ = {"init_params": method, "seed": int(seed)}
        row["fit_seconds"] = round(own + shared, 6)
        describe_fit(
            model,
            row,
            X,
            n_iter=len(fit.lower_bounds),
            final_change=em.relative_change(fit.lower_bounds, len(X)) if model is not None else np.nan,
            converged=fit.converged,
            messages=caught,
            tol=tol,
            max_iter=max_iter,
            reg_covar=reg_covar,
            eigenvalue_factor=settings["eigenvalue_factor"],
            min_points=settings["min_points"],
        )
        fitted.append((model, row))
    return fitted


def _partition_starts(X, n_components, builder, *, seed, max_samples):
    """One hierarchy's start for each k, shared by every covariance type: a partition
    (rows, labels) of the rows it clustered, or the reason there is none for that k (more
    clusters than distinct rows, or a hierarchy that could not be built)."""
    try:
        rows, partitions = builder(X, n_components, seed=seed, max_samples=max_samples)
    except ValueError as err:
        return dict.fromkeys(n_components, str(err))
    return {
        k: (rows, partitions[k])
        if k in partitions
        else f"the hierarchy has fewer than {k} distinct rows to start from"
        for k in n_components
    }


def _partition_parameters(X, partition, n_components, covariance_type, reg_covar):
    """A partition's mixture parameters for one covariance type (``*_init`` arguments)."""
    rows, labels = partition
    return partition_parameters(X[rows], labels, n_components, covariance_type, reg_covar)


def _planned_starts(X, *, n_components, seeds, init_params, agglomerative_max_samples, hierarchies=None):
    """Every (init method, seed) pair to fit, with the hierarchy's partitions per k where
    the method is one; with ``hierarchies`` (a dict), partitions built for the same rows
    before are taken from it, and new ones put in it."""
    builders = {AGGLOMERATIVE: ward_partitions, HC_VVV: hierarchical_partitions}
    planned = []
    for method in init_params:
        if method not in builders:
            planned += [(method, seed, None) for seed in seeds]
            continue
        # On few enough rows a hierarchy ignores the seed: one start says all.
        method_seeds = seeds[:1] if is_deterministic(len(X), agglomerative_max_samples) else seeds
        for seed in method_seeds:
            key = (method, seed, tuple(n_components), agglomerative_max_samples)
            partitions = None if hierarchies is None else hierarchies.get(key)
            if partitions is None:
                partitions = _partition_starts(
                    X, n_components, builders[method], seed=seed, max_samples=agglomerative_max_samples
                )
                if hierarchies is not None:
                    hierarchies[key] = partitions
            planned.append((method, seed, partitions))
    return planned


def fit_type_grid(X, *, covariance_type, **options):
    """Fit every (component count, initialisation method, seed) start for one covariance type.

    :func:`fit_grid` for the one type ``covariance_type``; ``options`` are its other
    arguments. Returns its ``starts`` and ``best_models``.
    """
    return fit_grid(X, covariance_types=[covariance_type], **options)


def fit_grid(
    X,
    *,
    covariance_types,
    n_components,
    seeds,
    init_params,
    dataset="",
    max_iter=DEFAULT_MAX_ITER,
    tol=DEFAULT_TOL,
    reg_covar=DEFAULT_REG_COVAR,
    agglomerative_max_samples=DEFAULT_MAX_SAMPLES,
    eigenvalue_factor=DEFAULT_EIGENVALUE_FACTOR,
    min_points=None,
    engine=DEFAULT_ENGINE,
    criteria_for="all",
    sample_weight=None,
    prior=DEFAULT_PRIOR,
    hierarchies=None,
):
    """Fit every (covariance type, component count, initialisation method, seed) start.

    Each start is made once and serves every covariance type: the k-means (or other
    scikit-learn) responsibilities of a (k, method, seed), and a hierarchy's partitions,
    which ``GaussianMixture`` and mclust would make the same for each type.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance_types : sequence of {"full", "tied", "diag", "spherical"}
    n_components : sequence of int
    seeds : sequence of int
    init_params : str or sequence of str
        Initialisation methods (``INIT_METHODS``): scikit-learn's ``"kmeans"``,
        ``"k-means++"``, ``"random"``, ``"random_from_data"``, ``"agglomerative"`` and
        ``"hc_vvv"``.
    dataset : str
        Name written into the table and error messages.
    max_iter, tol
        EM's stopping rule (:func:`gmm_pipeline.maths.single_start.run_em`).
    reg_covar : float
        Passed to :class:`~sklearn.mixture.GaussianMixture`.
    agglomerative_max_samples : int
        Rows a hierarchy (Ward or VVV) is built on at most.
    eigenvalue_factor, min_points
        The degeneracy rule (:func:`gmm_pipeline.maths.single_start.degeneracy`).
    engine : {"fast", "sklearn"}
        ``"fast"`` runs all starts of a component count at once (:func:`fit_batch`);
        ``"sklearn"`` fits each with scikit-learn's estimator (:func:`gmm_pipeline.maths.single_start.fit_start`), the
        reference the fast engine is tested against. Both give the same fits.
    criteria_for : {"all", "best"}
        Which starts get their log-likelihood and criteria computed: every start (the
        starts table), or only each count's best (all that refits for cross-validation and
        stability use); the others keep NaN there.
    sample_weight : ndarray of shape (n_samples,), optional
        A weight per row (the weighted bootstrap): k-means starts, EM and the criteria use
        it, the hierarchical starts do not (they only propose a partition to start from).
        Needs ``engine="fast"``: scikit-learn's estimator takes no weights.
    prior : "none", "default" or dict
        ``fit.prior``: maximum likelihood, or posterior modes under mclust's conjugate
        prior with its defaults or the given ``shrinkage``, ``dof`` and ``scale``
        (:func:`gmm_pipeline.maths.em.default_prior`). Needs ``engine="fast"`` too.
    hierarchies : dict, optional
        Where the hierarchical starts' partitions are kept between calls on the same rows:
        the first call fills it, later ones read it. A weighted bootstrap's replicates
        (:mod:`gmm_pipeline.stages.assess_stability`) keep every row and only reweight them, and a
        hierarchy ignores the weights, so they share one dict; rows that differ must not.

    Returns
    -------
    starts : DataFrame
        One row per start, columns ``START_COLUMNS``, ordered by covariance type (in the
        given order), component count, method (in the given order) and seed.
    best_models : list of GaussianMixture
        The best start per covariance type and component count (see the module
        docstring), in the same order; counts whose every start failed are left out
        (their rows say why).
    """
    init_params = [init_params] if isinstance(init_params, str) else list(init_params)
    unknown = [method for method in init_params if method not in INIT_METHODS]
    if unknown or not init_params:
        raise PipelineInputError(
            f"fit.init_params has {unknown or 'no methods'}; expected methods from {INIT_METHODS}"
        )
    if sample_weight is not None and engine != "fast":
        raise PipelineInputError(
            "weighted fits (selection.stability.method: weighted) need fit.engine: fast; "
            "scikit-learn's GaussianMixture takes no sample weights"
        )
    prior_options = conjugate_prior_options(prior)
    if prior_options is not None and engine != "fast":
        raise PipelineInputError(
            "fit.prior needs fit.engine: fast; scikit-learn's GaussianMixture has no conjugate prior"
        )
    try:
        covariance_types = pipeline_names(covariance_types)
    except ValueError as err:
        raise PipelineInputError(f"fit.covariance_types: {err}") from None
    parsimonious = [kind for kind in covariance_types if kind not in COVARIANCE_TYPES]
    if parsimonious and engine != "fast":
        raise PipelineInputError(
            f"fit.covariance_types {parsimonious} need fit.engine: fast: mclust's models beyond "
            "scikit-learn's four are fitted by the fourteen-model engine"
        )
    without_prior = [kind for kind in parsimonious if kind not in PRIOR_MODELS]
    if without_prior and prior_options is not None:
        raise PipelineInputError(
            f"fit.prior: mclust has no conjugate prior for {', '.join(without_prior)} "
            f"(it has one for {', '.join(PRIOR_MODELS)} and scikit-learn's four types)"
        )
    max_k = max(n_components)
    if X.shape[0] < max_k:
        raise PipelineInputError(
            f"dataset {dataset!r} has {X.shape[0]} data points, fewer than the largest "
            f"component count in fit.n_components ({max_k}); each component needs at least "
            f"one point. Lower fit.n_components or use more data."
        )
    planned = _planned_starts(
        X,
        n_components=n_components,
        seeds=list(seeds),
        init_params=init_params,
        agglomerative_max_samples=agglomerative_max_samples,
        hierarchies=hierarchies,
    )
    settings = {
        "max_iter": max_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        "eigenvalue_factor": eigenvalue_factor,
        "min_points": min_points,
    }
    rows = {covariance_type: [] for covariance_type in covariance_types}
    best_models = {covariance_type: [] for covariance_type in covariance_types}
    for k in sorted(n_components):
        if engine == "fast":
            results = fit_batch(
                X,
                planned,
                n_components=k,
                covariance_types=covariance_types,
                sample_weight=sample_weight,
                prior_options=prior_options,
                **settings,
            )
        else:
            results = {
                covariance_type: [
                    _fit_one(X, k, method, seed, by_k, {"covariance_type": covariance_type, **settings})
                    for method, seed, by_k in planned
                ]
                for covariance_type in covariance_types
            }
        for covariance_type in covariance_types:
            best = _best_of_count(
                results[covariance_type], rows[covariance_type], X, criteria_for, sample_weight, engine
            )
            if best is None:
                log.warning("dataset %s, %s, k=%d: every start failed", dataset, covariance_type, k)
                continue
            best_model, best_row = best
            best_models[covariance_type].append(best_model)
            log.info(
                "dataset %s, %s, k=%d: best start %s seed %d, lower bound %.6f%s",
                dataset,
                covariance_type,
                k,
                best_row["init_params"],
                best_row["seed"],
                best_row["lower_bound"],
                " (degenerate: every start is)" if best_row["degenerate"] else "",
            )
    starts = pd.DataFrame([row for covariance_type in covariance_types for row in rows[covariance_type]])
    starts.insert(0, "dataset", dataset)
    return starts[START_COLUMNS], [model for models in best_models.values() for model in models]


def _best_of_count(results, rows, X, criteria_for, sample_weight, engine):
    """Record one component count's starts in ``rows`` and mark its best; the best
    (model, row), or None when every start failed. ``engine`` says how the criteria are
    computed (:func:`add_criteria`)."""
    fitted = []
    for model, row in results:
        row["is_best"] = False
        rows.append(row)
        if model is not None:
            fitted.append((model, row))
    if not fitted:
        return None
    # The highest lower bound among sound fits; a degenerate one only if all are.
    sound = [pair for pair in fitted if not pair[1]["degenerate"]] or fitted
    best_model, best_row = best_start(sound)
    best_row["is_best"] = True
    for model, row in fitted if criteria_for == "all" else [(best_model, best_row)]:
        add_criteria(model, row, X, sample_weight, engine)
    return best_model, best_row


def best_start(fitted):
    """The (model, row) with the highest lower bound; among starts within rounding of it
    (1e-10 relative: the same optimum reached by different starts), the first in order, so
    that both engines, whose last digits may differ, choose the same start."""
    highest = max(row["lower_bound"] for _, row in fitted)
    margin = 1e-10 * (1.0 + abs(highest))
    return next(pair for pair in fitted if pair[1]["lower_bound"] >= highest - margin)


def _fit_one(X, k, method, seed, partitions, settings):
    """One start through scikit-learn's own estimator (``fit.engine: sklearn``)."""
    start = None if partitions is None else partitions[k]
    if isinstance(start, str):  # no start of this method for this k
        return None, start_row(X, k, settings["covariance_type"], method, seed, error=start)
    if start is not None:
        try:
            start = _partition_parameters(X, start, k, settings["covariance_type"], settings["reg_covar"])
        except ValueError as err:  # numpy's LinAlgError too: a partition without a usable covariance
            return None, start_row(X, k, settings["covariance_type"], method, seed, error=str(err))
    return fit_start(
        X, n_components=k, seed=seed, init_params=method, start=start, with_criteria=False, **settings
    )


def fit_to_files(*, data_path, meta_path, fit_params, starts_path, models_path):
    """Run the fit grid for one dataset and every covariance type of ``fit_params``; write its
    starts table and best models."""
    dataset = load_dataset(data_path, meta_path)
    starts, models = fit_grid(
        dataset.X,
        covariance_types=fit_params["covariance_types"],
        dataset=dataset.name,
        **grid_settings(fit_params),
    )
    write_csv(starts_path, starts)
    save_models(models_path, models)
    return starts
