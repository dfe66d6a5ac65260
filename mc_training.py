"""Monte Carlo study of gradient descent on two-layer ReLU networks with one input and one output.

Network (width n):  f(x) = c + sum_i w_i relu(a_i x + b_i),  kink of unit i at -b_i / a_i.
Data: x = (-3, -2, -1, 1, 2, 3), y = (-1, 2, -1, 1, -2, 1) + Delta. Each Monte Carlo run stands for
N = n^2 iid samples from the uniform distribution on the 6 points, held as weights
p = Multinomial(N, 1/6 ... 1/6) / N; validation weights q are drawn the same way.
Loss L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2, one epoch = one full-batch step theta <- theta - h grad L.

A network is CROSSED once any kink reaches a data point (|b_i / a_i| >= min_j |x_j|); the paper's
certificate (Holzmueller & Steinwart 2022) shows for others that gradient descent will never move a
kink across a data point (LOCALLY_CONVERGED). The study estimates
p_hat = 1 - (LOCALLY_CONVERGED + EARLY_STOPPED) / total  as a function of n.

Layout of this file: data and model; theory (step size, certificate); optimisers and the two
trainers (dense: O(n) per network-epoch, any optimiser; reduced: exact O(1) per network-epoch for
gd, momentum and sgd); the training loop with its stopping criteria; the Monte Carlo runner and its
chunk files; benchmarks; the CLI.
"""
import time
from pathlib import Path

import numpy as np

import custom_paths
import utils
from utils import UsageError, require

X_DATA = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
Y_DATA = np.array([-1.0, 2.0, -1.0, 1.0, -2.0, 1.0])

STATUSES = ("RUNNING", "CROSSED", "DIVERGED", "EARLY_STOPPED", "LOCALLY_CONVERGED",
            "A_DEGENERATE", "X_DEGENERATE", "UNFINISHED")
OPTIMIZERS = ("gd", "momentum", "sgd", "adam")
INITS = ("he", "swapped")
STEPS = ("theory", "small")
CRITERIA = ("crossing", "sufficient", "early")
ENGINES = ("auto", "dense", "reduced")
MOMENTUM = 0.9  # heavy ball beta
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
SGD_BATCH = 16  # samples drawn with replacement per sgd step
EARLY_PATIENCE, EARLY_TOL = 10, 1e-8
CHUNK_FORMAT = "kinks-mc-chunk/1"


# ============================================================================ data and model
def sample_weights(rng, runs, samples, m=len(X_DATA)):
    """Empirical weights of ``samples`` iid uniform draws from m points: Multinomial / samples, (runs, m)."""
    return rng.multinomial(samples, np.full(m, 1.0 / m), size=runs) / samples


def init_params(rng, runs, n, init="he"):
    """Initial parameters (a, b, c, w): a, b, w (runs, n), c (runs,).

    he: a_i ~ N(0, 2), w_i ~ N(0, 2/n); swapped: a_i ~ N(0, 2/n), w_i ~ N(0, 2); b = 0, c = 0."""
    var_a, var_w = (2.0, 2.0 / n) if init == "he" else (2.0 / n, 2.0)
    a = rng.normal(0.0, np.sqrt(var_a), size=(runs, n))
    w = rng.normal(0.0, np.sqrt(var_w), size=(runs, n))
    return a, np.zeros_like(a), np.zeros(runs), w


def network_output(a, b, c, w, x):
    """f(x_j) = c + sum_i w_i relu(a_i x_j + b_i), computed directly: (P, m)."""
    z = a[:, None, :] * x[None, :, None] + b[:, None, :]  # (P, m, n)
    return c[:, None] + np.einsum("pjn,pn->pj", np.maximum(z, 0.0), w)


def kinks_crossed(a, b, x_min):
    """Whether any kink has reached a data point: any_i |b_i| >= x_min |a_i|, (P,) bool."""
    return np.any(np.abs(b) >= x_min * np.abs(a), axis=1)


class ActivityPatterns:
    """The activity patterns a unit can have on sorted data x_1 < ... < x_m.

    A unit with a_i > 0 is active (a_i x_j + b_i > 0) on a suffix of the data, one with a_i < 0 on a
    prefix, one with a_i = 0 on all or none. Pattern code g = k (suffix of length k) or m + 1 + k
    (prefix of length k), k = number of active points, so G = 2(m + 1) codes; ``B`` (G, m) holds
    the pattern of each code. Sums over units with equal pattern turn the (P, m, n) forward and
    backward passes into O(n) gathers and scatters per network."""

    def __init__(self, x):
        require(np.all(np.diff(x) > 0), "data x must be strictly increasing")
        self.x = np.asarray(x, dtype=float)
        m = len(x)
        self.n_codes = 2 * (m + 1)
        k = np.arange(m + 1)[:, None]
        j = np.arange(m)[None, :]
        self.B = np.concatenate([j >= m - k, j < k]).astype(float)  # (G, m)

    def codes(self, a, b):
        """Flat pattern index row * G + g for every unit, (P, n)."""
        m = len(self.x)
        active = np.zeros(a.shape, dtype=np.intp)
        for xj in self.x:  # m vectorised passes, exactly the sign test a_i x_j + b_i > 0
            active += a * xj + b > 0
        rows = np.arange(a.shape[0])[:, None] * self.n_codes
        return rows + active + (m + 1) * (a < 0)

    def output(self, codes, a, b, c, w):
        """f(x_j) = c + x_j sum_{i active at j} w_i a_i + sum_{i active at j} w_i b_i, (P, m)."""
        size = a.shape[0] * self.n_codes
        wa = np.bincount(codes.ravel(), (w * a).ravel(), size).reshape(-1, self.n_codes)
        wb = np.bincount(codes.ravel(), (w * b).ravel(), size).reshape(-1, self.n_codes)
        return c[:, None] + (wa @ self.B) * self.x + wb @ self.B


def loss_gradient(a, b, c, w, x, y, p, patterns=None):
    """Gradient of L = 1/2 sum_j p_j (f(x_j) - y_j)^2 for P networks at once, O(n) per network.

    With r_j = p_j (f(x_j) - y_j) and A_i the points where unit i is active:
    dL/da_i = w_i sum_{A_i} r_j x_j,  dL/db_i = w_i sum_{A_i} r_j,
    dL/dw_i = a_i sum_{A_i} r_j x_j + b_i sum_{A_i} r_j,  dL/dc = sum_j r_j.
    Returns (ga, gb, gc, gw) with the shapes of (a, b, c, w) and the loss (P,)."""
    patterns = patterns or ActivityPatterns(x)
    codes = patterns.codes(a, b)
    residual = patterns.output(codes, a, b, c, w) - y
    r = p * residual
    per_code = (r @ patterns.B.T).ravel()[codes]  # sum_{A_i} r_j, (P, n)
    per_code_x = ((r * patterns.x) @ patterns.B.T).ravel()[codes]  # sum_{A_i} r_j x_j
    loss = 0.5 * np.sum(r * residual, axis=1)
    return w * per_code_x, w * per_code, r.sum(axis=1), a * per_code_x + b * per_code, loss


# ============================================================================ theory
Q_MATRIX = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
C_MATRIX = np.zeros((4, 4))
C_MATRIX[np.ix_([1, 3], [1, 3])] = 1.0  # the output bias c, shared by both sides


def symmetric_power(S, power):
    """S^power for stacks of symmetric PSD matrices (..., k, k); for power < 0 the pseudo-inverse
    power (eigenvalues below 1e-12 * the largest are treated as 0)."""
    lam, U = np.linalg.eigh(S)
    tol = 1e-12 * np.maximum(lam[..., -1:], 0.0)
    keep = lam > tol
    lam_pow = np.where(keep, np.where(keep, lam, 1.0) ** power, 0.0)
    return (U * lam_pow[..., None, :]) @ np.swapaxes(U, -1, -2)


def data_matrix(x, p):
    """M = blockdiag(M_+, M_-), M_s = [[sum p x^2, sum p x], [sum p x, sum p]] over data side s,
    coordinates (slope_+, intercept_+, slope_-, intercept_-): (P, 4, 4)."""
    M = np.zeros((p.shape[0], 4, 4))
    for s, side in enumerate((x > 0, x < 0)):
        ps, xs = p[:, side], x[side]
        block = np.stack([np.stack([ps @ xs**2, ps @ xs], -1), np.stack([ps @ xs, ps.sum(1)], -1)], -2)
        M[:, 2 * s:2 * s + 2, 2 * s:2 * s + 2] = block
    return M


def unit_moments(a, b, w):
    """Sigma_s = sum over units with sign(a_i) = s of theta_i theta_i^T, theta_i = (a_i, b_i, w_i):
    (P, 2, 3, 3), side 0 is +, side 1 is -."""
    theta = np.stack([a, b, w], axis=1)  # (P, 3, n)
    sides = np.stack([a > 0, a < 0], axis=1)[:, :, None, :]  # (P, 2, 1, n)
    masked = theta[:, None] * sides  # (P, 2, 3, n)
    return masked @ np.swapaxes(masked, -1, -2)


def reference_matrix(sigma):
    """A_ref = blockdiag(G_+, G_-) + C with G_s = Sigma_s[ab, ab] + Sigma_s[w, w] I_2: (P, 4, 4)."""
    A = np.zeros(sigma.shape[:1] + (4, 4))
    for s in range(2):
        G = sigma[:, s, :2, :2] + sigma[:, s, 2, 2][:, None, None] * np.eye(2)
        A[:, 2 * s:2 * s + 2, 2 * s:2 * s + 2] = G
    return A + C_MATRIX


def theory_matrix(sigma, M_half):
    """S = M^{1/2} A_ref M^{1/2}, (P, 4, 4)."""
    return M_half @ reference_matrix(sigma) @ M_half


def theory_step_size(a, b, w, x, p):
    """h = 1 / lambda_max(M^{1/2} A_ref M^{1/2}), the paper's step size, per network (P,)."""
    S = theory_matrix(unit_moments(a, b, w), symmetric_power(data_matrix(x, p), 0.5))
    return 1.0 / np.linalg.eigvalsh(S)[:, -1]


def linear_residual(sigma, c, x, y, p):
    """u_hat = (u_+, u_-), u_s = (sum_{j in s} x_j e_j, sum_{j in s} e_j) with
    e_j = p_j (y_j - c - Sigma_s[w, a] x_j - Sigma_s[w, b]) over data side s: (P, 4)."""
    parts = []
    for s, side in enumerate((x > 0, x < 0)):
        xs = x[side]
        fit = c[:, None] + sigma[:, s, 2, 0, None] * xs + sigma[:, s, 2, 1, None]
        e = p[:, side] * (y[side] - fit)
        parts += [e @ xs, e.sum(1)]
    return np.stack(parts, axis=1)


def inf_norm(A):
    """||A||_inf, the largest absolute row sum, over the last two axes."""
    return np.abs(A).sum(-1).max(-1)


def certify(a, b, c, w, x, y, p, h):
    """The paper's sufficient certificate that gradient descent with step h never moves a kink
    across a data point, vectorised over P networks; returns (P,) bool.

    psi_0 = M^{-1/2} u_hat; S = U diag(lambda) U^T; mu_k = 1 - h lambda_k; rho = max|mu_k| < 1;
    S_bound = 2h / (1 - rho); S_psi = sum_k h/|1 - mu_k| |(U^T psi_0)_k| ||u_k||_inf;
    kappa = 2 ||M^{1/2}||_inf S_psi < 1/2;
    D_s = kappa (Q|Sigma_s| + |Sigma_s| Q) + 8 kappa^2 e^{4 kappa} ||Sigma_s||_inf;
    delta = S_bound ||M^{1/2}||_inf^2 (G_w + G_ab + G_wab) <= 1/2;
    per unit: x_min (|a_i| - E_a,i) > |b_i| + E_b,i with E = kappa Q|theta_i| + 2 kappa^2 e^{2 kappa}
    max|theta_i| (for the paper's data x_min = 1). Networks whose kinks already passed a data point
    are never certified."""
    x_min = np.min(np.abs(x))
    M = data_matrix(x, p)
    M_half, M_inv_half = symmetric_power(M, 0.5), symmetric_power(M, -0.5)
    sigma = unit_moments(a, b, w)
    lam, U = np.linalg.eigh(theory_matrix(sigma, M_half))
    psi0 = (M_inv_half @ linear_residual(sigma, c, x, y, p)[:, :, None])[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu = 1.0 - h[:, None] * lam
        rho = np.abs(mu).max(1)
        s_bound = 2.0 * h / (1.0 - rho)
        coeff = np.abs(np.einsum("pkj,pk->pj", U, psi0))  # |(U^T psi_0)_j|
        s_psi = np.sum(h[:, None] / np.abs(1.0 - mu) * coeff * np.abs(U).max(1), axis=1)
        m_norm = inf_norm(M_half)
        kappa = 2.0 * m_norm * s_psi
        k_ = kappa[:, None, None, None]
        abs_sigma = np.abs(sigma)
        D = k_ * (Q_MATRIX @ abs_sigma + abs_sigma @ Q_MATRIX) \
            + 8.0 * k_**2 * np.exp(4.0 * k_) * inf_norm(sigma)[:, :, None, None]
        g_w = D[:, :, 2, 2].max(1)
        g_ab = (D[:, :, 0, 0] + D[:, :, 0, 1] + D[:, :, 1, 1]).max(1)
        g_wab = kappa * (abs_sigma[:, :, 2, 0] + abs_sigma[:, :, 2, 1] + D[:, :, 2, 0] + D[:, :, 2, 1]).max(1)
        delta = s_bound * m_norm**2 * (g_w + g_ab + g_wab)
        k2 = kappa[:, None]
        spread = 2.0 * k2**2 * np.exp(2.0 * k2) * np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(w))
        err = k2 * np.abs(w) + spread  # E[a, i] = E[b, i]
        units_ok = np.all(x_min * (np.abs(a) - err) > np.abs(b) + err, axis=1)
    return (rho < 1.0) & (kappa < 0.5) & (delta <= 0.5) & units_ok


def degenerate_units(a):
    """All a_i of one sign: one data side has no unit (A_DEGENERATE), (P,) bool."""
    return np.all(a > 0, axis=1) | np.all(a < 0, axis=1)


def degenerate_data(x, p):
    """At most one point of nonzero weight on one side of 0 (X_DEGENERATE), (P,) bool."""
    return ((p[:, x > 0] > 0).sum(1) <= 1) | ((p[:, x < 0] > 0).sum(1) <= 1)


# ============================================================================ optimisers
class Optimizer:
    """Update rules on lists of parameter arrays, with one step size h per network (P,).

    gd: theta <- theta - h g.  momentum (heavy ball): v <- beta v + g, theta <- theta - h v.
    adam: m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2, theta <- theta - h m_hat / (sqrt(v_hat) + eps),
    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t). sgd is gd on minibatch weights."""

    def __init__(self, name, params):
        self.name = name
        self.t = 0
        zeros = [np.zeros_like(q) for q in params]
        self.state = {"gd": [], "sgd": [], "momentum": [zeros],
                      "adam": [zeros, [np.zeros_like(q) for q in params]]}[name]

    def update(self, params, grads, h):
        """Update ``params`` in place; h broadcasts against every parameter's leading axis."""
        self.t += 1
        for i, (q, g) in enumerate(zip(params, grads)):
            hq = h.reshape(h.shape + (1,) * (q.ndim - 1))
            if self.name == "momentum":
                v = self.state[0][i]
                v *= MOMENTUM
                v += g
                q -= hq * v
            elif self.name == "adam":
                m, v = self.state[0][i], self.state[1][i]
                b1, b2 = ADAM_BETAS
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
                q -= hq * m_hat / (np.sqrt(v_hat) + ADAM_EPS)
            else:
                q -= hq * g

    def keep(self, mask):
        """Drop the state of stopped networks."""
        self.state = [[s[mask] for s in group] for group in self.state]


def minibatch_weights(uniforms, cum_p):
    """sgd weights Multinomial(B, p) / B from B uniforms per network: counts of the categories
    given by inverse-cdf sampling, (P, m). uniforms (P, B), cum_p (P, m) cumulative sums of p."""
    below = (uniforms[:, :, None] < cum_p[:, None, :-1]).sum(1)  # #{draws below cum_j}, (P, m-1)
    batch = uniforms.shape[1]
    counts = np.diff(below, prepend=0, append=batch, axis=1)
    return counts / batch


# ============================================================================ trainers
class DenseTrainer:
    """P networks held as full parameter arrays a, b, w (P, n), c (P,); any optimiser.
    One epoch costs O(n) per network (see ActivityPatterns)."""

    def __init__(self, a, b, c, w, x, y, h, optimizer):
        self.a, self.b, self.c, self.w = (np.array(q, dtype=float) for q in (a, b, c, w))
        self.x, self.y, self.h = x, y, np.array(h, dtype=float)
        self.x_min = np.min(np.abs(x))
        self.patterns = ActivityPatterns(x)
        self.optimizer = Optimizer(optimizer, self._params())

    def _params(self):
        return [self.a, self.b, self.c, self.w]

    def step(self, weights):
        """One gradient step of all networks on the data weights (P, m)."""
        ga, gb, gc, gw, _ = loss_gradient(self.a, self.b, self.c, self.w, self.x, self.y, weights,
                                          self.patterns)
        self.optimizer.update(self._params(), [ga, gb, gc, gw], self.h)

    def crossed_now(self):
        return kinks_crossed(self.a, self.b, self.x_min)

    def params(self):
        """The current (a, b, c, w)."""
        return self.a, self.b, self.c, self.w

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds."""
        self.a, self.b, self.c, self.w, self.h = (q[mask] for q in (*self._params(), self.h))
        self.optimizer.keep(mask)


# ============================================================================ training loop
def check_stops(params, x, y, q, p, h, stopping, early):
    """The stopping criteria of one check for the running networks, in the paper's order
    (a later status overrides an earlier one): EARLY_STOPPED < LOCALLY_CONVERGED < A_DEGENERATE
    < X_DEGENERATE. ``early`` holds the running best validation loss and wait count (P,) and is
    updated in place. Returns the new status per network ('' = keeps running), (P,)."""
    a, b, c, w = params
    status = np.full(len(c), "", dtype="<U17")
    if "early" in stopping:
        V = np.sum(q * (y - network_output(a, b, c, w, x)) ** 2, axis=1)
        better = V < early["best"] - EARLY_TOL
        early["best"] = np.where(better, V, early["best"])
        early["wait"] = np.where(better, 0, early["wait"] + 1)
        status[early["wait"] >= EARLY_PATIENCE] = "EARLY_STOPPED"
    if "sufficient" in stopping:
        status[certify(a, b, c, w, x, y, p, h)] = "LOCALLY_CONVERGED"
        status[degenerate_units(a)] = "A_DEGENERATE"
        status[degenerate_data(x, p)] = "X_DEGENERATE"
    return status


def train(trainer, x, y, p, q, h, optimizer, stopping, epochs_per_check, max_checks, rng,
          keep_params=False):
    """Train until every network has stopped or ``max_checks`` checks have passed.

    Every epoch: one step of all running networks, then the crossing test (a running flag:
    has any |b_i / a_i| reached min|x| so far). Every ``epochs_per_check`` epochs: CROSSED
    networks leave first, then non-finite ones (DIVERGED), then ``check_stops``; stopped networks
    are dropped from the working arrays. sgd weights come from ``rng``: one (P, 16) block of
    uniforms per epoch for all P networks of the chunk, so the draws of a network do not depend on
    when the others stop. Returns a dict of (P,) arrays: status, stop_epoch, first_cross_epoch,
    step_size, and (a, b, c, w) at the stop when ``keep_params``."""
    P = len(h)
    out = {"status": np.full(P, "UNFINISHED", dtype="<U17"),
           "stop_epoch": np.full(P, epochs_per_check * max_checks, dtype=np.int64),
           "first_cross_epoch": np.full(P, -1, dtype=np.int64), "step_size": h.copy()}
    if keep_params:
        out.update(a=np.zeros_like(trainer.params()[0]), b=None, c=np.zeros(P), w=None)
        out["b"], out["w"] = np.zeros_like(out["a"]), np.zeros_like(out["a"])
    alive = np.arange(P)
    cum_p = np.cumsum(p, axis=1)
    early = {"best": np.full(P, np.inf), "wait": np.zeros(P, dtype=np.int64)}
    crossed = trainer.crossed_now()
    out["first_cross_epoch"][crossed] = 0
    epoch = 0
    for _ in range(max_checks):
        for _ in range(epochs_per_check):
            if optimizer == "sgd":
                weights = minibatch_weights(rng.random((P, SGD_BATCH))[alive], cum_p)
            else:
                weights = p
            trainer.step(weights)
            epoch += 1
            new = trainer.crossed_now() & ~crossed
            if new.any():
                out["first_cross_epoch"][alive[new]] = epoch
                crossed |= new
        params = trainer.params()
        finite = np.all([np.isfinite(v).reshape(len(alive), -1).all(1) for v in params], axis=0)
        status = check_stops(params, x, y, q, p, h, stopping, early)
        status[~finite] = "DIVERGED"
        status[crossed] = "CROSSED"
        stop = status != ""
        if keep_params:
            for name, value in zip("abcw", params):
                out[name][alive[stop]] = value[stop]
        out["status"][alive[stop]] = status[stop]
        out["stop_epoch"][alive[stop]] = epoch
        run = ~stop
        alive, p, q, h, cum_p, crossed = alive[run], p[run], q[run], h[run], cum_p[run], crossed[run]
        early = {k: v[run] for k, v in early.items()}
        trainer.keep(run)
        if len(alive) == 0:
            break
    if keep_params and len(alive):
        for name, value in zip("abcw", trainer.params()):
            out[name][alive] = value
    return out
