"""The fourteen-model engine and its estimator: mclust's BIC tables cell by cell, the
compiled loop against its numpy steps, scikit-learn's checks and its four types."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gmm_pipeline.errors import PipelineInputError
from gmm_pipeline.maths.covariance_models import MODELS, n_parameters
from gmm_pipeline.maths.parsimonious_em import e_step, m_step, run_em
from gmm_pipeline.maths.parsimonious_mixture import ParsimoniousGaussianMixture, start_responsibilities
from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import check_estimator

DATA = Path(__file__).parent / "data"
FAITHFUL = pd.read_csv(DATA / "faithful.csv").to_numpy(float)
# The pipeline's default starts (config.yaml's fit: seeds 10, these methods, tol 1e-6).
DEFAULT_METHODS = ("kmeans", "k-means++", "agglomerative", "hc_vvv")
DEFAULT_SEEDS = range(10)
DEFAULT_TOL = 1e-6


def _bic_table(X, methods, seeds, tol, models=MODELS, prior=False):
    """Each (model, G) cell's best BIC over the starts, NaN where every start is singular;
    with ``prior``, at the posterior mode under mclust's default prior."""
    from gmm_pipeline.maths.parsimonious_prior import model_prior, run_map_em

    n, d = X.shape
    cells = {}
    for G in range(1, 10):
        starts = [
            start_responsibilities(X, G, method, seed)
            for method in methods
            for seed in (seeds[:1] if method in ("agglomerative", "hc_vvv") else seeds)
        ]
        for model in models:
            if prior:
                conjugate = model_prior(X, G, model)
                fits = [run_map_em(X, resp, model, conjugate, tol=tol) for resp in starts]
            else:
                fits = [run_em(X, resp, model, tol=tol) for resp in starts]
            lls = [fit.log_likelihood for fit in fits if not fit.singular]
            cells[model, G] = -2 * max(lls) + n_parameters(model, G, d) * np.log(n) if lls else np.nan
    return pd.Series(cells)


@pytest.mark.parametrize(
    "name, X, choice",
    [("faithful", FAITHFUL, ("EEE", 3, 2314.316)), ("iris", load_iris().data, ("VEV", 2, 561.728))],
)
def test_every_cell_of_the_fourteen_models_is_as_good_as_mclusts(name, X, choice):
    # mclust 6.0.0's mclustBIC(X, G = 1:9), all fourteen models (tests/data/*.bic14.csv).
    reference = pd.read_csv(DATA / f"{name}.bic14.csv").set_index(["model", "n_components"])
    reference = reference["mclust_bic_lower_is_better"]
    ours = _bic_table(X, DEFAULT_METHODS, list(DEFAULT_SEEDS), DEFAULT_TOL)
    assert len(ours) == len(reference) == 126
    compared = reference.dropna()
    gaps = ours.loc[compared.index] - compared
    assert not gaps.isna().any(), gaps[gaps.isna()]  # no cell singular where mclust has one
    assert (gaps <= 0.05).all(), gaps[gaps > 0.05]
    model, G, value = choice
    assert ours.idxmin() == reference.idxmin() == (model, G)
    assert ours.min() <= value + 1e-3


def test_from_mclusts_own_start_iris_lands_on_mclusts_fit():
    # One hc_vvv start, mclust's tolerance, no regularisation: mclust's VEV 2 to 1e-6.
    X = load_iris().data
    model = ParsimoniousGaussianMixture(2, covariance_type="VEV", reg_covar=0).fit(X)
    assert model.bic(X) == pytest.approx(561.728462115075, abs=1e-6)
    assert model.model_name_ == "VEV"


def _numpy_em(X, resp, model, sample_weight, tol):
    """EM by the numpy forms of the steps: the reference the compiled loop must equal."""
    state, previous = None, None
    for iteration in range(1, 1000):
        _, weights, means, covariances, state = m_step(X, resp, model, sample_weight, state)
        resp, log_likelihood = e_step(X, weights, means, covariances, sample_weight)
        if previous is not None and abs(log_likelihood - previous) / (1 + abs(log_likelihood)) <= tol:
            return weights, means, covariances, log_likelihood, iteration
        previous = log_likelihood


@pytest.mark.parametrize("model", ["VII", "EEI", "EVI", "EEE", "VEE", "EVE", "VVE", "VEV", "EVV", "VVV"])
def test_the_compiled_loop_equals_its_numpy_steps_with_weights(model):
    rng = np.random.default_rng(7)
    X = load_iris().data[:, :3] + 100.0  # far from the origin: the loop centres the rows
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    resp = start_responsibilities(X, 3, "kmeans", 0)
    fit = run_em(X, resp, model, sample_weight=weights, tol=1e-8)
    expected = _numpy_em(X, resp, model, weights, 1e-8)
    assert fit.n_iter == expected[4]
    np.testing.assert_allclose(fit.log_likelihood, expected[3], rtol=1e-10)
    for ours, theirs in zip((fit.weights, fit.means, fit.covariances), expected[:3], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_whole_weights_fit_as_the_rows_repeated():
    X = load_iris().data
    repeats = np.random.default_rng(1).integers(1, 4, size=len(X))
    weighted = ParsimoniousGaussianMixture(3, covariance_type="VEV").fit(X, sample_weight=repeats)
    repeated = ParsimoniousGaussianMixture(3, covariance_type="VEV").fit(np.repeat(X, repeats, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-8)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-7)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_each_model_passes_scikit_learns_estimator_checks(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_components in (1, 2):
            results = check_estimator(
                ParsimoniousGaussianMixture(n_components, covariance_type=model), on_fail=None
            )
            failed = [result["check_name"] for result in results if result["status"] == "failed"]
            assert failed == [], (n_components, failed)


@pytest.mark.parametrize("alias", ["spherical", "diag", "tied", "full"])
def test_scikit_learns_four_types_are_its_fits(alias):
    # Our optimum is scikit-learn's: started there, its EM stays, with the same BIC (so the
    # same parameter count) and the same parameters.
    X = load_iris().data
    ours = ParsimoniousGaussianMixture(
        3, covariance_type=alias, tol=1e-12, init_params="kmeans", random_state=0
    )
    ours.fit(X)
    inverse = np.linalg.inv(ours.covariances_)
    precisions = {
        "spherical": 1 / ours.covariances_[:, 0, 0],
        "diag": 1 / np.diagonal(ours.covariances_, axis1=1, axis2=2),
        "tied": inverse[0],
        "full": inverse,
    }[alias]
    theirs = GaussianMixture(
        3,
        covariance_type=alias,
        tol=1e-12,
        max_iter=5000,
        weights_init=ours.weights_,
        means_init=ours.means_,
        precisions_init=precisions,
        random_state=0,
    )
    theirs.fit(X)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), abs=1e-6)
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-5)
    full = {
        "spherical": lambda c, d: c[:, None, None] * np.eye(d),
        "diag": lambda c, d: np.stack([np.diag(v) for v in c]),
        "tied": lambda c, d: np.broadcast_to(c, (3, d, d)),
        "full": lambda c, d: c,
    }[alias]
    np.testing.assert_allclose(ours.covariances_, full(theirs.covariances_, 4), atol=1e-5)


def test_a_fitted_model_scores_predicts_and_samples():
    X = load_iris().data
    model = ParsimoniousGaussianMixture(3, covariance_type="EVE", random_state=0).fit(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X) == proba.argmax(axis=1)).all()
    assert model.score(X) == pytest.approx(model.score_samples(X).mean())
    assert model.lower_bound_ == pytest.approx(model.score(X), rel=1e-6)
    assert model.aic(X) < model.bic(X) < model.icl(X)
    drawn, labels = model.sample(500)
    assert drawn.shape == (500, 4) and np.bincount(labels, minlength=3).sum() == 500
    # EVE: one orientation, so the covariances share their eigenvectors (they commute) and
    # have one volume (determinant), but not one shape.
    first = model.covariances_[0]
    for covariance in model.covariances_[1:]:
        np.testing.assert_allclose(covariance @ first, first @ covariance, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(model.covariances_), np.linalg.det(first), rtol=1e-8)
    assert not np.allclose(model.covariances_[1], model.covariances_[2], rtol=1e-2)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"covariance_type": "VVX"}, "covariance_type 'VVX' is not one of: EII"),
        ({"n_components": 0}, "n_components must be an integer of at least 1, got 0"),
        ({"tol": -1.0}, "tol must be a number of at least 0, got -1.0"),
        ({"init_params": "kmeans++"}, "init_params must name methods among"),
    ],
)
def test_bad_parameters_fail_with_one_line_naming_them(params, message):
    with pytest.raises(ValueError, match=message):
        ParsimoniousGaussianMixture(**params).fit(load_iris().data)


def test_the_noise_component_fits_as_the_pipelines_engine_fits_it():
    # mclust's Vinv in the fourteen-model engine: VVV with noise, from the same start (k-means
    # of the rows not first taken as noise), lands where the pipeline's full engine does.
    from gmm_pipeline.maths.noise import fit_noise_mixture

    rng = np.random.default_rng(0)
    X = np.vstack(
        [rng.normal(size=(300, 2)), rng.normal(loc=5, size=(300, 2)), rng.uniform(-5, 10, size=(30, 2))]
    )
    settings = {"n_components": [1, 2, 3], "seeds": [0, 1], "tol": 1e-10}
    ours, table = fit_noise_mixture(X, covariance_type="VVV", **settings)
    theirs, reference = fit_noise_mixture(X, covariance_type="full", **settings)
    assert ours.n_components == theirs.n_components == 2
    assert isinstance(ours.gaussian, ParsimoniousGaussianMixture)
    np.testing.assert_allclose(table["total_log_likelihood"], reference["total_log_likelihood"], rtol=1e-9)
    assert ours.noise_weight == pytest.approx(theirs.noise_weight, rel=1e-4)  # a flat direction
    np.testing.assert_allclose(ours.gaussian.means_, theirs.gaussian.means_, rtol=1e-4)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-5)


# mclust 6.0.0's mclustBIC(X, G = 1:9, prior = priorControl()) for the six of the ten other
# models it gives a prior, made with Debian's r-cran-mclust (docs/covariance-models.md).
PRIOR_TABLES = {name: pd.read_csv(DATA / f"{name}.prior14.csv") for name in ("faithful", "iris")}


PRIOR_MODELS = ("EII", "EEI", "VEI", "EVI", "EEV", "VEV")


def test_from_mclusts_own_start_the_prior_gives_mclusts_fits():
    # The six M-steps with a prior, as mclust's Fortran has them (each its own way), and
    # mclust's mvn forms for one component: on iris every cell equals mclust's.
    ours = _bic_table(load_iris().data, ("hc_vvv",), [0], 1e-5, models=PRIOR_MODELS, prior=True)
    reference = PRIOR_TABLES["iris"].set_index(["model", "n_components"])["mclust_bic_lower_is_better"]
    gaps = (ours - reference.loc[ours.index]).abs()
    assert len(gaps) == 54 and gaps.max() < 1e-3, gaps[gaps >= 1e-3]


def test_with_the_default_starts_the_prior_cells_are_as_good_as_mclusts():
    ours = _bic_table(
        FAITHFUL, DEFAULT_METHODS, list(DEFAULT_SEEDS), DEFAULT_TOL, models=PRIOR_MODELS, prior=True
    )
    reference = PRIOR_TABLES["faithful"].set_index(["model", "n_components"])["mclust_bic_lower_is_better"]
    gaps = ours - reference.loc[ours.index]
    # VEI with 5 components empties a component on every start by tol 1e-6 (mclust's 1e-5
    # stops before): a singular cell, left out as mclust leaves its own.
    assert list(gaps[gaps.isna()].index) == [("VEI", 5)]
    assert (gaps.dropna() <= 0.05).all(), gaps[gaps > 0.05]
    assert ours.idxmin() == ("VEV", 2) and reference.loc[ours.index].idxmin() == ("VEV", 2)


def test_the_fit_grid_and_the_noise_component_take_the_prior():
    from gmm_pipeline.maths.noise import fit_noise_mixture
    from gmm_pipeline.stages.fit_models import conjugate_prior_options, fit_type_grid

    X = load_iris().data
    starts, models = fit_type_grid(
        X,
        covariance_type="VEV",
        n_components=[2],
        seeds=[0],
        init_params=["hc_vvv"],
        tol=1e-5,
        prior="default",
    )
    reference = PRIOR_TABLES["iris"].set_index(["model", "n_components"])["mclust_bic_lower_is_better"]
    (row,) = starts.to_dict("records")
    assert row["bic_lower_is_better"] == pytest.approx(reference["VEV", 2], abs=1e-3)
    assert isinstance(models[0], ParsimoniousGaussianMixture) and not row["degenerate"]
    noise, table = fit_noise_mixture(
        X, covariance_type="VEV", n_components=[1, 2], seeds=[0], prior=conjugate_prior_options("default")
    )
    assert noise is not None and (table["error"] == "").all() and 0 <= noise.noise_weight < 1
    with pytest.raises(PipelineInputError, match="mclust has no conjugate prior for EVE"):
        fit_type_grid(
            X, covariance_type="EVE", n_components=[2], seeds=[0], init_params=["kmeans"], prior="default"
        )
