"""BIC, AIC and ICL of real fits against direct computation."""

import numpy as np
import pytest
from gmm_pipeline.maths import criteria
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("k, d", [(1, 1), (3, 2), (5, 4)])
def test_n_parameters_matches_scikit_learn(covariance_type, k, d):
    model = GaussianMixture(n_components=k, covariance_type=covariance_type)
    model.means_ = np.zeros((k, d))
    assert criteria.n_parameters(covariance_type, k, d) == model._n_parameters()


def test_icl_is_bic_plus_twice_the_map_classification_entropy(three_blobs):
    X, _ = three_blobs
    # Overlapping components so the entropy term is far from zero.
    model = GaussianMixture(n_components=4, covariance_type="full", random_state=0).fit(X)
    # Posterior probabilities straight from the Gaussian densities, not from predict_proba.
    weighted = np.column_stack(
        [
            w * multivariate_normal(mean, cov).pdf(X)
            for w, mean, cov in zip(model.weights_, model.means_, model.covariances_, strict=True)
        ]
    )
    tau = weighted / weighted.sum(axis=1, keepdims=True)
    log_likelihood = np.log(weighted.sum(axis=1)).sum()
    p = criteria.n_parameters("full", 4, 2)
    bic = -2 * log_likelihood + p * np.log(len(X))
    icl = bic - 2 * np.log(tau.max(axis=1)).sum()
    assert criteria.icl(model, X) == pytest.approx(icl, rel=1e-9)
    assert model.bic(X) == pytest.approx(bic, rel=1e-9)
    assert criteria.classification_entropy_penalty(model, X) > 1.0


def test_icl_equals_bic_for_one_component_and_never_falls_below_it(three_blobs):
    X, _ = three_blobs
    one = GaussianMixture(n_components=1, random_state=0).fit(X)
    assert criteria.icl(one, X) == one.bic(X)
    for k in (2, 3, 5):
        model = GaussianMixture(n_components=k, random_state=0).fit(X)
        assert criteria.icl(model, X) >= model.bic(X)


def test_every_criterion_column_and_label_states_the_sign_convention():
    for name in criteria.CRITERIA:
        assert criteria.column(name).endswith("lower_is_better")
        assert "lower is better" in criteria.describe(name)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_start_criteria_are_scikit_learns_to_the_last_bit(covariance_type):
    X = np.random.default_rng(4).normal(size=(120, 3))
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    values = criteria.start_criteria(model, X)
    assert values["log_likelihood"] == model.score(X)
    assert values["bic"] == model.bic(X) and values["aic"] == model.aic(X)
    assert values["icl"] == criteria.icl(model, X)
