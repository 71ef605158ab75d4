"""Agglomerative (Ward) starting points for EM, in the manner of mclust's hierarchical start.

k-means starts cut elongated clusters across their long axis; EM started there can stay in
that local optimum, and BIC then prefers extra components to patch it. mclust starts EM from a
hierarchical clustering of the data after scaling it by its singular value decomposition
(``hcUse = "SVD"``), which sees elongated clusters whole. We do the same with Ward linkage:

1. take the data, or a seeded subsample of ``max_samples`` rows when there are more;
2. whiten it (centre, rotate onto the principal axes, scale each axis to unit variance);
3. build one Ward tree and cut it at every requested k;
4. turn each partition into ``weights_init``, ``means_init`` and ``precisions_init`` from
   the unwhitened data, for the requested covariance type.

On at most ``max_samples`` rows the start is deterministic: every seed gives the same tree.
"""

import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage

AGGLOMERATIVE = "agglomerative"
DEFAULT_MAX_SAMPLES = 2000


def is_deterministic(n_samples, max_samples=DEFAULT_MAX_SAMPLES):
    """True when the agglomerative start uses all rows, so the seed does not matter."""
    return n_samples <= max_samples


def clustered_rows(n_rows, *, seed=0, max_samples=DEFAULT_MAX_SAMPLES):
    """The rows a hierarchy is built on: all of them, or a seeded, sorted subsample of
    ``max_samples`` when there are more (its memory grows with their square)."""
    if n_rows <= max_samples:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_samples, replace=False))


def whiten(X):
    """Centre ``X`` and scale its principal axes to unit variance (axes with no variance stay 0)."""
    centred = X - X.mean(axis=0)
    _, singular_values, axes = np.linalg.svd(centred, full_matrices=False)
    scale = singular_values / np.sqrt(len(X))
    scale[scale <= scale.max() * 1e-12] = np.inf
    return (centred @ axes.T) / scale


def ward_partitions(X, n_components, *, seed=0, max_samples=DEFAULT_MAX_SAMPLES):
    """Cut one Ward tree of the whitened data at each k.

    Returns
    -------
    rows : ndarray of int
        Indices of the rows of ``X`` that were clustered.
    labels : dict of int to ndarray
        For each k, the cluster (0 to k-1) of each of those rows.
    """
    rows = clustered_rows(len(X), seed=seed, max_samples=max_samples)
    tree = linkage(whiten(X[rows]), method="ward")
    ks = sorted(set(n_components))
    cuts = cut_tree(tree, n_clusters=ks)
    return rows, {k: cuts[:, i] for i, k in enumerate(ks)}


def partition_parameters(X, labels, n_components, covariance_type, reg_covar):
    """Mixture parameters of a hard partition, as GaussianMixture's ``*_init`` arguments.

    A cluster with fewer than ``n_features + 1`` points has no usable covariance of its own;
    it borrows the pooled within-cluster covariance instead of collapsing to a spike.
    """
    n, d = X.shape
    counts = np.bincount(labels, minlength=n_components).astype(float)
    means = np.array([X[labels == j].mean(axis=0) for j in range(n_components)])
    residuals = X - means[labels]
    pooled = residuals.T @ residuals / n + reg_covar * np.eye(d)
    covariances = np.empty((n_components, d, d))
    for j in range(n_components):
        if counts[j] > d:
            r = residuals[labels == j]
            covariances[j] = r.T @ r / counts[j] + reg_covar * np.eye(d)
        else:
            covariances[j] = pooled
    weights = counts / n
    if covariance_type == "full":
        precisions = np.linalg.inv(covariances)
    elif covariance_type == "tied":
        precisions = np.linalg.inv(pooled)
    elif covariance_type == "diag":
        precisions = 1.0 / np.diagonal(covariances, axis1=1, axis2=2)
    else:  # spherical
        precisions = 1.0 / np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1)
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}
