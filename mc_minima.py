"""What gradient descent finds in the 1-D study of ``mc_training.py``: the risk of the trained
networks against the width n, and the loss landscape at the points where training stops.

Networks, data and problems are those of ``mc_training.py`` (same seeds, data weights p, He
initialisation, gd with the theory step h): f(x) = c + sum_i w_i sigma(a_i x + b_i) with
sigma(z) = max(z, alpha z) (relu: alpha = 0), L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2 on the
points x_j (the paper's six, or --data) with y_j + Delta, p ~ Multinomial(n^2, pi) / n^2.

risk: every network is trained to a stationary point, ||grad L|| < tol (or an epoch budget),
WITHOUT stopping at a crossing. It runs on the exact reduced engine (O(1) per epoch) until a kink
reaches a data point, which is tested after every epoch; the reduced trajectory is exact up to and
including that epoch, and the network goes on from there on the dense engine (O(n) per epoch).
Both engines run many epochs per compiled call (see ``StationaryTraining.advance``). Networks the
certificate certifies (relu only) never get there. Per network: crossed and when, the empirical
loss L, the population risk under the data distribution pi (uniform on the paper's six points)

    R(f) = 1/2 sum_j pi_j (f(x_j) - y_j)^2,

the linear-regression floor L_lin = min over g affine on each side of 0 of 1/2 sum_j p_j
(g(x_j) - y_j)^2, the population risk of that side-wise least-squares fit, ||grad L|| and the
epochs used. The Bayes risk is 0 (y is a function of x), the population linear-regression risk is
R_lin = L_lin with p = pi. The paper's claim: networks that stay put end at L = L_lin, so as
n -> infinity (p -> pi, crossings rarer) the mean risk tends to R_lin, not to the Bayes risk.

diagnose: the exact Hessian of L in all 3n + 1 parameters at the found points, its full spectrum
from the block-plus-low-rank structure (about a millisecond at n = 2048), the loss along lines
through them and between a network that stayed put and one that crossed on the same data.

Layout: side-wise linear regression; training to stationarity (the risk chunks); the Hessian and
its spectrum; lines; risk and diagnose reports and figures; benchmark; CLI.
"""
import copy
import textwrap
import time
from pathlib import Path

import numpy as np

import custom_paths
import mc_training as mc
from kinks.checks import as_list, check_float, check_int, require
from kinks.figures import GUIDE_COLOR, LINE_WIDTH_PT, new_figure, save_png_and_pdf, series_style
from kinks.files import save_csv, save_json
import utils

RISK_DEFAULTS = dict(offsets=[0.0, 0.1], widths=[2**k for k in range(4, 11)], runs=500, seed=0,
                     tol=1e-8, epochs_per_check=1000, max_epochs=1_000_000, chunk_size=100)
LEVEL = 0.95  # confidence level of every interval
PARAM_ORDER = "a, b, w, c"  # the flat parameter vector theta = (a_1..a_n, b_1..b_n, w_1..w_n, c)


# ============================================================================ side-wise linear regression
def side_fits(x, y, p):
    """The weighted least-squares line on each side of 0: for s in (+, -) the (alpha_s, beta_s)
    minimising sum_{j in s} p_j (alpha x_j + beta - y_j)^2, with the floor's value. A side whose
    weight sits on one x (or none) is fitted by the constant weighted mean (the line through it is
    not unique; every such line has the same loss).

    alpha = S_xy / S_xx, beta = ybar - alpha xbar with weighted means xbar, ybar and centred sums
    S_xx = sum p (x - xbar)^2, S_xy = sum p (x - xbar)(y - ybar), S_yy; the side's minimum is
    1/2 (S_yy - S_xy^2 / S_xx). Returns slopes, intercepts (P, 2) and L_lin = the sum of both
    sides' minima (P,); x, y (m,), p (P, m)."""
    slopes, intercepts, floor = [], [], 0.0
    for side in (x > 0, x < 0):
        ps, xs, ys = p[:, side], x[side], y[side]
        weight = np.maximum(ps.sum(1), np.finfo(float).tiny)
        xbar, ybar = ps @ xs / weight, ps @ ys / weight
        dx, dy = xs - xbar[:, None], ys - ybar[:, None]
        sxx, sxy, syy = (ps * dx * dx).sum(1), (ps * dx * dy).sum(1), (ps * dy * dy).sum(1)
        slope = np.where(sxx > 1e-14 * weight, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        slopes.append(slope)
        intercepts.append(ybar - slope * xbar)
        floor = floor + 0.5 * np.maximum(syy - slope * sxy, 0.0)  # >= 0, also after round-off
    return np.stack(slopes, 1), np.stack(intercepts, 1), floor


def side_fit_outputs(x, slopes, intercepts):
    """g(x_j) of the side-wise lines (slope, intercept (P, 2), side 0 is +): (P, m)."""
    side = (x < 0).astype(int)
    return slopes[:, side] * x + intercepts[:, side]


def population_risk(outputs, y, pi):
    """R = 1/2 sum_j pi_j (f(x_j) - y_j)^2 under the data distribution pi (m,); outputs (P, m)."""
    return 0.5 * ((outputs - y) ** 2) @ pi


def population_linear_risk(data, offset):
    """R_lin = L_lin with p = pi: the risk of the best function affine on each side of 0 for the
    DataSet ``data`` with targets y + offset."""
    return float(side_fits(data.x, data.y + offset, data.probs[None])[2][0])


# ============================================================================ training to stationarity
def reduced_gradient_norm(trainer, p, leak=0.0):
    """||grad L|| of networks on the reduced engine, O(1) each. A unit of side s has slope
    sigma'_s(x_j) = 1 at the points of sign s and alpha = ``leak`` at the others; with
    r_j = p_j (f(x_j) - y_j) and G_s = sum_j r_j sigma'_s(x_j) (x_j, 1), every unit of side s has
    dL/d(a_i, b_i) = w_i G_s and dL/dw_i = (a_i, b_i) . G_s, so
    ||grad L||^2 = sum_s (|G_s|^2 Sigma_s[w, w] + G_s^T Sigma_s[ab, ab] G_s) + (sum_j r_j)^2."""
    x = trainer.x
    r = p * (trainer.outputs() - trainer.y)  # (P, m)
    sigma = trainer.moments()  # (P, 2, 3, 3)
    slopes = np.stack([np.where(x > 0, 1.0, leak), np.where(x < 0, 1.0, leak)])  # (sides, m)
    weighted = r[:, None, :] * slopes  # (P, sides, m)
    G = np.stack([weighted @ x, weighted.sum(2)], -1)  # (P, sides, 2)
    squares = (G**2).sum(2) * sigma[:, :, 2, 2] + np.einsum("psi,psij,psj->ps", G, sigma[:, :, :2, :2], G)
    return np.sqrt(np.maximum(squares.sum(1), 0.0) + r.sum(1) ** 2)


def dense_gradient_norm(trainer, p):
    """||grad L|| of networks on the dense engine, from ``mc_training.loss_gradient``."""
    ga, gb, gc, gw, _ = mc.loss_gradient(*trainer.params(), trainer.x, trainer.y, p, trainer.patterns)
    return np.sqrt((ga**2).sum(1) + (gb**2).sum(1) + (gw**2).sum(1) + gc**2)


class StationaryTraining:
    """gd of P networks (relu, or leaky relu with slope ``leak`` below 0), run in blocks of epochs
    (``advance``) between checks, never stopping at a crossing.

    Invariant: network k is on the reduced engine while none of its kinks has reached a data point,
    where that engine is exact, and from the epoch after which one did on, it is on the dense
    engine, which it entered with exactly its parameters after that epoch and the signs of its
    initial a_i. Index arrays ``on_reduced``, ``on_dense`` map the engines' rows to the chunk's
    networks. ``epoch`` counts the epochs run."""

    def __init__(self, x, y, p, a, b, c, w, h, leak=0.0):
        self.x, self.y, self.p, self.h, self.leak = x, y, p, h, leak
        P = len(h)
        self.reduced = mc.ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
        self.on_reduced, self.on_dense = np.arange(P), np.arange(0)
        self.dense = None
        self.first_cross = np.full(P, -1, dtype=np.int64)
        self.status = np.full(P, "UNFINISHED", dtype="<U17")
        self.epoch = 0
        self._weights()

    def _weights(self):
        self.p_reduced = np.ascontiguousarray(self.p[self.on_reduced].T)  # (m, P_reduced)
        self.p_dense = np.ascontiguousarray(self.p[self.on_dense].T)

    def advance(self, epochs):
        """Run ``epochs`` gd epochs of every running network, each engine in one compiled call.

        The reduced engine runs the whole block and reports, per network, the first epoch t after
        which a kink had reached a data point; its state after the block is exact only for the
        networks that reported none. Those that did are replayed on the reduced engine from a copy
        of its state at the block start for exactly t epochs (bitwise the same steps: the compiled
        engines treat networks independently and deterministically), handed to the dense engine,
        and run there for the block's remaining epochs."""
        start = copy.deepcopy(self.reduced)
        first = self.reduced.advance(epochs, self.p_reduced, self.p_reduced, None,
                                     np.zeros(len(self.on_reduced), dtype=bool))
        if self.dense is not None:  # all of them have crossed: no crossing epochs to report
            self.dense.advance(epochs, self.p_dense, self.p_dense, None, np.ones(len(self.on_dense), dtype=bool))
        crossed = first >= 0
        if crossed.any():
            start.keep(crossed)
            self._hand_over(start, self.on_reduced[crossed], first[crossed], epochs)
            self.reduced.keep(~crossed)
            self.on_reduced = self.on_reduced[~crossed]
            self._weights()
        self.epoch += epochs

    def _hand_over(self, replay, networks, first, epochs):
        """Move ``networks`` (chunk indices), which crossed after epoch ``first`` (1 ... epochs)
        of this block, to the dense engine: ``replay`` holds them on the reduced engine at the
        block start; in increasing order of t it runs them up to epoch t, and those that crossed
        after epoch t go to a dense engine of their own that runs the remaining epochs - t."""
        self.first_cross[networks] = self.epoch + first
        self.status[networks] = "CROSSED"
        done = 0
        for t in np.unique(first):
            p_t = np.ascontiguousarray(self.p[networks].T)
            replay.advance(t - done, p_t, p_t, None, np.zeros(len(networks), dtype=bool))
            done = t
            now = first == t
            handed = mc.DenseTrainer(*(q[now] for q in replay.params()), self.x, self.y, self.h[networks[now]],
                                     "gd", sign_a0=np.sign(replay.a0[now]), leak=self.leak)
            if epochs > t:
                p_now = np.ascontiguousarray(p_t[:, now])
                handed.advance(epochs - t, p_now, p_now, None, np.ones(int(now.sum()), dtype=bool))
            self._join_dense(handed, networks[now])
            replay.keep(~now)
            networks, first = networks[~now], first[~now]

    def _join_dense(self, trainer, networks):
        """Append the dense ``trainer`` holding ``networks`` (chunk indices) to the dense engine
        (gd keeps no optimiser state besides the parameters)."""
        if self.dense is not None:
            params = [np.concatenate(pair) for pair in zip(self.dense.params(), trainer.params())]
            trainer = mc.DenseTrainer(*params, self.x, self.y, np.concatenate([self.dense.h, trainer.h]), "gd",
                                      sign_a0=np.concatenate([self.dense.sign_a0, trainer.sign_a0]), leak=self.leak)
        self.dense = trainer
        self.on_dense = np.concatenate([self.on_dense, networks])

    def check(self):
        """Certificate statuses of the reduced networks where the certificate applies (relu; kept
        once given: a certified network never crosses), and per engine: (network indices,
        ||grad L||, outputs f(x_j), finite)."""
        if mc.certificate_applies("gd", "full", self.leak):
            status = mc.check_stops(self.reduced, self.x, self.y, None, self.p[self.on_reduced],
                                    self.h[self.on_reduced], ["sufficient"], None)
            self.status[self.on_reduced[status != ""]] = status[status != ""]
        norm = reduced_gradient_norm(self.reduced, self.p_reduced.T, self.leak)
        engines = [(self.on_reduced, self.reduced, norm)]
        if self.dense is not None:
            engines.append((self.on_dense, self.dense, dense_gradient_norm(self.dense, self.p_dense.T)))
        return [(index, norm, trainer.outputs(), trainer.finite() & np.isfinite(norm))
                for index, trainer, norm in engines]

    def keep(self, stopped):
        """Drop the networks (chunk indices) in ``stopped`` from both engines."""
        keep_reduced = ~np.isin(self.on_reduced, stopped)
        self.reduced.keep(keep_reduced)
        self.on_reduced = self.on_reduced[keep_reduced]
        if self.dense is not None:
            keep_dense = ~np.isin(self.on_dense, stopped)
            self.dense.keep(keep_dense)
            self.on_dense = self.on_dense[keep_dense]
        self._weights()

    def params_of(self, index):
        """(a, b, c, w) of the running networks ``index`` (chunk indices), O(n) each."""
        out = [np.zeros((len(index), self.reduced.a0.shape[1])), None, np.zeros(len(index)), None]
        out[1], out[3] = np.zeros_like(out[0]), np.zeros_like(out[0])
        for rows, trainer in ((self.on_reduced, self.reduced), (self.on_dense, self.dense)):
            found = np.isin(rows, index)
            if trainer is not None and found.any():
                where = np.searchsorted(index, rows[found])
                for target, value in zip(out, trainer.params()):
                    target[where] = value[found]
        return out

    def running(self):
        return len(self.on_reduced) + len(self.on_dense)


def train_to_stationarity(x, y, p, a, b, c, w, h, tol, epochs_per_check, max_epochs, keep_params=False,
                          pi=None, leak=0.0):
    """Train P networks by gd (step h per network; leaky relu with slope ``leak`` below 0) to
    ||grad L|| < tol, checked every ``epochs_per_check`` epochs, or ``max_epochs`` (a multiple of
    it); see StationaryTraining. ``pi`` (m,): the data distribution of the risk (default uniform).

    Returns a dict of (P,) arrays: status (CROSSED; for networks that never crossed the
    certificate's verdict LOCALLY_CONVERGED, A_DEGENERATE, X_DEGENERATE where it applies (relu),
    else UNFINISHED; DIVERGED for non-finite ones), stop_epoch, first_cross_epoch (-1: never),
    step_size, converged (||grad L|| < tol), grad_norm, loss L, risk R, linear_loss L_lin,
    linear_fit_risk (R of the side-wise least-squares fit to p), and (a, b, c, w) when
    ``keep_params``."""
    P = len(h)
    pi = np.full(len(x), 1.0 / len(x)) if pi is None else pi
    slopes, intercepts, floor = side_fits(x, y, p)
    out = {"status": None, "stop_epoch": np.full(P, max_epochs, dtype=np.int64), "first_cross_epoch": None,
           "step_size": h.copy(), "converged": np.zeros(P, bool), "grad_norm": np.full(P, np.nan),
           "loss": np.full(P, np.nan), "risk": np.full(P, np.nan), "linear_loss": floor,
           "linear_fit_risk": population_risk(side_fit_outputs(x, slopes, intercepts), y, pi)}
    if keep_params:
        out.update(a=np.zeros_like(a), b=np.zeros_like(a), c=np.zeros(P), w=np.zeros_like(a))
    training = StationaryTraining(x, y, p, a, b, c, w, h, leak)
    while training.running():
        training.advance(epochs_per_check)
        epoch = training.epoch
        last = epoch >= max_epochs
        stopped = []
        for index, norm, outputs, finite in training.check():
            stop = (norm < tol) | last | ~finite
            out["converged"][index] = norm < tol
            out["grad_norm"][index] = norm
            out["loss"][index] = 0.5 * np.sum(p[index] * (outputs - y) ** 2, axis=1)
            out["risk"][index] = population_risk(outputs, y, pi)
            training.status[index[~finite]] = "DIVERGED"
            out["stop_epoch"][index[stop]] = epoch
            stopped.append(index[stop])
        stopped = np.sort(np.concatenate(stopped))
        if keep_params and len(stopped):
            for name, value in zip("abcw", training.params_of(stopped)):
                out[name][stopped] = value
        training.keep(stopped)
    out["status"], out["first_cross_epoch"] = training.status, training.first_cross
    return out


def simulate_risk_chunk(config, offset, width, chunk, runs):
    """One chunk of the risk study: the problems of ``mc_training.draw_problems`` from the chunk's
    seed (the same networks as an ``mc_training.py run`` chunk of the same seed, offset, width,
    index, size, data and leak), trained to stationarity."""
    rng = np.random.default_rng(mc.chunk_seed(config, offset, width, chunk))
    data = mc.DataSet.from_config(config)
    x, y, p, _, (a, b, c, w), h = mc.draw_problems(rng, runs, width, offset, "he", "theory", data, config["leak"])
    return train_to_stationarity(x, y, p, a, b, c, w, h, config["tol"], config["epochs_per_check"],
                                 config["max_epochs"], config["save_params"], data.probs, config["leak"])


# ============================================================================ Hessian
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
    return mc.loss_gradient(a, b, c, w, x, y, weights, mc.ActivityPatterns(x, leak))[4]


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
    O(n + 127^3) per network."""

    def __init__(self, a, b, c, w, x, y, p, leak=0.0):
        self.a, self.b, self.c, self.w, self.x, self.y, self.p = a, b, float(c), w, x, y, p
        self.n, self.leak = len(a), leak
        patterns = mc.ActivityPatterns(x, leak)
        self.codes = patterns.codes(a[None], b[None])[0]  # (n,)
        self.pattern_of_code = patterns.B  # the slopes s_gj, (G, m)
        self.residual = mc.network_output(a[None], b[None], np.array([self.c]), w[None], x, leak)[0] - y
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

    def spectrum(self, vectors=0):
        """All 3n + 1 eigenvalues, ascending; with ``vectors`` = k > 0 also the eigenvectors of the
        k largest in descending order, (3n + 1, k) (a multiple eigenvalue +s_g of a complement contributes one vector)."""
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
                for g, units, Q in groups:
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


def spectrum_summary(values, rtol):
    """lambda_min, lambda_max, the counts of eigenvalues above rtol lambda_max, below
    -rtol lambda_max and in between (near zero), and the minimal ratio: the share of positive
    eigenvalues (above rtol lambda_max) among all 3n + 1."""
    scale = rtol * max(abs(values[-1]), abs(values[0]))
    positive, negative = int(np.sum(values > scale)), int(np.sum(values < -scale))
    return dict(lambda_min=float(values[0]), lambda_max=float(values[-1]), n_positive=positive,
                n_negative=negative, n_zero=len(values) - positive - negative,
                minimal_ratio=positive / len(values))


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


# ============================================================================ risk: report
def check_budget(epochs_per_check, max_epochs):
    """--epochs_per_check and --max_epochs, positive integers, the budget a multiple of the check."""
    epochs_per_check = check_int("epochs_per_check", epochs_per_check)
    max_epochs = check_int("max_epochs", max_epochs)
    require(max_epochs % epochs_per_check == 0,
            f"--max_epochs must be a multiple of --epochs_per_check ({epochs_per_check}); got {max_epochs}")
    return epochs_per_check, max_epochs


def check_leak(leak):
    """--leak alpha in [0, 1)."""
    leak = check_float("leak", leak, 0.0)
    require(leak < 1, f"--leak must be in [0, 1); got {leak!r}")
    return leak


def risk_config(offsets, widths, runs, seed, tol, epochs_per_check, max_epochs, chunk_size, save_params,
                data=None, probs=None, leak=0.0):
    """The validated configuration of a risk run (a plain dict, recorded in run.json), complete
    in the sense of ``mc_training.complete_config`` (so a run directory from before --data and
    --leak resumes as the paper's data with relu)."""
    offsets = as_list("offsets", offsets, check_float)
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, seed = check_int("runs", runs), check_int("seed", seed, 0)
    tol = check_float("tol", tol, 0.0, strict=True)
    epochs_per_check, max_epochs = check_budget(epochs_per_check, max_epochs)
    chunk_size = check_int("chunk_size", chunk_size)
    require(isinstance(save_params, bool), f"--save_params must be true or false; got {save_params!r}")
    dataset, leak = mc.parse_data(data, probs), check_leak(leak)
    return mc.complete_config(dict(
        kind="risk", optimizer="gd", init="he", step="theory", offsets=offsets, widths=widths, runs=runs,
        seed=seed, tol=tol, epochs_per_check=epochs_per_check, max_epochs=max_epochs,
        chunk_sizes=[chunk_size] * len(widths), save_params=save_params, leak=leak,
        data=np.stack([dataset.x, dataset.y], 1).tolist(), probs=dataset.probs.tolist()))


RISK_KEYS = ("status", "stop_epoch", "first_cross_epoch", "converged", "grad_norm", "loss", "risk",
             "linear_loss", "linear_fit_risk")


def load_risk(run_dir, config):
    """The finished chunks' per-network arrays, pooled per (offset, width): {(offset, width): dict}."""
    pooled = {}
    for task in mc.chunk_tasks(run_dir, config):
        try:
            _, arrays = mc.load_chunk(mc.chunk_path(run_dir, task["offset"], task["width"], task["chunk"]),
                                      config)
        except mc.ChunkError as error:
            print(f"warning: {error}; left out")
            continue
        cell = pooled.setdefault((task["offset"], task["width"]), {k: [] for k in RISK_KEYS})
        for key in RISK_KEYS:
            cell[key].append(arrays[key])
    return {key: {k: np.concatenate(v) for k, v in cell.items()} for key, cell in pooled.items()}


def mean_interval(values, level=LEVEL):
    """Mean and two-sided Student-t interval mean +- t_{(1+level)/2, N-1} s / sqrt(N) (nan for N < 2)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    N = len(values)
    mean = float(values.mean()) if N else np.nan
    if N < 2:
        return mean, np.nan, np.nan
    half = t.ppf(0.5 + level / 2, N - 1) * values.std(ddof=1) / np.sqrt(N)
    return mean, mean - half, mean + half


RISK_COLUMNS = ["offset", "width", "runs", "crossed", "certified", "converged", "diverged", "mean_risk",
                "ci_low", "ci_high", "mean_risk_stayed", "mean_risk_crossed", "max_gap_stayed", "mean_loss",
                "mean_linear_loss",
                "mean_linear_fit_risk", "linear_risk", "bayes_risk", "max_grad_norm", "median_epochs",
                "max_epochs_used"]


def risk_rows(pooled, config):
    """One summary row per (offset, width): counts (certified: None where the certificate does not
    apply, with a leak), mean R with its 95 % t interval, means of R over networks that stayed put
    and that crossed, the largest relative gap (L - L_lin) / L_lin of the networks that stayed put
    (0 at an exact stationary point), means of L, L_lin and the fit's risk, R_lin, and the Bayes
    risk: 0, as every x_j carries one y_j (``DataSet`` refuses repeated x), so f(x_j) = y_j is
    possible."""
    data = mc.DataSet.from_config(config)
    certificate = mc.certificate_applies("gd", "full", config["leak"])
    rows = []
    for (offset, width), cell in sorted(pooled.items()):
        crossed = cell["status"] == "CROSSED"
        finite = cell["status"] != "DIVERGED"
        mean, low, high = mean_interval(cell["risk"][finite])
        gap = (cell["loss"] - cell["linear_loss"]) / cell["linear_loss"]  # how far from the floor
        rows.append(dict(
            offset=offset, width=width, runs=len(crossed), crossed=int(crossed.sum()),
            certified=int(np.sum(cell["status"] == "LOCALLY_CONVERGED")) if certificate else None,
            converged=int(cell["converged"].sum()), diverged=int((~finite).sum()),
            mean_risk=mean, ci_low=low, ci_high=high,
            mean_risk_stayed=float(np.mean(cell["risk"][~crossed & finite])) if np.any(~crossed & finite) else np.nan,
            mean_risk_crossed=float(np.mean(cell["risk"][crossed])) if crossed.any() else np.nan,
            max_gap_stayed=float(np.max(gap[~crossed & finite])) if np.any(~crossed & finite) else np.nan,
            mean_loss=float(np.mean(cell["loss"][finite])), mean_linear_loss=float(np.mean(cell["linear_loss"])),
            mean_linear_fit_risk=float(np.mean(cell["linear_fit_risk"])),
            linear_risk=population_linear_risk(data, offset), bayes_risk=0.0,
            max_grad_norm=float(np.max(cell["grad_norm"][finite], initial=0.0)),
            median_epochs=float(np.median(cell["stop_epoch"])), max_epochs_used=int(cell["stop_epoch"].max())))
    return rows


def format_risk_table(rows):
    head = (f"{'Delta':>6} {'n':>5} {'runs':>5} {'crossed':>7} {'cert.':>5} {'conv.':>6} {'mean R':>8} "
            f"{'95% t interval':>19} "
            f"{'R stayed':>9} {'R crossed':>9} {'gap':>8} {'mean L':>8} {'L_lin':>8} {'R_lin':>6} {'max|grad|':>9} "
            f"{'epochs':>8}")
    lines = [head]
    for r in rows:
        certified = "n/a" if r["certified"] is None else r["certified"]
        lines.append(f"{r['offset']:>6g} {r['width']:>5} {r['runs']:>5} {r['crossed']:>7} {certified:>5} "
                     f"{r['converged']:>6} "
                     f"{r['mean_risk']:>8.4f} [{r['ci_low']:>8.4f}, {r['ci_high']:>8.4f}] "
                     f"{r['mean_risk_stayed']:>9.4f} {r['mean_risk_crossed']:>9.4f} {r['max_gap_stayed']:>8.1e} "
                     f"{r['mean_loss']:>8.4f} "
                     f"{r['mean_linear_loss']:>8.4f} {r['linear_risk']:>6.3f} {r['max_grad_norm']:>9.1e} "
                     f"{r['median_epochs']:>8.0f}")
    return "\n".join(lines)


def setting_text(config):
    """The activation and data of a risk or diagnose run (``config`` with leak, data, probs):
    'relu' or 'leaky relu, alpha = ...', and the paper's points or the given ones."""
    data = mc.DataSet.from_config(config)
    activation = f"leaky relu, α = {config['leak']:g}" if config["leak"] else "relu"
    if data.is_paper():
        return f"{activation}; the paper's six points, π uniform"
    points = ", ".join(f"{x:g}:{y:g}" for x, y in zip(data.x, data.y))
    return f"{activation}; data x:y {points}; π " + ("uniform" if np.all(data.probs == data.probs[0])
                                                    else ", ".join(f"{p:.3g}" for p in data.probs))


def training_text(settings):
    """How the networks of a risk or diagnose run were trained, for figure titles."""
    return f"gd to $\\|\\nabla L\\| <$ {settings['tol']:g} or {settings['max_epochs']:,} epochs"


def figure_title(figure, lines):
    """The figure's title: ``lines``, each wrapped to the figure's width (about 13 characters per
    inch at 9 pt)."""
    width = int(13 * figure.get_figwidth())
    figure.suptitle("\n".join(textwrap.fill(line, width) for line in lines), fontsize=9)


def color(k):
    """The matplotlib colour of series k of the shared palette (``series_style``)."""
    return f"#{series_style(k).color}"


def dodge(widths, k, count, spread=0.06):
    """Widths shifted by a factor so that ``count`` series at the same n do not overlap (log x)."""
    return np.asarray(widths) * np.exp(spread * (k - (count - 1) / 2))


def risk_figure(rows, config, path):
    """Mean R with 95 % t intervals against n (log x), one series per offset, with the population
    linear-regression risk R_lin (dashed, the series' colour; one grey line for offsets whose R_lin
    agree to 1e-9, which would hide each other) and the Bayes risk 0 (black)."""
    figure, ax = new_figure(7.5, 4.6)
    offsets = sorted({r["offset"] for r in rows})
    linear_risks = {}  # R_lin rounded -> the offsets sharing it
    for k, offset in enumerate(offsets):
        series = [r for r in rows if r["offset"] == offset]
        widths = np.array([r["width"] for r in series])
        mean = np.array([r["mean_risk"] for r in series])
        err = np.abs(np.array([[r["ci_low"], r["ci_high"]] for r in series]).T - mean)
        ax.errorbar(dodge(widths, k, len(offsets)), mean, yerr=err, marker=series_style(k).marker, capsize=3,
                    color=color(k), linewidth=LINE_WIDTH_PT, label=f"mean risk R, $\\Delta = {offset:g}$")
        linear_risks.setdefault(round(series[0]["linear_risk"], 9), []).append((k, offset))
    for value, sharing in linear_risks.items():
        deltas = ", ".join(f"{offset:g}" for _, offset in sharing)
        ax.axhline(value, color=color(sharing[0][0]) if len(sharing) == 1 else "0.45", linestyle="--",
                   label=f"linear-regression risk $R_{{\\mathrm{{lin}}}} = {value:.3f}$, $\\Delta = {deltas}$")
    ax.axhline(0.0, color="black", linewidth=1.2, label="Bayes risk 0 (y a function of x)")
    ax.set_xscale("log", base=2)
    widths = sorted({r["width"] for r in rows})
    ax.set_xticks(widths, [str(n) for n in widths], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("width $n$ (N = n² samples)")
    ax.set_ylabel(r"population risk $R = \frac{1}{2}\sum_j \pi_j (f(x_j) - y_j)^2$")
    ax.set_ylim(bottom=-0.05)
    ax.grid(True, color="0.9")
    figure_title(figure, [setting_text(config),
                          f"{training_text(config)}; {config['runs']} runs per point; 95 % t intervals"])
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    return save_png_and_pdf(figure, path)[0]


def risk(offsets=RISK_DEFAULTS["offsets"], widths=RISK_DEFAULTS["widths"], runs=RISK_DEFAULTS["runs"],
         seed=0, tol=RISK_DEFAULTS["tol"], max_epochs=RISK_DEFAULTS["max_epochs"],
         epochs_per_check=RISK_DEFAULTS["epochs_per_check"], chunk_size=RISK_DEFAULTS["chunk_size"],
         save_params=False, data=None, probs=None, leak=0.0, jobs=-1, out=None):
    """Train every network to a stationary point and report its population risk against n.

    offsets: comma list of Delta (default 0, 0.1); widths: comma list of n (default 16 ... 1024);
    runs: networks per (Delta, n) (default 500); seed (default 0); tol: stop at ||grad L|| < tol
    (default 1e-8); max_epochs: epoch budget (default 1,000,000, a multiple of epochs_per_check,
    default 1000); chunk_size: networks per chunk file (default 100, so that --jobs can share a
    cell); save_params: keep (a, b, c, w);
    data: your own points "x:y,x:y,..." (x != 0, distinct, two or more on each side of 0; default
    the paper's six); probs: their probabilities pi "p,p,..." (default uniform), which draw the
    data weights p and weigh the risk R; leak: alpha in [0, 1) of sigma(z) = max(z, alpha z)
    (default 0, relu; with a leak the certificate does not apply and no network is certified);
    jobs: worker processes (-1: all cores); out: the run directory (default results/minima/risk).
    Rerunning the same command resumes; the table, risk.csv, risk_networks.csv and risk.png/.pdf
    are written to the run directory."""
    config = risk_config(offsets, widths, runs, seed, tol, epochs_per_check, max_epochs, chunk_size, save_params,
                         data, probs, leak)
    require(isinstance(jobs, int) and not isinstance(jobs, bool) and (jobs >= 1 or jobs == -1),
            f"--jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    run_dir = (Path(out) if out is not None else custom_paths.results_root() / "minima" / "risk").absolute()
    mc.run_chunks(run_dir, config, jobs, label=f"risk at stationary points of {mc.run_label(config)}",
                  simulate=simulate_risk_chunk)
    pooled = load_risk(run_dir, config)
    rows = risk_rows(pooled, config)
    print(setting_text(config))
    print(format_risk_table(rows))
    save_csv(run_dir / "risk.csv", rows, RISK_COLUMNS)
    networks = [dict(offset=offset, width=width, **{k: v[i] for k, v in cell.items()})
                for (offset, width), cell in sorted(pooled.items()) for i in range(len(cell["status"]))]
    save_csv(run_dir / "risk_networks.csv", networks, ["offset", "width", *RISK_KEYS])
    print(f"table: {run_dir / 'risk.csv'}; figure: {risk_figure(rows, config, run_dir / 'risk')}")
    return str(run_dir)


# ============================================================================ diagnose
DIAGNOSE_COLUMNS = ["width", "network", "crossed", "status", "converged", "grad_norm", "loss", "linear_loss",
                    "dimension", "lambda_min", "lambda_max", "n_positive", "n_negative", "n_zero", "minimal_ratio",
                    "spectrum_s"]


def diagnose_problems(seed, width, runs, pairs, offset, data=None, leak=0.0):
    """The sample (``runs`` problems drawn as ``mc_training.draw_problems`` does, from the seed
    [seed, width], on the DataSet ``data``, default the paper's) followed by ``pairs`` networks that
    share the data weights p of the sample's first problem (initialisations and step sizes of
    their own, from the seed [seed, width, 1])."""
    x, y, p, _, (a, b, c, w), h = mc.draw_problems(np.random.default_rng([seed, width]), runs, width, offset,
                                                   "he", "theory", data, leak)
    p_pair = np.repeat(p[:1], pairs, axis=0)
    a2, b2, c2, w2 = mc.init_params(np.random.default_rng([seed, width, 1]), pairs, width)
    h2 = mc.theory_step_size(a2, b2, w2, x, p_pair, leak)
    joined = [np.concatenate(parts) for parts in ((p, p_pair), (a, a2), (b, b2), (c, c2), (w, w2), (h, h2))]
    return x, y, *joined


def network_structure(out, k, x, y, p, leak):
    """The HessianStructure of trained network k (its data weights p (m,))."""
    return HessianStructure(out["a"][k], out["b"][k], out["c"][k], out["w"][k], x, y, p, leak)


def network_spectrum_rows(width, out, x, y, p, rtol, leak):
    """One row per network: its training outcome and the summary of its Hessian spectrum."""
    rows = []
    for k in range(len(p)):
        start = time.perf_counter()
        values = network_structure(out, k, x, y, p[k], leak).spectrum()
        seconds = time.perf_counter() - start
        rows.append(dict(width=width, network=k, crossed=bool(out["status"][k] == "CROSSED"),
                         status=str(out["status"][k]), converged=bool(out["converged"][k]),
                         grad_norm=out["grad_norm"][k], loss=out["loss"][k], linear_loss=out["linear_loss"][k],
                         dimension=len(values), **spectrum_summary(values, rtol), spectrum_s=seconds,
                         values=values))
    return rows


def network_theta(out, k):
    return flat_params(out["a"][k], out["b"][k], out["c"][k], out["w"][k])


def line_rows(width, out, x, y, p, k, kind, top, rng, alphas, leak):
    """L(theta + alpha d) - L(theta) of network k along its top Hessian eigenvectors and as many
    random Gaussian directions, each normalised unit by unit."""
    theta = network_theta(out, k)
    _, vectors = network_structure(out, k, x, y, p[k], leak).spectrum(top)
    directions = np.concatenate([vectors, rng.normal(size=(len(theta), top))], axis=1)
    directions = np.stack([unitwise_normalised(d, theta) for d in directions.T], axis=1)
    change = line_losses(theta, directions, alphas, x, y, p[k], leak) \
        - network_loss(theta[None], x, y, p[k], leak)[0]
    names = [f"eigenvector {i + 1}" for i in range(top)] + [f"random {i + 1}" for i in range(top)]
    return [dict(width=width, network=kind, direction=name, alpha=alpha, loss_change=value)
            for name, row in zip(names, change) for alpha, value in zip(alphas, row)]


def diagnose_width(width, settings, data):
    """Train the sample and the pair candidates of one width (``settings`` of ``diagnose``, the
    DataSet ``data``); spectra, lines and interpolation."""
    runs, pairs, leak = settings["runs"], settings["pairs"], settings["leak"]
    x, y, p, a, b, c, w, h = diagnose_problems(settings["seed"], width, runs, pairs, settings["offset"], data, leak)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, settings["tol"], settings["epochs_per_check"],
                                settings["max_epochs"], True, data.probs, leak)
    spectra = network_spectrum_rows(width, {k: v[:runs] for k, v in out.items()}, x, y, p[:runs], settings["rtol"],
                                    leak)
    rng = np.random.default_rng([settings["seed"], width, 2])
    alphas = np.linspace(-1.0, 1.0, 41)
    crossed = out["status"] == "CROSSED"
    lines, curve = [], []
    for kind, members in (("stayed", np.flatnonzero(~crossed[:runs])), ("crossed", np.flatnonzero(crossed[:runs]))):
        if len(members):
            lines += line_rows(width, out, x, y, p, members[0], kind, settings["top"], rng, alphas, leak)
    stayed_pair, crossed_pair = (runs + np.flatnonzero(~crossed[runs:]), runs + np.flatnonzero(crossed[runs:]))
    if len(stayed_pair) and len(crossed_pair):
        ts = np.linspace(0.0, 1.0, 51)
        losses = interpolation_losses(network_theta(out, stayed_pair[0]), network_theta(out, crossed_pair[0]),
                                      ts, x, y, p[runs], leak)
        curve = [dict(width=width, t=t, loss=value, linear_loss=out["linear_loss"][runs]) for t, value in zip(ts, losses)]
    else:
        print(f"n = {width}: no pair of a network that stayed put and one that crossed among {pairs} "
              f"on the same data; no interpolation")
    return spectra, lines, curve


def diagnose_title(figure, settings, shows):
    """The figure's title: what it ``shows``, the activation and data, and the training."""
    figure_title(figure, [shows, setting_text(settings), f"{training_text(settings)}, offset Δ = {settings['offset']:g}"])


KINDS = ((False, "stayed put"), (True, "crossed"))  # series 0 and 1 of every diagnose figure


def spectrum_figure(spectra, settings):
    """Per width, histograms of log10 |lambda| of the positive and the negative eigenvalues of all
    sampled networks (exact zeros counted in the title)."""
    widths = sorted({r["width"] for r in spectra})
    figure, _ = new_figure(3.2 * len(widths) + 0.4, 3.8)
    figure.clear()
    axes = figure.subplots(1, len(widths), squeeze=False)[0]
    for ax, width in zip(axes, widths):
        values = np.concatenate([r["values"] for r in spectra if r["width"] == width])
        bins = np.linspace(-20, 4, 49)
        for k, (sign, name) in enumerate(((1, "λ > 0"), (-1, "λ < 0"))):
            chosen = values[sign * values > 0]
            ax.hist(np.log10(sign * chosen), bins=bins, color=color(k), alpha=0.6, label=f"{name} ({len(chosen)})")
        ax.set_yscale("log")
        zeros = int(np.sum(values == 0))
        runs = sum(r["width"] == width for r in spectra)
        ax.set_title(f"n = {width}: {runs} networks × {3 * width + 1} eigenvalues,\n{zeros} exactly 0", fontsize=9)
        ax.set_xlabel(r"$\log_{10}|\lambda|$")
        ax.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel("eigenvalues (all sampled networks)")
    diagnose_title(figure, settings, "Hessian spectra at the points where gd stops")
    return figure


def extremes_figure(spectra, settings):
    """lambda_min / lambda_max (symlog) and the minimal ratio (log) against n, per network, with
    m / (3n + 1), the share that the rank of J^T diag(p) J (at most m) allows when D = 0, as at an
    exact stationary point where every S_g = 0."""
    figure, _ = new_figure(10, 4.2)
    figure.clear()
    left, right = figure.subplots(1, 2)
    widths = np.array(sorted({r["width"] for r in spectra}))
    for k, (crossed, name) in enumerate(KINDS):
        chosen = [r for r in spectra if r["crossed"] == crossed]
        if not chosen:
            continue
        style = series_style(k)
        n = dodge(np.array([r["width"] for r in chosen]), k, len(KINDS))
        left.scatter(n, [r["lambda_min"] / r["lambda_max"] for r in chosen], color=color(k), marker=style.marker,
                     s=14, label=f"{name} ({len(chosen)})")
        right.scatter(n, [r["minimal_ratio"] for r in chosen], color=color(k), marker=style.marker, s=14,
                      label=f"{name} ({len(chosen)})")
    right.plot(widths, len(settings["data"]) / (3 * widths + 1), color=f"#{GUIDE_COLOR}", linestyle="--",
               label="m / (3n + 1): rank of $J^T P J$")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(n) for n in widths])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("width $n$")
        ax.grid(True, color="0.9")
        ax.legend(fontsize=7, frameon=False)
    left.set_yscale("symlog", linthresh=1e-12)
    left.set_ylabel(r"$\lambda_{min} / \lambda_{max}$")
    right.set_yscale("log")
    right.set_ylabel(f"minimal ratio (share of λ > {settings['rtol']:g} max|λ|)")
    diagnose_title(figure, settings, f"extreme eigenvalues and share of positive ones of the Hessian, one point per "
                                     f"network ({settings['runs']} per width)")
    return figure


def lines_figure(lines, settings):
    """One row per width, one column per network (stayed put, crossed): L(theta + alpha d) - L(theta)
    along the top eigenvectors (solid) and random directions (dashed), direction i in colour i."""
    widths = sorted({r["width"] for r in lines})
    figure, _ = new_figure(9.5, 2.6 * len(widths) + 1.0)
    figure.clear()
    axes = figure.subplots(len(widths), 2, squeeze=False, sharex=True)
    for row, width in zip(axes, widths):
        for ax, network in zip(row, ("stayed", "crossed")):
            chosen = [r for r in lines if r["width"] == width and r["network"] == network]
            ax.set_title(f"n = {width}, first network that {'stayed put' if network == 'stayed' else 'crossed'}"
                         + ("" if chosen else ": none in the sample"), fontsize=9)
            for name in dict.fromkeys(r["direction"] for r in chosen):
                pts = [r for r in chosen if r["direction"] == name]
                k = int(name.split()[-1]) - 1
                ax.plot([r["alpha"] for r in pts], [r["loss_change"] for r in pts], color=color(k),
                        marker=series_style(k).marker, markevery=10, markersize=4,
                        linestyle="-" if name.startswith("eigen") else "--", label=name)
            ax.set_yscale("symlog", linthresh=1e-6)
            ax.grid(True, color="0.9")
        row[0].set_ylabel(r"$L(\theta + \alpha d) - L(\theta)$")
    for ax in axes[-1]:
        ax.set_xlabel(r"$\alpha$")
    axes[0, -1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    diagnose_title(figure, settings, "loss along the top Hessian eigenvectors (solid) and random directions (dashed), "
                                     "each scaled unit by unit to the unit's parameters")
    return figure


def interpolation_figure(curves, settings):
    """L((1 - t) theta_A + t theta_B) per width, theta_A stayed put, theta_B crossed, same p;
    dotted: that p's linear-regression floor L_lin."""
    figure, ax = new_figure(6.4, 4.4)
    for k, width in enumerate(sorted({r["width"] for r in curves})):
        pts = [r for r in curves if r["width"] == width]
        ax.plot([r["t"] for r in pts], [r["loss"] for r in pts], color=color(k), marker=series_style(k).marker,
                markevery=5, markersize=4, linewidth=LINE_WIDTH_PT, label=f"n = {width}")
        ax.axhline(pts[0]["linear_loss"], color=color(k), linestyle=":", linewidth=1)
    ax.set_xlabel("t  (0: network that stayed put, 1: network that crossed; same data weights p)")
    ax.set_ylabel(r"$L((1-t)\,\theta_A + t\,\theta_B)$")
    ax.grid(True, color="0.9")
    ax.legend(fontsize=8, frameon=False)
    diagnose_title(figure, settings, f"loss on the segment from a network that stayed put to one that crossed, "
                                     f"among {settings['pairs']} on one p per width; dotted: the floor $L_{{lin}}$ of p")
    return figure


def diagnose(widths=(16, 64, 256), runs=16, pairs=32, offset=0.0, seed=0, tol=1e-8, max_epochs=300_000,
             epochs_per_check=1000, top=3, rtol=1e-6, data=None, probs=None, leak=0.0, out=None):
    """The loss landscape where gd stops: Hessian spectra, lines and interpolation.

    widths: comma list of n (default 16, 64, 256); runs: sampled networks per width (default 16,
    problems drawn as mc_training does); pairs: further networks on the first problem's data
    weights p, among which the first that stayed put and the first that crossed are interpolated
    (default 32); offset: Delta; tol, max_epochs, epochs_per_check: training to stationarity as in
    risk (default budget 300,000); top: eigenvectors and random directions per line figure (3);
    rtol: eigenvalues within rtol max|lambda| of 0 count as zero (1e-6); data, probs, leak: as in
    risk (the Hessian is exact for any leak: sigma'' = 0 away from kinks); out: the folder written
    (default results/minima/diagnose)."""
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, pairs = check_int("runs", runs), check_int("pairs", pairs, 0)
    offset, seed = check_float("offset", offset), check_int("seed", seed, 0)
    tol = check_float("tol", tol, 0.0, strict=True)
    epochs_per_check, max_epochs = check_budget(epochs_per_check, max_epochs)
    top = check_int("top", top)
    rtol = check_float("rtol", rtol, 0.0, strict=True)
    dataset, leak = mc.parse_data(data, probs), check_leak(leak)
    out = Path(out) if out is not None else custom_paths.results_root() / "minima" / "diagnose"
    settings = dict(widths=widths, runs=runs, pairs=pairs, offset=offset, seed=seed, tol=tol,
                    max_epochs=max_epochs, epochs_per_check=epochs_per_check, top=top, rtol=rtol, leak=leak,
                    data=np.stack([dataset.x, dataset.y], 1).tolist(), probs=dataset.probs.tolist())
    spectra, lines, curves = [], [], []
    for width in widths:
        start = time.perf_counter()
        parts = diagnose_width(width, settings, dataset)
        for store, part in zip((spectra, lines, curves), parts):
            store += part
        print(f"n = {width}: {time.perf_counter() - start:.1f} s")
    print(setting_text(settings))
    print(format_diagnose_table(spectra))
    save_csv(out / "diagnose.csv", spectra, DIAGNOSE_COLUMNS)
    save_csv(out / "lines.csv", lines, ["width", "network", "direction", "alpha", "loss_change"])
    save_csv(out / "interpolation.csv", curves, ["width", "t", "loss", "linear_loss"])
    save_json(out / "settings.json", settings)
    for name, draw, rows in (("spectrum", spectrum_figure, spectra), ("extremes", extremes_figure, spectra),
                             ("lines", lines_figure, lines), ("interpolation", interpolation_figure, curves)):
        if rows:
            save_png_and_pdf(draw(rows, settings), out / name)
    print(f"written to {out}")
    return str(out)


def format_diagnose_table(spectra):
    """Per width and kind (stayed, crossed): networks, converged, median lambda_min, lambda_max,
    minimal ratio and zero count."""
    lines = [f"{'n':>5} {'kind':>8} {'nets':>4} {'conv':>4} {'lambda_min (median)':>20} {'lambda_max':>10} "
             f"{'min. ratio':>10} {'#pos':>5} {'#zero':>6} {'#neg':>5} {'dim':>5} {'s/spectrum':>10}"]
    for width in sorted({r["width"] for r in spectra}):
        for crossed, kind in ((False, "stayed"), (True, "crossed")):
            chosen = [r for r in spectra if r["width"] == width and r["crossed"] == crossed]
            if not chosen:
                continue
            med = {k: float(np.median([r[k] for r in chosen])) for k in
                   ("lambda_min", "lambda_max", "minimal_ratio", "n_positive", "n_zero", "n_negative", "spectrum_s")}
            lines.append(f"{width:>5} {kind:>8} {len(chosen):>4} {sum(r['converged'] for r in chosen):>4} "
                         f"{med['lambda_min']:>20.3e} {med['lambda_max']:>10.3e} {med['minimal_ratio']:>10.4f} "
                         f"{med['n_positive']:>5.0f} {med['n_zero']:>6.0f} {med['n_negative']:>5.0f} "
                         f"{3 * width + 1:>5} {med['spectrum_s']:>10.4f}")
    return "\n".join(lines)


def best_time(function, repeats):
    """The shortest of ``repeats`` timed calls of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def benchmark(widths=(256, 2048), repeats=5):
    """Seconds per full Hessian spectrum (all 3n + 1 eigenvalues) of one network from the structure,
    and of forming H and dense eigh where 3n + 1 <= 1000 (best of ``repeats``), at a network drawn as mc_training does and trained
    2,000 epochs (kinks spread by the training)."""
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    repeats = check_int("repeats", repeats)
    print(f"{'n':>6} {'3n+1':>6} {'structured s':>13} {'dense eigh s':>13}")
    for width in widths:
        x, y, p, _, (a, b, c, w), h = mc.draw_problems(np.random.default_rng([0, width]), 1, width, 0.0, "he", "theory")
        trainer = mc.DenseTrainer(a, b, c, w, x, y, h, "gd")
        for _ in range(2000):
            trainer.step(p.T)
        structure = HessianStructure(*(q[0] for q in trainer.params()), x, y, p[0])
        structured = best_time(structure.spectrum, repeats)
        dense = best_time(lambda: np.linalg.eigvalsh(structure.matrix()), repeats) if 3 * width + 1 <= 1000 else np.nan
        print(f"{width:>6} {3 * width + 1:>6} {structured:>13.5f} {dense:>13.5f}")


# ============================================================================ CLI
if __name__ == "__main__":
    # the commands of the importable module, not of __main__: worker processes then import the
    # chunk function they run (and numba's on-disk cache of the compiled loops) instead of
    # unpickling a copy, as in mc_training.py
    import mc_minima as module

    utils.run_cli({"risk": module.risk, "diagnose": module.diagnose, "benchmark": module.benchmark})
