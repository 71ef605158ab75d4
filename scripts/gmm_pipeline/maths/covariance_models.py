"""mclust's fourteen covariance models: their names, parameter counts and M-steps.

Celeux and Govaert (1995) write a component's covariance as ``lambda_k D_k A_k D_k'``:
a volume ``lambda_k``, a diagonal shape ``A_k`` of determinant 1 and an orientation
``D_k``. A model's three letters say whether each is Equal across components or
Variable, or (for shape and orientation) the Identity: ``VEV`` has variable volumes, one
shape and variable orientations. scikit-learn's four covariance types are four of the
fourteen (:data:`ALIASES`).

Each M-step here takes the components' weighted scatter matrices
``W_k = sum_i z_ik (x_i - mu_k)(x_i - mu_k)'`` and sizes ``n_k = sum_i z_ik`` and returns
the covariances that maximise the expected complete-data log-likelihood under the model,
as mclust computes them (its Fortran routines ``ms<model>`` and ``me<model>``):

* closed forms for EII, VII, EEI, EVI, VVI, EEE, EEV, EVV and VVV;
* alternating updates of volumes and the common shape for VEI, of volumes and the common
  shape-and-orientation matrix for VEE, and of volumes and the common shape for VEV (with
  each orientation the eigenvectors of its own ``W_k``), each to a relative change of
  ``inner_tol``;
* Browne and McNicholas's (2014) majorisation-minimisation steps for the common
  orientation of EVE and VVE, as mclust's ``mseve`` and ``msvve`` take them (two MM
  updates of ``D`` per inner iteration, then the shapes and volumes), except that VVE's
  updates weigh each component by its volume too (:func:`_common_orientation`).

Models whose M-step iterates carry a ``state`` from one EM iteration to the next, as
mclust does for EVE, VVE and VEV (the shapes and orientation of the last M-step start the
next); VEI and VEE restart from unit volumes each time, also as mclust does.
"""

import math

import numpy as np

MODELS = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)  # fmt: skip
# scikit-learn's covariance types, as the models they are.
ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
# mclust's inner tolerance (``emControl()$tol[2]``).
INNER_TOL = math.sqrt(np.finfo(float).eps)
INNER_MAX_ITER = 1000


def model_name(covariance_type):
    """mclust's name for a covariance model given by either name ("tied" -> "EEE").

    Raises
    ------
    ValueError
        If ``covariance_type`` is neither one of :data:`MODELS` nor one of :data:`ALIASES`.
    """
    name = ALIASES.get(covariance_type, covariance_type)
    if name not in MODELS:
        known = ", ".join(MODELS + tuple(ALIASES))
        raise ValueError(f"covariance_type {covariance_type!r} is not one of: {known}")
    return name


def n_variance_parameters(model, n_features, n_components):
    """Free parameters of the covariances, as mclust's ``nVarParams`` counts them."""
    d, G = n_features, n_components
    rotation = d * (d - 1) // 2
    return {
        "EII": 1,
        "VII": G,
        "EEI": d,
        "VEI": G + (d - 1),
        "EVI": 1 + G * (d - 1),
        "VVI": G * d,
        "EEE": d * (d + 1) // 2,
        "VEE": G + (d - 1) + rotation,
        "EVE": 1 + G * (d - 1) + rotation,
        "VVE": G * d + rotation,
        "EEV": d + G * rotation,
        "VEV": G + (d - 1) + G * rotation,
        "EVV": 1 - G + G * d * (d + 1) // 2,
        "VVV": G * d * (d + 1) // 2,
    }[model_name(model)]


def n_parameters(model, n_features, n_components):
    """Free parameters of the mixture (weights, means, covariances): what BIC penalises."""
    d, G = n_features, n_components
    return (G - 1) + G * d + n_variance_parameters(model, d, G)


def _geometric_mean(values, axis=-1):
    return np.exp(np.mean(np.log(values), axis=axis))


def _descending_eigh(matrices):
    """Eigenvalues (descending) and eigenvectors (as columns) of symmetric matrices."""
    values, vectors = np.linalg.eigh(matrices)
    return values[..., ::-1], vectors[..., ::-1]


def _from_parts(volumes, shapes, orientations):
    """``lambda_k D_k diag(A_k) D_k'`` for every component (arrays broadcast over k)."""
    scaled = orientations * (volumes[:, None, None] * shapes[:, None, :])
    return scaled @ np.swapaxes(orientations, -1, -2)


def _diagonal(values):
    G, d = values.shape
    out = np.zeros((G, d, d))
    out[:, np.arange(d), np.arange(d)] = values
    return out


def m_step_covariances(model, scatter, nk, state=None, *, inner_tol=INNER_TOL, inner_max_iter=INNER_MAX_ITER):
    """The covariances of a model's M-step.

    Parameters
    ----------
    model : str
        One of :data:`MODELS` (or an alias).
    scatter : ndarray of shape (n_components, n_features, n_features)
        Each component's weighted scatter matrix ``W_k`` (not divided by ``n_k``).
    nk : ndarray of shape (n_components,)
        Each component's total responsibility.
    state : dict, optional
        The previous M-step's ``state`` (EVE, VVE, VEV start their inner iterations there).
    inner_tol, inner_max_iter : float, int
        When the iterative M-steps stop.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
    state : dict
    """
    model = model_name(model)
    G, d, _ = scatter.shape
    n = nk.sum()
    state = {} if state is None else state
    if model == "VVV":
        return scatter / nk[:, None, None], {}
    if model == "EEE":
        return np.broadcast_to(scatter.sum(axis=0) / n, scatter.shape).copy(), {}
    traces = np.trace(scatter, axis1=1, axis2=2)
    if model == "EII":
        return _diagonal(np.full((G, d), traces.sum() / (n * d))), {}
    if model == "VII":
        return _diagonal(np.repeat((traces / (nk * d))[:, None], d, axis=1)), {}
    diagonals = np.diagonal(scatter, axis1=1, axis2=2)  # (G, d)
    if model == "VVI":
        return _diagonal(diagonals / nk[:, None]), {}
    if model == "EEI":
        return _diagonal(np.broadcast_to(diagonals.sum(axis=0) / n, (G, d))), {}
    if model == "EVI":
        sizes = _geometric_mean(diagonals)
        volume = sizes.sum() / n
        return _diagonal(volume * diagonals / sizes[:, None]), {}
    if model == "VEI":
        volumes, shape = _alternate_volumes(diagonals, nk, np.ones(d), inner_tol, inner_max_iter)
        return _diagonal(volumes[:, None] * shape[None, :]), {}
    if model == "EVV":
        sizes = np.exp(np.linalg.slogdet(scatter)[1] / d)
        volume = sizes.sum() / n
        return volume * scatter / sizes[:, None, None], {}
    if model == "EEV":
        values, vectors = _descending_eigh(scatter)
        pooled = values.sum(axis=0)
        size = _geometric_mean(pooled)
        shape, volume = pooled / size, size / n
        return _from_parts(np.full(G, volume), np.broadcast_to(shape, (G, d)), vectors), {}
    if model == "VEV":
        values, vectors = _descending_eigh(scatter)
        if "shape" in state:
            shape, volumes = state["shape"], state["volumes"]
        else:
            pooled = values.sum(axis=0)
            shape = pooled / _geometric_mean(pooled)
        volumes, shape = _alternate_volumes(values, nk, shape, inner_tol, inner_max_iter)
        return _from_parts(volumes, np.broadcast_to(shape, (G, d)), vectors), {"shape": shape, "volumes": volumes}
    if model == "VEE":
        return _vee(scatter, nk, inner_tol, inner_max_iter), {}
    # EVE, VVE
    orientation = state.get("orientation", np.eye(d))
    shapes = state.get("shapes", np.ones((G, d)))
    volumes = state.get("volumes", np.ones(G))
    orientation, shapes, volumes = _common_orientation(
        model, scatter, nk, orientation, shapes, volumes, inner_tol, inner_max_iter
    )
    covariances = _from_parts(volumes, shapes, np.broadcast_to(orientation, (G, d, d)))
    return covariances, {"orientation": orientation, "shapes": shapes, "volumes": volumes}


def _alternate_volumes(eigen, nk, shape, inner_tol, inner_max_iter):
    """Volumes ``lambda_k`` and one shape ``A`` (det 1) for ``lambda_k A`` against per-component
    diagonal scatters ``eigen`` (G, d): mclust's ``msvei`` (and ``mevev``'s inner loop)."""
    d = eigen.shape[1]
    volumes = np.ones(len(nk))
    for _ in range(inner_max_iter):
        previous_volumes, previous_shape = volumes, shape
        volumes = (eigen / shape).sum(axis=1) / (d * nk)
        shape = (eigen / volumes[:, None]).sum(axis=0)
        shape = shape / _geometric_mean(shape)
        change = max(
            np.max(np.abs(previous_volumes - volumes) / (1 + volumes)),
            np.max(np.abs(previous_shape - shape) / (1 + shape)),
        )
        if change <= inner_tol:
            break
    return volumes, shape


def _vee(scatter, nk, inner_tol, inner_max_iter):
    """``lambda_k C`` with one ``C`` of determinant 1: mclust's ``msvee``."""
    d = scatter.shape[1]
    volumes = np.ones(len(nk))
    target_before = np.inf
    for _ in range(inner_max_iter):
        common = (scatter / volumes[:, None, None]).sum(axis=0)
        common = common / np.exp(np.linalg.slogdet(common)[1] / d)
        inverse = np.linalg.inv(common)
        volumes = np.einsum("kij,ji->k", scatter, inverse) / (d * nk)
        target = nk.sum() * d + d * np.sum(np.log(volumes) * nk)
        if abs(target - target_before) / (1 + abs(target)) <= inner_tol:
            break
        target_before = target
    return volumes[:, None, None] * common


def _common_orientation(model, scatter, nk, orientation, shapes, volumes, inner_tol, inner_max_iter):
    """One orientation ``D`` for ``lambda D A_k D'`` (EVE) or ``lambda_k D A_k D'`` (VVE) by
    Browne and McNicholas's two MM updates, as mclust's ``mseve`` and ``msvve`` take them,
    then each component's shape (and, for VVE, volume) given ``D``.

    For VVE the MM updates weigh each component by ``1 / (lambda_k A_k)``, the matrix its
    term of the objective divides by. mclust's ``msvve`` weighs by ``1 / A_k`` alone, which
    is right only when the volumes are equal, and so stops short of the constrained
    maximum (see docs/upstream.md); with the volumes in, the step is the maximum."""
    G, d, _ = scatter.shape
    largest = np.linalg.eigvalsh(scatter)[:, -1]  # (G,)
    target_before = np.inf
    for _ in range(inner_max_iter):
        scales = shapes * volumes[:, None]  # lambda_k A_k (EVE: a common lambda cancels)
        # MM 1: F = sum_k S_k^-1 D' W_k - omega_k S_k^-1 D', D' <- P R' from svd(F).
        rotated = orientation.T[None] / scales[:, :, None]
        F = (rotated @ scatter - largest[:, None, None] * rotated).sum(axis=0)
        left, _, right = np.linalg.svd(F)
        orientation = (left @ right).T
        # MM 2: F = sum_k W_k D S_k^-1 - max(1/S_k) W_k D, D <- P R' from svd(F).
        turned = scatter @ orientation
        F = (turned / scales[:, None, :] - (1 / scales).max(axis=1)[:, None, None] * turned).sum(axis=0)
        left, _, right = np.linalg.svd(F)
        orientation = left @ right
        projected = np.einsum("ji,kjl,li->ki", orientation, scatter, orientation)  # diag(D' W_k D)
        if model == "EVE":
            shapes = projected / _geometric_mean(projected)[:, None]
            target = np.sum(projected / shapes)
        else:
            per_point = projected / nk[:, None]
            volumes = _geometric_mean(per_point)
            shapes = per_point / volumes[:, None]
            target = np.sum(projected / (shapes * volumes[:, None])) + d * np.sum(nk * np.log(volumes))
        if abs(target - target_before) / (1 + abs(target)) <= inner_tol:
            break
        target_before = target
    if model == "EVE":
        volumes = np.full(G, target / (nk.sum() * d))
    return orientation, shapes, volumes
