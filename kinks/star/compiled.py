"""The numba loops of the star study's compiled engine: full-batch gd of one-hidden-layer ReLU
networks f(x) = c + sum_i w_i relu(theta_i . x~), x~ = (x, 1), theta_i = (a_i, b_i), in float64,
network by network, at a cost per epoch set by the number of pattern groups rather than the width
(the math, and why it is exact, in ``kinks.star.reduced``; the group storage in
``kinks.star.groups``): one epoch (outputs, the steps of the groups and of the loose units, the
crossing test), the epochs between two rebuilds, one network, a chunk of networks. Compiled once and
cached on disk (``cache=True``); worker processes reuse the cache because they import this module."""
import numba
import numpy as np

from kinks.star.direct import (PROBE_EPOCHS, add_unit_outputs, direct_block, loose_calls_for_direct, record_epoch,
                               step_units, unit_gradient_sums)
from kinks.star.groups import (CHANGED, CLASSES, HOT, JIT, LANES, LOOSE, NO_NRT, ONE, SLOTS, STALE, WATCH,
                               apply_map, at, copy_into, drop_loose_column, get_loose_column, is_on, join, lane,
                               layout, loosen, materialise, new_groups, new_work, rebase, rebase_drifted, rebuild,
                               same_code, skin_allowance, slot_of_code, solve, unit_pattern, update_classes, z_at)

# the hashes of the modules compiled into these loops: numba's disk cache sees only this file's text
# (tests/test_package.py checks them, so a change there is a change here and loads no stale loop)
COMPILED_IN = {"kinks/star/direct.py": "e4cb989635401818", "kinks/star/groups.py": "782b3596964c6e6c"}
HOT_EPOCHS = 8         # a unit whose threshold is this many epochs' drift away or less is tested every epoch
COOL_EVERY = 32        # loose units are tested for a group at the epochs t + 1 that are multiples of this
COOL_EPOCHS = 64       # ... and join one where their allowance is more than this many epochs' growth h |g_i|
REBUILD_EVERY = 5000   # epochs between rebuilds of every group from the units (at multiples of it): O(n)


# ============================================================================= one epoch
@numba.njit(**JIT, inline="always")
def outputs_and_residuals(c, groups, X1, y, p, work, D):
    """f(x_j) = c + x~_j . T_j + sum_{loose i} w_i relu(theta_i . x~_j), T_j = sum_{S on at j} M_S,
    M_S = Sigma_S[:D, D] = sum_{i in S} w_i theta_i (T summed once per point class, the groups in slot
    order, the classes side by side in SIMD lanes; a parked group holds Sigma = 0 and is left out;
    the loose units in column order, ``kinks.star.direct.add_unit_outputs``); sets
    work.r_j = p_j (f(x_j) - y_j) and the class sums work.Q_c = sum_{j in c} r_j x~_j (each over its
    points in order), and returns L = 1/2 sum_j p_j (f(x_j) - y_j)^2."""
    G, T, m, E, n_classes = groups, work.T, X1.shape[0], D + 1, groups.counts[CLASSES]
    for k in range(D):
        for c_ in range(n_classes):
            T[k, c_] = 0.0
    for s in range(G.counts[SLOTS]):
        if G.used[s] > 0:
            z, l = lane(G.Z, s)
            for k in range(D):
                M_k = z[at(k * E + D, l)]
                for c_ in range(n_classes):   # a select, not a branch: the classes run side by side
                    T[k, c_] += M_k if G.on_classes[s, c_] else 0.0
    for c_ in range(n_classes):
        for k in range(D):
            work.Q[c_, k] = 0.0
    for j in range(m):
        error = c - y[j]
        for k in range(D):
            error += X1[j, k] * T[k, G.class_of[j]]
        work.error[j] = error
    if G.counts[LOOSE] > 0:
        add_unit_outputs(G.loose_theta, G.loose_w, G.counts[LOOSE], work.XT, work.error, D)
    loss = 0.0
    for j in range(m):
        class_, error = G.class_of[j], work.error[j]
        work.r[j] = p[j] * error
        loss += work.r[j] * error
        for k in range(D):
            work.Q[class_, k] += work.r[j] * X1[j, k]
    return 0.5 * loss


@numba.njit(**JIT, inline="always")
def gradient_sums(groups, work, D):
    """g_S = sum_{j in S} r_j x~_j = sum_{classes c of S} Q_c (from ``outputs_and_residuals``) into the
    GRAD rows of Z, the classes in order, LANES groups side by side; zero for a parked group (which
    then does not move) and for the lanes past the slots in use."""
    Z = groups.Z
    _, GRAD, _, USED, _, ON = layout(D + 1)
    for b in range(-(-groups.counts[SLOTS] // LANES)):
        z = Z[b]
        for k in range(D):
            for l in range(LANES):
                z[at(GRAD + k, l)] = 0.0
        for c_ in range(groups.counts[CLASSES]):
            for k in range(D):
                q = work.Q[c_, k]
                for l in range(LANES):     # a select, not a branch: the lanes run side by side
                    z[at(GRAD + k, l)] += q if z[at(ON + c_, l)] * z[at(USED, l)] != 0.0 else 0.0


@numba.njit(**JIT, inline="always")
def step_lane(z, l, h, D):
    """One gd step of every unit of the group in lane l of a block z of Z (g_S in its GRAD rows):
    each u_i = [theta_i; w_i] of S moves by L_S = [[I, -h g_S], [-h g_S^T, 1]], so
    Sigma_S <- L Sigma L^T, in the blocks A = Sigma[:D, :D], M = Sigma[:D, D], W = Sigma[D, D],

        A' = A - h (M g^T + g M^T) + h^2 W g g^T
        M' = M - h W g - h A g + h^2 (M . g) g
        W' = W - 2 h M . g + h^2 g^T A g

    (each term of sum_i L u_i (L u_i)^T), and Phi_S <- L Phi_S; h |g_S|, the growth of the drift
    G_S, into the GROWTH row. O(E^2); g_S = 0 leaves the lane as it is."""
    E = D + 1
    PHI, GRAD, NEW_M, _, GROWTH, _ = layout(E)
    W, Mg, gg, gAg = z[at(D * E + D, l)], 0.0, 0.0, 0.0
    for a in range(D):
        Mg += z[at(a * E + D, l)] * z[at(GRAD + a, l)]
        gg += z[at(GRAD + a, l)] * z[at(GRAD + a, l)]
    for a in range(D):
        Ag = 0.0
        for c_ in range(D):
            Ag += z[at(a * E + c_, l)] * z[at(GRAD + c_, l)]
        g_a = z[at(GRAD + a, l)]
        gAg += g_a * Ag
        z[at(NEW_M + a, l)] = z[at(a * E + D, l)] - h * W * g_a - h * Ag + h * h * Mg * g_a
    for a in range(D):
        for c_ in range(a, D):
            g_a, g_c, M_a, M_c = z[at(GRAD + a, l)], z[at(GRAD + c_, l)], z[at(a * E + D, l)], z[at(c_ * E + D, l)]
            value = z[at(a * E + c_, l)] - h * (M_a * g_c + g_a * M_c) + h * h * W * g_a * g_c
            z[at(a * E + c_, l)] = value
            z[at(c_ * E + a, l)] = value
    for a in range(D):
        z[at(a * E + D, l)] = z[at(NEW_M + a, l)]
        z[at(D * E + a, l)] = z[at(NEW_M + a, l)]
    z[at(D * E + D, l)] = W - 2 * h * Mg + h * h * gAg
    for c_ in range(E):                  # the last row from the old rows, before they move
        last, total = z[at(PHI + D * E + c_, l)], 0.0
        for a in range(D):
            total += z[at(GRAD + a, l)] * z[at(PHI + a * E + c_, l)]
            z[at(PHI + a * E + c_, l)] -= h * z[at(GRAD + a, l)] * last
        z[at(PHI + D * E + c_, l)] = last - h * total
    z[at(GROWTH, l)] = h * np.sqrt(gg)


@numba.njit(**JIT, inline="always")
def step_groups(groups, h, work, D):
    """One gd step of every group that holds units, by the class sums work.Q of this epoch's
    residuals, LANES groups side by side (a parked group has g = 0: its map stays I, its drift
    stays). Returns whether a group's drift has reached its least threshold (some cold unit is due
    for its test)."""
    G = groups
    _, _, _, _, GROWTH, _ = layout(D + 1)
    gradient_sums(G, work, D)
    for b in range(-(-G.counts[SLOTS] // LANES)):
        z = G.Z[b]
        for l in range(LANES):
            step_lane(z, l, h, D)
    due = False
    for s in range(G.counts[SLOTS]):
        if G.used[s] > 0:
            z, l = lane(G.Z, s)
            G.growth[s] = z[at(GROWTH, l)]
            G.drift[s] += G.growth[s]
            due |= G.drift[s] >= G.least[s]
    return due


@numba.njit(cache=True, inline="always")
def make_hot(i, groups):
    groups.hot[i] = True
    groups.hot_list[groups.counts[HOT]] = i
    groups.counts[HOT] += 1


@numba.njit(cache=True, inline="always")
def test_unit(i, s, V, X1, inv_norm, groups, every, watching, work, n_movers, D):
    """The exact test of unit i of slot s at u_i = Phi_s v_i: True where its code changed (the unit,
    its new code, watched points and allowances kept as mover n_movers), else its threshold renewed.
    While the drift is below the unit's reach, no point but its WATCH watched points can have
    changed side, so the test looks at those alone: the code changed where z_j = theta . x~_j
    changed sign (their least margin, and the reach, then bound the next test). Otherwise (and
    where ``every``: the reference the skin is checked against) it tests every point
    (``unit_pattern``), and where ``watching`` (a hot unit) watches the nearest ones; a cold unit's
    reach is its threshold, and it watches none. The codes, and so the training, are the same
    either way: only when units are tested again differs. A kink that hops back and forth across
    a data point (a dozen units every epoch at n = 128) is tested at WATCH points instead of m."""
    G, u = groups, work.moved[n_movers]
    z, l = lane(G.Z, s)
    apply_map(z, l, V[i], u, D + 1)
    if G.drift[s] < G.reach[i] and not every:
        nearest, copied, margin = G.watch[i], False, np.inf
        for a in range(WATCH):
            j = nearest[a]
            if j >= 0:
                product = z_at(u, X1, j, D)
                margin = min(margin, abs(product) * inv_norm[j])
                if (product > 0) != (is_on(G.codes[s], j) != 0):
                    if not copied:
                        copy_into(work.code, G.codes[s])
                        copied = True
                    work.code[j >> 6] ^= ONE << np.uint64(j & 63)
        allowance, remaining = skin_allowance(u, margin), G.reach[i] - G.drift[s]
        if not copied:
            G.threshold[i] = G.drift[s] + min(allowance, remaining)
            return False
    else:
        rho, beyond = unit_pattern(u, X1, inv_norm, work.code, work.nearest, work.near, watching, D)
        nearest, allowance = work.nearest, skin_allowance(u, rho)
        remaining = skin_allowance(u, beyond) if watching else allowance
        if same_code(work.code, G.codes[s]):
            G.threshold[i], G.reach[i] = G.drift[s] + allowance, G.drift[s] + remaining
            copy_into(G.watch[i], nearest)
            return False
    work.movers[n_movers] = i
    copy_into(work.mover_watch[n_movers], nearest)
    work.mover_allowance[n_movers], work.mover_reach[n_movers] = allowance, remaining
    copy_into(work.mover_codes[n_movers], work.code)
    return True


@numba.njit(cache=True, inline="always")
def test_hot_units(V, X1, inv_norm, groups, every, work, D):
    """Every hot unit gets the exact test; it leaves the hot list where its code changed (it stays
    flagged hot, so that ``test_cold_units`` passes it by, until it turns loose: ``loosen_units``) or
    once its threshold is more than HOT_EPOCHS epochs' drift growth away (it cools: its threshold
    joins its group's least). Returns the number of movers found."""
    G, n_movers, k = groups, 0, 0
    while k < G.counts[HOT]:
        i = G.hot_list[k]
        s = G.slot[i]
        moved = test_unit(i, s, V, X1, inv_norm, G, every, True, work, n_movers, D)
        n_movers += moved
        if moved or G.threshold[i] - G.drift[s] > HOT_EPOCHS * G.growth[s]:
            G.counts[HOT] -= 1
            G.hot_list[k] = G.hot_list[G.counts[HOT]]
            if not moved:
                G.hot[i] = False
                G.least[s] = min(G.least[s], G.threshold[i])
            continue
        k += 1
    return n_movers


@numba.njit(cache=True, inline="always")
def test_cold_units(V, X1, inv_norm, groups, every, work, n_movers, D):
    """In every group whose drift has reached its least threshold (every group where ``every``),
    each cold unit whose threshold is reached gets the exact test: a mover where its code changed,
    else a new threshold, and hot where that is within HOT_EPOCHS epochs' growth. Returns the
    number of movers found, counting those of the hot units."""
    G = groups
    for s in range(G.counts[SLOTS]):
        if G.used[s] == 0 or not (every or G.drift[s] >= G.least[s]):
            continue
        G.least[s] = np.inf
        i = G.head[s]
        while i >= 0:
            moved = False
            if not G.hot[i] and (every or G.drift[s] >= G.threshold[i]):
                moved = test_unit(i, s, V, X1, inv_norm, G, every, False, work, n_movers, D)
                n_movers += moved
                if not moved and G.threshold[i] - G.drift[s] <= HOT_EPOCHS * G.growth[s]:
                    make_hot(i, G)
            if not G.hot[i] and not moved:
                G.least[s] = min(G.least[s], G.threshold[i])
            i = G.next[i]
    return n_movers


@numba.njit(cache=True, inline="always")
def loosen_units(n_movers, initial, groups, work):
    """Every unit whose code changed leaves its group and turns loose (``kinks.star.groups.loosen``),
    unit by unit in the order of their index (the same order however the movers were found): no
    group to find, no base vector to solve for. A kink that hops back and forth across a data point
    costs a loose unit's epoch, O(m), rather than a move each hop."""
    if n_movers == 0:
        return
    G, order = groups, work.order
    for k in range(n_movers):                    # insertion sort of the few movers by unit index
        order[k] = k
        a = k
        while a > 0 and work.movers[order[a - 1]] > work.movers[order[a]]:
            order[a - 1], order[a] = order[a], order[a - 1]
            a -= 1
    for index in range(n_movers):
        k = order[index]
        loosen(work.movers[k], work.moved[k], G, initial)


@numba.njit(cache=True, inline="always")
def check_units(V, X1, inv_norm, initial, groups, every, work, D):
    """The crossing test after a step: the hot units, then the cold units whose threshold the drift
    has reached; the units whose code changed turn loose."""
    n_movers = test_hot_units(V, X1, inv_norm, groups, every, work, D)
    n_movers = test_cold_units(V, X1, inv_norm, groups, every, work, n_movers, D)
    loosen_units(n_movers, initial, groups, work)


@numba.njit(cache=True, inline="always")
def step_loose_units(groups, h, work, D):
    """One gd step of every loose unit on its own, from this epoch's residuals (the direct epoch's
    loops, ``kinks.star.direct``): g_i = sum_{j : theta_i . x~_j > 0} r_j x~_j, then
    theta_i <- theta_i - h w_i g_i, w_i <- w_i - h theta_i . g_i."""
    G = groups
    unit_gradient_sums(G.loose_theta, work.XT, work.r, G.loose_grad, G.counts[LOOSE], D)
    step_units(G.loose_theta, G.loose_w, G.loose_grad, h, G.counts[LOOSE], D)


@numba.njit(cache=True, inline="always")
def join_group(i, u, code, allowance, remaining, nearest, V, initial, groups, work, D):
    """Unit i, now u with ``code`` (an exact test's), joins the group of its code with base vector
    v = Phi^-1 u (the group rebased first where Phi is singular), or v = u in a group with no unit
    (parked or fresh: Phi = I, no solve)."""
    G, v = groups, work.moved[1]
    s = slot_of_code(code, G, D + 1)
    if G.used[s] == 0:
        copy_into(v, u)
    else:
        z, l = lane(G.Z, s)
        solve(z, l, u, v, work.solver, D + 1)
        finite = True
        for a in range(v.shape[0]):
            finite &= np.isfinite(v[a])
        if not finite:
            rebase(s, G, V, v)
            copy_into(v, u)
    join(i, s, u, v, allowance, remaining, nearest, G, V, initial)


@numba.njit(cache=True, inline="always")
def cool_loose_units(V, X1, inv_norm, initial, h, groups, work, D):
    """Every loose unit gets an exact test (``unit_pattern``), and joins the group of its code
    (``join_group``) where the drift it may take before its next test is more than COOL_EPOCHS
    epochs' growth h |g_i| of its last step; the others stay loose. Called at fixed epochs
    (COOL_EVERY), so which units are loose follows from the parameters of the block's start alone."""
    G, u, k = groups, work.moved[0], 0
    while k < G.counts[LOOSE]:
        i = G.loose_unit[k]
        get_loose_column(k, G, u)
        rho, beyond = unit_pattern(u, X1, inv_norm, work.code, work.nearest, work.near, True, D)
        allowance, gg = skin_allowance(u, rho), 0.0
        for a in range(D):
            gg += G.loose_grad[a, k] * G.loose_grad[a, k]
        if allowance > COOL_EPOCHS * h * np.sqrt(gg):
            drop_loose_column(k, G)
            join_group(i, u, work.code, allowance, skin_allowance(u, beyond), work.nearest, V, initial, G, work, D)
        else:
            k += 1


# ============================================================================= one network
@numba.njit(**NO_NRT)
def train_block(V, c, X1, y, p, h, inv_norm, initial, threshold, t, end, log_every, first_log, loss_margin, every,
                first, logs, groups, work, D):
    """Epochs t ... end - 1 of one network between two rebuilds (``train_network``'s arguments; log
    row k holds epoch first_log + k log_every). Returns (c, the last loss, every).
    Compiled without numba's runtime (NO_NRT, numba's ``_nrt=False``): with it, every binding of an
    array (each inlined call, each namedtuple field) takes an atomic increment and decrement of the
    array's reference count, and those took about 35 % of the epoch (``lock incq``/``lock decq`` at
    the top of a perf profile). Nothing here allocates, and the arrays live in ``train_network``.
    The pattern differs from the initial one where a grouped unit's code does (counts[CHANGED]) or
    a unit is loose: until the first kink crossed no unit has changed its code, so none is loose."""
    loss, m = np.nan, X1.shape[0]
    for epoch in range(t, end):
        if groups.counts[STALE]:
            update_classes(groups)
        loss = outputs_and_residuals(c, groups, X1, y, p, work, D)
        crossed = groups.counts[CHANGED] > 0 or groups.counts[LOOSE] > 0
        if not record_epoch(epoch, loss, crossed, threshold, loss_margin, log_every, first_log, first, logs):
            every = True
        c -= h * np.sum(work.r[:m])
        if groups.counts[LOOSE] > 0:
            step_loose_units(groups, h, work, D)
        if step_groups(groups, h, work, D) or groups.counts[HOT] > 0 or every:
            check_units(V, X1, inv_norm, initial, groups, every, work, D)
        if (epoch + 1) % COOL_EVERY == 0 and groups.counts[LOOSE] > 0:
            cool_loose_units(V, X1, inv_norm, initial, h, groups, work, D)
        rebase_drifted(groups, V, work.moved[0])
    return c, loss, every


@numba.njit(cache=True)
def train_network(V, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                  first, logs, V_grid, blocks, D):
    """Epochs t0 ... t1 - 1 of one network (V (n, E) its units' vectors at t0, a multiple of
    REBUILD_EVERY or the restart epoch; c its output bias): epoch t evaluates theta_t (loss,
    records in ``first`` (3,), a log loss in ``logs`` where t % log_every == 0) and steps to
    theta_{t+1}. The epochs run in blocks that end at the multiples of REBUILD_EVERY. ``blocks``
    "groups": each block by the pattern groups, rebuilt from the units' vectors at its start (at t0
    and after a direct block each unit is tested; otherwise its code and test bounds are carried
    over, ``rebuild``); "direct": every block direct (``kinks.star.direct``); "auto": each block
    starts by the groups and goes on direct after PROBE_EPOCHS epochs where so many of its units
    are loose that direct epochs cost less (``loose_calls_for_direct``). Which units are loose
    follows from the block's first parameters alone, so a run resumed at a block's start repeats a
    straight run bitwise; V_grid gets the vectors at the last block's start.
    ``every``: test every unit every epoch (the reference the skin is checked against; also from the
    first non-finite loss on). Returns (c, the last loss, c at the last block's start)."""
    n, E = V.shape
    groups = new_groups(n, X1.shape[0], E, initial.shape[1])
    work = new_work(X1, n, initial.shape[1])
    n_2 = -(-n // 2) * 2                  # a zero unit pads an odd width (``kinks.star.direct.outputs``)
    Theta, w, G = np.zeros((D, n_2)), np.zeros(n_2), np.empty((D, n_2))
    loss, first_log, c_grid, carried = np.nan, -(-t0 // log_every) * log_every, c, False
    t = t0
    while t < t1:
        V_grid[:] = V
        c_grid = c
        end = min(t1, (t // REBUILD_EVERY + 1) * REBUILD_EVERY)
        direct_from = t if blocks == "direct" else end
        if blocks != "direct":
            rebuild(V, X1, inv_norm, initial, groups, work, carried and not every)
            probe_end = end if blocks == "groups" else min(end, t + PROBE_EPOCHS)
            c, loss, every = train_block(V, c, X1, y, p, h, inv_norm, initial, threshold, t, probe_end, log_every,
                                         first_log, loss_margin, every, first, logs, groups, work, D)
            if probe_end < end and loose_calls_for_direct(groups.counts[LOOSE], n):
                direct_from = probe_end
            elif probe_end < end:             # (an empty block would return a NaN loss)
                c, loss, every = train_block(V, c, X1, y, p, h, inv_norm, initial, threshold, probe_end, end,
                                             log_every, first_log, loss_margin, every, first, logs, groups, work, D)
            materialise(V, groups, work.moved[0])
        if direct_from < end:
            Theta[:, :n] = V[:, :D].T
            w[:n] = V[:, D]
            c, loss, non_finite = direct_block(Theta, w, c, work.XT, y, p, h, initial, threshold, direct_from, end,
                                               log_every, first_log, loss_margin, first, logs, work.error, work.r,
                                               G, D)
            V[:, :D] = Theta[:, :n].T
            V[:, D] = w[:n]
            every |= non_finite
        carried = direct_from == end
        t = end
    return c, loss, c_grid


@numba.njit(cache=True)
def train_networks(U, c, X1, y, p, h, inv_norm, initial, threshold, t0, t1, log_every, loss_margin, every,
                   first, logs, last_loss, U_grid, c_grid, blocks, D):
    """``train_network`` for every network of a chunk: U (P, n, E) and c (P,) advanced in place from
    t0 to t1; p (P, m), h (P,), initial codes (P, n, W), thresholds (P,); first (P, 3) updated where
    still -1; logs (rows, P) and last_loss (P,) written; U_grid (P, n, E) and c_grid (P,) the
    parameters at the last rebuild. D = d + 1, the columns of X1, is compiled in as a constant
    (``numba.literally``: the loops over it unroll; one compilation per input dimension)."""
    for k in range(U.shape[0]):
        c[k], last_loss[k], c_grid[k] = train_network(U[k], c[k], X1, y, p[k], h[k], inv_norm, initial[k],
                                                      threshold[k], t0, t1, log_every, loss_margin, every,
                                                      first[k], logs[:, k], U_grid[k], blocks,
                                                      numba.literally(D))
