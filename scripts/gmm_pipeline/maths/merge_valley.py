"""The pipeline's stopping rule for merging components: merge only where no valley separates.

Baudry et al.'s entropy order (:func:`gmm_pipeline.maths.merging.merge_hierarchy`) follows
chains of overlapping components well, but its elbow cannot say "these components already
are the clusters". Hennig (2010, "Methods for merging Gaussian mixture components", ADAC
4:3) judges a merge by whether the union of two clusters is unimodal. This rule takes
Baudry's order and Hennig's question, asked twice:

* **A dip where they meet** (Hennig's dip test). Two clusters meet where their most
  overlapping components do: the pair ``(i, j)``, one from each cluster, whose union lowers
  the entropy most. The points of those two components, placed on the components' own
  log-odds ``log(pi_i phi_i(x)) - log(pi_j phi_j(x))``, are tested for unimodality by
  Hartigan's dip test. With a shared covariance the log-odds is Fisher's discriminant
  coordinate, the one Hennig projects on; with the components' own covariances it follows
  their quadratic boundary, so two pieces of a curved chain do not fold into two humps as
  they would on a straight line. The merge is refused when the test finds a dip at the
  ``significance`` level (Hennig's 0.05).
* **A valley anywhere between them** (Hennig's ridgeline ratio, in density-level form).
  The fitted density's highest point on any path through the data from one cluster to the
  other, as a fraction of the lower of the two clusters' peaks, must reach
  ``density_ratio``. Paths run along the edges of the data's nearest-neighbour graph, each
  edge checked at interior points, as persistence-based clustering does (Chazal, Guibas,
  Oudot and Skraba 2013, ToMATo). This catches groups that meet only through a sparse halo
  (a broad component modelling outliers): the halo joins each group without a dip, but
  the density between the groups' cores is a small fraction of either core's.

A merge is allowed when both hold; the hierarchy joins the allowed pair that lowers the
entropy most, and the rule's count is the fewest clusters reached by allowed merges alone.
Both tests are computed per pair of components once, so merging costs one pass of each.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from diptest import diptest
from scipy.special import logsumexp
from sklearn.neighbors import NearestNeighbors

from .em import log_densities
from .estimators import COVARIANCE_TYPES
from .merging import entropy_decreases, merge_hierarchy

# Interior points at which a graph edge's density is checked, besides its two ends.
EDGE_POINTS = (0.25, 0.5, 0.75)
N_NEIGHBORS = 10


def dip_test(values):
    """Hartigan and Hartigan's dip test of unimodality: the p-value, from the tabulated
    critical values (the ``diptest`` package; R's ``dip.test`` table)."""
    with warnings.catch_warnings():
        # Past the table's largest sample (72,000) the package compares sqrt(n) * dip with
        # that row, the statistic's asymptotic scaling, and warns each time.
        warnings.filterwarnings("ignore", message="Sample size exceeds the maximum limit")
        return float(diptest(values)[1])


def weighted_log_densities(model, X):
    """``log(pi_k) + log N(x | mu_k, Sigma_k)`` of every row and component, shape (n, K).

    Computed from the fitted parameters, so far rows keep their values where
    ``predict_proba`` underflows to 0.
    """
    kind = model.covariance_type if model.covariance_type in COVARIANCE_TYPES else "full"
    densities = log_densities(X, model.means_[np.newaxis], model.precisions_cholesky_[np.newaxis], kind)[0]
    return densities + np.log(model.weights_)


def dip_p_values(log_parts, components):
    """The dip test's p-value of each pair of components' log-odds, over their own points.

    Parameters
    ----------
    log_parts : ndarray of shape (n_samples, n_components)
        :func:`weighted_log_densities`.
    components : ndarray of shape (n_samples,)
        Each row's most probable component.

    Returns
    -------
    ndarray of shape (n_components, n_components)
        Symmetric; 1 where the two components hold fewer than four points between them
        (the test needs four) and on the diagonal.
    """
    n_components = log_parts.shape[1]
    p_values = np.ones((n_components, n_components))
    for i in range(n_components - 1):
        for j in range(i + 1, n_components):
            rows = (components == i) | (components == j)
            if rows.sum() >= 4:
                p_values[i, j] = p_values[j, i] = dip_test(log_parts[rows, i] - log_parts[rows, j])
    return p_values


def density_saddles(model, X, components, log_density, *, n_neighbors=N_NEIGHBORS):
    """The fitted log-density's highest crossing between each pair of components, and peaks.

    ``log_density`` is the model's log-density at the rows of ``X`` (``score_samples``).

    A crossing is an edge of the data's ``n_neighbors``-nearest-neighbour graph (found on
    standardised features) joining a point of one component to a point of the other; its
    height is the lowest log-density at its ends and at :data:`EDGE_POINTS` along it.

    Returns
    -------
    saddles : ndarray of shape (n_components, n_components)
        The highest crossing of each pair; -inf where no edge joins them.
    peaks : ndarray of shape (n_components,)
        The highest log-density among each component's points; -inf for a component that
        is no row's most probable.
    """
    n_components = model.n_components
    peaks = np.full(n_components, -np.inf)
    np.maximum.at(peaks, components, log_density)
    saddles = np.full((n_components, n_components), -np.inf)
    if len(X) < 2:
        return saddles, peaks
    scale = X.std(axis=0)
    scaled = X / np.where(scale > 0, scale, 1.0)
    k = min(n_neighbors, len(X) - 1)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(scaled).kneighbors(scaled, return_distance=False)
    start = np.repeat(np.arange(len(X)), k)
    end = neighbours[:, 1:].ravel()
    crossing = components[start] != components[end]
    start, end = start[crossing], end[crossing]
    if len(start) == 0:
        return saddles, peaks
    height = np.minimum(log_density[start], log_density[end])
    for t in EDGE_POINTS:
        height = np.minimum(height, model.score_samples(X[start] + t * (X[end] - X[start])))
    np.maximum.at(saddles, (components[start], components[end]), height)
    return np.maximum(saddles, saddles.T), peaks


@dataclass(frozen=True)
class ValleyRule:
    """The rule's per-component tables and thresholds; called as ``allowed`` by the hierarchy.

    Attributes
    ----------
    pair_entropy : ndarray (K, K)
        Entropy each pair of components' union removes (upper triangle).
    p_values, saddles, peaks : ndarray
        :func:`dip_p_values` and :func:`density_saddles`.
    significance, density_ratio : float
        The thresholds.
    """

    pair_entropy: np.ndarray
    p_values: np.ndarray
    saddles: np.ndarray
    peaks: np.ndarray
    significance: float
    density_ratio: float

    def meeting_pair(self, members_a, members_b):
        """The two components, one from each cluster, whose union lowers the entropy most."""
        pairs = [(min(i, j), max(i, j)) for i in members_a for j in members_b]
        return max(pairs, key=lambda pair: self.pair_entropy[pair])

    def judge(self, members_a, members_b):
        """The rule's values for merging two clusters (lists of components)."""
        i, j = self.meeting_pair(members_a, members_b)
        saddle = max(self.saddles[a, b] for a in members_a for b in members_b)
        lower_peak = min(self.peaks[members_a].max(), self.peaks[members_b].max())
        if saddle == -np.inf:
            ratio = 0.0
        elif lower_peak == -np.inf:
            ratio = 1.0  # a cluster of no row's components: nothing to measure against
        else:
            ratio = float(min(1.0, np.exp(saddle - lower_peak)))
        return {
            "meeting_components": (i, j),
            "dip_p_value": float(self.p_values[i, j]),
            "density_ratio": ratio,
        }

    def __call__(self, members_a, members_b):
        criteria = self.judge(members_a, members_b)
        ok = criteria["dip_p_value"] >= self.significance and criteria["density_ratio"] >= self.density_ratio
        return ok, criteria


def valley_rule(model, X, proba, *, significance, density_ratio, n_neighbors=N_NEIGHBORS):
    """The rule for one fitted model, its data and their ``predict_proba`` (see the module's text)."""
    log_parts = weighted_log_densities(model, X)
    components = np.argmax(proba, axis=1)
    log_density = logsumexp(log_parts, axis=1)
    saddles, peaks = density_saddles(model, X, components, log_density, n_neighbors=n_neighbors)
    return ValleyRule(
        pair_entropy=entropy_decreases(proba),
        p_values=dip_p_values(log_parts, components),
        saddles=saddles,
        peaks=peaks,
        significance=significance,
        density_ratio=density_ratio,
    )


def valley_hierarchy(model, X, proba, *, significance, density_ratio):
    """The merge hierarchy under the valley rule: steps of :func:`merge_hierarchy` with
    ``allowed`` and ``criteria`` filled."""
    rule = valley_rule(model, X, proba, significance=significance, density_ratio=density_ratio)
    return merge_hierarchy(proba, allowed=rule)
