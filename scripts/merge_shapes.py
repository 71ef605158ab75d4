"""Where each merge rule stops, on shapes beyond the default config's four (docs/clusters.md).

For each shape: a Gaussian mixture chosen by BIC as a user would fit one by hand
(scikit-learn's four covariance types, 1 to 10 components, three starts each), then the
number of clusters and the adjusted Rand index each stopping rule gives. Then what backs
the valley rule's density threshold: the density ratio of every merge the dip test alone
would take, split by whether it joined two true groups (the adjusted Rand index falls) or
not (a link of a chain, or a halo joining its group).

    .venv/bin/python scripts/merge_shapes.py          # about three minutes on two cores
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gmm_pipeline.config.schema import schema_default  # noqa: E402
from gmm_pipeline.maths.merging import merged_labels  # noqa: E402
from gmm_pipeline.maths.outlier_kinds import n_outliers, uniform_outliers  # noqa: E402
from gmm_pipeline.stages.merge_components import merge_by_rule  # noqa: E402
from gmm_pipeline.stages.prepare_data import ANISOTROPIC_TRANSFORMATION  # noqa: E402

RULES = ("valley", "elbow", "bhattacharyya", "ridgeline", "misclassification")
# The default rule's settings, from the config schema.
VALLEY = {
    key: schema_default(f"merging.{key}") for key in ("rule", "significance", "density_ratio", "cutoff")
}


def two_gaussians(separation, dimensions=2, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, dimensions)), np.arange(n) % 2
    X[y == 1, 0] += separation
    return X, y


def uniform(width, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0, width, n), rng.uniform(0, 1, n)]), np.zeros(n, int)


def rings(count=3, n=1200, noise=0.04, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % count
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.column_stack([(1 + y) * np.cos(angle), (1 + y) * np.sin(angle)])
    return points + rng.normal(scale=noise, size=(n, 2)), y


def spirals(n=1000, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    points = np.column_stack([t * np.cos(t + np.pi * y), t * np.sin(t + np.pi * y)])
    return points + rng.normal(scale=noise, size=(n, 2)), y


def banana_and_blob(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    half = n // 2
    angle = rng.uniform(0, np.pi, half)
    arc = np.column_stack([3 * np.cos(angle), 3 * np.sin(angle)]) + rng.normal(scale=0.2, size=(half, 2))
    blob = rng.normal(scale=0.4, size=(n - half, 2)) + [0.0, 0.8]
    return np.vstack([arc, blob]), np.repeat([0, 1], [half, n - half])


def student_t(n=1000, seed=0):
    return np.random.default_rng(seed).standard_t(3, size=(n, 2)), np.zeros(n, int)


def cross(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    half = n // 2
    bar = np.column_stack([rng.uniform(-3, 3, half), rng.normal(scale=0.2, size=half)])
    return np.vstack([bar, bar[:, ::-1]]), np.zeros(2 * half, int)


def anisotropic(seed, n=1000):
    X, y = make_blobs(n_samples=n, centers=3, random_state=seed)
    return X @ np.asarray(ANISOTROPIC_TRANSFORMATION), y


def blobs_with_outliers(seed, n=1000):
    X, y = make_blobs(n_samples=n, centers=4, cluster_std=1.0, random_state=seed)
    outliers = uniform_outliers(X, n_outliers(0.03, n), seed=0)
    return np.vstack([X, outliers]), np.concatenate([y, np.full(len(outliers), -1)])  # -1: an outlier


def shapes():
    """``{name: (X, labels, true number of groups)}``."""
    out = {}
    for separation in (3, 4, 5, 6):
        out[f"two Gaussians {separation} sd apart"] = (*two_gaussians(separation), 2)
    out["two Gaussians 4 sd apart, 5-D"] = (*two_gaussians(4, dimensions=5), 2)
    out["one Gaussian"] = (*two_gaussians(0), 1)
    out["Student t, 3 dof"] = (*student_t(), 1)
    out["uniform strip 6 x 1"] = (*uniform(6), 1)
    out["uniform square"] = (*uniform(1), 1)
    out["cross of two bars"] = (*cross(), 1)
    out["banana and blob"] = (*banana_and_blob(), 2)
    out["three rings"] = (*rings(), 3)
    out["two spirals"] = (*spirals(), 2)
    for seed in (0, 1, 3):
        out[f"moons, seed {seed}"] = (*make_moons(1000, noise=0.05, random_state=seed), 2)
    out["moons, noise 0.1"] = (*make_moons(1000, noise=0.1, random_state=0), 2)
    out["moons, 5000 points"] = (*make_moons(5000, noise=0.05, random_state=0), 2)
    for seed in (0, 1):
        out[f"circles, seed {seed}"] = (*make_circles(1000, noise=0.05, factor=0.5, random_state=seed), 2)
    out["circles, noise 0.1"] = (*make_circles(1000, noise=0.1, factor=0.5, random_state=0), 2)
    out["circles, 5000 points"] = (*make_circles(5000, noise=0.05, factor=0.5, random_state=0), 2)
    for seed in (0, 1, 3, 170):
        out[f"anisotropic, seed {seed}"] = (*anisotropic(seed), 3)
    out["anisotropic, 5000 points"] = (*anisotropic(2, n=5000), 3)
    for seed in (0, 3, 5, 11):
        out[f"blobs + 3% outliers, seed {seed}"] = (*blobs_with_outliers(seed), 4)
    iris = load_iris()
    out["iris (4-D)"] = (iris.data, iris.target, 3)
    return out


def bic_model(X):
    """The BIC choice over scikit-learn's four types and 1 to 10 components, three starts each."""
    fits = (
        GaussianMixture(k, covariance_type=kind, n_init=3, random_state=0, tol=1e-5, max_iter=500).fit(X)
        for kind in ("full", "tied", "diag", "spherical")
        for k in range(1, 11)
    )
    return min(fits, key=lambda model: model.bic(X))


def main():
    dip_only = VALLEY | {"density_ratio": 0.0}
    same, apart = [], []
    print("| shape | groups | model | " + " | ".join(RULES) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in RULES) + " |")
    for name, (X, y, groups) in shapes().items():
        model = bic_model(X)
        proba = model.predict_proba(X)
        cells = []
        for rule in RULES:
            steps, found, _ = merge_by_rule(model, X, proba, VALLEY | {"rule": rule})
            chosen = next(step for step in steps if step.n_clusters == found)
            ari = adjusted_rand_score(y, merged_labels(proba, chosen.clusters)) if groups > 1 else np.nan
            mark = "**" if found == groups else ""
            cells.append(f"{mark}{found}{mark}" + ("" if groups == 1 else f" ({ari:.2f})"))
        print(
            f"| {name} | {groups} | {model.covariance_type} {model.n_components} | "
            + " | ".join(cells)
            + " |"
        )
        # The density ratio of each merge the dip test alone takes, and whether it joined two
        # true groups (the ARI against the labels falls by more than 0.05) or not.
        steps, found, _ = merge_by_rule(model, X, proba, dip_only)
        agreement = [adjusted_rand_score(y, merged_labels(proba, step.clusters)) for step in steps]
        for index in range(1, steps[0].n_clusters - found + 1):
            ratio = round(steps[index].criteria["density_ratio"], 3)
            joined_two = agreement[index] < agreement[index - 1] - 0.05
            (apart if joined_two else same).append((ratio, name))
    print("\nDensity ratio of the merges the dip test alone takes (density_ratio 0):")
    print(f"  {len(same)} within one true group, the lowest five: {sorted(same)[:5]}")
    print(f"  {len(apart)} joining two true groups: {sorted(apart)}")


if __name__ == "__main__":
    main()
