"""mclust's EM for its fourteen covariance models, compiled (numba): one start from its first
M-step to convergence, no Python inside.

Each iteration is mclust's ``me``: the weighted scatter matrices ``W_k`` and sizes ``n_k``
of the responsibilities, the model's M-step (:func:`m_step`), then the E-step, until the
relative change of the log-likelihood ``|L_t - L_(t-1)| / (1 + |L_t|)`` is at most ``tol``.
The E-step gathers the next M-step's sums in the same pass over the rows.
The M-steps are those of :mod:`gmm_pipeline.maths.covariance_models`, which documents them
and calls :func:`m_step` here.

The file imports nothing of the package, so that it can be compiled from a copy that
every checkout of the same code on a machine shares (:mod:`gmm_pipeline.maths.compiled`).

Result codes of :func:`em`: 0 finished (converged or ``max_iter`` spent), 1 singular (a
component emptied or a covariance numerically singular, mclust's tests; the outputs hold
the last sound iteration's parameters if there was one).
"""

import math

import numpy as np
from numba import njit

# mclust's model names, in the order of their codes here.
MODELS = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)  # fmt: skip
EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV = range(14)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Every function compiles with numpy's error model: a division by zero gives inf or NaN,
# which the checks below turn into a singular fit, rather than an exception.
# mclust's sqrt(.Machine$double.eps): its floor for sizes, shapes and volumes.
SMALL = math.sqrt(np.finfo(np.float64).eps)


@njit(cache=True, error_model="numpy")
def _finite(values):
    for value in values.ravel():
        if not math.isfinite(value):
            return False
    return True


@njit(cache=True, error_model="numpy")
def _geometric_mean(values):
    total = 0.0
    for value in values:
        total += math.log(value)
    return math.exp(total / len(values))


@njit(cache=True, error_model="numpy")
def _descending_eigh(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return values[::-1].copy(), vectors[:, ::-1].copy()


@njit(cache=True, error_model="numpy")
def _set_from_parts(volume, shape, orientation, out):
    """``out = volume * D diag(shape) D'``."""
    d = len(shape)
    for a in range(d):
        for b in range(a + 1):
            total = 0.0
            for j in range(d):
                total += orientation[a, j] * shape[j] * orientation[b, j]
            out[a, b] = volume * total
            out[b, a] = out[a, b]


@njit(cache=True, error_model="numpy")
def alternate_volumes(eigen, divisors, shape, volumes, inner_tol, inner_max_iter):
    """Volumes and one shape (det 1) for ``lambda_k A`` against the diagonal scatters
    ``eigen`` (G, d), from ``shape``: mclust's ``msvei`` and ``mevev``'s inner loop, each
    volume over its ``divisors[k]`` (``d n_k`` for maximum likelihood; mclust's prior
    changes them). Updates ``shape`` and ``volumes`` in place."""
    G, d = eigen.shape
    for _ in range(inner_max_iter):
        change = 0.0
        for k in range(G):
            total = 0.0
            for j in range(d):
                total += eigen[k, j] / shape[j]
            new = total / divisors[k]
            change = max(change, abs(volumes[k] - new) / (1.0 + new))
            volumes[k] = new
        new_shape = np.zeros(d)
        for j in range(d):
            for k in range(G):
                new_shape[j] += eigen[k, j] / volumes[k]
        size = _geometric_mean(new_shape)
        for j in range(d):
            value = new_shape[j] / size
            change = max(change, abs(shape[j] - value) / (1.0 + value))
            shape[j] = value
        if change <= inner_tol:
            break


@njit(cache=True, error_model="numpy")
def _common_orientation(code, scatter, nk, orientation, shapes, volumes, inner_tol, inner_max_iter):
    """EVE's and VVE's common orientation by Browne and McNicholas's two MM updates, as
    mclust's ``mseve`` and ``msvve`` take them (VVE's weighted by the volumes too), then
    each component's shape and volume; updates the three arrays in place."""
    G, d, _ = scatter.shape
    largest = np.empty(G)
    for k in range(G):
        values = np.linalg.eigvalsh(scatter[k])
        largest[k] = values[-1]
    scales = np.empty((G, d))
    projected = np.empty((G, d))
    target_before = math.inf
    target = 0.0
    for _ in range(inner_max_iter):
        for k in range(G):
            for j in range(d):
                scales[k, j] = shapes[k, j] * volumes[k]
        # MM 1: F = sum_k S_k^-1 D' W_k - omega_k S_k^-1 D'; D' <- P R' from svd(F).
        F = np.zeros((d, d))
        for k in range(G):
            rotated = orientation.T.copy()
            for j in range(d):
                rotated[j, :] /= scales[k, j]
            F += rotated @ scatter[k] - largest[k] * rotated
        if not _finite(F):
            return False
        left, _, right = np.linalg.svd(F)
        orientation[:, :] = (left @ right).T
        # MM 2: F = sum_k W_k D S_k^-1 - max(1 / S_k) W_k D; D <- P R' from svd(F).
        F[:, :] = 0.0
        for k in range(G):
            turned = scatter[k] @ orientation
            weight = 0.0
            for j in range(d):
                weight = max(weight, 1.0 / scales[k, j])
            for j in range(d):
                F[:, j] += turned[:, j] / scales[k, j] - weight * turned[:, j]
        if not _finite(F):
            return False
        left, _, right = np.linalg.svd(F)
        orientation[:, :] = left @ right
        target = 0.0
        for k in range(G):
            turned = scatter[k] @ orientation
            for j in range(d):
                total = 0.0
                for a in range(d):
                    total += orientation[a, j] * turned[a, j]
                projected[k, j] = total
            if code == EVE:
                size = _geometric_mean(projected[k])
                for j in range(d):
                    shapes[k, j] = projected[k, j] / size
                    target += projected[k, j] / shapes[k, j]
            else:
                for j in range(d):
                    projected[k, j] /= nk[k]
                size = _geometric_mean(projected[k])
                volumes[k] = size
                for j in range(d):
                    shapes[k, j] = projected[k, j] / size
                    target += nk[k] * projected[k, j] / (shapes[k, j] * size)
                target += d * nk[k] * math.log(size)
        if abs(target - target_before) / (1.0 + abs(target)) <= inner_tol:
            break
        target_before = target
    if code == EVE:
        volumes[:] = target / (nk.sum() * d)
    return True


@njit(cache=True, error_model="numpy")
def m_step(code, scatter, nk, orientation, shapes, volumes, warm, inner_tol, inner_max_iter, covariances):
    """A model's covariances from the scatter matrices ``W_k`` (G, d, d) and sizes ``n_k``,
    written into ``covariances``. ``orientation`` (d, d), ``shapes`` (G, d) and ``volumes``
    (G,) carry EVE's, VVE's and VEV's inner state from one M-step to the next (``warm``:
    they hold the previous M-step's). Returns False where mclust's M-step fails: a scatter
    matrix that is not finite, not positive definite (VEE, EVV) or with an eigenvalue
    below ``sqrt(eps)`` (EVE, VVE), or covariances that are not finite."""
    G, d, _ = scatter.shape
    n = nk.sum()
    covariances[:] = 0.0
    if not _finite(scatter):
        return False
    if code == VVV:
        for k in range(G):
            covariances[k] = scatter[k] / nk[k]
    elif code == EEE:
        pooled = scatter.sum(axis=0) / n
        for k in range(G):
            covariances[k] = pooled
    elif code == EII or code == VII:
        total = 0.0
        for k in range(G):
            trace = 0.0
            for j in range(d):
                trace += scatter[k, j, j]
            total += trace
            if code == VII:
                for j in range(d):
                    covariances[k, j, j] = trace / (nk[k] * d)
        if code == EII:
            for k in range(G):
                for j in range(d):
                    covariances[k, j, j] = total / (n * d)
    elif code == VVI or code == EEI or code == EVI or code == VEI:
        diagonals = np.empty((G, d))
        for k in range(G):
            for j in range(d):
                diagonals[k, j] = scatter[k, j, j]
        if code == VVI:
            for k in range(G):
                for j in range(d):
                    covariances[k, j, j] = diagonals[k, j] / nk[k]
        elif code == EEI:
            for j in range(d):
                pooled = diagonals[:, j].sum() / n
                for k in range(G):
                    covariances[k, j, j] = pooled
        elif code == EVI:
            sizes = np.empty(G)
            for k in range(G):
                sizes[k] = _geometric_mean(diagonals[k])
            volume = sizes.sum() / n
            for k in range(G):
                for j in range(d):
                    covariances[k, j, j] = volume * diagonals[k, j] / sizes[k]
        else:  # VEI: mclust restarts from a unit shape at each M-step
            shape = np.ones(d)
            fresh = np.ones(G)
            alternate_volumes(diagonals, d * nk, shape, fresh, inner_tol, inner_max_iter)
            for k in range(G):
                for j in range(d):
                    covariances[k, j, j] = fresh[k] * shape[j]
    elif code == EVV:
        sizes = np.empty(G)
        for k in range(G):
            sign, log_det = np.linalg.slogdet(scatter[k])
            if not sign > 0:
                return False
            sizes[k] = math.exp(log_det / d)
        volume = sizes.sum() / n
        for k in range(G):
            covariances[k] = volume * scatter[k] / sizes[k]
    elif code == EEV or code == VEV:
        values = np.empty((G, d))
        vectors = np.empty((G, d, d))
        for k in range(G):
            values[k], vectors[k] = _descending_eigh(scatter[k])
        if code == EEV:
            pooled = values.sum(axis=0)
            size = _geometric_mean(pooled)
            for k in range(G):
                _set_from_parts(size / n, pooled / size, vectors[k], covariances[k])
        else:
            shape = shapes[0]
            if not warm:
                pooled = values.sum(axis=0)
                shape[:] = pooled / _geometric_mean(pooled)
            alternate_volumes(values, d * nk, shape, volumes, inner_tol, inner_max_iter)
            for k in range(G):
                _set_from_parts(volumes[k], shape, vectors[k], covariances[k])
    elif code == VEE:  # mclust restarts from unit volumes at each M-step
        for k in range(G):
            if not np.linalg.eigvalsh(scatter[k])[0] > 0.0:  # mclust's msvee: each W_k positive definite
                return False
        fresh = np.ones(G)
        common = np.zeros((d, d))
        target_before = math.inf
        for _ in range(inner_max_iter):
            common[:, :] = 0.0
            for k in range(G):
                common += scatter[k] / fresh[k]
            if not _finite(common):
                return False
            sign, log_det = np.linalg.slogdet(common)
            if not sign > 0:
                return False
            common /= math.exp(log_det / d)
            inverse = np.linalg.inv(common)
            target = 0.0
            for k in range(G):
                trace = 0.0
                for a in range(d):
                    for b in range(d):
                        trace += scatter[k, a, b] * inverse[b, a]
                fresh[k] = trace / (d * nk[k])
                if not fresh[k] > 0.0:
                    return False
                target += nk[k] * math.log(fresh[k])
            target = n * d + d * target
            if abs(target - target_before) / (1.0 + abs(target)) <= inner_tol:
                break
            target_before = target
        for k in range(G):
            covariances[k] = fresh[k] * common
    else:  # EVE, VVE
        for k in range(G):
            if np.linalg.eigvalsh(scatter[k])[0] < SMALL:
                return False
        if not warm:
            orientation[:, :] = np.eye(d)
            shapes[:, :] = 1.0
            volumes[:] = 1.0
        if not _common_orientation(
            code, scatter, nk, orientation, shapes, volumes, inner_tol, inner_max_iter
        ):
            return False
        for k in range(G):
            _set_from_parts(volumes[k], shapes[k], orientation, covariances[k])
    return _finite(covariances)


@njit(cache=True, error_model="numpy")
def _moments(X, resp, sample_weight, sums, firsts, seconds):
    """Each Gaussian component's weighted sums of 1, x and the lower triangle of x x'
    (components 0 to G - 1 of ``resp``; a last, noise column is summed alone). Returns
    the noise column's weighted sum (0 without one)."""
    n, d = X.shape
    G = sums.shape[0]
    sums[:] = 0.0
    firsts[:] = 0.0
    seconds[:] = 0.0
    noise_sum = 0.0
    for i in range(n):
        if resp.shape[1] > G:
            noise_sum += resp[i, G] * sample_weight[i]
        for k in range(G):
            # The same gathering as in e_step, written out in both: as a shared compiled
            # function (inlined or not) it made each iteration three times as slow.
            r = resp[i, k] * sample_weight[i]
            if r == 0.0:
                continue
            sums[k] += r
            for a in range(d):
                ra = r * X[i, a]
                firsts[k, a] += ra
                for b in range(a + 1):
                    seconds[k, a, b] += ra * X[i, b]
    return noise_sum


@njit(cache=True, error_model="numpy")
def _scatter_from_moments(sums, firsts, seconds, means, scatter):
    """Means and scatter matrices ``W_k = sum r x x' - n_k mu_k mu_k'`` from the moments."""
    G, d = firsts.shape
    for k in range(G):
        for a in range(d):
            means[k, a] = firsts[k, a] / sums[k]
        for a in range(d):
            for b in range(a + 1):
                value = seconds[k, a, b] - sums[k] * means[k, a] * means[k, b]
                scatter[k, a, b] = value
                scatter[k, b, a] = value


@njit(cache=True, error_model="numpy")
def cholesky_factors(covariances, factors, half_log_dets):
    """Lower Cholesky factors of each covariance and half its log-determinant. Returns
    False where a covariance is numerically singular by mclust's tests: a squared diagonal
    of its factor at most ``sqrt(eps)`` times the largest, or a volume
    ``det ** (1 / d)`` at most ``sqrt(eps)``."""
    G, d, _ = covariances.shape
    for k in range(G):
        for j in range(d):
            total = covariances[k, j, j]
            for m in range(j):
                total -= factors[k, j, m] * factors[k, j, m]
            if not total > 0.0:
                return False
            pivot = math.sqrt(total)
            factors[k, j, j] = pivot
            for i in range(j + 1, d):
                value = covariances[k, i, j]
                for m in range(j):
                    value -= factors[k, i, m] * factors[k, j, m]
                factors[k, i, j] = value / pivot
            for i in range(j):
                factors[k, i, j] = 0.0
        smallest = math.inf
        largest = 0.0
        half = 0.0
        for j in range(d):
            square = factors[k, j, j] * factors[k, j, j]
            smallest = min(smallest, square)
            largest = max(largest, square)
            half += math.log(factors[k, j, j])
        half_log_dets[k] = half
        if smallest <= SMALL * largest or math.exp(2.0 * half / d) <= SMALL:
            return False
    return True


@njit(cache=True, error_model="numpy")
def e_step(
    X,
    log_weights,
    noise_log_density,
    means,
    factors,
    half_log_dets,
    sample_weight,
    resp,
    sums,
    firsts,
    seconds,
):
    """Responsibilities (written into ``resp``) and the weighted total log-likelihood; in
    the same pass, the moments of the new responsibilities (:func:`_moments`), whose noise
    sum it returns second. With a noise column (``resp`` one column wider than there are
    components), its log-density is ``log_weights[-1] + noise_log_density``."""
    n, d = X.shape
    G = means.shape[0]
    columns = resp.shape[1]
    sums[:] = 0.0
    firsts[:] = 0.0
    seconds[:] = 0.0
    inverse_pivots = np.empty((G, d))
    for k in range(G):
        for j in range(d):
            inverse_pivots[k, j] = 1.0 / factors[k, j, j]
    constants = np.empty(columns)
    for k in range(G):
        constants[k] = log_weights[k] - d * _HALF_LOG_2PI - half_log_dets[k]
    if columns > G:
        constants[G] = log_weights[G] + noise_log_density
    whitened = np.empty(d)
    row = np.empty(columns)
    total = 0.0
    noise_sum = 0.0
    for i in range(n):
        largest = -math.inf
        for k in range(G):
            distance = 0.0
            for j in range(d):
                value = X[i, j] - means[k, j]
                for m in range(j):
                    value -= factors[k, j, m] * whitened[m]
                value *= inverse_pivots[k, j]
                whitened[j] = value
                distance += value * value
            row[k] = constants[k] - 0.5 * distance
            largest = max(largest, row[k])
        if columns > G:
            row[G] = constants[G]
            largest = max(largest, row[G])
        row_sum = 0.0
        for k in range(columns):
            row[k] = math.exp(row[k] - largest)
            row_sum += row[k]
        scale = 1.0 / row_sum
        weight = sample_weight[i]
        if columns > G:
            resp[i, G] = row[G] * scale
            noise_sum += resp[i, G] * weight
        for k in range(G):
            r = row[k] * scale
            resp[i, k] = r
            r *= weight
            if r == 0.0:
                continue
            sums[k] += r
            for a in range(d):
                ra = r * X[i, a]
                firsts[k, a] += ra
                for b in range(a + 1):
                    seconds[k, a, b] += ra * X[i, b]
        total += weight * (largest + math.log(row_sum))
    return total, noise_sum


@njit(cache=True, error_model="numpy")
def em(
    X,
    resp,
    sample_weight,
    code,
    noise_log_density,
    tol,
    max_iter,
    reg_covar,
    inner_tol,
    inner_max_iter,
    weights,
    means,
    covariances,
    result,
):
    """EM from the responsibilities ``resp`` (overwritten). With one column more than
    ``means`` has rows, the last is a uniform noise component of log-density
    ``noise_log_density`` (mclust's ``Vinv``), whose weight EM estimates with the others.

    The fit goes into ``weights`` (columns of ``resp``: the noise weight last), ``means``
    (G, d) and ``covariances`` (G, d, d); ``result`` (5,) gets the log-likelihood, the
    iterations, 1.0 if converged, the result code and the last relative change.

    The rows are centred on their weighted mean first, so that the scatter matrices, taken
    from the moments each E-step gathers (one pass over the rows per iteration), do not
    lose digits to data far from the origin."""
    n, d = X.shape
    G = means.shape[0]
    centre = np.zeros(d)
    for i in range(n):
        for a in range(d):
            centre[a] += sample_weight[i] * X[i, a]
    centre /= sample_weight.sum()
    Xc = np.empty((n, d))
    for i in range(n):
        for a in range(d):
            Xc[i, a] = X[i, a] - centre[a]
    sums, firsts, seconds = np.empty(G), np.empty((G, d)), np.zeros((G, d, d))
    centres, scatter = np.empty((G, d)), np.empty((G, d, d))
    trial, factors, half_log_dets = np.empty((G, d, d)), np.zeros((G, d, d)), np.empty(G)
    orientation, shapes, volumes = np.eye(d), np.ones((G, d)), np.ones(G)
    proportions = np.empty(resp.shape[1])
    result[0], result[1], result[2], result[3], result[4] = -math.inf, 0.0, 0.0, 1.0, math.nan
    noise_sum = _moments(Xc, resp, sample_weight, sums, firsts, seconds)
    previous = math.nan
    for iteration in range(1, max_iter + 1):
        result[1] = iteration
        if sums.min() < SMALL:
            result[3] = 1.0
            return
        _scatter_from_moments(sums, firsts, seconds, centres, scatter)
        for k in range(G):
            for j in range(d):
                scatter[k, j, j] += reg_covar * sums[k]
        sound = m_step(
            code, scatter, sums, orientation, shapes, volumes, iteration > 1, inner_tol, inner_max_iter, trial
        )
        if not (sound and cholesky_factors(trial, factors, half_log_dets)):
            result[3] = 1.0
            return
        total = sums.sum() + noise_sum
        proportions[:G] = sums / total
        if resp.shape[1] > G:
            proportions[G] = noise_sum / total
        weights[:] = proportions
        for k in range(G):
            for a in range(d):
                means[k, a] = centres[k, a] + centre[a]
        covariances[:] = trial
        log_likelihood, noise_sum = e_step(
            Xc,
            np.log(proportions),
            noise_log_density,
            centres,
            factors,
            half_log_dets,
            sample_weight,
            resp,
            sums,
            firsts,
            seconds,
        )
        result[0], result[3] = log_likelihood, 0.0
        if iteration > 1:
            result[4] = abs(log_likelihood - previous) / (1.0 + abs(log_likelihood))
            if result[4] <= tol:
                result[2] = 1.0
                return
        previous = log_likelihood
