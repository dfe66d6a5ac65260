"""The numba-compiled training loops: many epochs of many networks in one call, each epoch a step
and the crossing test. ``dense_epochs`` runs the dense trainer (O(n) per network-epoch, any
optimiser), ``reduced_epochs`` the reduced one (O(1), gd and momentum on any data weights) in
blocks of LANES networks side by side in SIMD lanes. Both are held to the NumPy reference trainers
of ``kinks.mc.engines`` by the tests; each is compiled once and cached on disk (``cache=True``), which
worker processes reuse because they import this module."""
import numba
import numpy as np
from numba.np.random.generator_core import next_uint64  # a Generator's raw 64-bit output, as NumPy's C code takes it

from kinks.mc.optimizers import ADAM_BETAS, ADAM_EPS, DRAW_BITS, MOMENTUM, adam_scales

# the hashes of the modules compiled into these loops: numba's disk cache sees only this file's text
# (tests/test_package.py checks them, so a change there is a change here and loads no stale loop)
COMPILED_IN = {"kinks/mc/optimizers.py": "c4b67b9eccfd56ca"}
compiled_adam_scales = numba.njit(cache=True, inline="always")(adam_scales)  # the same source, compiled


@numba.njit(cache=True, error_model="numpy")  # x / 0 = inf as in NumPy: no branch per division
def optimizer_update(q, g, m1, m2, h, code, step_size, inv_root):
    """One optimiser update of one parameter q with gradient g and state (m1, m2), as ``Optimizer``:
    code 0 gd, 1 momentum (m1 = velocity), 2 adam (step_size, inv_root of ``adam_scales``).
    Returns the new (q, m1, m2)."""
    if code == 1:
        m1 = MOMENTUM * m1 + g
        return q - h * m1, m1, m2
    if code == 2:
        m1 = ADAM_BETAS[0] * m1 + (1 - ADAM_BETAS[0]) * g
        m2 = ADAM_BETAS[1] * m2 + (1 - ADAM_BETAS[1]) * g * g
        return q - step_size * m1 / (np.sqrt(m2) * inv_root + ADAM_EPS), m1, m2
    return q - h * g, m1, m2


LANES = 64  # networks per block of both loops, which fixes the order of the minibatch draws
HIGH_HALF, LOW_HALF = np.uint64(DRAW_BITS), np.uint64(2**DRAW_BITS - 1)  # the two draws of one output
PARTIAL_SUMS = 4  # the per-code sums of dense_epochs accumulate unit i in column i mod 4 (a power of 2)


@numba.njit(cache=True, inline="always")
def update_row(q, m1, m2, g, h, code, step_size, inv_root):
    """``optimizer_update`` of every entry of one parameter row q (n,) with its state and gradient."""
    for i in range(q.shape[0]):
        q[i], m1[i], m2[i] = optimizer_update(q[i], g[i], m1[i], m2[i], h, code, step_size, inv_root)


@numba.njit(cache=True, inline="always")
def unit_gradients(a_i, b_i, w_i, g_x, g_1):
    """Unit i's gradient (w_i Rx_g, w_i R_g, a_i Rx_g + b_i R_g) from its pattern's sums (g_x, g_1) = (Rx_g, R_g)."""
    return w_i * g_x, w_i * g_1, a_i * g_x + b_i * g_1


@numba.njit(cache=True, inline="always")
def unit_left_gap(a_i, b_i, sign, x_left, x_right):
    """Whether unit i's kink lies outside the gap (-x_left, x_right) or a_i has lost the sign of a_i(0)
    (``kinks_crossed``): with a' = sign a_i, b' = sign b_i, -b' >= x_right a' or b' >= x_left a'."""
    a_, b_ = sign * a_i, sign * b_i
    return (-b_ >= x_right * a_) | (b_ >= x_left * a_)


@numba.njit(cache=True, inline="always")
def update_units_inside(a, b, w, m1, m2, k, sign_a0, R, Rx, sides, h, code, step_size, inv_root, x_left, x_right):
    """``update_units`` then ``kinks_hit`` in one pass over the units, for a network none of whose
    kinks has crossed: unit i's gradient sums are its side's, (Rx_g, R_g) with g = sides[0] if
    a_i(0) > 0 else sides[1], picked without the codes (a gather of Rx[codes[i]] keeps the compiler
    from vectorising the loop). Bitwise the same numbers as the two passes; the Adam and momentum
    updates run about a quarter faster (gd is faster in the two passes). ``code`` must be a
    constant. Returns whether a kink has left the gap (-x_left, x_right)."""
    g_x_plus, g_1_plus, g_x_minus, g_1_minus = Rx[sides[0]], R[sides[0]], Rx[sides[1]], R[sides[1]]
    m1a, m1b, m1w, m2a, m2b, m2w = m1[0, k], m1[1, k], m1[2, k], m2[0, k], m2[1, k], m2[2, k]
    hit = False
    for i in range(a.shape[0]):
        g_x, g_1 = (g_x_plus, g_1_plus) if sign_a0[i] > 0 else (g_x_minus, g_1_minus)
        ga, gb, gw = unit_gradients(a[i], b[i], w[i], g_x, g_1)
        a[i], m1a[i], m2a[i] = optimizer_update(a[i], ga, m1a[i], m2a[i], h, code, step_size, inv_root)
        b[i], m1b[i], m2b[i] = optimizer_update(b[i], gb, m1b[i], m2b[i], h, code, step_size, inv_root)
        w[i], m1w[i], m2w[i] = optimizer_update(w[i], gw, m1w[i], m2w[i], h, code, step_size, inv_root)
        hit |= unit_left_gap(a[i], b[i], sign_a0[i], x_left, x_right)
    return hit


@numba.njit(cache=True, inline="always")
def update_units(a, b, w, m1, m2, k, codes, R, Rx, h, code, step_size, inv_root, grads):
    """The units' gradients (w_i Rx_g, w_i R_g, a_i Rx_g + b_i R_g), g = codes[i], and the
    optimiser update of network k's (a, b, w) (n,) each; m1, m2 (3, P, n) the optimiser state, grads (3, n)
    scratch. ``code`` must be a constant: gd then updates in the same loop, the others write the
    gradients first and update row by row, so that the compiler vectorises every loop."""
    if code == 0:
        for i in range(a.shape[0]):
            ga, gb, gw = unit_gradients(a[i], b[i], w[i], Rx[codes[i]], R[codes[i]])
            a[i], b[i], w[i] = a[i] - h * ga, b[i] - h * gb, w[i] - h * gw
        return
    for i in range(a.shape[0]):
        grads[0, i], grads[1, i], grads[2, i] = unit_gradients(a[i], b[i], w[i], Rx[codes[i]], R[codes[i]])
    for row, q in enumerate((a, b, w)):
        update_row(q, m1[row, k], m2[row, k], grads[row], h, code, step_size, inv_root)


@numba.njit(cache=True, inline="always")
def draw_scratch(batch):
    """What ``draw_weights`` needs besides its arguments: the draws of a block (LANES, B + 1) int64
    and the table c / B, c = 0..B (B = 0: full batch, nothing drawn)."""
    return np.empty((LANES, batch + 1), dtype=np.int64), np.arange(batch + 1) / max(batch, 1)


@numba.njit(cache=True, inline="always")
def draw_weights(weights, start, stop, p_t, cuts, batch, rng, draws, fractions):
    """The data weights of one epoch for networks start..stop-1 into ``weights`` (m, >= stop - start):
    p for full batch (batch 0: no draws), else Multinomial(B, p) / B: B draws k per network, the
    halves of ceil(B / 2) outputs ``next_uint64`` of the generator, network after network (the
    order of ``MinibatchDraws``), each on data point j = #{i: k >= c_i} (``minibatch_cuts``):
    weight_j = (#{draws >= c_(j-1)} - #{draws >= c_j}) / B, with c_(-1) = 0 and c_(m-1) = 2^32,
    counted without a branch (a branch on a random point is mispredicted half the time) and read
    from ``fractions`` (c / B for c = 0..B, as NumPy divides, without a division per weight).
    draws (LANES, B + 1) int64 is scratch."""
    m, lanes = p_t.shape[0], stop - start
    if batch == 0:
        for j in range(m):
            for l in range(lanes):
                weights[j, l] = p_t[j, start + l]
        return
    for l in range(lanes):
        for i in range(0, batch, 2):
            output = next_uint64(rng.bit_generator)
            draws[l, i], draws[l, i + 1] = np.int64(output >> HIGH_HALF), np.int64(output & LOW_HALF)
    for l in range(lanes):  # a second loop: a lane's draws are read long after they were written
        above = batch  # #{draws >= c_-1}, c_-1 = 0
        for j in range(m - 1):
            count, cut = 0, cuts[j, start + l]
            for i in range(batch):
                count += draws[l, i] >= cut
            weights[j, l] = fractions[above - count]
            above = count
        weights[m - 1, l] = fractions[above]


@numba.njit(cache=True, inline="always")
def pattern_codes(codes, a, b, x):
    """Every unit's pattern code g_i (``ActivityPatterns.codes``) into codes (n,): O(n m)."""
    m = x.shape[0]
    codes[:] = 0
    for j in range(m):
        for i in range(a.shape[0]):
            codes[i] += a[i] * x[j] + b[i] > 0
    for i in range(a.shape[0]):
        codes[i] += (m + 1) * (a[i] < 0)


@numba.njit(cache=True, inline="always")
def codes_of_sides(x):
    """The pattern codes of the units of side + and of side - of a network none of whose kinks has
    crossed: each kink lies in the gap between the data points next to 0 and a_i keeps the sign of
    a_i(0) (see ``kinks_crossed``), so a unit of side + is active on the positive points (code
    #{x_j > 0}) and one of side - on the negative ones (code m + 1 + #{x_j < 0})."""
    positive = np.sum(x > 0)
    return positive, 2 * x.shape[0] + 1 - positive


@numba.njit(cache=True, inline="always")
def side_codes(codes, sign_a0, sides):
    """The codes ``pattern_codes`` computes, for a network none of whose kinks has crossed: each
    unit's side's (``sides`` from ``codes_of_sides``), O(n) without the data."""
    for i in range(sign_a0.shape[0]):
        codes[i] = sides[0] if sign_a0[i] > 0 else sides[1]


@numba.njit(cache=True, inline="always")
def side_add(pa, ma, pb, mb, w_i, a_i, b_i, positive):
    """The running sums (pa, ma, pb, mb) of w a and w b over side + and side - with unit i added to
    its side's."""
    va, vb = w_i * a_i, w_i * b_i
    return (pa + va, ma, pb + vb, mb) if positive else (pa, ma + va, pb, mb + vb)


@numba.njit(cache=True, inline="always")
def side_partial_sums(wa, wb, a, b, w, sign_a0, sides):
    """The per-code partial sums of w_i a_i and w_i b_i (into wa, wb (G, PARTIAL_SUMS), which hold 0
    before) of a network none of whose kinks has crossed: only the sides' codes sides[0] (a_i(0)
    > 0) and sides[1] have units. Bitwise the scatter of ``dense_network_epochs`` (column
    i mod 4, each column adding its units in order), but in 16 running sums the compiler keeps in
    registers, without the codes: about twice as fast. Assumes PARTIAL_SUMS = 4."""
    pa0 = ma0 = pb0 = mb0 = pa1 = ma1 = pb1 = mb1 = pa2 = ma2 = pb2 = mb2 = pa3 = ma3 = pb3 = mb3 = 0.0
    n = a.shape[0]
    whole = n - n % PARTIAL_SUMS
    for i in range(0, whole, PARTIAL_SUMS):
        pa0, ma0, pb0, mb0 = side_add(pa0, ma0, pb0, mb0, w[i], a[i], b[i], sign_a0[i] > 0)
        pa1, ma1, pb1, mb1 = side_add(pa1, ma1, pb1, mb1, w[i + 1], a[i + 1], b[i + 1], sign_a0[i + 1] > 0)
        pa2, ma2, pb2, mb2 = side_add(pa2, ma2, pb2, mb2, w[i + 2], a[i + 2], b[i + 2], sign_a0[i + 2] > 0)
        pa3, ma3, pb3, mb3 = side_add(pa3, ma3, pb3, mb3, w[i + 3], a[i + 3], b[i + 3], sign_a0[i + 3] > 0)
    plus, minus = sides
    wa[plus, 0], wa[plus, 1], wa[plus, 2], wa[plus, 3] = pa0, pa1, pa2, pa3
    wa[minus, 0], wa[minus, 1], wa[minus, 2], wa[minus, 3] = ma0, ma1, ma2, ma3
    wb[plus, 0], wb[plus, 1], wb[plus, 2], wb[plus, 3] = pb0, pb1, pb2, pb3
    wb[minus, 0], wb[minus, 1], wb[minus, 2], wb[minus, 3] = mb0, mb1, mb2, mb3
    for i in range(whole, n):  # the last n mod 4 units, one per column
        code = plus if sign_a0[i] > 0 else minus
        wa[code, i - whole] += w[i] * a[i]
        wb[code, i - whole] += w[i] * b[i]


@numba.njit(cache=True, inline="always")
def kinks_hit(a, b, sign_a0, x_left, x_right):
    """Whether a kink of the network's units (a, b) (n,) lies outside the gap (-x_left, x_right) or
    a unit has lost the sign of a_i(0) (``kinks_crossed``)."""
    hit = False
    for i in range(a.shape[0]):
        hit |= unit_left_gap(a[i], b[i], sign_a0[i], x_left, x_right)
    return hit


@numba.njit(cache=True, error_model="numpy")
def dense_network_epochs(k, t_from, t_to, weights, vary, theta, c, m1, m1c, m2, m2c, t0, h, x, y, B, sign_a0,
                         gap, code, crossed, first, codes, wa, wb, R, Rx, r, grads):
    """Epochs t_from..t_to-1 of network k of the dense trainer, each a step on the data weights
    ``weights[t - t_from]`` (m,) (``weights[0]`` every epoch unless ``vary``) then the crossing
    test; updated in place (the other arrays are scratch). Epoch t, O(n + G m): pattern code g_i of
    every unit (``pattern_codes``; while the network is ``inside``, not crossed before and no kink
    out of the gap at t_from, its side's, set once by ``side_codes``); per-code sums of w_i a_i and
    w_i b_i (in PARTIAL_SUMS interleaved partial sums, so that units of one code do not wait on
    each other; ``side_partial_sums`` while inside); f_j = c + x_j sum_g B_gj Sigma_g[wa] +
    sum_g B_gj Sigma_g[wb]; r_j = p_j (f_j - y_j); per code R_g = sum_j B_gj r_j,
    Rx_g = sum_j B_gj r_j x_j; gradients (w_i Rx_g, w_i R_g, a_i Rx_g + b_i R_g) and sum_j r_j
    (``loss_gradient``); the optimiser update (step t0 + t + 1, ``update_units``) and ``kinks_hit``
    (one pass, ``update_units_inside``, for momentum and adam while inside): crossed[k] = True,
    first[k] = t + 1 for a network not crossed before."""
    m, n, G = len(x), theta.shape[2], B.shape[0]
    a, b, w = theta[0, k], theta[1, k], theta[2, k]
    sides = codes_of_sides(x)
    inside = not (crossed[k] or kinks_hit(a, b, sign_a0[k], gap[0], gap[1]))
    if inside:  # the codes stay the sides' until a kink leaves the gap
        side_codes(codes, sign_a0[k], sides)
    for t in range(t_from, t_to):
        wa[:], wb[:] = 0.0, 0.0
        if inside:
            side_partial_sums(wa, wb, a, b, w, sign_a0[k], sides)
        else:
            pattern_codes(codes, a, b, x)
            for i in range(n):
                wa[codes[i], i & (PARTIAL_SUMS - 1)] += w[i] * a[i]
                wb[codes[i], i & (PARTIAL_SUMS - 1)] += w[i] * b[i]
        for g in range(G):  # the partial sums' totals into column 0
            for column in range(1, PARTIAL_SUMS):
                wa[g, 0] += wa[g, column]
                wb[g, 0] += wb[g, column]
        gc = 0.0
        for j in range(m):
            fa, fb = 0.0, 0.0
            for g in range(G):
                fa += wa[g, 0] * B[g, j]
                fb += wb[g, 0] * B[g, j]
            r[j] = weights[t - t_from if vary else 0, j] * (c[k] + fa * x[j] + fb - y[j])
            gc += r[j]
        for g in range(G):
            R[g], Rx[g] = 0.0, 0.0
            for j in range(m):
                R[g] += r[j] * B[g, j]
                Rx[g] += r[j] * x[j] * B[g, j]
        step_size, inv_root = compiled_adam_scales(h[k], t0 + t + 1)
        if inside and code == 1:  # one call per optimiser, each with a constant code (see update_units)
            hit = update_units_inside(a, b, w, m1, m2, k, sign_a0[k], R, Rx, sides, h[k], 1, step_size, inv_root,
                                      gap[0], gap[1])
        elif inside and code == 2:
            hit = update_units_inside(a, b, w, m1, m2, k, sign_a0[k], R, Rx, sides, h[k], 2, step_size, inv_root,
                                      gap[0], gap[1])
        else:
            if code == 0:
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 0, step_size, inv_root, grads)
            elif code == 1:
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 1, step_size, inv_root, grads)
            else:
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 2, step_size, inv_root, grads)
            hit = kinks_hit(a, b, sign_a0[k], gap[0], gap[1])
        c[k], m1c[k], m2c[k] = optimizer_update(c[k], gc, m1c[k], m2c[k], h[k], code, step_size, inv_root)
        first[k] = t + 1 if hit and not crossed[k] else first[k]
        crossed[k] |= hit
        inside &= not hit


DRAWN_WEIGHTS = 2**19  # doubles of minibatch weights the dense loop draws ahead (4 MB)


@numba.njit(cache=True, error_model="numpy")
def dense_epochs(theta, c, m1, m1c, m2, m2c, t0, h, x, y, B, p_t, cuts, epochs, batch, rng, sign_a0, gap,
                 code, crossed, first):
    """``epochs`` epochs of the dense trainer (arrays as in ``DenseTrainer``; B (G, m) the slopes of
    the activity patterns), each a step then the crossing test (``dense_network_epochs``); updated
    in place. One network at a time through its epochs, its units the inner loops. With a batch
    size B > 0 the minibatch weights are drawn from ``rng`` in the order of the reduced loop (blocks
    of LANES networks, each block epoch after epoch, each epoch its networks in order), a slice of
    epochs of a block at a time, so that both engines train on the same minibatches."""
    m, n, G, P = len(x), theta.shape[2], B.shape[0], theta.shape[1]
    codes = np.empty(n, dtype=np.int64)
    wa, wb = np.empty((G, PARTIAL_SUMS)), np.empty((G, PARTIAL_SUMS))
    R, Rx, r, grads = np.empty(G), np.empty(G), np.empty(m), np.empty((3, n))
    per_slice = max(1, DRAWN_WEIGHTS // (m * LANES) if batch > 0 else epochs)
    drawn = np.empty((per_slice if batch > 0 else 1, m, LANES))
    draws, fractions = draw_scratch(batch)
    weights = np.empty((drawn.shape[0], m))
    for start in range(0, P, LANES):
        stop = min(start + LANES, P)
        for t_from in range(0, epochs, per_slice):
            t_to = min(t_from + per_slice, epochs)
            for t in range(t_to - t_from if batch > 0 else 1):
                draw_weights(drawn[t], start, stop, p_t, cuts, batch, rng, draws, fractions)
            for k in range(start, stop):
                weights[:, :] = drawn[:, :, k - start]
                dense_network_epochs(k, t_from, t_to, weights, batch > 0, theta, c, m1, m1c, m2, m2c, t0, h, x, y,
                                     B, sign_a0, gap, code, crossed, first, codes, wa, wb, R, Rx, r, grads)


# ============================================================================ the reduced loop
# The compiled reduced loop works on blocks of LANES networks. A block's whole state is copied into
# one scratch array Z (ROWS, LANES), one row per quantity, networks along the row, and every epoch
# is a few loops over the block's lanes whose rows lie at constant offsets: the compiler can see
# that they never overlap and runs LANES networks side by side in SIMD registers. 64 lanes keep
# Z (50 rows, 25 kB) in the L1 cache.
Z_T = 0  # the maps T, 12 rows: entry (row, column, side) of T (3, 2, sides, P) at Z_T + 4 row + 2 column + side
Z_V = 12  # the momentum maps h V, laid out as T
Z_C, Z_VC, Z_H = 24, 25, 26  # c, its velocity h v_c, the step h
Z_SIGMA = 27  # Sigma_s(0) on (a, w): (s_aa, s_aw, s_ww) of side s at Z_SIGMA + 3 s
Z_R = 33  # r_ends: (end, side) at Z_R + 2 end + side
Z_NONEMPTY = 37  # 1.0 if side s has units, at Z_NONEMPTY + s
Z_F = 39  # the fits Sigma_s[w, a] at Z_F + s and Sigma_s[w, b] at Z_F + 2 + s
Z_G = 43  # the gradient sums E^T r (4 rows, as F) and sum_j r_j (Z_G + 4)
Z_CROSSED, Z_FIRST = 48, 49  # the crossing flag (1.0 / 0.0) and first crossing epoch (-1: none yet)
Z_ROWS = 50


@numba.njit(cache=True)
def load_block(Z, start, stop, T, V, c, vc, h, sigma0, r_ends, nonempty, crossed, first, momentum):
    """Networks start..stop-1 into the lanes of Z (see ``Z_ROWS``); unused lanes are zero."""
    P = h.shape[0]
    Tf, Vf, S, Rf = T.reshape(12, P), V.reshape(12, P), sigma0.reshape(8, P), r_ends.reshape(4, P)
    Z[:, :] = 0.0
    for k in range(start, stop):
        l = k - start
        for q in range(12):
            Z[Z_T + q, l] = Tf[q, k]
            Z[Z_V + q, l] = Vf[q, k] if momentum else 0.0
        Z[Z_C, l], Z[Z_VC, l], Z[Z_H, l] = c[k], vc[k], h[k]
        for s in range(2):
            Z[Z_SIGMA + 3 * s, l], Z[Z_SIGMA + 3 * s + 1, l] = S[s, k], S[2 + s, k]
            Z[Z_SIGMA + 3 * s + 2, l] = S[6 + s, k]
            Z[Z_NONEMPTY + s, l] = 1.0 if nonempty[s, k] else 0.0
        for q in range(4):
            Z[Z_R + q, l] = Rf[q, k]
        Z[Z_CROSSED, l], Z[Z_FIRST, l] = 1.0 if crossed[k] else 0.0, first[k]


@numba.njit(cache=True)
def store_block(Z, start, stop, T, V, c, vc, crossed, first, momentum):
    """The lanes of Z back into networks start..stop-1 (the inverse of ``load_block``)."""
    P = c.shape[0]
    Tf, Vf = T.reshape(12, P), V.reshape(12, P)
    for k in range(start, stop):
        l = k - start
        for q in range(12):
            Tf[q, k] = Z[Z_T + q, l]
            if momentum:
                Vf[q, k] = Z[Z_V + q, l]
        c[k], vc[k] = Z[Z_C, l], Z[Z_VC, l]
        crossed[k], first[k] = Z[Z_CROSSED, l] > 0, int(Z[Z_FIRST, l])


@numba.njit(cache=True, inline="always")
def lane_fits(Z, l, s, T_aa, T_aw, T_ba, T_bw, T_wa, T_ww):
    """(Sigma_s[w, a], Sigma_s[w, b]) of side s of lane l from its map T_s and Sigma_s(0) on (a, w):
    row w of T_s Sigma_s(0) times rows a and b of T_s, into the rows Z_F."""
    s_aa, s_aw, s_ww = Z[Z_SIGMA + 3 * s, l], Z[Z_SIGMA + 3 * s + 1, l], Z[Z_SIGMA + 3 * s + 2, l]
    u_a = T_wa * s_aa + T_ww * s_aw
    u_w = T_wa * s_aw + T_ww * s_ww
    Z[Z_F + s, l] = u_a * T_aa + u_w * T_aw
    Z[Z_F + 2 + s, l] = u_a * T_ba + u_w * T_bw


@numba.njit(cache=True, inline="always")
def lane_gradient_sums(Z, weights, E, y):
    """The sums G = E^T r and sum_j r_j of every lane, r_j = p_j (E_j F + c - y_j), into the rows Z_G
    (which hold 0 before); weights (m, LANES) the lanes' data weights."""
    for j in range(E.shape[0]):
        e0, e1, e2, e3, y_j = E[j, 0], E[j, 1], E[j, 2], E[j, 3], y[j]
        for l in range(LANES):
            fit = e0 * Z[Z_F, l] + e1 * Z[Z_F + 1, l] + e2 * Z[Z_F + 2, l] + e3 * Z[Z_F + 3, l]
            r = weights[j, l] * (fit + Z[Z_C, l] - y_j)
            Z[Z_G, l] += e0 * r
            Z[Z_G + 1, l] += e1 * r
            Z[Z_G + 2, l] += e2 * r
            Z[Z_G + 3, l] += e3 * r
            Z[Z_G + 4, l] += r


@numba.njit(cache=True, inline="always")
def lane_step(Z, l, t, x_left, x_right, momentum):
    """Epoch t's step of lane l from its sums Z_G (reset to 0 after): per side h K_s T_s with
    h (G1, G2) = h (G_s[x], G_s[1]); gd T <- T - h K T, momentum h V <- beta h V + h K T, T <- T - h V;
    likewise c with sum_j r_j; the new fits; then the crossing test: phi >= 0 at a side's r_min or
    r_max (see ``ReducedTrainer``), a nan anywhere counting as no, sets the crossing flag and, if
    it was not set, the first crossing epoch t + 1. ``momentum`` must be a constant for the
    compiler to drop the branch (it then vectorises the loop over lanes)."""
    h = Z[Z_H, l]
    hit = False
    for s in range(2):
        hG1, hG2 = h * Z[Z_G + s, l], h * Z[Z_G + 2 + s, l]
        t0, t1, t2, t3, t4, t5 = (Z[Z_T + s, l], Z[Z_T + 2 + s, l], Z[Z_T + 4 + s, l], Z[Z_T + 6 + s, l],
                                  Z[Z_T + 8 + s, l], Z[Z_T + 10 + s, l])
        d0, d1, d2, d3 = hG1 * t4, hG1 * t5, hG2 * t4, hG2 * t5  # h K_s T_s
        d4, d5 = hG1 * t0 + hG2 * t2, hG1 * t1 + hG2 * t3
        if momentum:
            d0 = MOMENTUM * Z[Z_V + s, l] + d0
            d1 = MOMENTUM * Z[Z_V + 2 + s, l] + d1
            d2 = MOMENTUM * Z[Z_V + 4 + s, l] + d2
            d3 = MOMENTUM * Z[Z_V + 6 + s, l] + d3
            d4 = MOMENTUM * Z[Z_V + 8 + s, l] + d4
            d5 = MOMENTUM * Z[Z_V + 10 + s, l] + d5
            Z[Z_V + s, l], Z[Z_V + 2 + s, l], Z[Z_V + 4 + s, l] = d0, d1, d2
            Z[Z_V + 6 + s, l], Z[Z_V + 8 + s, l], Z[Z_V + 10 + s, l] = d3, d4, d5
        t0, t1, t2, t3, t4, t5 = t0 - d0, t1 - d1, t2 - d2, t3 - d3, t4 - d4, t5 - d5
        Z[Z_T + s, l], Z[Z_T + 2 + s, l], Z[Z_T + 4 + s, l] = t0, t1, t2
        Z[Z_T + 6 + s, l], Z[Z_T + 8 + s, l], Z[Z_T + 10 + s, l] = t3, t4, t5
        lane_fits(Z, l, s, t0, t1, t2, t3, t4, t5)
        r_min, r_max = Z[Z_R + s, l], Z[Z_R + 2 + s, l]
        A, B = t0 + t1 * r_min, t2 + t3 * r_min
        phi1, phi2 = -B - x_right * A, B - x_left * A
        A, B = t0 + t1 * r_max, t2 + t3 * r_max
        phi3, phi4 = -B - x_right * A, B - x_left * A
        side_hit = (phi1 >= 0) | (phi2 >= 0) | (phi3 >= 0) | (phi4 >= 0)
        nan = (phi1 != phi1) | (phi2 != phi2) | (phi3 != phi3) | (phi4 != phi4)
        hit |= (Z[Z_NONEMPTY + s, l] > 0) & side_hit & ~nan
    step_c = h * Z[Z_G + 4, l]
    if momentum:
        step_c = MOMENTUM * Z[Z_VC, l] + step_c
        Z[Z_VC, l] = step_c
    Z[Z_C, l] -= step_c
    for q in range(5):
        Z[Z_G + q, l] = 0.0
    Z[Z_FIRST, l] = t + 1.0 if hit & (Z[Z_CROSSED, l] == 0.0) else Z[Z_FIRST, l]
    Z[Z_CROSSED, l] = 1.0 if hit else Z[Z_CROSSED, l]


@numba.njit(cache=True)
def reduced_epochs(T, V, c, vc, h, sigma0, E, y, p_t, cuts, epochs, batch, rng, r_ends, nonempty, gap,
                   momentum, crossed, first):
    """``epochs`` epochs of the reduced trainer (arrays as in ``ReducedTrainer``, networks last),
    each a step then the crossing test; updated in place. With a batch size B > 0 every epoch draws
    the minibatch weights of the block's networks from ``rng`` (``draw_weights``). Epoch t of a network:
    fits F = Sigma_s[w, (a, b)] from T_s Sigma_s(0) T_s^T; r_j = p_j (E_j F + c - y_j); h G = h E^T r;
    the maps' step and likewise c (``lane_step``). A network not yet ``crossed`` whose phi at a
    side's extreme r_i is >= 0 gets crossed[k] = True, first[k] = t + 1. Blocks of LANES networks
    go through all their epochs in the scratch Z (``load_block``); each network's arithmetic is
    the same whatever its lane, so results do not depend on the block a network falls in."""
    m, P = E.shape[0], h.shape[0]
    x_left, x_right = gap[0], gap[1]
    weights = np.zeros((m, LANES))
    draws, fractions = draw_scratch(batch)
    Z = np.empty((Z_ROWS, LANES))
    for start in range(0, P, LANES):
        stop = min(start + LANES, P)
        load_block(Z, start, stop, T, V, c, vc, h, sigma0, r_ends, nonempty, crossed, first, momentum)
        weights[:, :] = 0.0
        for l in range(LANES):
            for s in range(2):
                lane_fits(Z, l, s, Z[Z_T + s, l], Z[Z_T + 2 + s, l], Z[Z_T + 4 + s, l], Z[Z_T + 6 + s, l],
                          Z[Z_T + 8 + s, l], Z[Z_T + 10 + s, l])
        for t in range(epochs):
            if t == 0 or batch > 0:
                draw_weights(weights, start, stop, p_t, cuts, batch, rng, draws, fractions)
            lane_gradient_sums(Z, weights, E, y)
            if momentum:  # two loops, each with a constant flag, so that both vectorise
                for l in range(LANES):
                    lane_step(Z, l, t, x_left, x_right, True)
            else:
                for l in range(LANES):
                    lane_step(Z, l, t, x_left, x_right, False)
        store_block(Z, start, stop, T, V, c, vc, crossed, first, momentum)
