"""The direct blocks of the star study's compiled engine: epochs in which every unit is stepped on
its own from the sums over every data point, at O(n m) per epoch whatever the units do, and the
rule that picks them over the pattern groups (``kinks.star.compiled``) for a block of epochs. The
same loops step the groups' loose units (over the first ``count`` columns).

Late in training most units of a narrow network sit with their kink at a data point and hop across
it every few epochs; the groups then carry them as loose units, each stepped on its own, and where
most units are loose a direct epoch is cheaper (star_11, n = 128: about 3 us per network-epoch
against 5). A direct epoch is the torch epoch in numba: z_ij = theta_i . x~_j (summed over k in
order, as every test of the groups: the sides agree bitwise), f(x_j) = c + sum_i w_i relu(z_ij)
(units in order), r_j = p_j (f(x_j) - y_j), and for every unit g_i = sum_{j : z_ij > 0} r_j x~_j
(points in order),

    theta_i <- theta_i - h w_i g_i,    w_i <- w_i - h theta_i . g_i,    c <- c - h sum_j r_j,

the gradient of w_i written as theta_i . g_i = sum_{j on} r_j z_ij. The units lie in rows
Theta (D, n), so that the loops over units run in SIMD lanes; the points are taken four at a time
in the gradient sums (their x~_j held in registers, zero-padded past m), the units two at a time in
the outputs (a zero unit padded to an even count).

Every block starts by the groups; after PROBE_EPOCHS epochs it goes on direct where more than
DIRECT_LOOSE n of its units are loose (``loose_calls_for_direct``). Which units are loose follows
from the block's first parameters alone, so a resumed run makes the same choices as a straight one."""
import numba
import numpy as np
from numba.np.unsafe.ndarray import to_fixed_tuple

from kinks.star.groups import JIT, NO_NRT

PROBE_EPOCHS = 64        # every block starts by the groups; after this many epochs it may go on direct
DIRECT_LOOSE = 0.3       # ... where more than this share of its units is then loose
KINK, LOSS, NON_FINITE = 0, 1, 2   # columns of ``first``, the first kink-crossed, loss-crossed, non-finite epochs


# ============================================================================= one direct epoch
@numba.njit(**JIT, inline="always")
def add_unit_outputs(Theta, w, count, XT, f, D):
    """f_j += sum_i w_i relu(z_ij) for the m = f.shape[0] points over units 0 ... count - 1 in order,
    two at a time (Theta (D, n_2), w (n_2,): a unit past ``count`` of an odd count is zero and adds
    exactly 0); XT (D, m_4) holds x~_j in columns (x~_jD = 1: the bias is added, not multiplied)."""
    m = f.shape[0]
    for i in range(0, count + (count & 1), 2):
        theta, other = to_fixed_tuple(Theta[:, i], D), to_fixed_tuple(Theta[:, i + 1], D)
        w_i, w_other = w[i], w[i + 1]
        for j in range(m):                     # the points side by side in SIMD lanes
            z, z_other = 0.0, 0.0
            for k in range(D - 1):
                z += theta[k] * XT[k, j]
                z_other += other[k] * XT[k, j]
            z += theta[D - 1]
            z_other += other[D - 1]
            f[j] = (f[j] + w_i * (z if z > 0 else 0.0)) + w_other * (z_other if z_other > 0 else 0.0)


@numba.njit(**JIT, inline="always")
def outputs(Theta, w, c, XT, f, D):
    """f_j = c + sum_i w_i relu(z_ij) for the m = f.shape[0] points, every unit of w (n_2,) in order
    (``add_unit_outputs``)."""
    for j in range(f.shape[0]):
        f[j] = c
    add_unit_outputs(Theta, w, w.shape[0], XT, f, D)


@numba.njit(**JIT, inline="always")
def pattern_changed(Theta, XT, initial, m, D):
    """Whether any unit is on at another set of the m points than its initial code (n, W) says."""
    for i in range(initial.shape[0]):
        theta = to_fixed_tuple(Theta[:, i], D)
        for j in range(m):
            z = 0.0
            for k in range(D - 1):
                z += theta[k] * XT[k, j]
            z += theta[D - 1]
            if (z > 0) != ((initial[i, j >> 6] >> np.uint64(j & 63)) & np.uint64(1) != 0):
                return True
    return False


@numba.njit(**JIT, inline="always")
def unit_gradient_sums(Theta, XT, r, G, count, D):
    """G[:, i] = g_i = sum_{j : z_ij > 0} r_j x~_j for units 0 ... count - 1, the points in order, four
    at a time with their x~_j and r_j in registers (XT (D, m_4) and r (m_4,) zero past m: those add 0)."""
    for k in range(D):
        for i in range(count):
            G[k, i] = 0.0
    for j in range(0, XT.shape[1], 4):
        x0, x1 = to_fixed_tuple(XT[:, j], D), to_fixed_tuple(XT[:, j + 1], D)
        x2, x3 = to_fixed_tuple(XT[:, j + 2], D), to_fixed_tuple(XT[:, j + 3], D)
        r0, r1, r2, r3 = r[j], r[j + 1], r[j + 2], r[j + 3]
        for i in range(count):                     # the units side by side in SIMD lanes
            z0 = z1 = z2 = z3 = 0.0
            for k in range(D - 1):
                t = Theta[k, i]
                z0 += t * x0[k]
                z1 += t * x1[k]
                z2 += t * x2[k]
                z3 += t * x3[k]
            b = Theta[D - 1, i]
            s0, s1 = r0 if z0 + b > 0 else 0.0, r1 if z1 + b > 0 else 0.0
            s2, s3 = r2 if z2 + b > 0 else 0.0, r3 if z3 + b > 0 else 0.0
            for k in range(D - 1):
                G[k, i] = (((G[k, i] + s0 * x0[k]) + s1 * x1[k]) + s2 * x2[k]) + s3 * x3[k]
            G[D - 1, i] = (((G[D - 1, i] + s0) + s1) + s2) + s3


@numba.njit(**JIT, inline="always")
def step_units(Theta, w, G, h, count, D):
    """theta_i <- theta_i - h w_i g_i and w_i <- w_i - h theta_i . g_i (the old theta_i) for units
    0 ... count - 1."""
    for i in range(count):
        w_i, dw = w[i], 0.0
        for k in range(D):
            dw += Theta[k, i] * G[k, i]
            Theta[k, i] -= h * w_i * G[k, i]
        w[i] = w_i - h * dw


# ============================================================================= a direct block
@numba.njit(**JIT, inline="always")
def record_epoch(epoch, loss, crossed, threshold, loss_margin, log_every, first_log, first, logs):
    """The records of epoch ``epoch``, which evaluated ``loss``: in ``first`` (3,) the first epoch
    at which the kink pattern differed from the initial one (``crossed``), at which the loss was
    below loss_margin x threshold, at which it was non-finite; in ``logs`` the loss where
    epoch % log_every == 0 (row (epoch - first_log) / log_every). Returns whether it was finite."""
    if crossed and first[KINK] < 0:
        first[KINK] = epoch
    if loss < loss_margin * threshold and first[LOSS] < 0:
        first[LOSS] = epoch
    finite = np.isfinite(loss)
    if not finite and first[NON_FINITE] < 0:
        first[NON_FINITE] = epoch
    if epoch % log_every == 0:
        logs[(epoch - first_log) // log_every] = loss
    return finite


@numba.njit(**NO_NRT)
def direct_block(Theta, w, c, XT, y, p, h, initial, threshold, t, end, log_every, first_log, loss_margin, first,
                 logs, f, r, G, D):
    """Epochs t ... end - 1 of one network by direct epochs, recording as ``compiled.train_block``
    does (first (3,): kink-crossed, loss-crossed, non-finite; log row k holds epoch
    first_log + k log_every). Theta (D, n_2), w (n_2,) (``outputs``) and scratch f (m,), r (m_4,),
    G (D, n_2).
    Returns (c, the last loss, whether a loss was non-finite)."""
    loss, finite, m = np.nan, True, f.shape[0]
    for epoch in range(t, end):
        outputs(Theta, w, c, XT, f, D)
        loss, total = 0.0, 0.0
        for j in range(m):
            error = f[j] - y[j]
            r[j] = p[j] * error
            loss += r[j] * error
            total += r[j]
        loss *= 0.5
        crossed = first[KINK] < 0 and pattern_changed(Theta, XT, initial, m, D)
        if not record_epoch(epoch, loss, crossed, threshold, loss_margin, log_every, first_log, first, logs):
            finite = False
        c -= h * total
        unit_gradient_sums(Theta, XT, r, G, w.shape[0], D)
        step_units(Theta, w, G, h, w.shape[0], D)
    return c, loss, not finite


# ============================================================================= the choice
@numba.njit(**JIT, inline="always")
def loose_calls_for_direct(loose, n):
    """Whether a block goes on direct after PROBE_EPOCHS epochs by the groups that left ``loose`` of
    its n units loose: where more than DIRECT_LOOSE n are, a direct epoch costs less than the groups
    plus the loose units' own epochs (measured on star_11 at n = 128 and 256). Which units are loose
    follows from the block's first parameters alone (a unit turns loose where its code changes, and
    loose units are tested for a group at fixed epochs), so the choice does too."""
    return loose > DIRECT_LOOSE * n
