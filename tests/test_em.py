"""The batched EM engine: the same fits as scikit-learn's GaussianMixture from the same starts."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import start_rules
from gmm_pipeline.maths import criteria, em
from gmm_pipeline.maths.estimators import COVARIANCE_TYPES
from gmm_pipeline.maths.single_start import fit_start, run_em
from gmm_pipeline.stages.fit_models import fit_type_grid
from gmm_pipeline.stages.prepare_data import generate_dataset
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

REPO = Path(__file__).resolve().parents[1]

TOL, REG_COVAR, MAX_ITER = 1e-5, 1e-6, 1000


def _datasets():
    found = {
        name: generate_dataset({"generator": name, "n_samples": 300, "seed": 3, "noise": 0.08})[0]
        for name in ("moons", "anisotropic")
    }
    found["blobs"] = generate_dataset({"generator": "blobs", "n_samples": 300, "centers": 4, "seed": 1})[0]
    found["blobs_20d"] = make_blobs(n_samples=300, n_features=20, centers=5, random_state=2)[0]
    return found


DATASETS = _datasets()


def _reference(X, covariance_type, k, seed):
    """scikit-learn's own fit from the same k-means start, under the pipeline's stopping rule."""
    model = GaussianMixture(k, covariance_type=covariance_type, random_state=seed, reg_covar=REG_COVAR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lower_bounds, converged = run_em(model, X, tol=TOL, max_iter=MAX_ITER)
    return model, lower_bounds, converged


def _assert_the_same_fit(fit, reference, lower_bounds):
    """The engine's fit is scikit-learn's: every lower bound within 1e-6 per point, the
    weights, means and covariances within 1e-5."""
    np.testing.assert_allclose(fit.lower_bounds, lower_bounds, rtol=0, atol=1e-6)
    for ours, theirs in (
        (fit.weights, reference.weights_),
        (fit.means, reference.means_),
        (fit.covariances, reference.covariances_),
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_engine_makes_scikit_learns_fits(dataset, covariance_type):
    X = DATASETS[dataset]
    compared, other_n_iter = 0, []
    for k in range(1, 11):
        seeds = [0, 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # k-means' own warnings on tiny clusters
            starts = [
                em.start_from_responsibilities(
                    X, em.initial_responsibilities(X, k, "kmeans", seed), covariance_type, REG_COVAR
                )
                for seed in seeds
            ]
        fits = em.run_starts(
            X, starts, covariance_type=covariance_type, reg_covar=REG_COVAR, tol=TOL, max_iter=MAX_ITER
        )
        for seed, fit in zip(seeds, fits, strict=True):
            reference, lower_bounds, converged = _reference(X, covariance_type, k, seed)
            assert fit.error is None and fit.converged == converged
            if len(fit.lower_bounds) != len(lower_bounds):
                other_n_iter.append((k, seed, len(fit.lower_bounds), len(lower_bounds)))
                continue
            compared += 1
            _assert_the_same_fit(fit, reference, lower_bounds)
            model = em.as_estimator(
                fit,
                covariance_type=covariance_type,
                n_features=X.shape[1],
                tol=TOL,
                reg_covar=REG_COVAR,
                max_iter=MAX_ITER,
                init_params="kmeans",
                seed=seed,
            )
            np.testing.assert_array_equal(model.predict(X), reference.predict(X))
            np.testing.assert_allclose(model.score_samples(X), reference.score_samples(X), atol=1e-6)
            np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-6)
            assert model.sample(3)[0].shape == (3, X.shape[1])
    # The pipeline's stopping rule is exact in the engine and staged in the reference
    # (fitting.run_em); they may differ where the crossing is within rounding.
    print(f"{dataset} {covariance_type}: {compared} of 20 fits compared, other n_iter: {other_n_iter}")
    assert len(other_n_iter) <= 1, other_n_iter


def _kmeans_start(X, k, covariance_type, seed=0):
    resp = em.initial_responsibilities(X, k, "kmeans", seed)
    return em.start_from_responsibilities(X, resp, covariance_type, REG_COVAR)


@pytest.mark.parametrize("n_features", [1, 2, 3])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_fits_in_one_two_and_three_features_are_scikit_learns(n_features, covariance_type):
    # One or two features (not tied) take the M-step's one-pass path; three the general one.
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(400, n_features)) @ rng.normal(size=(n_features, n_features))
    X[:150] += 3.0
    for k, seed in ((2, 0), (4, 1)):
        (fit,) = em.run_starts(
            X,
            [_kmeans_start(X, k, covariance_type, seed)],
            covariance_type=covariance_type,
            reg_covar=REG_COVAR,
            tol=TOL,
            max_iter=MAX_ITER,
        )
        reference, lower_bounds, converged = _reference(X, covariance_type, k, seed)
        assert fit.converged == converged and len(fit.lower_bounds) == len(lower_bounds)
        _assert_the_same_fit(fit, reference, lower_bounds)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_sample_weights_fit_as_repeated_rows(covariance_type):
    X = DATASETS["anisotropic"]
    weights = np.random.default_rng(0).integers(0, 4, size=len(X))  # 0 drops a row
    repeated = np.repeat(X, weights, axis=0)
    start = _kmeans_start(X, 3, covariance_type)
    settings = {"covariance_type": covariance_type, "reg_covar": REG_COVAR, "tol": TOL, "max_iter": MAX_ITER}
    (weighted,) = em.run_starts(X, [start], sample_weight=weights, **settings)
    (plain,) = em.run_starts(repeated, [start], **settings)
    assert len(weighted.lower_bounds) == len(plain.lower_bounds) > 2
    np.testing.assert_allclose(weighted.lower_bounds, plain.lower_bounds, rtol=0, atol=1e-10)
    for ours, theirs in (
        (weighted.weights, plain.weights),
        (weighted.means, plain.means),
        (weighted.covariances, plain.covariances),
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    # Unit weights are no weights at all.
    (unit,) = em.run_starts(X, [start], sample_weight=np.ones(len(X)), **settings)
    (none,) = em.run_starts(X, [start], **settings)
    np.testing.assert_allclose(unit.means, none.means, rtol=0, atol=1e-12)


def test_a_failing_start_leaves_the_others_of_its_batch_untouched():
    X = np.random.default_rng(0).normal(size=(200, 2))
    # A component narrowed onto one row takes that row alone: its covariance becomes singular.
    weights, means = np.array([0.5, 0.5]), np.array([X[0], [0.0, 0.0]])
    precisions = np.stack([np.eye(2) * 1e12, np.eye(2)])
    collapsing = em.start_from_parameters(weights, means, precisions, "full")
    sound = em.start_from_parameters(weights, [[0.0, 0.0], [1.0, 1.0]], np.stack([np.eye(2)] * 2), "full")
    settings = {"covariance_type": "full", "reg_covar": 0.0, "tol": TOL, "max_iter": MAX_ITER}
    failed, batched = em.run_starts(X, [collapsing, sound], **settings)
    (alone,) = em.run_starts(X, [sound], **settings)
    assert failed.error == em.ILL_DEFINED and len(failed.lower_bounds) >= 1  # failed mid-run
    assert batched.error is None and len(batched.lower_bounds) > 10
    assert batched.lower_bounds == alone.lower_bounds
    np.testing.assert_array_equal(batched.means, alone.means)
    # scikit-learn fails on the same start with its own message.
    model = GaussianMixture(
        2, reg_covar=0.0, weights_init=weights, means_init=means, precisions_init=precisions
    )
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        model.fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_both_engines_give_the_same_sweep(covariance_type):
    X = DATASETS["moons"]
    sweep = {
        "covariance_type": covariance_type,
        "n_components": [1, 2, 3, 4, 6],
        "seeds": [0, 1, 2],
        "init_params": ["kmeans", "k-means++", "random", "agglomerative", "hc_vvv"],
    }
    fast, fast_models = fit_type_grid(X, engine="fast", **sweep)
    reference, reference_models = fit_type_grid(X, engine="sklearn", **sweep)
    assert (fast["is_best"] == reference["is_best"]).all()
    assert (fast["error"] == reference["error"]).all() and (fast["converged"] == reference["converged"]).all()
    same = fast["n_iter"] == reference["n_iter"]
    assert same.mean() >= 0.97, fast.loc[~same, ["n_components", "init_params", "seed", "n_iter"]]
    close = (fast["lower_bound"] - reference["lower_bound"]).abs()
    assert close[same].max() < 1e-6
    for ours, theirs in zip(fast_models, reference_models, strict=True):
        assert ours.start_ == theirs.start_
        np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["moons", "blobs_20d", "far_from_origin"])
def test_score_rows_gives_scikit_learns_densities_and_largest_responsibilities(dataset, covariance_type):
    X = DATASETS["blobs"] * 50 + 1e4 if dataset == "far_from_origin" else DATASETS[dataset]
    for k in (1, 4):
        model = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
        log_density, log_largest = em.score_rows(model, X)
        np.testing.assert_allclose(log_density, model.score_samples(X), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(log_largest, np.log(model.predict_proba(X).max(axis=1)), atol=1e-10)


@pytest.mark.parametrize("n_features", [1, 2, 3, 5, 8])
def test_the_full_e_step_is_scikit_learns_in_every_dimension(n_features):
    # One or two features take a one-pass path; more go two rows of L^-1 at a time, the
    # last alone when their number is odd, four columns (then 1 to 3) per pass.
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(600, n_features)) @ rng.normal(size=(n_features, n_features))
    X[:300] += 4.0
    model = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    log_density, log_largest = em.score_rows(model, X)
    np.testing.assert_allclose(log_density, model.score_samples(X), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(log_largest, np.log(model.predict_proba(X).max(axis=1)), atol=1e-10)


def test_score_rows_refuses_a_covariance_that_is_not_positive_definite():
    X = DATASETS["moons"]
    model = GaussianMixture(2, random_state=0).fit(X)
    model.covariances_ = model.covariances_.copy()
    model.covariances_[1] = -np.eye(2)
    with pytest.raises(ValueError, match="full covariance .* not positive definite"):
        em.score_rows(model, X)


def test_the_fast_engines_criteria_are_scikit_learns_to_rounding():
    # The fast engine scores each start in one compiled pass; the criteria must be those
    # of scikit-learn's score_samples and predict_proba on the same fitted model.
    X = DATASETS["anisotropic"]
    for covariance_type in COVARIANCE_TYPES:
        starts, models = fit_type_grid(
            X,
            covariance_type=covariance_type,
            n_components=[1, 3, 5],
            seeds=[0, 1],
            engine="fast",
            init_params=["kmeans"],
        )
        best = starts[starts["is_best"]]
        assert len(best) == len(models) == 3
        for model, (_, row) in zip(models, best.iterrows(), strict=True):
            reference = criteria.start_criteria(model, X)
            assert row["log_likelihood"] == pytest.approx(reference["log_likelihood"], rel=1e-12)
            for name in ("bic", "aic", "icl"):
                assert row[criteria.column(name)] == pytest.approx(reference[name], rel=1e-12)


def test_a_single_start_matches_fit_start(tmp_path):
    X = DATASETS["blobs"]
    model, row = fit_start(
        X, n_components=4, covariance_type="full", seed=5, init_params="k-means++", **start_rules(tol=TOL)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resp = em.initial_responsibilities(X, 4, "k-means++", 5)
    (fit,) = em.run_starts(
        X,
        [em.start_from_responsibilities(X, resp, "full", REG_COVAR)],
        covariance_type="full",
        reg_covar=REG_COVAR,
        tol=TOL,
        max_iter=MAX_ITER,
    )
    assert row["n_iter"] == len(fit.lower_bounds)
    np.testing.assert_allclose(model.means_, fit.means, atol=1e-8)


def test_large_data_goes_a_component_at_a_time_with_the_same_results(monkeypatch):
    X = DATASETS["blobs_20d"]
    starts = [_kmeans_start(X, 5, "full", seed) for seed in (0, 1)]
    settings = {"covariance_type": "full", "reg_covar": REG_COVAR, "tol": TOL, "max_iter": MAX_ITER}
    together = em.run_starts(X, starts, **settings)
    monkeypatch.setattr(em, "_BATCH_VALUES", 1)  # as if the data were huge: one component at a time
    assert len(em._component_parts(2, 5, X.shape)) == 5
    apart = em.run_starts(X, starts, **settings)
    for a, b in zip(together, apart, strict=True):
        assert a.lower_bounds == b.lower_bounds
        np.testing.assert_array_equal(a.covariances, b.covariances)


def test_the_compiled_exp_is_within_a_few_ulp_of_numpys():
    from gmm_pipeline.maths.compiled import em_kernels

    values = np.concatenate(
        [-np.random.default_rng(0).uniform(0, 708, 100_000), [0.0, -1e-300, -np.inf, -800.0]]
    )
    out, bits = np.empty_like(values), np.empty(len(values), dtype=np.int64)
    em_kernels.exp_nonpositive(values, len(values), out, bits)
    reference = np.exp(values[:-2])
    relative = np.abs(out[:-2] - reference) / reference
    assert relative.max() < 4 * np.finfo(np.float64).eps
    assert out[-4] == 1.0 and out[-3] == 1.0 and out[-2] == 0.0 and out[-1] == 0.0


def test_the_compiled_log_is_within_a_few_ulp_of_numpys():
    from gmm_pipeline.maths.compiled import em_kernels

    rng = np.random.default_rng(0)
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    values = np.concatenate(
        [
            rng.uniform(1, 11, 100_000),  # the sums of exps the E-step takes the log of
            rng.uniform(0, 1, 100_000),  # responsibilities (the variational entropy)
            np.exp(rng.uniform(-700, 700, 100_000)),
            [1.0, 2.0, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 2.0), tiny, huge],
            [5e-324, 1e-310, 0.0, np.inf, np.nan, -1.0],  # through libm
        ]
    )
    out, bits = np.empty_like(values), np.empty(len(values), dtype=np.int64)
    em_kernels.log_positive(values, len(values), out, bits)
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = np.log(values)
    normal = np.isfinite(reference) & (reference != 0.0)
    ulps = np.abs(out[normal] - reference[normal]) / np.spacing(np.abs(reference[normal]))
    assert ulps.max() <= 3
    np.testing.assert_array_equal(out[~normal], reference[~normal])  # log 1 = 0 exactly, too


@pytest.mark.parametrize("n_components, count", [(1, 256), (3, 256), (4, 100), (11, 7)])
def test_a_blocks_log_likelihood_is_the_same_through_products_and_per_row_logs(n_components, count):
    # Rows of equal weight take one log per product of 8 rows' sums; unequal weights a log
    # per row. Both are scipy's log-sum-exp summed over the rows, to rounding.
    from gmm_pipeline.maths.compiled import em_kernels
    from scipy.special import logsumexp

    rng = np.random.default_rng(n_components)
    log_prob = rng.normal(size=(n_components, em_kernels.BLOCK_ROWS)) * 30
    expected = logsumexp(log_prob[:, :count], axis=0)
    scratch = [np.empty(em_kernels.BLOCK_ROWS) for _ in range(3)]
    for row_weights in (np.full(count, 2.0), rng.uniform(0.5, 3.0, count)):
        probability = np.empty_like(log_prob)
        bits = np.empty(em_kernels.BLOCK_ROWS, dtype=np.int64)
        bound = em_kernels.normalise_block(
            log_prob.copy(), count, row_weights, 0, probability, bits, *scratch
        )
        assert bound == pytest.approx(row_weights @ expected, rel=1e-13)
        # row_scale: each row's weight over its sum of exps, so responsibilities sum to the weight.
        np.testing.assert_allclose(
            (probability[:, :count] * scratch[0][:count]).sum(axis=0), row_weights, rtol=1e-14
        )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol=0 by design
def test_full_covariances_hold_on_data_far_from_the_origin():
    # Summed around the previous mean, not as raw second moments: an offset of 1e6 on
    # unit-scale data leaves the covariances as scikit-learn's centred formula has them.
    X = np.random.default_rng(1).normal(size=(500, 2)) * [1.0, 0.5] + 1e6
    resp = em.initial_responsibilities(X, 2, "kmeans", 0)
    start = em.start_from_responsibilities(X, resp, "full", 1e-6)
    (fit,) = em.run_starts(X, [start], covariance_type="full", reg_covar=1e-6, tol=1e-6, max_iter=200)
    model = GaussianMixture(2, random_state=0, tol=0.0, max_iter=len(fit.lower_bounds)).fit(X)
    np.testing.assert_allclose(fit.covariances, model.covariances_, rtol=1e-6)


def test_warming_loads_exactly_the_variants_the_engine_calls():
    # The worker calls warm() once before forking jobs; a fit must then find its compiled
    # variant loaded, not load (or compile) another one in every job.
    code = """
import numpy as np
from gmm_pipeline.maths import em
from gmm_pipeline.maths.compiled import em_kernels
from sklearn.mixture import GaussianMixture
em_kernels.warm()
kernels = (em_kernels.em_full, em_kernels.em_diagonal, em_kernels.score_full, em_kernels.score_diagonal)
loaded = [len(kernel.signatures) for kernel in kernels]
X = np.random.default_rng(0).normal(size=(300, 3))
for covariance_type in ("full", "tied", "diag", "spherical"):
    resp = em.initial_responsibilities(X, 3, "kmeans", 0)
    start = em.start_from_responsibilities(X, resp, covariance_type, 1e-6)
    em.run_starts(X, [start], covariance_type=covariance_type, reg_covar=1e-6, tol=1e-6, max_iter=20,
                  sample_weight=np.ones(len(X)) if covariance_type == "tied" else None)
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    em.score_rows(model, X)
    rows = np.asfortranarray(X)
    rows.flags.writeable = False  # as the stability step's rows are: X.T is a read-only C array
    em.score_rows(model, rows)
print(loaded == [len(kernel.signatures) for kernel in kernels], loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "scripts")),
    )
    assert result.stdout.split()[0] == "True", result.stdout
