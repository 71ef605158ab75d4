"""mclust's model-based hierarchical agglomeration (VVV), the start mclust gives EM.

mclust starts EM from a hierarchical clustering whose merges maximise the classification
likelihood of an unconstrained (VVV) Gaussian mixture (Fraley 1998, "Algorithms for
model-based Gaussian hierarchical clustering"), computed on the data after its ``"SVD"``
transformation. Its defaults are ``hcModelName = "VVV"``, ``hcUse = "SVD"``, ``alpha = 1``
and ``beta = 1``; this module follows them, written here from the published algorithm and
the formulas of mclust's ``hcvvv`` and ``vvvtij`` routines:

* **Transformation** (:func:`svd_transform`): centre and scale each column to unit standard
  deviation, then ``Z = X V diag(1 / sqrt(d))`` from the singular value decomposition
  ``X = U diag(d) V'`` (mclust divides by the square root of the singular values).
* **Cost of a cluster** of ``l`` points with scatter matrix ``W`` (:func:`cluster_terms`):
  ``l log(beta (tr W + alpha) / l)`` while ``l <= p``, and
  ``l log(det(W / l) + beta (tr W + alpha) / l)`` once it can have a covariance of its own,
  with ``alpha = tr(W_all) / (n p)`` (the total scatter of the transformed data over
  ``n p``): a regularised ``-2/l`` classification log-likelihood that stays finite for
  singletons and small clusters.
* **Merging**: start from one cluster per distinct row (duplicate rows start together, as
  mclust's ``dupPartition``) and repeatedly merge the pair whose merged cost exceeds the sum
  of their own costs the least.

Ties between equally good merges (common on rounded data: Old Faithful's waiting times are
whole minutes) are broken as mclust breaks them, by the position of the pair in its table
of clusters, which moves the last cluster into the slot a merge frees.
"""

import numpy as np

from .initialisation import clustered_rows

ALPHA = 1.0
BETA = 1.0


def svd_transform(X):
    """mclust's ``hc(use = "SVD")`` transformation of ``X`` (constant columns dropped).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    Z : ndarray of shape (n_samples, n_components)
        The scaled data rotated onto its singular vectors, each scaled by
        ``1 / sqrt(singular value)``; ``n_components = min(n_samples, kept features)``.
    """
    X = np.asarray(X, dtype=float)
    spread = X.std(axis=0, ddof=1)
    keep = np.isfinite(spread) & (spread > 0)
    scaled = (X[:, keep] - X[:, keep].mean(axis=0)) / spread[keep]
    _, singular_values, axes = np.linalg.svd(scaled, full_matrices=False)
    singular_values = np.where(singular_values > 0, singular_values, np.inf)
    return scaled @ axes.T / np.sqrt(singular_values)


def cluster_terms(sizes, scatters, alpha, beta=BETA):
    """The merge cost term of each cluster (see the module docstring).

    Parameters
    ----------
    sizes : ndarray of shape (m,)
        Points in each cluster.
    scatters : ndarray of shape (m, p, p)
        Each cluster's scatter matrix (sum of outer products of deviations from its mean).
    alpha, beta : float

    Returns
    -------
    terms : ndarray of shape (m,)
    """
    sizes = np.asarray(sizes, dtype=float)
    p = scatters.shape[-1]
    traces = np.trace(scatters, axis1=1, axis2=2)
    spherical = np.log(beta * (traces + alpha) / sizes)
    terms = spherical.copy()
    full = sizes > p
    if full.any():
        sign, logdet = np.linalg.slogdet(scatters[full] / sizes[full, None, None])
        logdet = np.where(sign > 0, logdet, -np.inf)
        terms[full] = np.logaddexp(logdet, spherical[full])
    return sizes * terms


def _merged(sizes, means, scatters, i, others):
    """Size, mean and scatter of cluster ``i`` merged with each cluster in ``others``."""
    n_i, n_o = sizes[i], sizes[others]
    n = n_i + n_o
    delta = means[others] - means[i]
    weight = (n_i * n_o / n)[:, None, None]
    scatter = scatters[i] + scatters[others] + weight * delta[:, :, None] * delta[:, None, :]
    mean = (n_i * means[i] + n_o[:, None] * means[others]) / n[:, None]
    return n, mean, scatter


def _last_argmin(values):
    """Index of the minimum of ``values``, the last one on a tie (mclust keeps a candidate
    that is less than or equal to the best so far)."""
    return len(values) - 1 - int(np.argmin(values[::-1]))


class _Clusters:
    """Active clusters in slots ``0 .. count-1``, as mclust's ``hcvvv`` keeps them.

    ``cost[i, j]`` (``i < j``) is how much merging the clusters in slots i and j raises the
    total cost. Merging i < j leaves the merged cluster in slot i and moves the last slot's
    cluster into slot j; the next merge is the least cost, on a tie the last pair in
    column order (largest j, then largest i), as mclust scans its packed cost array. Each
    column's minimum is kept so that a merge costs O(slots), not O(slots^2).
    """

    def __init__(self, sizes, means, scatters, alpha, beta):
        self.sizes, self.means, self.scatters = sizes, means, scatters
        self.alpha, self.beta = alpha, beta
        self.terms = cluster_terms(sizes, scatters, alpha, beta)
        m = len(sizes)
        self.count = m
        self.cost = np.full((m, m), np.inf)
        for i in range(m - 1):
            others = np.arange(i + 1, m)
            self.cost[i, others] = self._increase(i, others)
        self.column_min = np.full(m, np.inf)
        self.column_arg = np.zeros(m, dtype=int)
        self._refresh_columns(np.arange(1, m))

    def _increase(self, i, others):
        size, _, scatter = _merged(self.sizes, self.means, self.scatters, i, others)
        return cluster_terms(size, scatter, self.alpha, self.beta) - self.terms[i] - self.terms[others]

    def _refresh_columns(self, columns):
        """Recompute the minimum of each of ``columns`` (the last row on a tie), all at once:
        one call per merge instead of one per column. A column's entries on and below the
        diagonal are always inf, so its rows up to ``count`` give the same minimum and row
        as its rows above the diagonal."""
        if len(columns) == 0:
            return
        block = self.cost[: self.count, columns]
        rows = self.count - 1 - np.argmin(block[::-1], axis=0)
        self.column_min[columns] = block[rows, np.arange(len(columns))]
        self.column_arg[columns] = rows

    def next_pair(self):
        j = _last_argmin(self.column_min[: self.count])
        return int(self.column_arg[j]), int(j)

    def merge(self, i, j, member):
        """Merge slots i < j; relabel ``member`` (each point's slot) in place."""
        size, mean, scatter = _merged(self.sizes, self.means, self.scatters, i, np.array([j]))
        self.sizes[i], self.means[i], self.scatters[i] = size[0], mean[0], scatter[0]
        self.terms[i] = cluster_terms(self.sizes[i : i + 1], self.scatters[i : i + 1], self.alpha, self.beta)[
            0
        ]
        member[member == j] = i
        last = self.count - 1
        cost = self.cost
        if j != last:  # the last slot's cluster moves into slot j
            for values in (self.sizes, self.means, self.scatters, self.terms):
                values[j] = values[last]
            member[member == last] = j
            cost[:j, j] = cost[:j, last]
            cost[j, j + 1 : last] = cost[j + 1 : last, last]
        cost[:, last] = np.inf
        cost[last, :] = np.inf
        self.column_min[last] = np.inf
        self.count = last
        others = np.arange(self.count)
        others = others[others != i]
        if len(others):
            increase = self._increase(i, others)
            cost[np.minimum(others, i), np.maximum(others, i)] = increase
        # Columns whose minimum sat in a changed row, and columns i and j, are recomputed;
        # elsewhere only the new entries of rows i and j can lower a minimum.
        changed_rows = [i, j] if j != last else [i]
        dirty = set(changed_rows)
        for row in changed_rows:
            columns = np.arange(row + 1, self.count)
            pointed = columns[self.column_arg[columns] == row]
            dirty.update(pointed.tolist())
            columns = columns[self.column_arg[columns] != row]
            values = cost[row, columns]
            better = (values < self.column_min[columns]) | (
                (values == self.column_min[columns]) & (row > self.column_arg[columns])
            )
            self.column_min[columns[better]] = values[better]
            self.column_arg[columns[better]] = row
        self._refresh_columns(np.array(sorted(column for column in dirty if column < self.count), dtype=int))


def merge_hierarchy(Z, n_clusters, *, alpha=ALPHA, beta=BETA):
    """Agglomerate ``Z`` by the VVV classification likelihood; cut at each requested count.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, p)
        Data to cluster (usually :func:`svd_transform` of the data).
    n_clusters : iterable of int
        Cluster counts at which to record the partition.
    alpha, beta : float
        mclust's ``alpha`` (multiplied by ``tr(W_all) / (n p)``) and ``beta``.

    Returns
    -------
    labels : dict of int to ndarray of shape (n_samples,)
        For each requested count k, each row's cluster (0 to k-1, numbered by first row);
        a count above the number of distinct rows has no partition and is left out.
    """
    Z = np.asarray(Z, dtype=float)
    n, p = Z.shape
    wanted = sorted(set(int(k) for k in n_clusters), reverse=True)
    alpha = max(alpha * float(((Z - Z.mean(axis=0)) ** 2).sum()) / (n * p), np.finfo(float).eps)
    # One starting cluster per distinct row, numbered by first appearance.
    _, first, member = np.unique(Z, axis=0, return_index=True, return_inverse=True)
    member = _numbered_by_first_row(member.ravel())
    m = len(first)
    wanted = [k for k in wanted if k <= m]
    sizes = np.bincount(member, minlength=m).astype(float)
    means = np.zeros((m, p))
    np.add.at(means, member, Z)
    means /= sizes[:, None]
    clusters = _Clusters(sizes, means, np.zeros((m, p, p)), alpha, beta)  # duplicates do not spread
    labels = {}
    for k in wanted:
        while clusters.count > k:
            clusters.merge(*clusters.next_pair(), member)
        labels[k] = _numbered_by_first_row(member)
    return labels


def _numbered_by_first_row(member):
    """Relabel clusters 0, 1, ... in the order of their first row."""
    _, first_rows, relabelled = np.unique(member, return_index=True, return_inverse=True)
    rank = np.empty(len(first_rows), dtype=int)
    rank[np.argsort(first_rows)] = np.arange(len(first_rows))
    return rank[relabelled.ravel()]


def hierarchical_partitions(X, n_components, *, seed=0, max_samples=2000):
    """mclust's default start: VVV agglomeration of the SVD-transformed data, cut at each k.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : iterable of int
    seed : int
        Draws the subsample when ``X`` has more than ``max_samples`` rows.
    max_samples : int
        Rows the hierarchy is built on at most (its memory is quadratic in them).

    Returns
    -------
    rows : ndarray of int
        The rows of ``X`` that were clustered.
    labels : dict of int to ndarray
        For each k the hierarchy can give, the cluster of each of those rows.
    """
    rows = clustered_rows(len(X), seed=seed, max_samples=max_samples)
    return rows, merge_hierarchy(svd_transform(X[rows]), n_components)
