"""Clusters from mixture components: the entropy-driven merging of Baudry et al. (2010).

A Gaussian mixture chosen by BIC fits the density, and a non-Gaussian cluster (a moon)
takes several components. Baudry, Raftery, Celeux, Lo and Gottardo (2010, JCGS 19:332)
merge components back into clusters: from K components down to one, each step joins the
two clusters whose union lowers the classification entropy

    ENT = - sum_i sum_k t_ik log t_ik

of the posterior probabilities ``t`` (a merged cluster's probability is the sum of its
components') the most. This is mclust's ``clustCombi``; the number of clusters is read off
the entropy against the number of clusters by mclust's ``clustCombiOptim(reg = 2)``: the
change point of the best two-piece linear fit (:func:`elbow`).

The elbow cannot say "do not merge": it always returns a count between 2 and K - 1. The
pipeline's default stopping rule (:mod:`gmm_pipeline.maths.merge_valley`) keeps this order of
merges but only takes merges it allows; :func:`merge_hierarchy` takes such a rule as
``allowed``.

The merge hierarchy works on any ``predict_proba`` matrix; nothing here refits a model.
"""

from dataclasses import dataclass

import numpy as np


def xlogx(values):
    """``x log x`` elementwise, with ``0 log 0 = 0``."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(values)
    positive = values > 0
    out[positive] = values[positive] * np.log(values[positive])
    return out


def classification_entropy(proba):
    """``- sum_i sum_k p_ik log p_ik`` of a posterior probability matrix (n, K)."""
    return float(-xlogx(proba).sum())


@dataclass(frozen=True)
class MergeStep:
    """The clustering after one merge (or the start, with ``joined`` None).

    Attributes
    ----------
    n_clusters : int
    clusters : list of list of int
        Each cluster's components (0-based), in the order of the probability columns.
    joined : tuple of int or None
        The positions (in the previous step's cluster list) of the two clusters joined.
    entropy : float
        Classification entropy of the merged probabilities.
    allowed : bool or None
        Whether the stopping rule allowed this merge (None without a rule, and at the start).
    criteria : dict or None
        The rule's values for this merge (what ``allowed`` judged), or None.
    """

    n_clusters: int
    clusters: list
    joined: tuple | None
    entropy: float
    allowed: bool | None = None
    criteria: dict | None = None


def entropy_decreases(proba):
    """The entropy each pair of columns' union removes: ``D[a, b]`` for ``a < b`` (upper triangle).

    ``D[a, b] = sum_i (p_ia + p_ib) log(p_ia + p_ib) - p_ia log p_ia - p_ib log p_ib``, never
    negative; the lower triangle and the diagonal are -inf.
    """
    proba = np.asarray(proba, dtype=np.float64)
    own = xlogx(proba).sum(axis=0)
    n_columns = proba.shape[1]
    gains = np.full((n_columns, n_columns), -np.inf)
    for a in range(n_columns - 1):
        merged = xlogx(proba[:, [a]] + proba[:, a + 1 :]).sum(axis=0)
        gains[a, a + 1 :] = merged - own[a] - own[a + 1 :]
    return gains


def merge_hierarchy(proba, allowed=None):
    """Merge components pairwise, by largest entropy decrease, down to one cluster.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_components)
        Posterior probabilities of the components (``predict_proba``).
    allowed : callable or None
        A stopping rule: ``allowed(members_a, members_b)`` returns ``(ok, criteria)`` for
        two clusters given as lists of components. With a rule, each step joins the pair
        with the largest entropy decrease among the pairs it allows; once it allows none,
        the pair with the largest decrease overall, so the table still reaches one cluster.

    Returns
    -------
    steps : list of MergeStep
        ``n_components`` steps, from the components themselves (``n_clusters = K``) to one
        cluster. As in mclust's ``combi``: the two clusters at positions ``a < b`` become
        one at position ``a``; on a tie the first pair in (a, b) order is joined.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 1:
        raise ValueError(f"proba must be a 2-D array with at least one column, got shape {proba.shape}")
    clusters = [[k] for k in range(proba.shape[1])]
    steps = [MergeStep(len(clusters), [list(c) for c in clusters], None, classification_entropy(proba))]
    current = proba.copy()
    while current.shape[1] > 1:
        gains = entropy_decreases(current)
        # Pairs in (a, b) order, largest decrease first; a stable sort keeps the first on a tie.
        pairs = [(a, b) for a in range(len(clusters)) for b in range(a + 1, len(clusters))]
        pairs.sort(key=lambda pair: -gains[pair])
        best, ok, criteria = pairs[0], None, None
        if allowed is not None:
            for pair in pairs:
                ok, criteria = allowed(clusters[pair[0]], clusters[pair[1]])
                if ok:
                    best = pair
                    break
            else:
                ok, criteria = allowed(clusters[best[0]], clusters[best[1]])
        a, b = best
        current[:, a] += current[:, b]
        current = np.delete(current, b, axis=1)
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
        steps.append(
            MergeStep(
                len(clusters),
                [list(c) for c in clusters],
                (a, b),
                classification_entropy(current),
                allowed=ok,
                criteria=criteria,
            )
        )
    return steps


def rule_choice(steps):
    """The fewest clusters the rule reaches by allowed merges alone (steps of :func:`merge_hierarchy`)."""
    chosen = steps[0].n_clusters
    for step in steps[1:]:
        if not step.allowed:
            break
        chosen = step.n_clusters
    return chosen


def merged_probabilities(proba, clusters):
    """Each cluster's probability: the sum of its components' columns."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.column_stack([proba[:, members].sum(axis=1) for members in clusters])


def merged_labels(proba, clusters):
    """The most probable cluster of each row (0-based positions in ``clusters``)."""
    return np.argmax(merged_probabilities(proba, clusters), axis=1)


@dataclass(frozen=True)
class Elbow:
    """mclust's two-piece linear fit to entropy against the number of clusters.

    Attributes
    ----------
    n_clusters : int
        The change point: the number of clusters chosen.
    lines : list of tuple(float, float) or None
        Slope and intercept of the piece left and right of the change point (None when
        there are fewer than three counts to fit).
    """

    n_clusters: int
    lines: list | None


def _line(x, y):
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
    return slope, float(y.mean() - slope * x.mean())


def elbow(entropies):
    """The number of clusters at the elbow of the entropy plot (mclust's ``pcws2_reg``).

    Parameters
    ----------
    entropies : sequence of float
        Entropy at 1, 2, ..., K clusters.

    Returns
    -------
    Elbow
        For each change point ``c`` in 2 .. K-1 the two least-squares lines through counts
        1..c and c..K; the ``c`` with the smallest total squared error (the first on a tie).
        With K <= 2 there is nothing to fit and K itself is returned, as mclust does.
    """
    y = np.asarray(entropies, dtype=np.float64)
    n = len(y)
    if n <= 2:
        return Elbow(n, None)
    x = np.arange(1, n + 1, dtype=np.float64)
    best = None
    for c in range(2, n):
        left, right = _line(x[:c], y[:c]), _line(x[c - 1 :], y[c - 1 :])
        error = np.sum((left[0] * x[:c] + left[1] - y[:c]) ** 2) + np.sum(
            (right[0] * x[c - 1 :] + right[1] - y[c - 1 :]) ** 2
        )
        if best is None or error < best[0]:
            best = (error, c, [left, right])
    return Elbow(best[1], best[2])


def linkage_matrix(steps):
    """The merge tree as a SciPy linkage matrix (for ``scipy.cluster.hierarchy.dendrogram``).

    Leaves are the components; the height of a merge is ``1 - normalised entropy`` after
    it, as mclust's ``combiTree(yaxis = "entropy")``: 0 for no merge, 1 for one cluster.
    """
    n_components = steps[0].n_clusters
    entropies = np.array([step.entropy for step in steps])
    spread = entropies.max() - entropies.min()
    node_of = {k: k for k in range(n_components)}  # cluster position -> tree node
    rows, next_node = [], n_components
    sizes = {k: 1 for k in range(n_components)}
    for previous, step in zip(steps[:-1], steps[1:], strict=True):
        a, b = step.joined
        left, right = node_of[a], node_of[b]
        height = 1.0 if spread == 0 else 1.0 - (step.entropy - entropies.min()) / spread
        sizes[next_node] = sizes[left] + sizes[right]
        rows.append([left, right, height, sizes[next_node]])
        # Positions after the merge: a holds the union, those after b shift down by one.
        node_of = {
            position: node
            for position, node in enumerate(
                [next_node if p == a else node_of[p] for p in range(previous.n_clusters) if p != b]
            )
        }
        next_node += 1
    return np.array(rows, dtype=np.float64).reshape(-1, 4)
