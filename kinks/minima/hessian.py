"""The loss landscape of one network: its flat parameter vector theta = (a, b, w, c) (3n + 1,), the
exact Hessian of L away from kinks with its full spectrum from the block-plus-low-rank structure
(``HessianStructure``), the kinks that sit on a data point (within round-off) and the one-sided
Hessians there, and the loss along lines and segments through parameter space."""
import itertools

import numpy as np

from kinks.mc.data import ActivityPatterns, loss_gradient, network_output


def flat_params(a, b, c, w):
    """theta = (a, b, w, c) of one network, (3n + 1,)."""
    return np.concatenate([a, b, w, [c]])


def split_params(theta):
    """(a, b, c, w) from theta = (a, b, w, c); theta (..., 3n + 1), each part (..., n) or (...)."""
    n = (theta.shape[-1] - 1) // 3
    return theta[..., :n], theta[..., n:2 * n], theta[..., -1], theta[..., 2 * n:3 * n]


def network_loss(thetas, x, y, p, leak=0.0):
    """L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2 for stacked parameter vectors thetas (K, 3n + 1)
    of one network's data weights p (m,), activation max(z, leak z): (K,)."""
    a, b, c, w = split_params(thetas)
    weights = np.broadcast_to(p, (len(thetas), len(p)))
    return loss_gradient(a, b, c, w, x, y, weights, ActivityPatterns(x, leak))[4]


class HessianStructure:
    """The Hessian of L at one network away from kinks, H = J^T diag(p) J + D, for the activation
    sigma(z) = max(z, alpha z) (alpha = ``leak``, 0 for relu), whose slope s_ij = sigma'(a_i x_j + b_i)
    is 1 where unit i is active at x_j and alpha where not (sigma'' = 0 away from kinks).

    J (m, 3n + 1) is the Jacobian of (f(x_j))_j: df/da_i = w_i s_ij x_j, df/db_i = w_i s_ij,
    df/dw_i = sigma(a_i x_j + b_i) = s_ij (a_i x_j + b_i), df/dc = 1. D = sum_j p_j r_j grad^2 f(x_j)
    with r_j = f(x_j) - y_j: grad^2 f(x_j) has only the cross terms d^2f/da_i dw_i = s_ij x_j,
    d^2f/db_i dw_i = s_ij, so D is block diagonal with the 3x3 block B_g = [[0, 0, S1], [0, 0, S2],
    [S1, S2, 0]] per unit, S = sum_j p_j r_j s_gj (x_j, 1) with the slopes s_g of the unit's
    activity pattern g.

    Spectrum: units with one activity pattern g (at most 2(m + 1) patterns) share B_g, and J
    restricted to them (columns s_g w_i x_j, s_g w_i, s_g (a_i x_j + b_i)) lies in
    span{a_g, b_g, w_g} (x) R^3 (vectors over the group's units, times
    the unit's 3 coordinates). That space V_g is invariant under I (x) B_g, so H = H_V (+) (I (x) B_g
    on the complement): the eigenvalues are those of the small projected matrix H_V (dimension
    <= 9 per pattern + 1) and 0, +s_g, -s_g, s_g = |S|, each n_g - dim(span basis) times. Exact, and
    O(n + 127^3) per network.

    A unit counts as active at x_j where a_i x_j + b_i > 0 in floating point, as in training; other
    activity ``codes`` (n,) (those of ``ActivityPatterns.codes``) give the Hessian of one side of
    a kink on a point (``side_codes``)."""

    def __init__(self, a, b, c, w, x, y, p, leak=0.0, codes=None):
        self.a, self.b, self.c, self.w, self.x, self.y, self.p = a, b, float(c), w, x, y, p
        self.n, self.leak = len(a), leak
        patterns = ActivityPatterns(x, leak)
        self.codes = patterns.codes(a[None], b[None])[0] if codes is None else codes  # (n,)
        self.pattern_of_code = patterns.B  # the slopes s_gj, (G, m)
        self.residual = network_output(a[None], b[None], np.array([self.c]), w[None], x, leak)[0] - y
        rx = p * self.residual
        self.S = np.stack([patterns.B @ (rx * x), patterns.B @ rx], 1)  # (G, 2)

    def jacobian(self):
        """J (m, 3n + 1) in the order (a, b, w, c)."""
        slopes = self.pattern_of_code[self.codes].T  # s_ij, (m, n)
        x = self.x[:, None]
        return np.concatenate([self.w * x * slopes, self.w * slopes, slopes * (self.a * x + self.b),
                               np.ones((len(self.x), 1))], axis=1)

    def curvature_blocks(self):
        """The 3x3 blocks B_g of D for every unit, (n, 3, 3)."""
        S1, S2 = self.S[self.codes].T
        B = np.zeros((self.n, 3, 3))
        B[:, 0, 2] = B[:, 2, 0] = S1
        B[:, 1, 2] = B[:, 2, 1] = S2
        return B

    def matrix(self):
        """The dense Hessian (3n + 1, 3n + 1): for small n and for tests."""
        J = self.jacobian()
        H = J.T @ (self.p[:, None] * J)
        B, n = self.curvature_blocks(), self.n
        for k in range(3):
            for l in range(3):
                H[k * n + np.arange(n), l * n + np.arange(n)] += B[:, k, l]
        return H

    def matvec(self, v):
        """H v without forming H, O(n m): J^T (p * J v) + D v."""
        J = self.jacobian()
        B, n = self.curvature_blocks(), self.n
        units = v[:3 * n].reshape(3, n).T  # (n, 3)
        Dv = np.einsum("ikl,il->ki", B, units).ravel()
        return J.T @ (self.p * (J @ v)) + np.concatenate([Dv, [0.0]])

    def _group_bases(self):
        """Per nonempty pattern g: (g, unit indices, Q_g (n_g, k_g) an orthonormal basis
        containing span{a_g, b_g, w_g}) from a Householder QR."""
        groups = []
        for g in np.unique(self.codes):
            units = np.flatnonzero(self.codes == g)
            Q = np.linalg.qr(np.stack([self.a[units], self.b[units], self.w[units]], 1))[0]
            groups.append((g, units, Q))
        return groups

    def _top_vectors(self, groups, lam, Y, k):
        """Eigenvectors of the k largest eigenvalues, from H_V's eigenvectors mapped back and one
        complement vector q (x) (S1, S2, s) / (s sqrt 2) per group with q orthogonal to Q_g."""
        candidates = [(value, "V", i) for i, value in enumerate(lam)]
        for number, (g, units, Q) in enumerate(groups):
            if len(units) > Q.shape[1] and np.hypot(*self.S[g]) > 0:
                candidates.append((np.hypot(*self.S[g]), "rest", number))
        candidates.sort(key=lambda item: -item[0])
        out = np.zeros((3 * self.n + 1, k))
        rng = np.random.default_rng(0)
        for column, (value, kind, i) in enumerate(candidates[:k]):
            units_block = np.zeros((3, self.n))
            if kind == "V":
                start = 0
                for _, units, Q in groups:
                    coef = Y[start:start + 3 * Q.shape[1], i].reshape(Q.shape[1], 3)  # (l, k)
                    units_block[:, units] = (Q @ coef).T
                    start += 3 * Q.shape[1]
                out[:3 * self.n, column] = units_block.ravel()
                out[-1, column] = Y[-1, i]
            else:
                g, units, Q = groups[i]
                q = rng.normal(size=len(units))
                q -= Q @ (Q.T @ q)
                units_block[:, units] = np.outer(np.append(self.S[g], value) / value, q / np.linalg.norm(q))
                out[:3 * self.n, column] = units_block.ravel() / np.sqrt(2.0)
        return out

    def spectrum(self, vectors=0):
        """All 3n + 1 eigenvalues, ascending; with ``vectors`` = k > 0 also the eigenvectors of the
        k largest in descending order, (3n + 1, k) (a multiple eigenvalue +s_g of a complement
        contributes one vector)."""
        groups = self._group_bases()
        dim = 9 * sum(Q.shape[1] for _, _, Q in groups) // 3 + 1
        JV = np.zeros((len(self.x), dim))  # J times the basis q_l (x) e_k, columns (group, l, k)
        HV = np.zeros((dim, dim))
        rest, start = [], 0
        for g, units, Q in groups:
            k = Q.shape[1]
            pattern = self.pattern_of_code[g]
            wq, aq, bq = self.w[units] @ Q, self.a[units] @ Q, self.b[units] @ Q  # (k,)
            cols = start + 3 * np.arange(k)
            JV[:, cols] = pattern[:, None] * self.x[:, None] * wq
            JV[:, cols + 1] = pattern[:, None] * wq
            JV[:, cols + 2] = pattern[:, None] * (self.x[:, None] * aq + bq)
            S1, S2 = self.S[g]
            HV[cols, cols + 2] = HV[cols + 2, cols] = S1
            HV[cols + 1, cols + 2] = HV[cols + 2, cols + 1] = S2
            s = np.hypot(S1, S2)
            rest += [np.full(len(units) - k, value) for value in (0.0, s, -s)]
            start += 3 * k
        JV[:, -1] = 1.0
        HV += JV.T @ (self.p[:, None] * JV)
        lam, Y = np.linalg.eigh(HV)
        values = np.sort(np.concatenate([lam, *rest]))
        if not vectors:
            return values
        return values, self._top_vectors(groups, lam, Y, vectors)


def spectrum_summary(values, rtol):
    """lambda_min, lambda_max, the counts of eigenvalues above rtol lambda_max, below
    -rtol lambda_max and in between (near zero), and the minimal ratio: the share of positive
    eigenvalues (above rtol lambda_max) among all 3n + 1."""
    scale = rtol * max(abs(values[-1]), abs(values[0]))
    positive, negative = int(np.sum(values > scale)), int(np.sum(values < -scale))
    return dict(lambda_min=float(values[0]), lambda_max=float(values[-1]), n_positive=positive,
                n_negative=negative, n_zero=len(values) - positive - negative,
                minimal_ratio=positive / len(values))


# ============================================================================ kinks on points
KINK_TOLERANCE = 1e-13  # a kink within 1e-13 max_j |x_j| of x_j sits on it (round-off; docs/trace.md)
MAX_SIDE_UNITS = 10  # the 2^k sides are enumerated for at most this many units on points


def kink_margins(a, b, x):
    """|a_i x_j + b_i| / (|a_i| max_k |x_k|) = |x_j - (-b_i / a_i)| / max_k |x_k|: how far the kink
    of unit i lies from data point x_j, relative to the data's scale. a, b (..., n), x (m,):
    (..., n, m); inf where a_i = 0 (no kink)."""
    z = a[..., None] * x + b[..., None]
    scale = np.abs(a)[..., None] * np.max(np.abs(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, np.abs(z) / scale, np.inf)


def kinks_on_points(a, b, x, tolerance=KINK_TOLERANCE):
    """The units of one network whose kink sits on a data point, ``kink_margins`` <= tolerance,
    and the point nearest each: (units, points), int arrays (k,). At such a point the sign of
    a_i x_j + b_i, and so the unit's activity there, is decided by round-off."""
    margins = kink_margins(a, b, x)  # (n, m)
    units = np.flatnonzero(margins.min(1) <= tolerance)
    return units, margins[units].argmin(1)


def side_codes(a, b, x, units, points, active):
    """The activity codes (n,) of one network with unit units[k] counted active at x[points[k]]
    where active[k] and inactive where not: one side of its kinks on points. The point is the
    last inactive or first active one of its unit's pattern (a suffix for a_i > 0, a prefix for
    a_i < 0, the other points lying further than the tolerance from the kink), so either choice is
    a pattern, whose code differs from the round-off one by the active count."""
    codes = ActivityPatterns(x).codes(a[None], b[None])[0]
    now = a[units] * x[points] + b[units] > 0
    codes[units] += np.asarray(active, dtype=int) - now
    return codes


def side_extremes(a, b, c, w, x, y, p, leak, units, points):
    """(lambda_min, lambda_max) of the Hessian on every side of one network's kinks on points
    (``kinks_on_points``): the 2^k combinations of each unit active or inactive at its point, in
    ``itertools.product`` order (first unit slowest, inactive before active), (2^k, 2); the
    Hessian of each side is that of the loss with the activity pattern fixed to the side, the
    one-sided Hessian of that piece of L. Empty (0, 2) where k > MAX_SIDE_UNITS."""
    if len(units) > MAX_SIDE_UNITS:
        return np.empty((0, 2))
    extremes = []
    for active in itertools.product((False, True), repeat=len(units)):
        codes = side_codes(a, b, x, units, points, active)
        values = HessianStructure(a, b, c, w, x, y, p, leak, codes).spectrum()
        extremes.append((values[0], values[-1]))
    return np.array(extremes)


SIDE_RANGES = ("lambda_max_low", "lambda_max_high", "lambda_min_low", "lambda_min_high")


def kinks_on_points_summary(a, b, c, w, x, y, p, leak, lambda_min, lambda_max, tolerance=KINK_TOLERANCE):
    """One network's kinks on points: kinks_on_points (k, the units of ``kinks_on_points``),
    kink_margin (the smallest ``kink_margins`` of any unit and point) and SIDE_RANGES, the lowest
    and highest lambda_max and lambda_min over the 2^k sides (``side_extremes``); for k = 0 the
    one side's ``lambda_min``, ``lambda_max`` (those of ``HessianStructure``), nan where
    k > MAX_SIDE_UNITS."""
    units, points = kinks_on_points(a, b, x, tolerance)
    extremes = side_extremes(a, b, c, w, x, y, p, leak, units, points) if len(units) else \
        np.array([[lambda_min, lambda_max]])
    ranges = (extremes[:, 1].min(), extremes[:, 1].max(), extremes[:, 0].min(), extremes[:, 0].max()) \
        if len(extremes) else (np.nan,) * 4
    return dict(kinks_on_points=len(units), kink_margin=float(np.min(kink_margins(a, b, x))),
                **{name: float(value) for name, value in zip(SIDE_RANGES, ranges)})


# ============================================================================ lines
def unitwise_normalised(direction, theta):
    """The direction rescaled unit by unit: (d_a, d_b, d_w)_i to the norm of (a, b, w)_i, d_c to |c|
    (a unit or c that is 0 in theta gets 0)."""
    n = (len(theta) - 1) // 3
    d, t = direction[:3 * n].reshape(3, n), theta[:3 * n].reshape(3, n)
    d_norm = np.linalg.norm(d, axis=0)
    scale = np.linalg.norm(t, axis=0) / np.where(d_norm > 0, d_norm, 1.0)
    c_scale = abs(theta[-1]) / abs(direction[-1]) if direction[-1] != 0 else 0.0
    return np.concatenate([(d * scale).ravel(), [direction[-1] * c_scale]])


def line_losses(theta, directions, alphas, x, y, p, leak=0.0):
    """L(theta + alpha d) for every direction d (columns of (3n + 1, K)) and alpha: (K, len(alphas))."""
    points = theta[None, None, :] + alphas[None, :, None] * directions.T[:, None, :]
    return network_loss(points.reshape(-1, len(theta)), x, y, p, leak).reshape(points.shape[:2])


def interpolation_losses(theta_a, theta_b, ts, x, y, p, leak=0.0):
    """L((1 - t) theta_A + t theta_B) for every t: (len(ts),)."""
    return network_loss((1 - ts[:, None]) * theta_a + ts[:, None] * theta_b, x, y, p, leak)
