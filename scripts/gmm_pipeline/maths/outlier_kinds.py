"""Synthetic anomalies of the kinds ADBench defines (Han et al. 2022, "ADBench: Anomaly
Detection Benchmark", section 4.2), added to a dataset's normal rows.

Each generator takes the normal rows ``X`` and returns ``n`` new rows:

* ``uniform``: drawn uniformly from the data's bounding box enlarged ``box_scale`` times
  (the pipeline's first kind; ADBench's "global" anomalies);
* ``local``: drawn from a Gaussian mixture fitted to the normal rows, with every
  covariance inflated ``scale`` times (ADBench: alpha = 5). They sit near the data but in
  its thin regions;
* ``cluster``: a small tight cluster away from the data: centred ``distance`` times the
  largest distance of a normal row from the mean, in a seeded random direction, with
  ``spread`` times the data's per-feature standard deviation. (ADBench scales the
  mixture's means by alpha = 5, which for centred data puts the cluster near the origin;
  this form is away from the data whatever its location);
* ``dependency``: each feature taken from an independently chosen normal row, so every
  value is typical of its feature but the features' joint pattern is broken (ADBench draws
  from independent marginals fitted by kernel density estimates; shuffling is the same
  idea without a bandwidth).
"""

import numpy as np

KINDS = ("uniform", "local", "cluster", "dependency")
DEFAULTS = {
    "uniform": {"box_scale": 1.5},
    "local": {"scale": 5.0, "n_components": 3},
    "cluster": {"distance": 1.5, "spread": 0.05},
    "dependency": {},
}


def n_outliers(fraction, n_rows):
    """How many rows ``fraction`` of ``n_rows`` adds: ``round(fraction * n_rows)``, at least one."""
    return max(1, int(round(fraction * n_rows)))


def uniform_outliers(X, n, *, seed=0, box_scale=1.5):
    low, high = X.min(axis=0), X.max(axis=0)
    centre, half = (low + high) / 2, (high - low) / 2 * box_scale
    return np.random.default_rng(seed).uniform(centre - half, centre + half, size=(n, X.shape[1]))


def local_outliers(X, n, *, seed=0, scale=5.0, n_components=3):
    """Rows from a mixture fitted to ``X`` (``n_components``, at most one per distinct row),
    each component's covariance multiplied by ``scale``."""
    # Imported here: the config check reads this module's DEFAULTS before any job runs,
    # and scikit-learn takes a second to import.
    from sklearn.mixture import GaussianMixture

    k = max(1, min(n_components, len(np.unique(X, axis=0))))
    mixture = GaussianMixture(n_components=k, covariance_type="full", random_state=seed).fit(X)
    rng = np.random.default_rng(seed)
    components = rng.choice(k, size=n, p=mixture.weights_ / mixture.weights_.sum())
    rows = np.empty((n, X.shape[1]))
    for component in range(k):
        chosen = components == component
        rows[chosen] = rng.multivariate_normal(
            mixture.means_[component], scale * mixture.covariances_[component], size=int(chosen.sum())
        )
    return rows


def cluster_outliers(X, n, *, seed=0, distance=1.5, spread=0.05):
    """A tight cluster of ``n`` rows beyond the data (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centre = X.mean(axis=0)
    direction = rng.normal(size=X.shape[1])
    direction /= np.linalg.norm(direction)
    reach = np.max(np.linalg.norm(X - centre, axis=1))
    location = centre + distance * reach * direction
    return rng.normal(location, spread * X.std(axis=0), size=(n, X.shape[1]))


def dependency_outliers(X, n, *, seed=0):
    """Rows whose every feature comes from an independently drawn row of ``X``."""
    rng = np.random.default_rng(seed)
    return np.column_stack([X[rng.integers(0, len(X), size=n), j] for j in range(X.shape[1])])


GENERATORS = {
    "uniform": uniform_outliers,
    "local": local_outliers,
    "cluster": cluster_outliers,
    "dependency": dependency_outliers,
}


def injections(spec):
    """A dataset entry's ``inject_outliers`` as a list of entries (it may be one or a list)."""
    injected = spec.get("inject_outliers")
    if not injected:
        return []
    return list(injected) if isinstance(injected, list) else [injected]


def generate_outliers(X, entry):
    """The rows one ``inject_outliers`` entry adds to the normal rows ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    entry : dict
        ``fraction``, ``kind`` (default ``uniform``), ``seed`` (default 0) and the kind's
        options (``DEFAULTS``).
    """
    kind = entry.get("kind", "uniform")
    options = {key: entry.get(key, default) for key, default in DEFAULTS[kind].items()}
    return GENERATORS[kind](X, n_outliers(entry["fraction"], len(X)), seed=entry.get("seed", 0), **options)
