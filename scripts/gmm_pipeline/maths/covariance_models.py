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
next); VEI and VEE restart from unit volumes each time, also as mclust does. The M-steps
are compiled, in :mod:`gmm_pipeline.maths.parsimonious_kernels`.
"""

import math

import numpy as np

# mclust's names, in mclust's order (the compiled kernels number the models in this order;
# the names are here, apart from them, so that reading a config does not load numba).
MODELS = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)  # fmt: skip

# scikit-learn's covariance types, as the models they are.
ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
# The ten models scikit-learn has not: the pipeline calls them by mclust's names.
OTHER_MODELS = tuple(model for model in MODELS if model not in ALIASES.values())
# Those of the ten that mclust gives a conjugate prior (maths.parsimonious_prior).
PRIOR_MODELS = ("EII", "EEI", "VEI", "EVI", "EEV", "VEV")
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


def pipeline_names(covariance_types):
    """The pipeline's name of each covariance type: scikit-learn's for the four models it
    has (mclust's ``VVV`` is ``full``: the same fits, the same artifacts), mclust's for the
    other ten.

    Raises
    ------
    ValueError
        For a name that is neither, or a model listed twice under its two names.
    """
    sklearn_name = {model: name for name, model in ALIASES.items()}
    names = []
    for kind in covariance_types:
        name = sklearn_name.get(model_name(kind), kind)
        if name in names:
            raise ValueError(f"{name} is listed twice ({kind!r} is {name})")
        names.append(name)
    return names


def n_variance_parameters(model, n_components, n_features):
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


def n_parameters(covariance_type, n_components, n_features):
    """Free parameters of a Gaussian mixture (weights, means, covariances): what BIC and AIC
    penalise, as mclust's ``nMclustParams`` counts them (for scikit-learn's four types,
    its own count too)."""
    d, G = n_features, n_components
    return (G - 1) + G * d + n_variance_parameters(covariance_type, G, d)


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
        NaN where mclust's M-step fails (EVE and VVE: a scatter matrix with an eigenvalue
        below ``sqrt(eps)``).
    state : dict
    """
    G, d, _ = scatter.shape
    state = {} if state is None else state
    warm = "orientation" in state
    orientation = state.get("orientation", np.eye(d)).copy()
    shapes = state.get("shapes", np.ones((G, d))).copy()
    volumes = state.get("volumes", np.ones(G)).copy()
    covariances = np.empty((G, d, d))
    scatter, nk = np.ascontiguousarray(scatter, dtype=float), np.ascontiguousarray(nk, dtype=float)
    from .compiled import parsimonious_kernels as kernels

    sound = kernels.m_step(
        MODELS.index(model_name(model)), scatter, nk, orientation, shapes, volumes, warm,
        inner_tol, inner_max_iter, covariances,
    )  # fmt: skip
    if not sound:
        covariances[:] = np.nan
    return covariances, {"orientation": orientation, "shapes": shapes, "volumes": volumes}


def constraint_violations(model, covariances, *, rtol=1e-6):
    """How ``covariances`` (n_components, d, d) break a model's constraints, as phrases
    (empty if they satisfy it): the test a model file's covariances must pass.

    Volume E: one ``det(Sigma_k) ** (1 / d)``. Shape I: equal eigenvalues; E: one set of
    eigenvalues over the volume. Orientation I: diagonal matrices; E: matrices that
    commute (they share their eigenvectors).
    """
    name = model_name(model)
    volume, shape, orientation = name
    d = covariances.shape[1]
    values = np.linalg.eigvalsh(covariances)  # ascending, (G, d)
    volumes = np.exp(np.log(values).mean(axis=1))
    shapes = values / volumes[:, None]
    problems = []
    if volume == "E" and not np.allclose(volumes, volumes[0], rtol=rtol, atol=0):
        problems.append("volumes differ")
    if shape == "I" and not np.allclose(shapes, 1.0, rtol=rtol, atol=0):
        problems.append("a covariance is not spherical")
    if shape == "E" and not np.allclose(shapes, shapes[0], rtol=rtol, atol=0):
        problems.append("shapes differ")
    scale = np.abs(covariances).max()
    if orientation == "I":
        off_diagonal = covariances * (1 - np.eye(d))
        if np.abs(off_diagonal).max() > rtol * scale:
            problems.append("a covariance is not diagonal")
    if orientation == "E":
        first = covariances[0]
        commutators = covariances @ first - first @ covariances
        if np.abs(commutators).max() > rtol * scale**2:
            problems.append("orientations differ")
    return problems
