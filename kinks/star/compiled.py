"""The numba loops of the star study's compiled engine: full-batch gd of one-hidden-layer ReLU
networks f(x) = c + sum_i w_i relu(theta_i . x~), x~ = (x, 1), theta_i = (a_i, b_i), in float64,
network by network, at a cost per epoch set by the number of pattern groups rather than the width
(the math, and why it is exact, in ``kinks.star.reduced``). Compiled once and cached on disk
(``cache=True``); worker processes reuse the cache because they import this module.

Per network the loops keep, for every unit i, its stacked vector u_i = [theta_i; w_i] (E = d + 2
entries) as a base vector v_i, and for every pattern group S (a slot s) the ``Groups`` arrays: its
on/off code over the m data points and the point classes it is on at, the moment matrix
Sigma_S = sum_{i in S} u_i u_i^T, the group map Phi_S with u_i = Phi_S v_i for every unit of S, and
the drift G_S = sum_t h |g_S(t)| since the last rebuild (the skin test against each unit's
threshold). The slot arrays hold C = 2 n + SPARE_SLOTS slots, slot first, so the K in use lie
together. Small functions are inlined (inline="always"): passing the Groups tuple costs more."""
from collections import namedtuple

import numba
import numpy as np

SKIN_SAFETY = 0.5      # a unit is tested once its bound has used half its margin: round-off never decides
HOT_EPOCHS = 8         # a unit whose threshold is this many epochs' drift away or less is tested every epoch
REBUILD_EVERY = 5000   # epochs between rebuilds of every group from the units (at multiples of it): O(n)
REBASE_DRIFT = 0.5    # a group map is rebased once its drift has grown by this much: cond(Phi_S) <= e^(2 x 0.5)
KINK, LOSS, NON_FINITE = 0, 1, 2   # columns of ``first``, the first kink-crossed, loss-crossed, non-finite epochs
SLOTS, CHANGED, HOT, CLASSES, STALE = range(5)   # Groups.counts: slots in use (high-water mark), units off
                                                 # their initial code, hot units, point classes, classes stale
SPARE_SLOTS = 64      # slots beyond 2 n: parked slots are reused only once all C = 2 n + 64 are taken
SINH_1, COSH_1_MINUS_1 = np.sinh(1.0), np.cosh(1.0) - 1.0
ONE = np.uint64(1)
JIT = dict(cache=True, fastmath={"contract"})   # fused multiply-adds; no assumption on NaN or order

Groups = namedtuple("Groups", [
    # slots: C of them, K = counts[SLOTS] in use
    "used",       # (C,) units in each slot (0: parked, see slot_of_code)
    "codes",      # (C, W) uint64 on/off code, bit j of word j // 64 set where the group is on at point j
    "Sigma",      # (C, E, E) moment matrices
    "Phi",        # (C, E, E) group maps
    "drift",      # (C,) G_S since the last rebuild
    "rebased",    # (C,) the drift at the last rebase of Phi_S
    "growth",     # (C,) the last epoch's h |g_S|
    "least",      # (C,) the least threshold of the group's cold units
    "head",       # (C,) first unit of each slot (-1: none)
    "classes_on", "n_classes_on",    # (C, m), (C,): the point classes each slot is on at
    "slots_at",   # (m, C) the slots on at each point class, n_slots_at of them
    # units: n of them
    "slot",       # (n,) each unit's slot
    "next",       # (n,) doubly linked list of each slot's units (-1 ends)
    "previous",   # (n,)
    "threshold",  # (n,) the drift at which each unit is tested again
    "hot",        # (n,) bool: tested every epoch, left out of its group's least threshold
    "hot_list",   # (n,) the hot units, counts[HOT] of them
    # points: m of them, in classes of points that every group in use is on at alike
    "class_of",   # (m,) each point's class
    "class_rep",  # (m,) the first point of each class, counts[CLASSES] of them
    "n_slots_at", # (m,)
    "class_points", "class_start",   # (m,), (m + 1,): class c's points at class_start[c] ... class_start[c + 1] - 1
    "counts",     # (5,) SLOTS, CHANGED, HOT, CLASSES, STALE
])
Work = namedtuple("Work", [
    "Q",          # (m, D) sum_{j in class} r_j x~_j per point class
    "T",          # (m, D) sum of M_S over the groups on at a class
    "r",          # (m,) residuals p_j (f(x_j) - y_j)
    "g",          # (D,) one group's gradient sum g_S
    "M",          # (D,) its new M_S
    "code",       # (W,) a unit's code
    "movers", "mover_codes", "mover_rho",   # (n,), (n, W), (n,): units whose code changed this epoch, their new
    "moved",      # (n + 1, E) codes, margins and vectors (and one scratch row)
    "solver",     # (E, E + 1) Gaussian elimination
])


# ============================================================================= one unit
@numba.njit(**JIT, inline="always")
def unit_pattern(u, X1, inv_norm, code, D):
    """The on/off code of theta = u[:D] over the data, code (W,) uint64 with bit j set where
    z_j = theta . x~_j > 0 (as relu_epoch's strict test), and the unit's margin
    rho = min_j |z_j| / |x~_j|, the distance from theta to the nearest hyperplane {theta . x~_j = 0}:
    theta cannot change its code while it moves by less than rho."""
    code[:] = 0
    rho = np.inf
    for j in range(X1.shape[0]):
        z = 0.0
        for k in range(D):
            z += u[k] * X1[j, k]
        if z > 0:
            code[j >> 6] |= ONE << np.uint64(j & 63)
        rho = min(rho, abs(z) * inv_norm[j])
    return rho


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
def same_code(first, second):
    for word in range(first.shape[0]):
        if first[word] != second[word]:
            return False
    return True


@numba.njit(**JIT, inline="always")
def apply_map(Phi, s, v, out, E):
    """out = Phi_s v: the map of slot s (E, E) times v (E,)."""
    for a in range(E):
        total = 0.0
        for b in range(E):
            total += Phi[s, a, b] * v[b]
        out[a] = total


@numba.njit(**JIT, inline="always")
def add_outer(Sigma, s, u, sign):
    """Sigma_s += sign u u^T."""
    for a in range(u.shape[0]):
        for b in range(u.shape[0]):
            Sigma[s, a, b] += sign * u[a] * u[b]


@numba.njit(cache=True, error_model="numpy")  # x / 0 = inf or nan, as in NumPy: a singular Phi gives non-finite v
def solve(Phi, s, u, v, work):
    """v = Phi_s^-1 u by Gaussian elimination with partial pivoting (``work`` (E, E + 1) scratch):
    the base vector that a unit now at u gets in slot s (Phi_s is invertible while the steps stay
    small: det L_S = 1 - h^2 |g_S|^2). Non-finite where Phi_s is singular."""
    E = u.shape[0]
    for a in range(E):
        for b in range(E):
            work[a, b] = Phi[s, a, b]
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
    """Empty group storage of one network of width n: C = 2 n + SPARE_SLOTS slots (the large
    arrays left unset: a slot is set when it is taken, the class lists by ``update_classes``)."""
    C = 2 * n + SPARE_SLOTS
    slots = (np.zeros(C, np.int64), np.empty((C, words), np.uint64), np.empty((C, E, E)), np.empty((C, E, E)),
             np.zeros(C), np.zeros(C), np.zeros(C), np.zeros(C), np.full(C, -1, np.int64), np.empty((C, m), np.int64),
             np.zeros(C, np.int64), np.empty((m, C), np.int64))
    units = (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n),
             np.zeros(n, np.bool_), np.zeros(n, np.int64))
    points = (np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m, np.int64),
              np.zeros(m + 1, np.int64))
    return Groups(*slots, *units, *points, np.zeros(5, np.int64))


@numba.njit(cache=True)
def new_work(n, m, E, words):
    D = E - 1
    return Work(np.zeros((m, D)), np.zeros((m, D)), np.zeros(m), np.zeros(D), np.zeros(D), np.zeros(words, np.uint64),
                np.zeros(n, np.int64), np.zeros((n, words), np.uint64), np.zeros(n), np.zeros((n + 1, E)),
                np.zeros((E, E + 1)))


@numba.njit(cache=True, inline="always")
def is_on(code, j):
    return (code[j >> 6] >> np.uint64(j & 63)) & ONE


@numba.njit(cache=True)
def update_classes(groups):
    """The point classes: points j, j' are in one class where every group (slot) is on at both or
    at neither (then they share sum_{S on at j} M_S); each slot's list of the classes it is on at.
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
    G.n_slots_at[:n_classes] = 0
    for s in range(K):
        G.n_classes_on[s] = 0
        for c in range(n_classes):
            if is_on(G.codes[s], G.class_rep[c]):
                G.classes_on[s, G.n_classes_on[s]] = c
                G.n_classes_on[s] += 1
                G.slots_at[c, G.n_slots_at[c]] = s
                G.n_slots_at[c] += 1
    G.class_start[0] = 0
    for c in range(n_classes):
        G.class_start[c + 1] = G.class_start[c]
        for j in range(m):
            if G.class_of[j] == c:
                G.class_points[G.class_start[c + 1]] = j
                G.class_start[c + 1] += 1
    G.counts[CLASSES], G.counts[STALE] = n_classes, 0


@numba.njit(cache=True, inline="always")
def slot_of_code(code, groups):
    """The slot of the group with ``code``: an existing one (also one its units have all left: an
    emptied slot stays parked with its code, Phi and drift until the next rebuild, so that a unit
    whose kink hops back and forth across a data point finds its group again), else a fresh one
    (the next slot; once all C are taken, the first parked one) with Phi = I, Sigma = 0, drift 0
    and its code (the point classes now stale)."""
    G = groups
    for s in range(G.counts[SLOTS]):
        if same_code(G.codes[s], code):
            return s
    fresh = G.counts[SLOTS]
    if fresh < G.used.shape[0]:
        G.counts[SLOTS] += 1
    else:
        fresh = np.argmin(G.used)     # at most n slots hold units
    G.codes[fresh] = code
    G.counts[STALE] = 1
    E = G.Sigma.shape[1]
    for a in range(E):
        for b in range(E):
            G.Sigma[fresh, a, b] = 0.0
            G.Phi[fresh, a, b] = 1.0 if a == b else 0.0
    G.drift[fresh], G.rebased[fresh], G.growth[fresh], G.least[fresh], G.head[fresh] = 0.0, 0.0, 0.0, np.inf, -1
    return fresh


@numba.njit(cache=True, inline="always")
def join(i, s, u, v, allowance, groups, V, initial):
    """Unit i, now u = Phi_s v, joins slot s: v_i = v, Sigma_s += u u^T, linked in at the head, its
    threshold the drift plus its allowance (and in the group's least threshold unless it is hot);
    counts its code against its initial code."""
    G = groups
    V[i] = v
    add_outer(G.Sigma, s, u, 1.0)
    G.slot[i], G.next[i], G.previous[i] = s, G.head[s], -1
    if G.head[s] >= 0:
        G.previous[G.head[s]] = i
    G.head[s] = i
    G.used[s] += 1
    G.threshold[i] = G.drift[s] + allowance
    if not G.hot[i]:
        G.least[s] = min(G.least[s], G.threshold[i])
    G.counts[CHANGED] += not same_code(G.codes[s], initial[i])


@numba.njit(cache=True, inline="always")
def leave(i, u, groups, initial):
    """Unit i, now u, leaves its slot: Sigma -= u u^T, unlinked; an emptied slot is parked (see
    ``slot_of_code``) with Sigma zeroed (no round-off residue is left to count in the outputs)."""
    G = groups
    s = G.slot[i]
    add_outer(G.Sigma, s, u, -1.0)
    if G.previous[i] >= 0:
        G.next[G.previous[i]] = G.next[i]
    else:
        G.head[s] = G.next[i]
    if G.next[i] >= 0:
        G.previous[G.next[i]] = G.previous[i]
    G.used[s] -= 1
    G.counts[CHANGED] -= not same_code(G.codes[s], initial[i])
    if G.used[s] == 0:
        G.Sigma[s] = 0.0


@numba.njit(cache=True)
def rebase(s, groups, V, u):
    """Make Phi_s = I: every unit of slot s gets its current vector as base vector, v_i <- Phi_s v_i
    (the thresholds, in drift, stay). ``u`` (E,) scratch."""
    G = groups
    G.rebased[s] = G.drift[s]
    i = G.head[s]
    while i >= 0:
        apply_map(G.Phi, s, V[i], u, u.shape[0])
        V[i] = u
        i = G.next[i]
    E = u.shape[0]
    for a in range(E):
        for b in range(E):
            G.Phi[s, a, b] = 1.0 if a == b else 0.0


@numba.njit(cache=True, inline="always")
def rebase_drifted(groups, V, u):
    """Rebase every group whose map has drifted by REBASE_DRIFT since its last rebase: |L_S| <= 1 + h |g_S|,
    so Phi_S and its inverse stay within e^0.5 of I, and u_i = Phi_S v_i loses only a few bits."""
    for s in range(groups.counts[SLOTS]):
        if groups.drift[s] - groups.rebased[s] > REBASE_DRIFT and groups.used[s] > 0:
            rebase(s, groups, V, u)


@numba.njit(cache=True)
def rebuild(V, X1, inv_norm, initial, groups, code):
    """The groups of a network from its units' vectors V (n, E) alone (every unit tested exactly,
    groups in order of their first unit): the state every rebuild epoch starts from."""
    G = groups
    G.counts[:] = 0
    G.used[:] = 0
    G.hot[:] = False
    for i in range(V.shape[0]):
        rho = unit_pattern(V[i], X1, inv_norm, code, X1.shape[1])
        join(i, slot_of_code(code, G), V[i], V[i], skin_allowance(V[i], rho), G, V, initial)


@numba.njit(cache=True)
def materialise(V, groups, u):
    """Every unit's current vector u_i = Phi_S v_i written into V (n, E)."""
    for i in range(V.shape[0]):
        apply_map(groups.Phi, groups.slot[i], V[i], u, u.shape[0])
        V[i] = u


# ============================================================================= one epoch
@numba.njit(**JIT, inline="always")
def outputs_and_residuals(c, groups, X1, y, p, work, D):
    """f(x_j) = c + x~_j . T_j, T_j = sum_{S on at j} M_S, M_S = Sigma_S[:D, D] = sum_{i in S} w_i theta_i
    (T summed once per point class); sets work.r_j = p_j (f(x_j) - y_j) and returns
    L = 1/2 sum_j p_j (f(x_j) - y_j)^2. Parked slots hold Sigma = 0. Every sum is accumulated in a
    register (a sum into an array entry would wait for its store each time)."""
    G, T, m = groups, work.T, X1.shape[0]
    for c_ in range(G.counts[CLASSES]):
        for k in range(D):
            total = 0.0
            for index in range(G.n_slots_at[c_]):
                total += G.Sigma[G.slots_at[c_, index], k, D]
            T[c_, k] = total
    loss = 0.0
    for j in range(m):
        error = c - y[j]
        for k in range(D):
            error += X1[j, k] * T[G.class_of[j], k]
        work.r[j] = p[j] * error
        loss += work.r[j] * error
    return 0.5 * loss


@numba.njit(**JIT, inline="always")
def class_sums(groups, X1, work, D):
    """Q_c = sum_{j in c} r_j x~_j for every point class c: work.Q (m, D)."""
    G = groups
    for c_ in range(G.counts[CLASSES]):
        for k in range(D):
            total = 0.0
            for index in range(G.class_start[c_], G.class_start[c_ + 1]):
                j = G.class_points[index]
                total += work.r[j] * X1[j, k]
            work.Q[c_, k] = total


@numba.njit(**JIT, inline="always")
def step_group(s, groups, h, work, D):
    """One gd step of every unit of the group in slot s: with g_S = sum_{j in S} r_j x~_j =
    sum_{classes c of S} Q_c, each u_i = [theta_i; w_i] of S moves by L_S = [[I, -h g_S], [-h g_S^T, 1]],
    so Sigma_S <- L Sigma L^T, in the blocks A = Sigma[:D, :D], M = Sigma[:D, D], W = Sigma[D, D],

        A' = A - h (M g^T + g M^T) + h^2 W g g^T
        M' = M - h W g - h A g + h^2 (M . g) g
        W' = W - 2 h M . g + h^2 g^T A g

    (each term of sum_i L u_i (L u_i)^T), and Phi_S <- L Phi_S. Returns h |g_S|, the growth of the
    drift G_S. O(E^2 + D classes); every sum is accumulated in a register."""
    G, g, M = groups, work.g, work.M
    Sigma, Phi = groups.Sigma, groups.Phi
    for k in range(D):
        total = 0.0
        for index in range(G.n_classes_on[s]):
            total += work.Q[G.classes_on[s, index], k]
        g[k] = total
    W, Mg, gg, gAg = Sigma[s, D, D], 0.0, 0.0, 0.0
    for a in range(D):
        Mg += Sigma[s, a, D] * g[a]
        gg += g[a] * g[a]
    for a in range(D):
        Ag = 0.0
        for b in range(D):
            Ag += Sigma[s, a, b] * g[b]
        gAg += g[a] * Ag
        M[a] = Sigma[s, a, D] - h * W * g[a] - h * Ag + h * h * Mg * g[a]
    for a in range(D):
        for b in range(a, D):
            value = Sigma[s, a, b] - h * (Sigma[s, a, D] * g[b] + g[a] * Sigma[s, b, D]) + h * h * W * g[a] * g[b]
            Sigma[s, a, b] = value
            Sigma[s, b, a] = value
    for a in range(D):
        Sigma[s, a, D] = M[a]
        Sigma[s, D, a] = M[a]
    Sigma[s, D, D] = W - 2 * h * Mg + h * h * gAg
    for b in range(D + 1):               # the last row from the old rows, before they move
        last, total = Phi[s, D, b], 0.0
        for a in range(D):
            total += g[a] * Phi[s, a, b]
            Phi[s, a, b] -= h * g[a] * last
        Phi[s, D, b] = last - h * total
    return h * np.sqrt(gg)


@numba.njit(**JIT, inline="always")
def step_groups(groups, X1, h, work, D):
    """One gd step of every group that holds units (a parked group keeps its map and drift: a unit
    that joins it later gets its base vector from them). Returns whether a group's drift has
    reached its least threshold (some cold unit is due for its test)."""
    G = groups
    class_sums(G, X1, work, D)
    due = False
    for s in range(G.counts[SLOTS]):
        if G.used[s] > 0:
            G.growth[s] = step_group(s, G, h, work, D)
            G.drift[s] += G.growth[s]
            due |= G.drift[s] >= G.least[s]
    return due


@numba.njit(cache=True, inline="always")
def make_hot(i, groups):
    groups.hot[i] = True
    groups.hot_list[groups.counts[HOT]] = i
    groups.counts[HOT] += 1


@numba.njit(cache=True, inline="always")
def test_unit(i, s, V, X1, inv_norm, groups, work, n_movers, D):
    """The exact test of unit i of slot s at u_i = Phi_s v_i: True where its code changed (the unit,
    its new code, margin and vector kept as mover n_movers), else its threshold renewed."""
    G, u = groups, work.moved[n_movers]
    apply_map(G.Phi, s, V[i], u, D + 1)
    rho = unit_pattern(u, X1, inv_norm, work.code, D)
    if not same_code(work.code, G.codes[s]):
        work.movers[n_movers], work.mover_codes[n_movers], work.mover_rho[n_movers] = i, work.code, rho
        return True
    G.threshold[i] = G.drift[s] + skin_allowance(u, rho)
    return False


@numba.njit(cache=True, inline="always")
def test_hot_units(V, X1, inv_norm, groups, work, D):
    """Every hot unit gets the exact test; it cools (leaves the hot list, its threshold joins its
    group's least) once its threshold is more than HOT_EPOCHS epochs' drift growth away. Returns
    the number of movers found."""
    G, n_movers, k = groups, 0, 0
    while k < G.counts[HOT]:
        i = G.hot_list[k]
        s = G.slot[i]
        if test_unit(i, s, V, X1, inv_norm, G, work, n_movers, D):
            n_movers += 1
        elif G.threshold[i] - G.drift[s] > HOT_EPOCHS * G.growth[s]:
            G.hot[i] = False
            G.counts[HOT] -= 1
            G.hot_list[k] = G.hot_list[G.counts[HOT]]
            G.least[s] = min(G.least[s], G.threshold[i])
            continue
        k += 1
    return n_movers


@numba.njit(cache=True, inline="always")
def test_cold_units(V, X1, inv_norm, groups, every, work, n_movers, D):
    """In every group whose drift has reached its least threshold (every group where ``every``),
    each cold unit whose threshold is reached gets the exact test and a new threshold, and turns
    hot where that is within HOT_EPOCHS epochs' growth (or where its code changed). Returns the
    number of movers found, counting those of the hot units."""
    G = groups
    for s in range(G.counts[SLOTS]):
        if G.used[s] == 0 or not (every or G.drift[s] >= G.least[s]):
            continue
        G.least[s] = np.inf
        i = G.head[s]
        while i >= 0:
            if not G.hot[i] and (every or G.drift[s] >= G.threshold[i]):
                if test_unit(i, s, V, X1, inv_norm, G, work, n_movers, D):
                    n_movers += 1
                    make_hot(i, G)
                elif G.threshold[i] - G.drift[s] <= HOT_EPOCHS * G.growth[s]:
                    make_hot(i, G)
            if not G.hot[i]:
                G.least[s] = min(G.least[s], G.threshold[i])
            i = G.next[i]
    return n_movers


@numba.njit(cache=True, inline="always")
def move_units(n_movers, V, initial, groups, work):
    """Every unit whose code changed leaves its group and joins the group of its new code (new, or
    existing with base vector Phi^-1 u; rebased first where Phi is singular), unit by unit in the
    order of their index (the same order however the movers were found), with the code and margin
    of its test."""
    if n_movers == 0:
        return
    G, v = groups, work.moved[n_movers]
    for k in np.argsort(work.movers[:n_movers]):
        i, u = work.movers[k], work.moved[k]
        leave(i, u, G, initial)
        s = slot_of_code(work.mover_codes[k], G)
        solve(G.Phi, s, u, v, work.solver)
        if not np.all(np.isfinite(v)):
            rebase(s, G, V, v)
            v[:] = u
        join(i, s, u, v, skin_allowance(u, work.mover_rho[k]), G, V, initial)


@numba.njit(cache=True, inline="always")
def check_units(V, X1, inv_norm, initial, groups, every, work, D):
    """The crossing test after a step: the hot units, then the cold units whose threshold the drift
    has reached, then the units whose code changed move to their new groups (and turn hot)."""
    n_movers = test_hot_units(V, X1, inv_norm, groups, work, D)
    n_movers = test_cold_units(V, X1, inv_norm, groups, every, work, n_movers, D)
    move_units(n_movers, V, initial, groups, work)


# ============================================================================= one network
@numba.njit(cache=True)
def train_network(V, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                  first, logs, V_grid, D):
    """Epochs t0 ... t1 - 1 of one network (V (n, E) its units' vectors at t0, a multiple of
    REBUILD_EVERY or the restart epoch; c its output bias): epoch t evaluates theta_t (loss,
    records in ``first`` (3,), a log loss in ``logs`` where t % log_every == 0) and steps to
    theta_{t+1}. The groups are rebuilt from the units' vectors at t0 and at every multiple of
    REBUILD_EVERY, so that a run resumed there repeats a straight run bitwise; V_grid gets the
    vectors at the last of these.
    ``every``: test every unit every epoch (the reference the skin is checked against; also from the
    first non-finite loss on). Returns (c, the last loss, c at the last rebuild)."""
    n, E = V.shape
    m = X1.shape[0]
    groups = new_groups(n, m, E, initial.shape[1])
    work = new_work(n, m, E, initial.shape[1])
    loss, first_log, c_grid = np.nan, -(-t0 // log_every) * log_every, c
    t = t0
    while t < t1:
        rebuild(V, X1, inv_norm, initial, groups, work.code)
        V_grid[:] = V
        c_grid = c
        end = min(t1, (t // REBUILD_EVERY + 1) * REBUILD_EVERY)
        for epoch in range(t, end):
            if groups.counts[STALE]:
                update_classes(groups)
            loss = outputs_and_residuals(c, groups, X1, y, p, work, D)
            if groups.counts[CHANGED] > 0 and first[KINK] < 0:
                first[KINK] = epoch
            if loss < loss_margin * threshold and first[LOSS] < 0:
                first[LOSS] = epoch
            if not np.isfinite(loss):
                every = True
                if first[NON_FINITE] < 0:
                    first[NON_FINITE] = epoch
            if epoch % log_every == 0:
                logs[(epoch - first_log) // log_every] = loss
            c -= h * np.sum(work.r)
            if step_groups(groups, X1, h, work, D) or groups.counts[HOT] > 0 or every:
                check_units(V, X1, inv_norm, initial, groups, every, work, D)
            rebase_drifted(groups, V, work.moved[0])
        materialise(V, groups, work.moved[0])
        t = end
    return c, loss, c_grid


@numba.njit(cache=True)
def train_networks(U, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                   first, logs, last_loss, U_grid, c_grid, D):
    """``train_network`` for every network of a chunk: U (P, n, E) and c (P,) advanced in place from
    t0 to t1; p (P, m), h (P,), initial codes (P, n, W), thresholds (P,); first (P, 3) updated where
    still -1; logs (rows, P) and last_loss (P,) written; U_grid (P, n, E) and c_grid (P,) the
    parameters at the last rebuild. D = d + 1, the columns of X1, is compiled in as a constant
    (``numba.literally``: the loops over it unroll; one compilation per input dimension)."""
    for k in range(U.shape[0]):
        c[k], last_loss[k], c_grid[k] = train_network(U[k], c[k], X1, y, p[k], h[k], inv_norm, initial[k],
                                                      threshold[k], t0, t1, log_every, loss_margin, every,
                                                      first[k], logs[:, k], U_grid[k], numba.literally(D))
