"""Hennig's (2010) criteria for merging mixture components, as fpc's ``mergenormals`` has them.

Hennig, "Methods for merging Gaussian mixture components" (Advances in Data Analysis and
Classification 4:3-34), implemented in R's fpc (2.2-10, ``R/mergenormals.R``). Each method
scores every pair of clusters, joins the pair with the highest score and stops once no score
reaches the method's cutoff. A merged cluster is then one Gaussian again: its weight is the
sum, its mean and covariance the posterior-weighted moments of the data
(``mergeparameters``). The three methods here:

* ``bhattacharyya`` (fpc's ``bhat``): ``exp(-d_B)`` of the two Gaussians, ``d_B`` their
  Bhattacharyya distance, an upper bound of the Bayes misclassification probability;
  cutoff 0.1.
* ``ridgeline`` (``ridge.ratio``): the two-component mixture's density along Ray and
  Lindsay's (2005) ridgeline, at its critical points; the lowest as a fraction of the
  lower end mode (1 when unimodal); cutoff 0.2.
* ``misclassification`` (``demp``): the larger of the two directly estimated probabilities
  that a point of one cluster is classified into the other, from the posterior
  probabilities; cutoff 0.025.

The merge order does not depend on the cutoff, so the hierarchy here continues to one
cluster (fpc stops) and marks each merge as allowed or not; the count fpc returns is the
fewest clusters reached by allowed merges.
"""

import numpy as np

from .merging import MergeStep, classification_entropy, merged_probabilities

# fpc's default cutoff of each method (``mergenormals``), and the method's name in fpc.
CUTOFFS = {"bhattacharyya": 0.1, "ridgeline": 0.2, "misclassification": 0.025}
FPC_NAMES = {"bhattacharyya": "bhat", "ridgeline": "ridge.ratio", "misclassification": "demp"}
# fpc's grid step along the ridgeline (``mergenormals(by = 0.005)``).
RIDGELINE_STEP = 0.005


def full_covariances(model):
    """A fitted mixture's covariances as full matrices, shape (n_components, n_features, n_features)."""
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    n_components, n_features = model.means_.shape
    if model.covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()
    if model.covariance_type == "diag":
        return np.stack([np.diag(row) for row in covariances])
    if model.covariance_type == "spherical":
        return covariances[:, np.newaxis, np.newaxis] * np.eye(n_features)
    return covariances  # full, and every fourteen-model estimator's


def bhattacharyya(mean_a, mean_b, cov_a, cov_b):
    """``exp(-d_B)``: fpc's ``bhattacharyya.matrix(misclassification.bound = TRUE)`` for one pair."""
    pooled = (cov_a + cov_b) / 2
    diff = mean_a - mean_b
    distance = diff @ np.linalg.solve(pooled, diff) / 8
    distance += 0.5 * np.linalg.slogdet(pooled)[1]
    distance -= 0.25 * np.linalg.slogdet(cov_a)[1] + 0.25 * np.linalg.slogdet(cov_b)[1]
    return float(np.exp(-distance))


def _normal_density(points, mean, cov):
    centred = points - mean
    solved = np.linalg.solve(cov, centred.T).T
    log_det = np.linalg.slogdet(cov)[1]
    return np.exp(-0.5 * (np.sum(centred * solved, axis=1) + log_det + len(mean) * np.log(2 * np.pi)))


def _ridgeline(alphas, mean_a, mean_b, cov_a, cov_b):
    """Ray and Lindsay's ridgeline ``x(alpha)``: ``mean_a`` at alpha = 1, ``mean_b`` at 0."""
    prec_a, prec_b = np.linalg.inv(cov_a), np.linalg.inv(cov_b)
    points = np.empty((len(alphas), len(mean_a)))
    for index, alpha in enumerate(alphas):
        points[index] = np.linalg.solve(
            alpha * prec_a + (1 - alpha) * prec_b, alpha * prec_a @ mean_a + (1 - alpha) * prec_b @ mean_b
        )
    return points


def ridgeline_ratio(weight_a, weight_b, mean_a, mean_b, cov_a, cov_b, step=RIDGELINE_STEP):
    """fpc's ``ridgeline.diagnosis`` ratio for one pair: the lowest density at the critical
    points along the ridgeline over the lower of the first and last (1 when unimodal)."""
    prop = weight_a / (weight_a + weight_b)
    alphas = np.arange(round(1 / step) + 1) * step
    points = _ridgeline(alphas, mean_a, mean_b, cov_a, cov_b)
    dens_a, dens_b = _normal_density(points, mean_a, cov_a), _normal_density(points, mean_b, cov_b)
    # fpc's piridge: the posterior weight of a along the ridgeline; a critical point of the
    # mixture density is where it equals the prior weight.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        piridge = 1 / (1 + (1 - alphas) * dens_a / (alphas * dens_b))
    piridge[np.isnan(piridge) & (alphas < 1e-8)] = 0.0
    piridge[np.isnan(piridge) & (alphas > 1 - 1e-8)] = 1.0
    gap = piridge - prop
    gap[np.isnan(gap)] = 0.0
    sign = np.sign(gap)
    roots = np.sort(np.concatenate([alphas[sign == 0], alphas[1:][np.abs(np.diff(sign)) == 2] - step / 2]))
    at_roots = _ridgeline(roots, mean_a, mean_b, cov_a, cov_b)
    density = prop * _normal_density(at_roots, mean_a, cov_a) + (1 - prop) * _normal_density(
        at_roots, mean_b, cov_b
    )
    ends = min(density[0], density[-1])
    return float(density.min() / ends) if ends > 0 else 1.0


def misclassification(proba_a, proba_b, weight_a, weight_b):
    """fpc's ``zmisclassification.matrix`` (symmetric, max) for one pair: the larger of the
    estimated ``P(classified a | from b)`` and ``P(classified b | from a)``, between the two only.

    As fpc's ``confusion``, each direction gives a tie to the class it counts.
    """
    n = len(proba_a)
    a_given_b = proba_b[proba_a >= proba_b].sum() / (n * weight_b)
    b_given_a = proba_a[proba_b >= proba_a].sum() / (n * weight_a)
    return float(max(a_given_b, b_given_a))


def _moments(X, weights):
    """cov.wt(method = "ML"): the weighted mean and covariance, weights normalised."""
    w = weights / weights.sum()
    mean = w @ X
    centred = X - mean
    return mean, (centred * w[:, None]).T @ centred


def hennig_hierarchy(model, X, proba, method, cutoff=None):
    """fpc's ``mergenormals`` with ``method``, continued to one cluster.

    Parameters
    ----------
    model : fitted GaussianMixture or ParsimoniousGaussianMixture
    X : ndarray of shape (n_samples, n_features)
    proba : ndarray of shape (n_samples, n_components)
        ``model.predict_proba(X)``.
    method : {"bhattacharyya", "ridgeline", "misclassification"}
    cutoff : float or None
        None takes fpc's default (:data:`CUTOFFS`).

    Returns
    -------
    steps : list of MergeStep
        As :func:`gmm_pipeline.maths.merging.merge_hierarchy`; each merge's ``criteria`` holds
        the method's score of the pair joined, ``allowed`` whether it reached the cutoff.
    """
    if method not in CUTOFFS:
        raise ValueError(f"method must be one of {sorted(CUTOFFS)}, got {method!r}")
    cutoff = CUTOFFS[method] if cutoff is None else cutoff
    weights = list(np.asarray(model.weights_, dtype=np.float64))
    means = list(np.asarray(model.means_, dtype=np.float64))
    covs = list(full_covariances(model))
    z = [column for column in np.asarray(proba, dtype=np.float64).T]
    clusters = [[k] for k in range(len(weights))]
    steps = [MergeStep(len(clusters), [list(c) for c in clusters], None, classification_entropy(proba))]
    while len(clusters) > 1:
        score = {}
        for a in range(len(clusters) - 1):
            for b in range(a + 1, len(clusters)):
                if method == "bhattacharyya":
                    score[a, b] = bhattacharyya(means[a], means[b], covs[a], covs[b])
                elif method == "ridgeline":
                    score[a, b] = ridgeline_ratio(
                        weights[a], weights[b], means[a], means[b], covs[a], covs[b]
                    )
                else:
                    score[a, b] = misclassification(z[a], z[b], weights[a], weights[b])
        # R's which(arr.ind = TRUE)[1, ]: the first maximum in column-major order.
        best = max(score.values())
        a, b = min(
            (pair for pair, value in score.items() if value == best), key=lambda pair: (pair[1], pair[0])
        )
        weights[a] += weights.pop(b)
        z[a] = z[a] + z.pop(b)
        means.pop(b), covs.pop(b)
        means[a], covs[a] = _moments(X, z[a])
        clusters[a] = clusters[a] + clusters.pop(b)
        steps.append(
            MergeStep(
                len(clusters),
                [list(c) for c in clusters],
                (a, b),
                classification_entropy(merged_probabilities(proba, clusters)),
                allowed=bool(best >= cutoff),
                criteria={"score": float(best), "cutoff": float(cutoff)},
            )
        )
    return steps
