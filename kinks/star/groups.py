"""The pattern groups of one network in the star study's compiled engine (the loops that use them in
``kinks.star.compiled``; the math, and why it is exact, in ``kinks.star.reduced``): one unit's code,
margin and skin, and the group storage with the units joining and leaving it, rebasing, rebuilding;
and the loose units, out of every group.

Per network the loops keep, for every unit i, its stacked vector u_i = [theta_i; w_i] (E = d + 2
entries) as a base vector v_i, and for every pattern group S (a slot s) the ``Groups`` arrays: its
on/off code over the m data points and the point classes it is on at, the moment matrix Sigma_S =
sum_{i in S} u_i u_i^T, the group map Phi_S with u_i = Phi_S v_i for every unit of S, and the drift
G_S = sum_t h |g_S(t)| since the last rebuild (the skin test against each unit's threshold). A unit
whose code changed is loose until a test at a fixed epoch finds it far from every data point
(``kinks.star.compiled.cool_loose_units``): its vector lies in a column of its own and is stepped by
the direct epoch's loops. The slot arrays hold C = 2 n + SPARE_SLOTS slots, slot first, so the K in
use lie together. The per-slot matrices lie in lanes: slot s is lane s % LANES of block s // LANES
of ``Groups.Z`` (blocks, rows x LANES), one row per entry (``layout``, ``at``), so that the group
step runs LANES groups side by side in SIMD registers, as the 1-D engine's blocks run networks.
Small functions are inlined (inline="always"): passing the Groups tuple costs more. No function here
allocates once the storage exists (``new_groups``, ``new_work``): the epochs run without numba's
runtime (NO_NRT)."""
from collections import namedtuple

import numba
import numpy as np

SKIN_SAFETY = 0.5      # a unit is tested once its bound has used half its margin: round-off never decides
REBASE_DRIFT = 0.5    # a group map is rebased once its drift has grown by this much: cond(Phi_S) <= e^(2 x 0.5)
SLOTS, CHANGED, HOT, CLASSES, STALE, LOOSE = range(6)   # Groups.counts: slots in use (high-water mark), grouped
                                                        # units off their initial code, hot units, point classes,
                                                        # classes stale, loose units
SPARE_SLOTS = 64      # slots beyond 2 n: parked slots are reused only once all C = 2 n + 64 are taken
WATCH = 3             # points a unit's test looks at alone while no other can have changed side
LANES = 32            # slots per block of Groups.Z: a step of K groups runs ceil(K / 32) blocks of SIMD lanes
SINH_1, COSH_1_MINUS_1 = np.sinh(1.0), np.cosh(1.0) - 1.0
ONE = np.uint64(1)
JIT = dict(cache=True)
NO_NRT = dict(JIT, _nrt=False, error_model="numpy")   # no runtime (``compiled.train_block``); x / 0 = inf as NumPy

Groups = namedtuple("Groups", [
    # slots: C of them, K = counts[SLOTS] in use
    "used",       # (C,) units in each slot (0: parked, see slot_of_code)
    "codes",      # (C, W) uint64 on/off code, bit j of word j // 64 set where the group is on at point j
    "Z",          # (ceil(C / LANES), rows x LANES) Sigma_S, Phi_S, g_S, ... of slot s in lane s % LANES (``at``)
    "drift",      # (C,) G_S since the last rebuild
    "rebased",    # (C,) the drift at the last rebase of Phi_S
    "growth",     # (C,) the last epoch's h |g_S|
    "least",      # (C,) the least threshold of the group's cold units
    "head",       # (C,) first unit of each slot (-1: none)
    "on_classes", # (C, m) 1 where slot s is on at point class c (also in Z's rows ON + c)
    # units: n of them
    "slot",       # (n,) each unit's slot (-1: loose)
    "next",       # (n,) doubly linked list of each slot's units (-1 ends)
    "previous",   # (n,)
    "threshold",  # (n,) the drift at which each unit is tested again
    "watch",      # (n, WATCH) the points nearest to each unit's kink at its last full test (``unit_pattern``; -1: none)
    "reach",      # (n,) the drift up to which no other point can have changed side (its next test may look at
                  #      the watched points alone: ``kinks.star.compiled.test_unit``)
    "hot",        # (n,) bool: tested every epoch, left out of its group's least threshold
    "hot_list",   # (n,) the hot units, counts[HOT] of them
    # points: m of them, in classes of points that every group in use is on at alike
    "class_of",   # (m,) each point's class
    "class_rep",  # (m,) the first point of each class, counts[CLASSES] of them
    # loose units: counts[LOOSE] of them, out of every group, stepped one by one (``kinks.star.compiled``)
    "loose_unit",   # (n,) the unit in each loose column
    "loose_theta",  # (D, n_2) their theta_i in columns (zero past counts[LOOSE]: ``direct.add_unit_outputs``)
    "loose_w",      # (n_2,) their w_i
    "loose_grad",   # (D, n_2) their g_i at the last step
    "counts",     # (6,) SLOTS, CHANGED, HOT, CLASSES, STALE, LOOSE
])
Work = namedtuple("Work", [
    "Q",          # (m, D) sum_{j in class} r_j x~_j per point class
    "T",          # (D, m) sum of M_S over the groups on at a class
    "error",      # (m,) f(x_j) - y_j
    "r",          # (m_4,) residuals p_j (f(x_j) - y_j), zero past m
    "XT",         # (D, m_4) x~_j in columns, zero past m (the loose units' loops, ``kinks.star.direct``)
    "code",       # (W,) a unit's code
    "nearest",    # (WATCH,) the points nearest to its kink, nearest first (-1: none)
    "near",       # (WATCH,) their distances
    # the units whose code changed this epoch (``join``'s arguments for each):
    "movers",     # (n,) the units
    "mover_codes", "mover_watch",            # (n, W), (n, WATCH) their new codes, watched points
    "mover_allowance", "mover_reach",        # (n,), (n,) their allowances up to the next test and for their reach
    "moved",      # (n + 1, E) their vectors (and one scratch row)
    "solver",     # (E, E + 1) Gaussian elimination
    "order",      # (n,) the movers in the order of their unit index
])


# ============================================================================= the lanes of Z
@numba.njit(**JIT, inline="always")
def layout(E):
    """The rows of Groups.Z, offsets in E = d + 2 (constants where E is): Sigma_S entry (a, b) at
    row a E + b, Phi_S entry (a, b) at PHI + a E + b, g_S at GRAD + k, the new M_S (the step's
    scratch) at NEW_M + k, 1.0 where the slot holds units at USED, the step's h |g_S| at GROWTH,
    1.0 where the slot is on at point class c at ON + c. Returns (PHI, GRAD, NEW_M, USED, GROWTH, ON)."""
    D = E - 1
    return E * E, 2 * E * E, 2 * E * E + D, 2 * E * E + 2 * D, 2 * E * E + 2 * D + 1, 2 * E * E + 2 * D + 2


@numba.njit(**JIT, inline="always")
def at(row, l):
    """The index of ``row`` (``layout``) of lane l in a block of Z. The constant stride LANES lets the
    compiler see that the rows of a block never overlap, and run a loop over its lanes in SIMD
    registers (with the stride read from the array, it does not)."""
    return np.uint64(row * LANES + l)     # unsigned: no wraparound test for negative indices


@numba.njit(**JIT, inline="always")
def lane(Z, s):
    """Where slot s lies in Z, for ``at``: (its block, a view (rows x LANES,); its lane)."""
    return Z[s // LANES], s % LANES


@numba.njit(**JIT, inline="always")
def set_identity_map(z, l, E):
    """Phi_s = I for the slot in lane l of block z."""
    PHI = layout(E)[0]
    for a in range(E):
        for b in range(E):
            z[at(PHI + a * E + b, l)] = 1.0 if a == b else 0.0


@numba.njit(**JIT, inline="always")
def reset_lane(z, l, E):
    """A fresh group's rows z: Sigma = 0, Phi = I, g = 0, not in use (ON rows: ``update_classes``)."""
    ON = layout(E)[5]
    for row in range(ON):
        z[at(row, l)] = 0.0
    set_identity_map(z, l, E)


# ============================================================================= one unit
@numba.njit(**JIT, inline="always")
def z_at(u, X1, j, D):
    """z_j = theta . x~_j for theta = u[:D], summed in the order of k: every test of a unit, full
    (``unit_pattern``) or at its watched points alone, reads the side of point j from this one sum."""
    z = 0.0
    for k in range(D):
        z += u[k] * X1[j, k]
    return z


@numba.njit(**JIT, inline="always")
def unit_pattern(u, X1, inv_norm, code, nearest, near, watching, D):
    """The on/off code of theta = u[:D] over the data, code (W,) uint64 with bit j set where
    z_j = theta . x~_j > 0 (as relu_epoch's strict test), and the unit's margin
    rho = min_j |z_j| / |x~_j|, the distance from theta to the nearest hyperplane {theta . x~_j = 0}:
    theta cannot change its code while it moves by less than rho. Where ``watching``, also the
    WATCH points nearest to the kink, into nearest (WATCH,) with their distances in near (WATCH,),
    and the distance to the nearest other hyperplane: theta changes side of none of the other
    points while it moves by less than that. Returns (rho, that distance; rho where not watching,
    and nearest is -1 where no point is watched). The bits are set in a register without a
    branch: the signs of z_j are not predictable."""
    m, rho, beyond = X1.shape[0], np.inf, np.inf
    for a in range(WATCH):
        nearest[a], near[a] = -1, np.inf
    for word in range(code.shape[0]):
        bits = np.uint64(0)
        for j in range(word * 64, min(m, word * 64 + 64)):
            z = z_at(u, X1, j, D)
            bits |= np.uint64(z > 0) << np.uint64(j - word * 64)
            margin = abs(z) * inv_norm[j]
            rho = min(rho, margin)
            if watching and margin < near[WATCH - 1]:     # insert it in order (a NaN never is)
                beyond = min(beyond, near[WATCH - 1])
                a = WATCH - 1
                while a > 0 and margin < near[a - 1]:
                    nearest[a], near[a] = nearest[a - 1], near[a - 1]
                    a -= 1
                nearest[a], near[a] = j, margin
            elif watching:
                beyond = min(beyond, margin)
        code[word] = bits
    return rho, beyond if watching else rho


@numba.njit(**JIT, inline="always")
def skin_allowance(u, rho):
    """The drift a unit now at u = [theta; w] with margin rho may still take before its next test.
    While its group keeps its pattern, theta' = theta - h w g and w' = w - h theta . g, so with
    G = sum h |g| since now, |theta(G) - theta| <= A(G) and |w(G) - w| <= B(G) where A' = |w| + B,
    B' = |theta| + A (the sums are left Riemann sums of increasing functions):

        |theta(G) - theta| <= |w| sinh G + |theta| (cosh G - 1) <= sinh(1) |w| G + (cosh 1 - 1) |theta| G^2

    for G <= 1. The unit cannot have changed its code while that is below rho; the allowance is the
    G in [0, 1] where the right side reaches SKIN_SAFETY rho (inf for a zero unit, which stays zero)."""
    D = u.shape[0] - 1
    theta = 0.0
    for k in range(D):
        theta += u[k] * u[k]
    linear, quadratic, budget = SINH_1 * abs(u[D]), COSH_1_MINUS_1 * np.sqrt(theta), SKIN_SAFETY * rho
    if linear == 0 and quadratic == 0:
        return np.inf
    return min(1.0, 2 * budget / (linear + np.sqrt(linear * linear + 4 * quadratic * budget)))


@numba.njit(**JIT, inline="always")
def copy_into(target, source):
    """target[:] = source, element by element (a slice assignment needs numba's runtime, see NO_NRT)."""
    for a in range(source.shape[0]):
        target[a] = source[a]


@numba.njit(**JIT, inline="always")
def same_code(first, second):
    for word in range(first.shape[0]):
        if first[word] != second[word]:
            return False
    return True


@numba.njit(**JIT, inline="always")
def apply_map(z, l, v, out, E):
    """out = Phi_s v: the map of slot s (E, E), in lane l of block z, times v (E,)."""
    PHI = layout(E)[0]
    for a in range(E):
        total = 0.0
        for b in range(E):
            total += z[at(PHI + a * E + b, l)] * v[b]
        out[a] = total


@numba.njit(**JIT, inline="always")
def add_outer(z, l, u, sign):
    """Sigma_s += sign u u^T for slot s in lane l of block z."""
    E = u.shape[0]
    for a in range(E):
        for b in range(E):
            z[at(a * E + b, l)] += sign * u[a] * u[b]


@numba.njit(**JIT, inline="always")
def solve(z, l, u, v, work, E):
    """v = Phi_s^-1 u by Gaussian elimination with partial pivoting (``work`` (E, E + 1) scratch):
    the base vector that a unit now at u gets in slot s (Phi_s is invertible while the steps stay
    small: det L_S = 1 - h^2 |g_S|^2; the slot in lane l of block z). Non-finite where Phi_s is
    singular (x / 0 = inf or nan, as in NumPy: its caller is compiled with NO_NRT's error model).
    Inlined, with E a compile-time constant: the loops unroll (a call with E read from u's shape
    cost a fifth of the epoch at n = 128)."""
    PHI = layout(E)[0]
    for a in range(E):
        for b in range(E):
            work[a, b] = z[at(PHI + a * E + b, l)]
        work[a, E] = u[a]
    for col in range(E):
        pivot = col
        for row in range(col + 1, E):
            if abs(work[row, col]) > abs(work[pivot, col]):
                pivot = row
        for k in range(E + 1):
            work[col, k], work[pivot, k] = work[pivot, k], work[col, k]
        for row in range(col + 1, E):
            factor = work[row, col] / work[col, col]
            for k in range(col, E + 1):
                work[row, k] -= factor * work[col, k]
    for row in range(E - 1, -1, -1):
        total = work[row, E]
        for k in range(row + 1, E):
            total -= work[row, k] * v[k]
        v[row] = total / work[row, row]


# ============================================================================= the groups of one network
@numba.njit(cache=True)
def new_groups(n, m, E, words):
    """Empty group storage of one network of width n: C = 2 n + SPARE_SLOTS slots (Z zero: the
    lanes past the slots in use stay zero and step as empty groups; the codes and class flags are
    set when a slot is taken, by ``update_classes``)."""
    C, n_2 = 2 * n + SPARE_SLOTS, n + (n & 1)
    Z = np.zeros((-(-C // LANES), (layout(E)[5] + m) * LANES))
    slots = (np.zeros(C, np.int64), np.empty((C, words), np.uint64), Z, np.zeros(C), np.zeros(C), np.zeros(C),
             np.zeros(C), np.full(C, -1, np.int64), np.zeros((C, m), np.uint8))
    units = (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n),
             np.zeros((n, WATCH), np.int64), np.zeros(n), np.zeros(n, np.bool_), np.zeros(n, np.int64))
    points = (np.zeros(m, np.int64), np.zeros(m, np.int64))
    loose = (np.zeros(n, np.int64), np.zeros((E - 1, n_2)), np.zeros(n_2), np.zeros((E - 1, n_2)))
    return Groups(*slots, *units, *points, *loose, np.zeros(6, np.int64))


@numba.njit(cache=True)
def new_work(X1, n, words):
    """Scratch for one network's epochs over the data X1 (m, D)."""
    m, D = X1.shape
    E, m_4 = D + 1, -(-m // 4) * 4
    XT = np.zeros((D, m_4))
    XT[:, :m] = X1.T
    return Work(np.zeros((m, D)), np.zeros((D, m)), np.zeros(m), np.zeros(m_4), XT, np.zeros(words, np.uint64),
                np.zeros(WATCH, np.int64), np.zeros(WATCH), np.zeros(n, np.int64), np.zeros((n, words), np.uint64),
                np.zeros((n, WATCH), np.int64), np.zeros(n), np.zeros(n), np.zeros((n + 1, E)), np.zeros((E, E + 1)),
                np.zeros(n, np.int64))


@numba.njit(cache=True, inline="always")
def is_on(code, j):
    return (code[j >> 6] >> np.uint64(j & 63)) & ONE


@numba.njit(**NO_NRT)
def update_classes(groups):
    """The point classes: points j, j' are in one class where every group (slot) is on at both or
    at neither (then they share sum_{S on at j} M_S); each slot's flags of the classes it is on at
    (on_classes, and Z's ON rows).
    O(m^2 K), after a new group appeared (counts[STALE]). On star_11 at zero bias the classes are
    the 11 rays of 3 points, which cuts the outputs' and gradient sums' work by 3."""
    G = groups
    K, m, n_classes = G.counts[SLOTS], G.class_of.shape[0], 0
    for j in range(m):
        G.class_of[j] = -1
        for c in range(n_classes):
            rep, alike = G.class_rep[c], True
            for s in range(K):
                if is_on(G.codes[s], j) != is_on(G.codes[s], rep):
                    alike = False
                    break
            if alike:
                G.class_of[j] = c
                break
        if G.class_of[j] < 0:
            G.class_rep[n_classes], G.class_of[j] = j, n_classes
            n_classes += 1
    ON = G.Z.shape[1] // LANES - m
    for s in range(K):
        z, l = lane(G.Z, s)
        for c in range(n_classes):
            on = is_on(G.codes[s], G.class_rep[c])
            G.on_classes[s, c] = on
            z[at(ON + c, l)] = on
    G.counts[CLASSES], G.counts[STALE] = n_classes, 0


@numba.njit(cache=True, inline="always")
def slot_of_code(code, groups, E):
    """The slot of the group with ``code``: an existing one (also one its units have all left: an
    emptied slot stays parked with its code and drift until the next rebuild), else a fresh one (the
    next slot; once all C are taken, the first parked one) with Phi = I, Sigma = 0, drift 0 and its
    code (the point classes now stale)."""
    G = groups
    for s in range(G.counts[SLOTS]):
        if same_code(G.codes[s], code):
            return s
    fresh = G.counts[SLOTS]
    if fresh < G.used.shape[0]:
        G.counts[SLOTS] += 1
    else:
        fresh = np.argmin(G.used)     # at most n slots hold units
    copy_into(G.codes[fresh], code)
    G.counts[STALE] = 1
    z, l = lane(G.Z, fresh)
    reset_lane(z, l, E)
    G.drift[fresh], G.rebased[fresh], G.growth[fresh], G.least[fresh], G.head[fresh] = 0.0, 0.0, 0.0, np.inf, -1
    return fresh


@numba.njit(cache=True, inline="always")
def join(i, s, u, v, allowance, remaining, nearest, groups, V, initial):
    """Unit i, now u = Phi_s v, joins slot s: v_i = v, Sigma_s += u u^T, linked in at the head, its
    threshold the drift plus its allowance (at most its remaining reach; in the group's least
    threshold unless it is hot), its reach the drift plus ``remaining``, its watched points
    ``nearest`` (WATCH,); counts its code against its initial code."""
    G = groups
    copy_into(V[i], v)
    z, l = lane(G.Z, s)
    add_outer(z, l, u, 1.0)
    _, _, _, USED, _, _ = layout(u.shape[0])
    z[at(USED, l)] = 1.0
    G.slot[i], G.next[i], G.previous[i] = s, G.head[s], -1
    if G.head[s] >= 0:
        G.previous[G.head[s]] = i
    G.head[s] = i
    G.used[s] += 1
    G.threshold[i] = G.drift[s] + min(allowance, remaining)
    G.reach[i] = G.drift[s] + remaining
    copy_into(G.watch[i], nearest)
    if not G.hot[i]:
        G.least[s] = min(G.least[s], G.threshold[i])
    G.counts[CHANGED] += not same_code(G.codes[s], initial[i])


@numba.njit(cache=True, inline="always")
def leave(i, u, groups, initial):
    """Unit i, now u, leaves its slot: Sigma -= u u^T, unlinked; an emptied slot is parked (see
    ``slot_of_code``) with Sigma zeroed (no round-off residue is left to count in the outputs) and
    Phi = I (rebased): a unit that joins it takes its vector as base vector, with no solve."""
    G, E = groups, u.shape[0]
    s = G.slot[i]
    z, l = lane(G.Z, s)
    add_outer(z, l, u, -1.0)
    if G.previous[i] >= 0:
        G.next[G.previous[i]] = G.next[i]
    else:
        G.head[s] = G.next[i]
    if G.next[i] >= 0:
        G.previous[G.next[i]] = G.previous[i]
    G.used[s] -= 1
    G.counts[CHANGED] -= not same_code(G.codes[s], initial[i])
    if G.used[s] == 0:
        _, _, _, USED, _, _ = layout(E)
        for row in range(E * E):
            z[at(row, l)] = 0.0
        z[at(USED, l)] = 0.0
        set_identity_map(z, l, E)
        G.rebased[s] = G.drift[s]


@numba.njit(**NO_NRT)
def rebase(s, groups, V, u):
    """Make Phi_s = I: every unit of slot s gets its current vector as base vector, v_i <- Phi_s v_i
    (the thresholds, in drift, stay). ``u`` (E,) scratch."""
    G, E = groups, u.shape[0]
    G.rebased[s] = G.drift[s]
    z, l = lane(G.Z, s)
    i = G.head[s]
    while i >= 0:
        apply_map(z, l, V[i], u, E)
        copy_into(V[i], u)
        i = G.next[i]
    set_identity_map(z, l, E)


@numba.njit(cache=True, inline="always")
def rebase_drifted(groups, V, u):
    """Rebase every group whose map has drifted by REBASE_DRIFT since its last rebase: |L_S| <= 1 + h |g_S|,
    so Phi_S and its inverse stay within e^0.5 of I, and u_i = Phi_S v_i loses only a few bits."""
    for s in range(groups.counts[SLOTS]):
        if groups.drift[s] - groups.rebased[s] > REBASE_DRIFT and groups.used[s] > 0:
            rebase(s, groups, V, u)


@numba.njit(cache=True, inline="always")
def set_loose_column(k, u, groups):
    """Loose column k holds u = [theta; w] (E,)."""
    D = u.shape[0] - 1
    for a in range(D):
        groups.loose_theta[a, k] = u[a]
    groups.loose_w[k] = u[D]


@numba.njit(cache=True, inline="always")
def get_loose_column(k, groups, u):
    """u = [theta; w] (E,) of loose column k."""
    D = u.shape[0] - 1
    for a in range(D):
        u[a] = groups.loose_theta[a, k]
    u[D] = groups.loose_w[k]


@numba.njit(cache=True, inline="always")
def loosen(i, u, groups, initial):
    """Unit i, now u, leaves its group (``leave``) and turns loose: its vector goes to the next loose
    column, where it is stepped on its own from now on, with its group's g_S as its last gradient."""
    G, D = groups, u.shape[0] - 1
    k = G.counts[LOOSE]
    z, l = lane(G.Z, G.slot[i])
    GRAD = layout(D + 1)[1]
    for a in range(D):                   # g_i = g_S of the step that moved it: where ``cool_loose_units`` reads it
        G.loose_grad[a, k] = z[at(GRAD + a, l)]
    leave(i, u, G, initial)
    set_loose_column(k, u, G)
    G.loose_unit[k], G.slot[i], G.hot[i] = i, -1, False
    G.counts[LOOSE] += 1


@numba.njit(cache=True, inline="always")
def drop_loose_column(k, groups):
    """Loose column k leaves the list: the last column takes its place and its own is zeroed (a
    padded loose unit must add exactly 0, ``kinks.star.direct.add_unit_outputs``)."""
    G = groups
    last = G.counts[LOOSE] - 1
    for a in range(G.loose_theta.shape[0]):
        G.loose_theta[a, k], G.loose_grad[a, k] = G.loose_theta[a, last], G.loose_grad[a, last]
        G.loose_theta[a, last] = 0.0
    G.loose_w[k], G.loose_unit[k], G.loose_w[last] = G.loose_w[last], G.loose_unit[last], 0.0
    G.counts[LOOSE] = last


@numba.njit(cache=True, inline="always")
def fresh_test(u, X1, inv_norm, code, nearest, near):
    """A rebuilt unit's exact test at u: its code into ``code`` (W,), no watched points (``nearest``
    (WATCH,) all -1), and the drift it may take before its next test, also its reach."""
    rho, _ = unit_pattern(u, X1, inv_norm, code, nearest, near, False, X1.shape[1])
    return skin_allowance(u, rho)


@numba.njit(cache=True, inline="always")
def keep_tests(groups, work, V, X1, inv_norm):
    """Each grouped unit's code, watched points, and the drift it may still take before its next test
    (threshold and reach less its group's drift), into the movers' rows of ``work`` (n of them); a
    loose unit gets an exact test (at V[i], its vector)."""
    G = groups
    for i in range(G.slot.shape[0]):
        s = G.slot[i]
        if s < 0:
            work.mover_allowance[i] = work.mover_reach[i] = fresh_test(V[i], X1, inv_norm, work.mover_codes[i],
                                                                       work.mover_watch[i], work.near)
            continue
        copy_into(work.mover_codes[i], G.codes[s])
        copy_into(work.mover_watch[i], G.watch[i])
        work.mover_allowance[i], work.mover_reach[i] = G.threshold[i] - G.drift[s], G.reach[i] - G.drift[s]


@numba.njit(**NO_NRT)
def rebuild(V, X1, inv_norm, initial, groups, work, carried):
    """The groups of a network from its units' vectors V (n, E), in order of their first unit, with no
    unit loose: the state every rebuild epoch starts from. Each unit's code, and the drift it may
    take before its next test, come from an exact test of the unit, or, where ``carried``, from the
    groups now (``keep_tests``: the codes are exact, and the bounds hold across the rebuild, which
    only writes u_i = Phi_S v_i into V). The same groups either way, so the same training: only when
    units are next tested differs. Carrying them saves testing every unit every REBUILD_EVERY
    epochs (about a tenth of the epochs' cost at n = 4096)."""
    G = groups
    if carried:
        keep_tests(G, work, V, X1, inv_norm)
    for b in range(-(-G.counts[SLOTS] // LANES)):
        G.Z[b].fill(0.0)
    for k in range(G.counts[LOOSE]):
        for a in range(G.loose_theta.shape[0]):
            G.loose_theta[a, k] = 0.0
        G.loose_w[k] = 0.0
    G.counts.fill(0)
    G.used.fill(0)
    G.hot.fill(False)
    for i in range(V.shape[0]):
        if carried:
            code, nearest = work.mover_codes[i], work.mover_watch[i]
            allowance, remaining = work.mover_allowance[i], work.mover_reach[i]
        else:
            code, nearest = work.code, work.nearest
            allowance = remaining = fresh_test(V[i], X1, inv_norm, code, nearest, work.near)
        join(i, slot_of_code(code, G, V.shape[1]), V[i], V[i], allowance, remaining, nearest, G, V, initial)


@numba.njit(**NO_NRT)
def materialise(V, groups, u):
    """Every unit's current vector into V (n, E): u_i = Phi_S v_i for a grouped unit, a loose unit's
    column for a loose one."""
    for i in range(V.shape[0]):
        if groups.slot[i] >= 0:
            z, l = lane(groups.Z, groups.slot[i])
            apply_map(z, l, V[i], u, u.shape[0])
            copy_into(V[i], u)
    for k in range(groups.counts[LOOSE]):
        get_loose_column(k, groups, V[groups.loose_unit[k]])
