"""Compiled EM loops (numba): one start from its first E-step to convergence, no Python inside.

:func:`gmm_pipeline.maths.em.run_starts` hands each start here when it has no prior; a noise
component of constant density (mclust's ``noise``) takes part as one more row of the
E-step. Each iteration is one pass over the rows, a block of rows at a
time, that does the E-step and gathers the M-step's sums, so no (rows x components)
temporary is made: on small data the numpy engine's call overhead per iteration goes, on
large data its passes over memory. Every sum is taken in an order fixed by this code, not
left to the compiler, so a result does not depend on the machine's vector width.
:func:`score_full` and :func:`score_diagonal` make one such pass under a fitted model: each
row's log-likelihood and largest responsibility, from which every start's criteria come.

The formulas are scikit-learn's (``sklearn.mixture._gaussian_mixture``). Full covariances are summed around the component's previous mean
and corrected to the new one exactly (``sum r (x - mu)(x - mu)^T = S - s d^T - d s^T + R d
d^T`` with ``d = mu - m``), which keeps the cancellation of the raw second moment away on data
far from the origin; tied, diagonal and spherical covariances are scikit-learn's raw-moment
formulas. The results agree with scikit-learn's to rounding (tests/test_em.py).

Status codes: 0 finished (converged or ``max_iter`` spent), 1 a covariance that is not
positive definite (scikit-learn's "ill-defined empirical covariance").
"""

import math

import numpy as np
from numba import njit

_TINY = 10 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2 * math.pi)
# Rows per block: the E-step runs over a block's rows in its innermost loops (which the
# compiler turns into vector instructions), and a block's temporaries stay in cache.
BLOCK_ROWS = 256
# Where a block's rows weigh the same (no sample weights), its rows' sums of exps (each
# between 1 and the number of components) are multiplied in this many running products
# of up to BLOCK_ROWS / PRODUCT_LANES = 8 rows, and the log taken of each product: one
# log per 8 rows, where a log per row was a large part of the E-step on few features.
PRODUCT_LANES = 32
assert BLOCK_ROWS % PRODUCT_LANES == 0
# exp by Cody and Waite's reduction: x = n ln 2 + r, |r| <= ln 2 / 2, exp(r) by its Taylor
# series to degree 12 (within 3 ulp of libm's) by Estrin's scheme, 2**n built from the bits
# of x log2(e) + 1.5 2**52 (whose low bits hold the rounded n). Unlike libm's exp it has no
# call and no branch, so a loop of it is vectorised.
_LOG2E = 1.4426950408889634
_LN2_HIGH = 6.93147180369123816490e-01  # ln 2 with trailing zero bits: n * _LN2_HIGH is exact
_LN2_LOW = 1.90821492927058770002e-10
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52
_EXP_FLOOR = -708.0  # below this exp underflows towards subnormals; we return 0
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12 = (1.0 / math.factorial(j) for j in range(2, 13))
# log by x = 2**e m, m in [sqrt(1/2), sqrt(2)): log x = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1),
# atanh(s) / s by its series in s**2 <= 0.0295 to the 10th power. 1 / (m + 1) by three of
# Newton's steps from a quadratic within 0.3 %: a division would keep the compiler from
# vectorising the loop (on this project's AMD hosts it judges a vector division too dear).
_SQRT2 = math.sqrt(2.0)
_RECIPROCAL_START = (1.46947288, -0.71548046, 0.11544278)
_SMALLEST_NORMAL = np.finfo(np.float64).tiny
# The pass's helpers are inlined into their callers by numba (inline="always"): a call per
# block and component costs more than the work of a small block.
# Up to this many features a full covariance's M-step sums go pair by pair over a block's
# rows (:func:`_dot`); beyond, the pairs are many and four rows' products go across a row
# of the matrix at once (the faster of the two on each side; docs/performance.md).
FEW_FEATURES = 4
# With one or two features (and not tied) the M-step's sums (the weight, d firsts, the
# lower triangle of the scatter: at most 6) go into this many running sums per row of a
# block, all in one pass per component and block, and are added up at the end of the pass,
# where a pass per sum would read the block eight times.
LANE_SUMS = 6


@njit(cache=True)
def _inverse_cholesky(covariance, inverse):
    """``inverse`` := L^-1, L the lower Cholesky factor of ``covariance``; returns
    sum(log(diag(L^-1))) (half the log-determinant of the precision), or NaN when the
    matrix is not positive definite (LAPACK's test: a pivot that is not > 0)."""
    d = covariance.shape[0]
    lower = np.zeros((d, d))
    for j in range(d):
        pivot = covariance[j, j]
        for m in range(j):
            pivot -= lower[j, m] * lower[j, m]
        if not pivot > 0.0:
            return math.nan
        lower[j, j] = math.sqrt(pivot)
        for i in range(j + 1, d):
            value = covariance[i, j]
            for m in range(j):
                value -= lower[i, m] * lower[j, m]
            lower[i, j] = value / lower[j, j]
    inverse[:, :] = 0.0
    log_det = 0.0
    for j in range(d):
        inverse[j, j] = 1.0 / lower[j, j]
        log_det += math.log(inverse[j, j])
        for i in range(j + 1, d):
            value = 0.0
            for m in range(j, i):
                value -= lower[i, m] * inverse[m, j]
            inverse[i, j] = value / lower[i, i]
    return log_det


@njit(cache=True)
def exp_nonpositive(values, count, out, bits):
    """``out[:count] = exp(values[:count])`` for values <= 0 (-inf allowed, 0 below -708);
    ``bits`` is int64 scratch of the same length."""
    powers = bits.view(np.float64)
    for i in range(count):
        x = max(values[i], _EXP_FLOOR)
        shifted = x * _LOG2E + _SHIFTER
        powers[i] = shifted
        n = shifted - _SHIFTER
        r = (x - n * _LN2_HIGH) - n * _LN2_LOW
        # Estrin's scheme: products in a shallow tree, where Horner's rule is a chain of 24
        # dependent operations.
        r2 = r * r
        r4 = r2 * r2
        low = (_E2 + _E3 * r) + (_E4 + _E5 * r) * r2
        middle = (_E6 + _E7 * r) + (_E8 + _E9 * r) * r2
        high = (_E10 + _E11 * r) + _E12 * r2
        series = 1.0 + (r + r2 * ((low + middle * r4) + high * (r4 * r4)))
        # 2**n from the bits just stored, in the same loop: one pass over the values.
        bits[i] = (bits[i] + 1023) << 52
        out[i] = series * powers[i] if values[i] > _EXP_FLOOR else 0.0


@njit(cache=True)
def log_positive(values, count, out, bits):
    """``out[:count] = log(values[:count])``, within 3 ulp of libm's for positive normal
    values (subnormals and inf through libm; 0 gives -inf, negatives and NaN give NaN, as
    numpy's log); ``bits`` is int64 scratch of the same length,
    and ``out`` must not be ``values``. Unlike libm's log, a loop of it is vectorised (about
    11 against 16 ns a value here)."""
    mantissas = bits.view(np.float64)
    raw = values.view(np.int64)
    for i in range(count):
        word = raw[i]
        bits[i] = (word & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000  # m in [1, 2)
        out[i] = (word >> 52) - 1023  # e (the sign bit is 0)
    c0, c1, c2 = _RECIPROCAL_START
    for i in range(count):
        m = mantissas[i]
        above = m > _SQRT2
        m = m * 0.5 if above else m
        e = out[i] + 1.0 if above else out[i]
        f = m - 1.0
        x = 2.0 + f
        y = c0 + x * (c1 + x * c2)
        y = y + y * (1.0 - x * y)
        y = y + y * (1.0 - x * y)
        y = y + y * (1.0 - x * y)
        s = f * y
        z = s * s
        z2 = z * z
        z4 = z2 * z2
        low = (1.0 / 3.0 + z * (1.0 / 5.0)) + z2 * (1.0 / 7.0 + z * (1.0 / 9.0))
        middle = (1.0 / 11.0 + z * (1.0 / 13.0)) + z2 * (1.0 / 15.0 + z * (1.0 / 17.0))
        high = 1.0 / 19.0 + z * (1.0 / 21.0)
        series = z * ((low + z4 * middle) + (z4 * z4) * high)
        out[i] = e * _LN2_HIGH + ((2.0 * s + 2.0 * s * series) + e * _LN2_LOW)
    for i in range(count):
        if not (_SMALLEST_NORMAL <= values[i] < math.inf):  # 0, subnormal, inf, NaN or negative
            out[i] = math.log(values[i]) if values[i] > 0.0 else (-math.inf if values[i] == 0.0 else math.nan)


@njit(cache=True)
def _shifted_exps(log_prob, count, probability, bits, largest, row_sums):
    """For a block's rows of log_prob (K, B): ``largest[:count]`` := each row's maximum,
    ``log_prob`` less it (in place), ``probability`` := the exps of that and ``row_sums`` :=
    each row's sum of them (at least 1)."""
    K = log_prob.shape[0]
    for r in range(count):
        largest[r] = -math.inf
    for k in range(K):
        for r in range(count):
            if log_prob[k, r] > largest[r]:
                largest[r] = log_prob[k, r]
    for k in range(K):
        for r in range(count):
            log_prob[k, r] -= largest[r]
        exp_nonpositive(log_prob[k], count, probability[k], bits)
    for r in range(count):
        row_sums[r] = 0.0
    for k in range(K):
        for r in range(count):
            row_sums[r] += probability[k, r]


@njit(cache=True)
def normalise_block(log_prob, count, row_weights, start, probability, bits, row_scale, row_sums, row_logs):
    """From log_prob (K, B) of a block's rows (weighted log-densities): ``probability`` :=
    exp(log_prob - row max), ``row_scale`` := row weight / sum of the row's exps; returns the
    block's weighted sum of log-likelihoods (log-sum-exp per row). ``row_sums`` and
    ``row_logs`` are scratch of length B."""
    largest = row_scale  # reuse as the row maxima until the end
    _shifted_exps(log_prob, count, probability, bits, largest, row_sums)
    weight = row_weights[start]
    same_weight = True
    for r in range(count):
        if row_weights[start + r] != weight:
            same_weight = False
            break
    if same_weight:  # as when no weights are given: the log of products, one per 8 rows
        bound = _sum(largest, count)
        for r in range(count):
            row_scale[r] = weight / row_sums[r]
        lanes = PRODUCT_LANES
        for r in range(count, -(-count // lanes) * lanes):
            row_sums[r] = 1.0
        for j in range(lanes):
            row_logs[j] = row_sums[j]
        for i in range(1, -(-count // lanes)):
            for j in range(lanes):
                row_logs[j] *= row_sums[i * lanes + j]
        log_positive(row_logs, lanes, row_sums, bits)
        return weight * (bound + _sum(row_sums, lanes))
    bound = 0.0
    log_positive(row_sums, count, row_logs, bits)
    for r in range(count):
        bound += row_weights[start + r] * (largest[r] + row_logs[r])
        row_scale[r] = row_weights[start + r] / row_sums[r]
    return bound


@njit(cache=True)
def _sum(x, count):
    """sum(x[:count]) in eight running sums, as :func:`_dot`."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    r = 0
    while r + 8 <= count:
        s0 += x[r]
        s1 += x[r + 1]
        s2 += x[r + 2]
        s3 += x[r + 3]
        s4 += x[r + 4]
        s5 += x[r + 5]
        s6 += x[r + 6]
        s7 += x[r + 7]
        r += 8
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while r < count:
        total += x[r]
        r += 1
    return total


@njit(cache=True)
def _dot(x, y, count):
    """sum(x[:count] * y[:count]) in eight running sums (rows r, r + 8, ... in each), added
    in a fixed order at the end: independent sums the compiler can vectorise, and the same
    result on every machine (a reordering left to the compiler could differ)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    r = 0
    while r + 8 <= count:
        s0 += x[r] * y[r]
        s1 += x[r + 1] * y[r + 1]
        s2 += x[r + 2] * y[r + 2]
        s3 += x[r + 3] * y[r + 3]
        s4 += x[r + 4] * y[r + 4]
        s5 += x[r + 5] * y[r + 5]
        s6 += x[r + 6] * y[r + 6]
        s7 += x[r + 7] * y[r + 7]
        r += 8
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while r < count:
        total += x[r] * y[r]
        r += 1
    return total


@njit(cache=True)
def log_weight(weight):
    """log of a mixing weight, -inf for 0 (numpy's log with its warning silenced)."""
    return math.log(weight) if weight > 0.0 else -math.inf


@njit(cache=True)
def _converged(bounds, iteration, total_weight, tol):
    """The pipeline's stopping rule (:func:`gmm_pipeline.maths.em.relative_change`)."""
    if iteration < 1:
        return False
    current = total_weight * bounds[iteration]
    previous = total_weight * bounds[iteration - 1]
    return abs(current - previous) / (1.0 + abs(current)) <= tol


@njit(cache=True)
def factor_full(covariances, weights, tied, inverses, log_norm):
    """``inverses[k]`` := L_k^-1 and ``log_norm[k]`` := each component's constant term of
    its weighted log-density; False when a covariance is not positive definite. A tied
    model's K copies of one matrix are factored once."""
    d = covariances.shape[1]
    half_log_det = 0.0
    for k in range(covariances.shape[0]):
        if tied and k > 0:
            inverses[k, :, :] = inverses[0]
        else:
            half_log_det = _inverse_cholesky(covariances[k], inverses[k])
            if math.isnan(half_log_det):
                return False
        log_norm[k] = -0.5 * d * _LOG_2PI + half_log_det + log_weight(weights[k])
    return True


@njit(cache=True)
def _factor_diagonal(variances, weights, precisions, log_norm):
    """As :func:`factor_full` for variances (K, d): ``precisions`` := 1 / variances."""
    d = variances.shape[1]
    for k in range(variances.shape[0]):
        log_det = 0.0
        for a in range(d):
            if not variances[k, a] > 0.0:
                return False
            precisions[k, a] = 1.0 / variances[k, a]
            log_det += math.log(1.0 / math.sqrt(variances[k, a]))
        log_norm[k] = -0.5 * d * _LOG_2PI + log_det + log_weight(weights[k])
    return True


@njit(cache=True, inline="always")
def _log_densities_full(columns, start, count, means, inverses, log_norm, centred, projected, log_prob):
    """``log_prob[k, :count]`` := each component's weighted log-density of the block's rows
    from ``start`` (``log_norm[k]`` minus half its squared Mahalanobis distance through
    ``inverses[k]`` = L_k^-1), rows innermost. ``projected`` is (2, B) scratch.

    Two rows of L^-1 go together, four of their columns per pass over the block's rows:
    each pass loads four columns of the centred rows once for eight products (L^-1 is
    lower triangular, so row a's entry in column a + 1 is 0 and adds nothing)."""
    K, d = means.shape
    if d <= 2:  # the whole product in registers, one pass (the same sums as below)
        for k in range(K):
            m0, f00 = means[k, 0], inverses[k, 0, 0]
            x0 = columns[0, start : start + count]
            if d == 1:
                for r in range(count):
                    q0 = f00 * (x0[r] - m0)
                    log_prob[k, r] = log_norm[k] - 0.5 * (q0 * q0)
                continue
            m1, f10, f11 = means[k, 1], inverses[k, 1, 0], inverses[k, 1, 1]
            x1 = columns[1, start : start + count]
            for r in range(count):
                c0, c1 = x0[r] - m0, x1[r] - m1
                q0, q1 = f00 * c0, f10 * c0 + f11 * c1
                log_prob[k, r] = log_norm[k] - 0.5 * (q0 * q0 + q1 * q1)
        return
    p0, p1 = projected[0], projected[1]
    for k in range(K):
        for a in range(d):
            mean = means[k, a]
            for r in range(count):
                centred[a, r] = columns[a, start + r] - mean
        inverse = inverses[k]
        for r in range(count):
            log_prob[k, r] = 0.0
        for a in range(0, d, 2):
            a1 = min(a + 1, d - 1)  # with odd d the last row goes alone (twice, counted once)
            for r in range(count):
                p0[r] = 0.0
                p1[r] = 0.0
            n_columns = a1 + 1
            b = 0
            while b + 4 <= n_columns:
                f0, f1, f2, f3 = inverse[a, b], inverse[a, b + 1], inverse[a, b + 2], inverse[a, b + 3]
                g0, g1, g2, g3 = inverse[a1, b], inverse[a1, b + 1], inverse[a1, b + 2], inverse[a1, b + 3]
                c0, c1, c2, c3 = centred[b], centred[b + 1], centred[b + 2], centred[b + 3]
                for r in range(count):
                    p0[r] += ((f0 * c0[r] + f1 * c1[r]) + f2 * c2[r]) + f3 * c3[r]
                    p1[r] += ((g0 * c0[r] + g1 * c1[r]) + g2 * c2[r]) + g3 * c3[r]
                b += 4
            left = n_columns - b  # 0 to 3 columns, in one pass
            if left == 1:
                f0, g0, c0 = inverse[a, b], inverse[a1, b], centred[b]
                for r in range(count):
                    p0[r] += f0 * c0[r]
                    p1[r] += g0 * c0[r]
            elif left == 2:
                f0, f1, g0, g1 = inverse[a, b], inverse[a, b + 1], inverse[a1, b], inverse[a1, b + 1]
                c0, c1 = centred[b], centred[b + 1]
                for r in range(count):
                    p0[r] += f0 * c0[r] + f1 * c1[r]
                    p1[r] += g0 * c0[r] + g1 * c1[r]
            elif left == 3:
                f0, f1, f2 = inverse[a, b], inverse[a, b + 1], inverse[a, b + 2]
                g0, g1, g2 = inverse[a1, b], inverse[a1, b + 1], inverse[a1, b + 2]
                c0, c1, c2 = centred[b], centred[b + 1], centred[b + 2]
                for r in range(count):
                    p0[r] += (f0 * c0[r] + f1 * c1[r]) + f2 * c2[r]
                    p1[r] += (g0 * c0[r] + g1 * c1[r]) + g2 * c2[r]
            if a1 > a:
                for r in range(count):
                    log_prob[k, r] += p0[r] * p0[r] + p1[r] * p1[r]
            else:
                for r in range(count):
                    log_prob[k, r] += p0[r] * p0[r]
        for r in range(count):
            log_prob[k, r] = log_norm[k] - 0.5 * log_prob[k, r]


@njit(cache=True, inline="always")
def _log_densities_diagonal(columns, start, count, means, precisions, log_norm, log_prob):
    """As :func:`_log_densities_full` for diagonal precisions (K, d)."""
    K, d = means.shape
    for k in range(K):
        for r in range(count):
            log_prob[k, r] = 0.0
        for a in range(d):
            mean, precision = means[k, a], precisions[k, a]
            for r in range(count):
                difference = columns[a, start + r] - mean
                log_prob[k, r] += difference * difference * precision
        for r in range(count):
            log_prob[k, r] = log_norm[k] - 0.5 * log_prob[k, r]


@njit(cache=True, inline="always")
def _sums_in_lanes(tied, d):
    """Whether the M-step's sums go into running sums per row (LANE_SUMS)."""
    return not tied and d <= 2


@njit(cache=True, inline="always")
def _gather_full(
    X,
    columns,
    start,
    count,
    probability,
    means,
    tied,
    nk,
    first,
    second,
    centred,
    weighted,
    diffs,
    scaled_rows,
    lanes,
):
    """Add the block's sums for the M-step: ``nk[k]`` += sum r, ``first[k]`` += sum r (x -
    m_k) and, unless ``tied``, the lower triangle of ``second[k]`` += sum r (x - m_k)(x -
    m_k)^T, where r = ``probability[k]`` (the rows' weighted responsibilities) and m_k the
    component's mean (0 when tied). With one or two features and not ``tied`` they go to
    ``lanes[k]`` instead, a running sum per row of the block, which :func:`_pass_full` adds
    up after the last block."""
    K, d = means.shape
    if _sums_in_lanes(tied, d):  # every sum in one pass, into a running sum per row
        for k in range(K):
            responsibility, lane = probability[k], lanes[k]
            m0, x0 = means[k, 0], columns[0, start : start + count]
            if d == 1:
                for r in range(count):
                    c0 = x0[r] - m0
                    w0 = responsibility[r] * c0
                    lane[0, r] += responsibility[r]
                    lane[1, r] += w0
                    lane[3, r] += w0 * c0
                continue
            m1, x1 = means[k, 1], columns[1, start : start + count]
            for r in range(count):
                c0, c1 = x0[r] - m0, x1[r] - m1
                w0, w1 = responsibility[r] * c0, responsibility[r] * c1
                lane[0, r] += responsibility[r]
                lane[1, r] += w0
                lane[2, r] += w1
                lane[3, r] += w0 * c0
                lane[4, r] += w1 * c0
                lane[5, r] += w1 * c1
    elif tied or d <= FEW_FEATURES:  # the M-step's sums pair by pair (:func:`_dot`)
        for k in range(K):
            responsibility = probability[k]
            nk[k] += _sum(responsibility, count)
            for a in range(d):
                mean = 0.0 if tied else means[k, a]
                for r in range(count):
                    centred[a, r] = columns[a, start + r] - mean
                    weighted[a, r] = responsibility[r] * centred[a, r]
            for a in range(d):
                first[k, a] += _sum(weighted[a], count)
                if not tied:
                    for b in range(a + 1):
                        second[k, a, b] += _dot(weighted[a], centred[b], count)
    else:  # many pairs: four rows' products at a time, across a row of the matrix
        for k in range(K):
            mean = means[k]
            responsibility = probability[k]
            scatter = second[k]
            for r0 in range(0, count, 4):
                rows = min(4, count - r0)
                for q in range(4):
                    weight = responsibility[r0 + q] if q < rows else 0.0
                    scaled_rows[q] = weight
                    if q < rows:
                        nk[k] += weight
                        row = X[start + r0 + q]
                        for a in range(d):
                            diffs[q, a] = row[a] - mean[a]
                    else:
                        for a in range(d):
                            diffs[q, a] = 0.0
                for a in range(d):
                    s0 = scaled_rows[0] * diffs[0, a]
                    s1 = scaled_rows[1] * diffs[1, a]
                    s2 = scaled_rows[2] * diffs[2, a]
                    s3 = scaled_rows[3] * diffs[3, a]
                    first[k, a] += ((s0 + s1) + s2) + s3
                    row_scatter = scatter[a]
                    d0, d1, d2, d3 = diffs[0], diffs[1], diffs[2], diffs[3]
                    for b in range(a + 1):
                        row_scatter[b] += ((s0 * d0[b] + s1 * d1[b]) + s2 * d2[b]) + s3 * d3[b]


@njit(cache=True)
def _noise_log(weights, n_gaussian, noise_log_density):
    """The noise component's weighted log-density (its log weight, ``weights[n_gaussian]``,
    plus its constant log-density), or NaN when ``noise_log_density`` is NaN (no noise)."""
    if math.isnan(noise_log_density):
        return math.nan
    return log_weight(weights[n_gaussian]) + noise_log_density


@njit(cache=True)
def _share_out_weights(nk, total_nk, noise_total, weights):
    """``weights`` := the Gaussian components' masses ``nk`` and, when ``weights`` has one
    more entry, the noise component's ``noise_total``, each over their sum."""
    K = nk.shape[0]
    total_mass = total_nk + noise_total
    for k in range(K):
        weights[k] = nk[k] / total_mass
    if weights.shape[0] > K:
        weights[K] = noise_total / total_mass


@njit(cache=True)
def _workspace(rows, d, tied):
    """The block temporaries of :func:`_pass_full` for ``rows`` components (the Gaussian
    ones and the noise component, if any), made once per fit; the running sums per row
    only where the M-step uses them (:func:`_sums_in_lanes`), as each pass zeroes them."""
    return (
        np.empty((rows, BLOCK_ROWS)),  # log_prob
        np.empty((rows, BLOCK_ROWS)),  # probability
        np.empty(BLOCK_ROWS, dtype=np.int64),  # bits
        np.empty(BLOCK_ROWS),  # row_scale
        np.empty(BLOCK_ROWS),  # log_scale
        np.empty(BLOCK_ROWS),  # row_sums
        np.empty(BLOCK_ROWS),  # row_logs
        np.empty((d, BLOCK_ROWS)),  # centred
        np.empty((d, BLOCK_ROWS)),  # weighted
        np.empty((4, d)),  # diffs
        np.empty(4),  # scaled_rows
        np.empty((2, BLOCK_ROWS)),  # projected
        np.empty((rows, LANE_SUMS if _sums_in_lanes(tied, d) else 0, BLOCK_ROWS)),  # lanes
    )


@njit(cache=True, inline="always")
def _pass_full(
    X,
    columns,
    row_weights,
    means,
    inverses,
    log_norm,
    noise_log,
    tied,
    nk,
    first,
    second,
    gaussian_square,
    work,
    with_entropy,
):
    """One pass over the rows, a block at a time: the E-step (full or tied covariances)
    and the M-step's sums (:func:`_gather_full`), which are zeroed first.

    ``noise_log`` is the weighted log-density of a noise component (its log weight plus
    its constant log-density), or NaN for none; with one and ``tied``, ``gaussian_square``
    := sum over rows of the Gaussian share of r times x x^T (mclust's EEE with noise pools
    only that part of the rows).

    Returns
    -------
    bound : float
        The weighted sum of the rows' log-likelihoods.
    entropy : float
        With ``with_entropy``, the sum of r log r over rows and components (unit row
        weights); else 0.
    noise_total : float
        The noise component's summed (weighted) responsibility; 0 without one.
    """
    n = X.shape[0]
    K = means.shape[0]
    (
        log_prob,
        probability,
        bits,
        row_scale,
        log_scale,
        row_sums,
        row_logs,
        centred,
        weighted,
        diffs,
        scaled_rows,
        projected,
        lanes,
    ) = work
    d = means.shape[1]
    with_noise = not math.isnan(noise_log)
    nk[:] = 0.0
    first[:, :] = 0.0
    second[:, :, :] = 0.0
    gaussian_square[:, :] = 0.0
    lanes[:, :, :] = 0.0
    bound = 0.0
    entropy = 0.0
    noise_total = 0.0
    for start in range(0, n, BLOCK_ROWS):
        count = min(BLOCK_ROWS, n - start)
        _log_densities_full(columns, start, count, means, inverses, log_norm, centred, projected, log_prob)
        if with_noise:
            for r in range(count):
                log_prob[K, r] = noise_log
        bound += normalise_block(
            log_prob, count, row_weights, start, probability, bits, row_scale, row_sums, row_logs
        )
        for k in range(K):
            responsibility = probability[k]
            for r in range(count):
                responsibility[r] *= row_scale[r]  # the row's weighted responsibility
        if with_entropy:
            # log_prob now holds each log-density less its row's largest: log r = log_prob + log row_scale.
            log_positive(row_scale, count, log_scale, bits)
            for k in range(K):
                for r in range(count):
                    entropy += probability[k, r] * (log_prob[k, r] + log_scale[r])
        if with_noise:
            for r in range(count):
                noise_total += probability[K, r] * row_scale[r]
            if tied:
                share = projected[0]  # reuse: each row's Gaussian share of its weight
                for r in range(count):
                    share[r] = 0.0
                for k in range(K):
                    for r in range(count):
                        share[r] += probability[k, r]
                for a in range(d):
                    for b in range(a + 1):
                        total = 0.0
                        for r in range(count):
                            total += share[r] * columns[a, start + r] * columns[b, start + r]
                        gaussian_square[a, b] += total
        _gather_full(
            X,
            columns,
            start,
            count,
            probability,
            means,
            tied,
            nk,
            first,
            second,
            centred,
            weighted,
            diffs,
            scaled_rows,
            lanes,
        )
    if _sums_in_lanes(tied, d):  # the running sums per row, added up (:func:`_gather_full`)
        for k in range(K):
            lane = lanes[k]
            nk[k] = _sum(lane[0], BLOCK_ROWS)
            for a in range(d):
                first[k, a] = _sum(lane[1 + a], BLOCK_ROWS)
            second[k, 0, 0] = _sum(lane[3], BLOCK_ROWS)
            if d == 2:
                second[k, 1, 0] = _sum(lane[4], BLOCK_ROWS)
                second[k, 1, 1] = _sum(lane[5], BLOCK_ROWS)
    return bound, entropy, noise_total


@njit(cache=True)
def em_full(
    X,
    columns,
    row_weights,
    weights,
    means,
    covariances,
    tied,
    reg_covar,
    tol,
    max_iter,
    bounds,
    noise_log_density,
):
    """EM for full (``tied=False``) or tied covariances from one start, in place.

    Parameters
    ----------
    X : ndarray (n, d); columns : ndarray (d, n), X transposed and contiguous (a feature's
        values over the rows, made once for all starts); row_weights : ndarray (n,)
    weights : ndarray (K,), or (K + 1,) with a noise component; means : ndarray (K, d);
    covariances : ndarray (K, d, d)
        The start; replaced by the fit. Tied covariances come as K copies of one matrix.
    tied : bool
    reg_covar, tol : float; max_iter : int
    bounds : ndarray (max_iter,)
        Filled with the lower bound (weighted mean log-likelihood) of each iteration.
    noise_log_density : float
        The constant log-density of a noise component whose weight is ``weights[K]``
        (:func:`gmm_pipeline.maths.em.run_starts`), or NaN for none.

    Returns
    -------
    n_iter, converged, status
    """
    n, d = X.shape
    K = means.shape[0]
    with_noise = not math.isnan(noise_log_density)
    total_weight = row_weights.sum()
    inverses = np.empty((K, d, d))
    log_norm = np.empty(K)
    diff = np.empty((K, d))
    nk = np.empty(K)
    first = np.empty((K, d))
    second = np.empty((K, d, d))
    weighted_square = np.zeros((d, d))
    gaussian_square = np.zeros((d, d))
    if tied and not with_noise:
        for i in range(n):
            for a in range(d):
                for b in range(d):
                    weighted_square[a, b] += row_weights[i] * X[i, a] * X[i, b]
    if not factor_full(covariances, weights, tied, inverses, log_norm):
        return 0, False, 1
    noise_log = _noise_log(weights, K, noise_log_density)
    # With noise, a tied covariance pools each row's Gaussian share, summed anew each pass.
    square = gaussian_square if with_noise else weighted_square
    work = _workspace(K + 1 if with_noise else K, d, tied)
    for iteration in range(max_iter):
        bound, _, noise_total = _pass_full(
            X,
            columns,
            row_weights,
            means,
            inverses,
            log_norm,
            noise_log,
            tied,
            nk,
            first,
            second,
            gaussian_square,
            work,
            False,
        )
        bounds[iteration] = bound / total_weight
        # M-step: scikit-learn's formulas, nk with its 10 eps.
        total_nk = 0.0
        for k in range(K):
            share = nk[k]
            nk[k] += _TINY
            total_nk += nk[k]
            if tied:
                for a in range(d):
                    means[k, a] = first[k, a] / nk[k]
                continue
            for a in range(d):
                old = means[k, a]
                means[k, a] = (first[k, a] + share * old) / nk[k]
                diff[k, a] = means[k, a] - old  # the shift d of the new mean
            for a in range(d):
                for b in range(a + 1):
                    scatter = (
                        second[k, a, b]
                        - first[k, a] * diff[k, b]
                        - diff[k, a] * first[k, b]
                        + share * diff[k, a] * diff[k, b]
                    )
                    covariances[k, a, b] = scatter / nk[k]
                    covariances[k, b, a] = covariances[k, a, b]
                covariances[k, a, a] += reg_covar
        if tied:
            for a in range(d):
                for b in range(a + 1):
                    value = square[a, b]
                    for k in range(K):
                        value -= nk[k] * means[k, a] * means[k, b]
                    covariances[0, a, b] = value / total_nk
                    covariances[0, b, a] = covariances[0, a, b]
                covariances[0, a, a] += reg_covar
            for k in range(1, K):
                covariances[k, :, :] = covariances[0]
        _share_out_weights(nk, total_nk, noise_total, weights)
        noise_log = _noise_log(weights, K, noise_log_density)
        converged = _converged(bounds, iteration, total_weight, tol)
        if not factor_full(covariances, weights, tied, inverses, log_norm):
            return iteration + 1, converged, 1
        if converged:
            return iteration + 1, True, 0
    return max_iter, False, 0


@njit(cache=True)
def variational_pass_full(X, columns, means, inverses, log_norm, nk, first, second):
    """One E-step of variational EM (full covariances) with the M-step's sums, in place.

    The responsibilities are those of the weighted log-densities ``log_norm[k]`` minus half
    the squared Mahalanobis distance through ``inverses[k]`` (L_k^-1, as
    :func:`factor_full` makes it) from ``means[k]``; ``nk``, ``first`` and the lower triangle
    of ``second`` are filled with their sums as :func:`_gather_full` takes them.

    Returns
    -------
    entropy_sum : float
        The sum over rows and components of r log r.
    """
    d = means.shape[1]
    _, entropy, _ = _pass_full(
        X,
        columns,
        np.ones(X.shape[0]),
        means,
        inverses,
        log_norm,
        math.nan,
        False,
        nk,
        first,
        second,
        np.empty((d, d)),
        _workspace(*means.shape, False),
        True,
    )
    return entropy


@njit(cache=True)
def em_diagonal(
    X,
    columns,
    row_weights,
    weights,
    means,
    variances,
    spherical,
    reg_covar,
    tol,
    max_iter,
    bounds,
    noise_log_density,
):
    """EM for diagonal (``spherical=False``) or spherical covariances from one start, in place.

    As :func:`em_full`, with ``variances`` of shape (K, d): a spherical component's one
    variance repeated over the features.
    """
    n, d = X.shape
    K = means.shape[0]
    with_noise = not math.isnan(noise_log_density)
    rows = K + 1 if with_noise else K
    total_weight = row_weights.sum()
    precisions = np.empty((K, d))
    log_norm = np.empty(K)
    nk = np.empty(K)
    first = np.empty((K, d))
    second = np.empty((K, d))
    log_prob = np.empty((rows, BLOCK_ROWS))
    probability = np.empty((rows, BLOCK_ROWS))
    bits = np.empty(BLOCK_ROWS, dtype=np.int64)
    row_scale = np.empty(BLOCK_ROWS)
    row_sums = np.empty(BLOCK_ROWS)
    row_logs = np.empty(BLOCK_ROWS)
    weighted = np.empty(BLOCK_ROWS)
    if not _factor_diagonal(variances, weights, precisions, log_norm):
        return 0, False, 1
    noise_log = _noise_log(weights, K, noise_log_density)
    for iteration in range(max_iter):
        nk[:] = 0.0
        first[:, :] = 0.0
        second[:, :] = 0.0
        bound = 0.0
        noise_total = 0.0
        for start in range(0, n, BLOCK_ROWS):
            count = min(BLOCK_ROWS, n - start)
            _log_densities_diagonal(columns, start, count, means, precisions, log_norm, log_prob)
            if with_noise:
                for r in range(count):
                    log_prob[K, r] = noise_log
            bound += normalise_block(
                log_prob, count, row_weights, start, probability, bits, row_scale, row_sums, row_logs
            )
            if with_noise:
                for r in range(count):
                    noise_total += probability[K, r] * row_scale[r]
            # The M-step's sums a component and a feature at a time over the block's rows
            # (vectorised), each in eight running sums (:func:`_dot`).
            for k in range(K):
                responsibility = probability[k]
                for r in range(count):
                    responsibility[r] *= row_scale[r]  # the row's weighted responsibility
                nk[k] += _sum(responsibility, count)
                for a in range(d):
                    values = columns[a, start : start + count]
                    for r in range(count):
                        weighted[r] = responsibility[r] * values[r]
                    first[k, a] += _sum(weighted, count)
                    second[k, a] += _dot(weighted, values, count)
        bounds[iteration] = bound / total_weight
        # M-step: scikit-learn's formulas (average of x^2 minus the squared mean).
        total_nk = 0.0
        for k in range(K):
            nk[k] += _TINY
            total_nk += nk[k]
            mean_variance = 0.0
            for a in range(d):
                means[k, a] = first[k, a] / nk[k]
                variances[k, a] = second[k, a] / nk[k] - means[k, a] * means[k, a] + reg_covar
                mean_variance += variances[k, a]
            if spherical:
                for a in range(d):
                    variances[k, a] = mean_variance / d
        _share_out_weights(nk, total_nk, noise_total, weights)
        noise_log = _noise_log(weights, K, noise_log_density)
        converged = _converged(bounds, iteration, total_weight, tol)
        if not _factor_diagonal(variances, weights, precisions, log_norm):
            return iteration + 1, converged, 1
        if converged:
            return iteration + 1, True, 0
    return max_iter, False, 0


@njit(cache=True)
def _row_log_sums(log_prob, count, start, probability, bits, row_sums, row_logs, log_density, log_largest):
    """From log_prob (K, B) of a block's rows (weighted log-densities): ``log_density[start +
    r]`` := the row's log-likelihood (log-sum-exp over components) and ``log_largest[start +
    r]`` := the log of its largest responsibility, which is minus the log of the sum of
    exp(log_prob - row max). ``row_sums`` and ``row_logs`` are scratch of length B."""
    _shifted_exps(log_prob, count, probability, bits, log_density[start : start + count], row_sums)
    log_positive(row_sums, count, row_logs, bits)
    for r in range(count):
        log_density[start + r] += row_logs[r]
        log_largest[start + r] = -row_logs[r]


@njit(cache=True)
def score_full(columns, weights, means, covariances, tied, log_density, log_largest):
    """Each row's log-likelihood and the log of its largest responsibility under a fitted
    mixture with full (or, ``tied``, K copies of one) covariances, in place: the numbers of
    scikit-learn's ``score_samples`` and ``log(predict_proba(X).max(axis=1))``, to
    rounding. ``columns`` is X transposed (d, n); False when a covariance is not positive
    definite."""
    K, d = means.shape
    n = columns.shape[1]
    inverses = np.empty((K, d, d))
    log_norm = np.empty(K)
    if not factor_full(covariances, weights, tied, inverses, log_norm):
        return False
    log_prob = np.empty((K, BLOCK_ROWS))
    probability = np.empty((K, BLOCK_ROWS))
    bits = np.empty(BLOCK_ROWS, dtype=np.int64)
    row_sums, row_logs = np.empty(BLOCK_ROWS), np.empty(BLOCK_ROWS)
    centred = np.empty((d, BLOCK_ROWS))
    projected = np.empty((2, BLOCK_ROWS))
    for start in range(0, n, BLOCK_ROWS):
        count = min(BLOCK_ROWS, n - start)
        _log_densities_full(columns, start, count, means, inverses, log_norm, centred, projected, log_prob)
        _row_log_sums(log_prob, count, start, probability, bits, row_sums, row_logs, log_density, log_largest)
    return True


@njit(cache=True)
def score_diagonal(columns, weights, means, variances, log_density, log_largest):
    """As :func:`score_full` for variances (K, d) (a spherical component's one variance
    repeated over the features)."""
    K, d = means.shape
    n = columns.shape[1]
    precisions = np.empty((K, d))
    log_norm = np.empty(K)
    if not _factor_diagonal(variances, weights, precisions, log_norm):
        return False
    log_prob = np.empty((K, BLOCK_ROWS))
    probability = np.empty((K, BLOCK_ROWS))
    bits = np.empty(BLOCK_ROWS, dtype=np.int64)
    row_sums, row_logs = np.empty(BLOCK_ROWS), np.empty(BLOCK_ROWS)
    for start in range(0, n, BLOCK_ROWS):
        count = min(BLOCK_ROWS, n - start)
        _log_densities_diagonal(columns, start, count, means, precisions, log_norm, log_prob)
        _row_log_sums(log_prob, count, start, probability, bits, row_sums, row_logs, log_density, log_largest)
    return True


def warm():
    """Load (or, after an install or an edit, compile and cache) the loops with the
    argument types the engines pass, without any library that starts threads: the warm
    worker calls this once so that the jobs it forks need not each load the machine code."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    columns = np.ascontiguousarray(X.T)
    row_weights = np.ones(len(X))
    for tied in (False, True):
        covariances = np.array([np.eye(2)])
        em_full(
            X,
            columns,
            row_weights,
            np.ones(1),
            np.zeros((1, 2)),
            covariances,
            tied,
            1e-6,
            1e-3,
            2,
            np.empty(2),
            math.nan,
        )
    for spherical in (False, True):
        em_diagonal(
            X,
            columns,
            row_weights,
            np.ones(1),
            np.zeros((1, 2)),
            np.ones((1, 2)),
            spherical,
            1e-6,
            1e-3,
            2,
            np.empty(2),
            math.nan,
        )
    covariances, inverses, log_norm = np.array([np.eye(2)]), np.empty((1, 2, 2)), np.empty(1)
    factor_full(covariances, np.ones(1), False, inverses, log_norm)
    variational_pass_full(
        X, columns, np.zeros((1, 2)), inverses, log_norm, np.empty(1), np.empty((1, 2)), covariances
    )
    for tied in (False, True):
        score_full(columns, np.ones(1), np.zeros((1, 2)), covariances, tied, np.empty(3), np.empty(3))
    score_diagonal(columns, np.ones(1), np.zeros((1, 2)), np.ones((1, 2)), np.empty(3), np.empty(3))
