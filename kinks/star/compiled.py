"""The numba loops of the star study's compiled engine: full-batch gd of one-hidden-layer ReLU
networks f(x) = c + sum_i w_i relu(theta_i . x~), x~ = (x, 1), theta_i = (a_i, b_i), in float64,
network by network, at a cost per epoch set by the number of pattern groups rather than the width
(the math, and why it is exact, in ``kinks.star.reduced``). Compiled once and cached on disk
(``cache=True``); worker processes reuse the cache because they import this module.

Per network the loops keep, for every unit i, its stacked vector u_i = [theta_i; w_i] (E = d + 2
entries) as a base vector v_i, and for every pattern group S (a slot): its on/off code over the m
data points, the points it is on at, the moment matrix Sigma_S = sum_{i in S} u_i u_i^T (E, E), the
group map Phi_S (E, E) with u_i = Phi_S v_i for every unit of S, and the drift D_S, a bound on the
distance Phi_S has moved since its last rebase (the skin test against each unit's threshold)."""
import numba
import numpy as np

SKIN_SAFETY = 0.5      # a unit is checked once its bound has used half its margin: round-off never decides
HOT_EPOCHS = 8         # a unit whose threshold is this many epochs' drift away or less is tested every epoch
REBUILD_EVERY = 1000   # epochs between rebuilds of every group from the units (at multiples of it)
KINK, LOSS, NON_FINITE = 0, 1, 2   # columns of ``first``, the first kink-crossed, loss-crossed, non-finite epochs
ONE = np.uint64(1)


# ============================================================================= one unit
@numba.njit(cache=True)
def unit_pattern(u, X1, inv_norm, code):
    """The on/off code of theta = u[:D] over the data, code (W,) uint64 with bit j set where
    z_j = theta . x~_j > 0 (as relu_epoch's strict test), and the unit's margin
    rho = min_j |z_j| / |x~_j|, the distance from theta to the nearest hyperplane {theta . x~_j = 0}:
    theta cannot change its code while it moves by less than rho."""
    code[:] = 0
    rho = np.inf
    for j in range(X1.shape[0]):
        z = 0.0
        for k in range(X1.shape[1]):
            z += u[k] * X1[j, k]
        if z > 0:
            code[j >> 6] |= ONE << np.uint64(j & 63)
        rho = min(rho, abs(z) * inv_norm[j])
    return rho


@numba.njit(cache=True, inline="always")
def same_code(first, second):
    for word in range(first.shape[0]):
        if first[word] != second[word]:
            return False
    return True


@numba.njit(cache=True, inline="always")
def vector_norm(v):
    total = 0.0
    for value in v:
        total += value * value
    return np.sqrt(total)


@numba.njit(cache=True, inline="always")
def skin_threshold(drift, rho, norm):
    """The drift D_S at which a unit of margin rho and base norm |v_i| must be checked again:
    |u_i(t) - u_i(now)| <= (D_S(t) - D_S(now)) |v_i|, so it cannot have crossed before
    D_S(t) = D_S(now) + rho / |v_i| (times SKIN_SAFETY); never for a zero unit (it stays zero)."""
    return drift + SKIN_SAFETY * rho / norm if norm > 0 else np.inf


@numba.njit(cache=True, inline="always")
def apply_map(Phi, v, out):
    """out = Phi v: (E, E) (E,) -> (E,)."""
    for a in range(Phi.shape[0]):
        total = 0.0
        for b in range(v.shape[0]):
            total += Phi[a, b] * v[b]
        out[a] = total


@numba.njit(cache=True, inline="always")
def add_outer(Sigma, u, sign):
    """Sigma += sign u u^T."""
    for a in range(u.shape[0]):
        for b in range(u.shape[0]):
            Sigma[a, b] += sign * u[a] * u[b]


# ============================================================================= one group
@numba.njit(cache=True, inline="always")
def step_moments(Sigma, g, h):
    """Sigma <- L Sigma L^T for the step map L = [[I, -h g], [-h g^T, 1]] (E, E) of a group with
    gradient sum g (D,), in the blocks A = Sigma[:D, :D], M = Sigma[:D, D], W = Sigma[D, D]:

        A' = A - h (M g^T + g M^T) + h^2 W g g^T
        M' = M - h W g - h A g + h^2 (M . g) g
        W' = W - 2 h M . g + h^2 g^T A g

    (each term of sum_i L u_i (L u_i)^T with theta_i' = theta_i - h w_i g, w_i' = w_i - h theta_i . g). O(E^2)."""
    D = g.shape[0]
    W, Mg, gAg = Sigma[D, D], 0.0, 0.0
    for a in range(D):
        Mg += Sigma[a, D] * g[a]
        for b in range(D):
            gAg += g[a] * Sigma[a, b] * g[b]
    for a in range(D):
        Ag = 0.0
        for b in range(D):
            Ag += Sigma[a, b] * g[b]
        Sigma[D, a] = Sigma[a, D] - h * W * g[a] - h * Ag + h * h * Mg * g[a]     # M' (kept in the last row)
    for a in range(D):
        for b in range(D):
            Sigma[a, b] += -h * (Sigma[a, D] * g[b] + g[a] * Sigma[b, D]) + h * h * W * g[a] * g[b]
    for a in range(D):
        Sigma[a, D] = Sigma[D, a]
    Sigma[D, D] = W - 2 * h * Mg + h * h * gAg


@numba.njit(cache=True, inline="always")
def step_map(Phi, g, h):
    """Phi <- L Phi: rows a < D lose h g_a times the last row, the last row loses h sum_c g_c row c
    (all from the old rows). Returns |Phi|_F before the step. O(E^2)."""
    D = g.shape[0]
    size = 0.0
    for b in range(Phi.shape[1]):
        last, total = Phi[D, b], 0.0
        for c in range(D):
            total += g[c] * Phi[c, b]
            size += Phi[c, b] * Phi[c, b]
            Phi[c, b] -= h * g[c] * last
        Phi[D, b] = last - h * total
        size += last * last
    return np.sqrt(size)


@numba.njit(cache=True, inline="always")
def step_group(Sigma, Phi, on, n_on, X1, r, h, g):
    """One gd step of every unit of a group S: with g_S = sum_{j in S} r_j x~_j (``g`` (D,)),
    every u_i = [theta_i; w_i] of S moves by L_S = [[I, -h g_S], [-h g_S^T, 1]], so Sigma_S <- L Sigma L^T
    and Phi_S <- L Phi_S. Returns the bound |Phi_S' - Phi_S| = |(L - I) Phi_S| <= h |g_S| |Phi_S|_F
    that the drift D_S grows by."""
    g[:] = 0.0
    for index in range(n_on):
        j = on[index]
        for k in range(g.shape[0]):
            g[k] += r[j] * X1[j, k]
    step_moments(Sigma, g, h)
    return h * vector_norm(g) * step_map(Phi, g, h)


# ============================================================================= one network
@numba.njit(cache=True)
def outputs_and_residuals(c, used, Sigma, on, n_on, n_slots, X1, y, p, total, r):
    """f(x_j) = c + x~_j . sum_{S on at j} M_S, M_S = Sigma_S[:D, D] = sum_{i in S} w_i theta_i; sets
    r_j = p_j (f(x_j) - y_j) and returns L = 1/2 sum_j p_j (f(x_j) - y_j)^2. ``total`` (m, D) scratch."""
    D = X1.shape[1]
    total[:] = 0.0
    for s in range(n_slots):
        if used[s] > 0:
            for index in range(n_on[s]):
                for k in range(D):
                    total[on[s, index], k] += Sigma[s, k, D]
    loss = 0.0
    for j in range(X1.shape[0]):
        error = c - y[j]
        for k in range(D):
            error += X1[j, k] * total[j, k]
        r[j] = p[j] * error
        loss += r[j] * error
    return 0.5 * loss


@numba.njit(cache=True)
def new_groups(n, m, E, words):
    """Empty group storage of one network of width n (at most n groups): slot arrays used (K,)
    (units in the group), codes (K, W), on (K, m) and n_on (K,) (its on points), Sigma and Phi
    (K, E, E), drift and least threshold (K,); unit arrays slot, next, previous (n,) (doubly
    linked lists of the groups' units, -1 ends), threshold (n,); head (K,); counts [slots in
    use high-water mark, units whose code differs from their initial code, hot units]; the hot
    units (bool (n,), and their list (n,)), which are tested every epoch and left out of their
    group's least threshold, and each group's last drift growth (K,)."""
    return (np.zeros(n, np.int64), np.zeros((n, words), np.uint64), np.zeros((n, m), np.int64),
            np.zeros(n, np.int64), np.zeros((n, E, E)), np.zeros((n, E, E)), np.zeros(n), np.zeros(n),
            np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n),
            np.full(n, -1, np.int64), np.zeros(3, np.int64), np.zeros(n, np.bool_), np.zeros(n, np.int64),
            np.zeros(n))


@numba.njit(cache=True)
def slot_of_code(code, groups):
    """The slot of the group with ``code``: an existing one, else a fresh one (the lowest empty
    slot) with Phi = I, Sigma = 0, drift 0, its code and on points set."""
    used, codes, on, n_on, Sigma, Phi, drift, least = groups[:8]
    head, counts = groups[12], groups[13]
    free = -1
    for s in range(counts[0]):
        if used[s] > 0 and same_code(codes[s], code):
            return s
        if used[s] == 0 and free < 0:
            free = s
    if free < 0:
        free = counts[0]
        counts[0] += 1
    codes[free] = code
    n_on[free] = 0
    for j in range(on.shape[1]):
        if (code[j >> 6] >> np.uint64(j & 63)) & ONE:
            on[free, n_on[free]] = j
            n_on[free] += 1
    Sigma[free] = 0.0
    Phi[free] = np.eye(Phi.shape[1])
    drift[free], least[free], head[free], groups[16][free] = 0.0, np.inf, -1, 0.0
    return free


@numba.njit(cache=True, error_model="numpy")  # x / 0 = inf or nan, as in NumPy: a singular Phi gives non-finite v
def solve(Phi, u, v, work):
    """v = Phi^-1 u by Gaussian elimination with partial pivoting (``work`` (E, E + 1) scratch): the
    base vector that a unit now at u gets in a group whose map is Phi (which is invertible:
    det L_S = 1 - h^2 |g_S|^2 > 0 while the steps stay small). Non-finite where Phi is singular."""
    E = Phi.shape[0]
    work[:, :E] = Phi
    work[:, E] = u
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


@numba.njit(cache=True)
def join(i, s, u, v, rho, groups, V, initial):
    """Unit i, now u = Phi_s v with margin rho, joins group s: v_i = v, Sigma_s += u u^T, linked in
    at the head, its threshold set (and in the group's least threshold unless it is hot); counts its
    code against its initial code."""
    used, codes, _, _, Sigma, _, drift, least, slot, nxt, prv, threshold, head, counts = groups[:14]
    V[i] = v
    add_outer(Sigma[s], u, 1.0)
    slot[i], nxt[i], prv[i] = s, head[s], -1
    if head[s] >= 0:
        prv[head[s]] = i
    head[s] = i
    used[s] += 1
    threshold[i] = skin_threshold(drift[s], rho, vector_norm(v))
    if not groups[14][i]:
        least[s] = min(least[s], threshold[i])
    counts[1] += not same_code(codes[s], initial[i])


@numba.njit(cache=True)
def leave(i, u, groups, initial):
    """Unit i, now u, leaves its group: Sigma -= u u^T, unlinked; an emptied group's slot is freed."""
    used, codes, _, _, Sigma, _, _, _, slot, nxt, prv, _, head, counts = groups[:14]
    s = slot[i]
    add_outer(Sigma[s], u, -1.0)
    if prv[i] >= 0:
        nxt[prv[i]] = nxt[i]
    else:
        head[s] = nxt[i]
    if nxt[i] >= 0:
        prv[nxt[i]] = prv[i]
    used[s] -= 1
    counts[1] -= not same_code(codes[s], initial[i])


@numba.njit(cache=True)
def rebase(s, groups, V, u):
    """Make Phi_s = I: every unit's base vector becomes its current vector v_i <- Phi_s v_i, and
    its threshold keeps the distance it may still move, (threshold - D_s) |v_i old| / |v_i new|,
    with D_s = 0 from now. ``u`` (E,) scratch."""
    _, _, _, _, _, Phi, drift, least, _, nxt, _, threshold, head, _ = groups[:14]
    least[s] = np.inf
    i = head[s]
    while i >= 0:
        old = vector_norm(V[i])
        apply_map(Phi[s], V[i], u)
        V[i] = u
        new = vector_norm(u)
        threshold[i] = (threshold[i] - drift[s]) * old / new if new > 0 else np.inf
        if not groups[14][i]:
            least[s] = min(least[s], threshold[i])
        i = nxt[i]
    Phi[s] = np.eye(Phi.shape[1])
    drift[s] = 0.0


@numba.njit(cache=True)
def rebuild(V, X1, inv_norm, initial, groups, code):
    """The groups of a network from its units' vectors V (n, E) alone (every unit tested exactly,
    groups in order of their first unit): the state every rebuild epoch starts from."""
    groups[13][:] = 0
    groups[0][:] = 0
    groups[14][:] = False
    for i in range(V.shape[0]):
        rho = unit_pattern(V[i], X1, inv_norm, code)
        join(i, slot_of_code(code, groups), V[i], V[i], rho, groups, V, initial)


@numba.njit(cache=True)
def regroup(V, initial, groups, u):
    """The groups ``rebuild`` would make from the units' current vectors, without testing the units
    again (each unit's code is its group's: the skin misses no crossing), in O(n E^2): every group
    rebased (v_i = u_i, Phi = I, each threshold kept as the distance the unit may still move), the
    groups renumbered in order of their first unit, and every unit joined again in order, so that
    Sigma is summed afresh as ``rebuild`` sums it. ``u`` (E,) scratch."""
    used, codes, on, n_on, _, _, _, _, slot, _, _, threshold, _, counts = groups[:14]
    for s in range(counts[0]):
        if used[s] > 0:
            rebase(s, groups, V, u)
    K = counts[0]
    old_codes, old_slot = codes[:K].copy(), slot.copy()
    old_growth, renumbered = groups[16][:K].copy(), np.full(K, -1, np.int64)
    counts[0], counts[1] = 0, 0
    used[:K] = 0
    for i in range(V.shape[0]):
        s = old_slot[i]
        if renumbered[s] < 0:
            renumbered[s] = slot_of_code(old_codes[s], groups)
            groups[16][renumbered[s]] = old_growth[s]
        norm = vector_norm(V[i])
        join(i, renumbered[s], V[i], V[i], threshold[i] * norm / SKIN_SAFETY if norm > 0 else 0.0, groups, V,
             initial)


@numba.njit(cache=True)
def materialise(V, groups, u):
    """Every unit's current vector u_i = Phi_S v_i written into V (n, E)."""
    slot, Phi = groups[8], groups[5]
    for i in range(V.shape[0]):
        apply_map(Phi[slot[i]], V[i], u)
        V[i] = u


@numba.njit(cache=True, inline="always")
def make_hot(i, groups):
    groups[14][i] = True
    groups[15][groups[13][2]] = i
    groups[13][2] += 1


@numba.njit(cache=True)
def check_units(V, X1, inv_norm, initial, groups, every, scratch):
    """The crossing test after a step. Every hot unit gets the exact test at u_i = Phi_S v_i; it
    cools (leaves the hot list, its threshold joins its group's least) once its threshold is more
    than HOT_EPOCHS epochs' drift growth away. Then in every group whose drift has reached its least
    threshold (every group where ``every``), each cold unit whose threshold is reached gets the
    exact test and a new threshold, and turns hot where that is within HOT_EPOCHS epochs' growth.
    A unit whose code changed turns hot, leaves its group and joins the group of its new code (new,
    or existing with base vector Phi^-1 u; rebased first where Phi is singular), after all tests,
    unit by unit in the order of their index."""
    used, codes, _, _, _, Phi, drift, least, slot, nxt, _, threshold, head, counts = groups[:14]
    hot, hot_list, growth = groups[14], groups[15], groups[16]
    code, movers, moved = scratch[:3]
    n_movers, k = 0, 0
    while k < counts[2]:
        i = hot_list[k]
        s = slot[i]
        apply_map(Phi[s], V[i], moved[n_movers])
        rho = unit_pattern(moved[n_movers], X1, inv_norm, code)
        if not same_code(code, codes[s]):
            movers[n_movers] = i
            n_movers += 1
        else:
            threshold[i] = skin_threshold(drift[s], rho, vector_norm(V[i]))
            if threshold[i] - drift[s] > HOT_EPOCHS * growth[s]:
                hot[i] = False
                counts[2] -= 1
                hot_list[k] = hot_list[counts[2]]
                least[s] = min(least[s], threshold[i])
                continue
        k += 1
    for s in range(counts[0]):
        if used[s] == 0 or not (every or drift[s] >= least[s]):
            continue
        least[s] = np.inf
        i = head[s]
        while i >= 0:
            if not hot[i] and (every or drift[s] >= threshold[i]):
                apply_map(Phi[s], V[i], moved[n_movers])
                rho = unit_pattern(moved[n_movers], X1, inv_norm, code)
                if not same_code(code, codes[s]):
                    movers[n_movers] = i
                    n_movers += 1
                    make_hot(i, groups)
                else:
                    threshold[i] = skin_threshold(drift[s], rho, vector_norm(V[i]))
                    if threshold[i] - drift[s] <= HOT_EPOCHS * growth[s]:
                        make_hot(i, groups)
            if not hot[i]:
                least[s] = min(least[s], threshold[i])
            i = nxt[i]
    v, work = moved[n_movers], scratch[3]
    for k in np.argsort(movers[:n_movers]):   # by unit: the same order however the movers were found
        i, u = movers[k], moved[k]
        leave(i, u, groups, initial)
        rho = unit_pattern(u, X1, inv_norm, code)
        s = slot_of_code(code, groups)
        solve(Phi[s], u, v, work)
        if not np.all(np.isfinite(v)):
            rebase(s, groups, V, v)
            v[:] = u
        join(i, s, u, v, rho, groups, V, initial)


@numba.njit(cache=True)
def train_network(V, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                  first, logs, V_grid):
    """Epochs t0 ... t1 - 1 of one network (V (n, E) its units' vectors at t0, a multiple of
    REBUILD_EVERY or the restart epoch; c its output bias): epoch t evaluates theta_t (loss,
    records in ``first`` (3,), a log loss in ``logs`` where t % log_every == 0) and steps to
    theta_{t+1}. The groups are rebuilt at t0 and regrouped at every multiple of REBUILD_EVERY (the
    same numbers, not testing the units again); V_grid gets the vectors at the last of these.
    ``every``: test every unit every epoch (the reference the skin is checked against; also from the
    first non-finite loss on). Returns (c, the last loss, c at the last rebuild)."""
    n, E = V.shape
    m, D = X1.shape
    groups = new_groups(n, m, E, initial.shape[1])
    code = np.zeros(initial.shape[1], np.uint64)
    scratch = (code, np.zeros(n, np.int64), np.zeros((n + 1, E)), np.zeros((E, E + 1)))
    total, r, g, row = np.zeros((m, D)), np.zeros(m), np.zeros(D), np.zeros(E)
    used, Sigma, Phi, drift, counts, growth = groups[0], groups[4], groups[5], groups[6], groups[13], groups[16]
    on, n_on = groups[2], groups[3]
    loss, first_log, c_grid = np.nan, -(-t0 // log_every) * log_every, c
    t = t0
    rebuild(V, X1, inv_norm, initial, groups, code)
    while t < t1:
        if t > t0:
            regroup(V, initial, groups, row)
        V_grid[:] = V
        c_grid = c
        end = min(t1, (t // REBUILD_EVERY + 1) * REBUILD_EVERY)
        for epoch in range(t, end):
            loss = outputs_and_residuals(c, used, Sigma, on, n_on, counts[0], X1, y, p, total, r)
            if counts[1] > 0 and first[KINK] < 0:
                first[KINK] = epoch
            if loss < loss_margin * threshold and first[LOSS] < 0:
                first[LOSS] = epoch
            if not np.isfinite(loss):
                every = True
                if first[NON_FINITE] < 0:
                    first[NON_FINITE] = epoch
            if epoch % log_every == 0:
                logs[(epoch - first_log) // log_every] = loss
            c -= h * np.sum(r)
            for s in range(counts[0]):
                if used[s] > 0:
                    growth[s] = step_group(Sigma[s], Phi[s], on[s], n_on[s], X1, r, h, g)
                    drift[s] += growth[s]
            check_units(V, X1, inv_norm, initial, groups, every, scratch)
        t = end
    materialise(V, groups, row)
    return c, loss, c_grid


@numba.njit(cache=True)
def train_networks(U, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                   first, logs, last_loss, U_grid, c_grid):
    """``train_network`` for every network of a chunk: U (P, n, E) and c (P,) advanced in place from
    t0 to t1; p (P, m), h (P,), initial codes (P, n, W), thresholds (P,); first (P, 3) updated where
    still -1; logs (rows, P) and last_loss (P,) written; U_grid (P, n, E) and c_grid (P,) the
    parameters at the last rebuild."""
    for k in range(U.shape[0]):
        c[k], last_loss[k], c_grid[k] = train_network(U[k], c[k], X1, y, p[k], h[k], inv_norm, initial[k],
                                                      threshold[k], t0, t1, log_every, loss_margin, every,
                                                      first[k], logs[:, k], U_grid[k])
