"""Monte Carlo study of gradient descent on two-layer ReLU networks with one input and one output.

Network (width n):  f(x) = c + sum_i w_i sigma_alpha(a_i x + b_i),  kink of unit i at -b_i / a_i,
sigma_alpha(z) = max(z, alpha z) (leak alpha in [0, 1); alpha = 0 is relu, the paper's case).
Data: the paper's x = (-3, -2, -1, 1, 2, 3), y = (-1, 2, -1, 1, -2, 1) + Delta with probabilities
pi_j = 1/6, or any points x_j != 0 with at least two on each side of 0 and probabilities pi_j
(``DataSet``). Each Monte Carlo run stands for N = n^2 iid samples from pi, held as weights
p = Multinomial(N, pi) / N; validation weights q are drawn the same way.
Loss L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2; one epoch = one step theta <- theta - h grad L on
the weights p (full batch) or on minibatch weights Multinomial(B, p) / B drawn afresh every epoch.

A network is CROSSED once any kink reaches a data point (leaves the gap (x_-, x_+) between the
largest negative and the smallest positive x_j, which for the paper's data is |b_i / a_i| >= 1); the paper's
certificate (Holzmueller & Steinwart 2022) shows for others that gradient descent will never move a
kink across a data point (LOCALLY_CONVERGED). The study estimates
p_hat = 1 - (LOCALLY_CONVERGED + EARLY_STOPPED) / total  as a function of n.

Layout of this file: data and model; theory (step size, certificate); optimisers and the two
trainers (dense: O(n) per network-epoch, any optimiser; reduced: exact O(1) per network-epoch for
gd, momentum and sgd at any batch size), each running its epochs in a numba-compiled loop, with
its NumPy per-epoch reference (tests and benchmark only); the training loop with its stopping criteria; the Monte
Carlo runner and its chunk files; the probability of the theorem's event; benchmarks; the CLI.
"""
import hashlib
import time
from pathlib import Path

import numba
import numpy as np
from tqdm import trange

import custom_paths
from kinks.data import (
    X_DATA, Y_DATA, ActivityPatterns, DataSet, data_gap, init_params, kinks_crossed, loss_gradient,
    network_output, parse_data, sample_weights)
from kinks.checks import UsageError, as_list, check_choice, check_float, check_int, require
from kinks.figures import new_figure, save_figure
from kinks.files import load_json, load_npz, save_csv, save_json, save_npz
from kinks.parallel import backend_client, parallel_map
from kinks.stats import clopper_pearson
import utils

STATUSES = ("RUNNING", "CROSSED", "DIVERGED", "EARLY_STOPPED", "LOCALLY_CONVERGED",
            "A_DEGENERATE", "X_DEGENERATE", "UNFINISHED")
OPTIMIZERS = ("gd", "momentum", "sgd", "adam")
INITS = ("he", "swapped")
STEPS = ("theory", "small")
CRITERIA = ("crossing", "sufficient", "early")
ENGINES = ("auto", "dense", "reduced")
MOMENTUM = 0.9  # heavy ball beta
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
SGD_BATCH = 16  # samples drawn with replacement per sgd step: sgd = gd with --batch_size 16
EARLY_PATIENCE, EARLY_TOL = 10, 1e-8
CHUNK_FORMAT = "kinks-mc-chunk/1"


# ============================================================================ theory
Q_MATRIX = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
C_MATRIX = np.zeros((4, 4))
C_MATRIX[np.ix_([1, 3], [1, 3])] = 1.0  # the output bias c, shared by both sides


def symmetric_powers(S, powers):
    """[S^power for power in powers] for stacks of symmetric PSD matrices (..., k, k), from one
    eigendecomposition; negative powers are pseudo-inverse powers (eigenvalues below 1e-12 times
    the largest count as 0)."""
    lam, U = np.linalg.eigh(S)
    keep = lam > 1e-12 * np.maximum(lam[..., -1:], 0.0)
    safe = np.where(keep, lam, 1.0)
    return [(U * np.where(keep, safe**power, 0.0)[..., None, :]) @ np.swapaxes(U, -1, -2)
            for power in powers]


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
    theta_t = np.swapaxes(theta, 1, 2)
    return np.stack([(theta * side[:, None, :]) @ theta_t for side in (a > 0, a < 0)], axis=1)


def leak_mixing(leak):
    """L = [[I_2, alpha I_2], [alpha I_2, I_2]]: the affine function a leaky network has on data
    side s is Sigma_s[w, (a, b)] + alpha Sigma_{-s}[w, (a, b)] (units of the other side contribute
    with slope alpha), so on (slope_+, intercept_+, slope_-, intercept_-) the fits are L times
    the per-side unit sums; L = I for relu. (4, 4)."""
    return np.kron(np.array([[1.0, leak], [leak, 1.0]]), np.eye(2))


def reference_matrix(sigma, leak=0.0):
    """A_ref = L blockdiag(G_+, G_-) L^T + C with G_s = Sigma_s[ab, ab] + Sigma_s[w, w] I_2 and the
    mixing L of ``leak_mixing`` (the tangent kernel of the side fits): (P, 4, 4)."""
    A = np.zeros(sigma.shape[:1] + (4, 4))
    for s in range(2):
        G = sigma[:, s, :2, :2] + sigma[:, s, 2, 2][:, None, None] * np.eye(2)
        A[:, 2 * s:2 * s + 2, 2 * s:2 * s + 2] = G
    if leak:
        L = leak_mixing(leak)
        A = L @ A @ L.T
    return A + C_MATRIX


def theory_matrix(sigma, M_half, leak=0.0):
    """S = M^{1/2} A_ref M^{1/2}, (P, 4, 4)."""
    return M_half @ reference_matrix(sigma, leak) @ M_half


def theory_step_size(a, b, w, x, p, leak=0.0):
    """h = 1 / lambda_max(M^{1/2} A_ref M^{1/2}), the paper's step size, per network (P,). It is the
    inverse of the largest eigenvalue of the Gauss-Newton matrix J^T diag(p) J of the fits (for
    leak alpha > 0 with the mixed A_ref of ``reference_matrix``)."""
    [M_half] = symmetric_powers(data_matrix(x, p), [0.5])
    S = theory_matrix(unit_moments(a, b, w), M_half, leak)
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


def certify(a, b, c, w, x, y, p, h, sigma=None):
    """The paper's sufficient certificate that gradient descent with step h never moves a kink
    across a data point, vectorised over P networks; returns (P,) bool.

    psi_0 = M^{-1/2} u_hat; S = U diag(lambda) U^T; mu_k = 1 - h lambda_k; rho = max|mu_k| < 1;
    S_bound = 2h / (1 - rho); S_psi = sum_k h/|1 - mu_k| |(U^T psi_0)_k| ||u_k||_inf;
    kappa = 2 ||M^{1/2}||_inf S_psi < 1/2;
    D_s = kappa (Q|Sigma_s| + |Sigma_s| Q) + 8 kappa^2 e^{4 kappa} ||Sigma_s||_inf;
    delta = S_bound ||M^{1/2}||_inf^2 (G_w + G_ab + G_wab) <= 1/2;
    per unit: x_min (|a_i| - E_a,i) > |b_i| + E_b,i with E = kappa Q|theta_i| + 2 kappa^2 e^{2 kappa}
    max|theta_i| (for the paper's data x_min = 1). Networks whose kinks already passed a data point
    are never certified. ``sigma``: the unit moments (see ``unit_moments``) if already known."""
    x_min = np.min(np.abs(x))
    M_half, M_inv_half = symmetric_powers(data_matrix(x, p), [0.5, -0.5])
    sigma = unit_moments(a, b, w) if sigma is None else sigma
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


def degenerate_units(sigma):
    """All a_i of one sign, so one side has no unit (A_DEGENERATE): Sigma_s[a, a] = 0 for a side,
    from the unit moments (P, 2, 3, 3); (P,) bool."""
    return np.any(sigma[:, :, 0, 0] == 0, axis=1)


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
    """Minibatch weights Multinomial(B, p) / B from B uniforms per network: counts of the categories
    given by inverse-cdf sampling, (m, P). uniforms (P, B); cum_p (m, P) cumulative sums of p."""
    below = (uniforms[None, :, :] < cum_p[:-1, :, None]).sum(2)  # #{draws below cum_j}, (m-1, P)
    batch = uniforms.shape[1]
    counts = np.diff(below, prepend=0, append=batch, axis=0)
    return counts / batch


def advance_by_steps(trainer, epochs, p_t, cum_p, uniforms, crossed):
    """Run ``epochs`` epochs, each one ``trainer.step`` then ``trainer.crossed_now``. p_t (m, P):
    the weights p; cum_p (m, P) their cumulative sums; uniforms (epochs, P, B): the minibatch
    uniforms of each epoch, or None for full batch; crossed (P,) bool: the running crossing flag,
    updated in place. Returns (P,) int64: the epoch 1..epochs after which a network that had not
    crossed before crossed first, else -1."""
    first = np.full(len(crossed), -1, dtype=np.int64)
    for t in range(epochs):
        trainer.step(p_t if uniforms is None else minibatch_weights(uniforms[t], cum_p))
        new = trainer.crossed_now() & ~crossed
        first[new] = t + 1
        crossed |= new
    return first


# ============================================================================ trainers
class CompiledSteps:
    """``step``: one full-batch epoch through the trainer's compiled ``advance``, for callers that
    act between epochs (the soundness check, mc_minima's switch of engines at a crossing)."""

    def step(self, weights):
        """One gradient step of all networks on the data weights (m, P)."""
        weights = np.ascontiguousarray(weights, dtype=float)
        self.advance(1, weights, weights, None, np.zeros(len(self.h), dtype=bool))


class DenseTrainer(CompiledSteps):
    """P networks held as full parameter arrays theta = (a, b, w) (3, P, n), c (P,); gd, momentum,
    sgd (gd on minibatches) or adam, any leak. One epoch costs O(n) per network (see
    ActivityPatterns), run by the compiled ``dense_epochs``. Crossing is measured against the
    signs ``sign_a0`` of the initial a_i (default: the signs of ``a``). The optimiser state
    (momentum: velocity in ``m1``; adam: first and second moments ``m1``, ``m2``) has the shapes
    of theta and c; ``t`` counts the steps taken."""

    OPTIMIZER_CODES = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}

    def __init__(self, a, b, c, w, x, y, h, optimizer, sign_a0=None, leak=0.0):
        self.theta = np.array([a, b, w], dtype=float)
        self.c = np.array(c, dtype=float)
        self.x, self.y, self.h = x, y, np.array(h, dtype=float)
        self.gap = data_gap(x)
        self.sign_a0 = np.sign(self.a if sign_a0 is None else sign_a0)
        self.patterns = ActivityPatterns(x, leak)
        self.optimizer, self.t = optimizer, 0
        self.m1, self.m2 = np.zeros_like(self.theta), np.zeros_like(self.theta)
        self.m1c, self.m2c = np.zeros_like(self.c), np.zeros_like(self.c)

    a = property(lambda self: self.theta[0])
    b = property(lambda self: self.theta[1])
    w = property(lambda self: self.theta[2])

    def _params(self):
        return [self.a, self.b, self.c, self.w]

    def advance(self, epochs, p_t, cum_p, uniforms, crossed):
        """Run ``epochs`` epochs of all networks in one compiled call (``dense_epochs``) with the
        crossing test after each; see ``advance_by_steps`` for the arguments and the result."""
        first = np.full(len(self.h), -1, dtype=np.int64)
        dense_epochs(self.theta, self.c, self.m1, self.m1c, self.m2, self.m2c, self.t, self.h, self.x,
                     self.y, self.patterns.B, p_t, cum_p, empty_uniforms(epochs, uniforms), self.sign_a0,
                     np.array(self.gap), self.OPTIMIZER_CODES[self.optimizer], crossed, first)
        self.t += epochs
        return first

    def crossed_now(self):
        return kinks_crossed(self.a, self.b, self.sign_a0, self.gap)

    def params(self):
        """The current (a, b, c, w)."""
        return self.a, self.b, self.c, self.w

    def moments(self):
        """The unit moments Sigma_s, (P, 2, 3, 3)."""
        return unit_moments(self.a, self.b, self.w)

    def outputs(self):
        """f(x_j), (P, m)."""
        return self.patterns.output(self.patterns.codes(self.a, self.b), self.a, self.b, self.c, self.w)

    def check_units(self):
        """The units the certificate's per-unit test must pass: all of them, (a, b, w) each (P, n)."""
        return self.a, self.b, self.w

    def finite(self):
        """No parameter is inf or nan, (P,) bool."""
        return np.all([np.isfinite(q).all(1) for q in (self.a, self.b, self.w)], axis=0) & np.isfinite(self.c)

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds."""
        for name in ("c", "h", "sign_a0", "m1c", "m2c"):
            setattr(self, name, getattr(self, name)[mask])
        for name in ("theta", "m1", "m2"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[:, mask]))


class ReferenceDenseTrainer(DenseTrainer):
    """The dense trainer one NumPy step per epoch (``loss_gradient``, ``Optimizer``): the
    independent computation the tests hold the compiled ``dense_epochs`` to, and the benchmark's
    baseline. Not used by runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference_optimizer = Optimizer(self.optimizer, self._params())

    def step(self, weights):
        ga, gb, gc, gw, _ = loss_gradient(self.a, self.b, self.c, self.w, self.x, self.y, weights.T,
                                          self.patterns)
        self.reference_optimizer.update(self._params(), [ga, gb, gc, gw], self.h)

    def advance(self, epochs, p_t, cum_p, uniforms, crossed):
        return advance_by_steps(self, epochs, p_t, cum_p, uniforms, crossed)

    def keep(self, mask):
        super().keep(mask)
        self.reference_optimizer.keep(mask)


@numba.njit(cache=True, error_model="numpy")  # x / 0 = inf as in NumPy: no branch per division
def optimizer_update(q, g, m1, m2, h, code, bias1, bias2):
    """One optimiser update of one parameter q with gradient g and state (m1, m2), as ``Optimizer``:
    code 0 gd, 1 momentum (m1 = velocity), 2 adam (bias1 = 1 - beta1^t, bias2 = 1 - beta2^t).
    Returns the new (q, m1, m2)."""
    if code == 1:
        m1 = MOMENTUM * m1 + g
        return q - h * m1, m1, m2
    if code == 2:
        m1 = ADAM_BETAS[0] * m1 + (1 - ADAM_BETAS[0]) * g
        m2 = ADAM_BETAS[1] * m2 + (1 - ADAM_BETAS[1]) * g * g
        return q - h * (m1 / bias1) / (np.sqrt(m2 / bias2) + ADAM_EPS), m1, m2
    return q - h * g, m1, m2


PARTIAL_SUMS = 4  # the per-code sums of dense_epochs accumulate unit i in column i mod 4 (a power of 2)


@numba.njit(cache=True, inline="always")
def update_row(q, m1, m2, g, h, code, bias1, bias2):
    """``optimizer_update`` of every entry of one parameter row q (n,) with its state and gradient."""
    for i in range(q.shape[0]):
        q[i], m1[i], m2[i] = optimizer_update(q[i], g[i], m1[i], m2[i], h, code, bias1, bias2)


@numba.njit(cache=True, inline="always")
def update_units(a, b, w, m1, m2, k, codes, R, Rx, h, code, bias1, bias2, grads):
    """The units' gradients (w_i Rx_g, w_i R_g, a_i Rx_g + b_i R_g), g = codes[i], and the
    optimiser update of network k's (a, b, w) (n,) each; m1, m2 (3, P, n) the optimiser state, grads (3, n)
    scratch. ``code`` must be a constant: gd then updates in the same loop, the others write the
    gradients first and update row by row, so that the compiler vectorises every loop."""
    if code == 0:
        for i in range(a.shape[0]):
            g_x, g_1 = Rx[codes[i]], R[codes[i]]
            ga, gb, gw = w[i] * g_x, w[i] * g_1, a[i] * g_x + b[i] * g_1
            a[i], b[i], w[i] = a[i] - h * ga, b[i] - h * gb, w[i] - h * gw
        return
    for i in range(a.shape[0]):
        g_x, g_1 = Rx[codes[i]], R[codes[i]]
        grads[0, i], grads[1, i], grads[2, i] = w[i] * g_x, w[i] * g_1, a[i] * g_x + b[i] * g_1
    for row, q in enumerate((a, b, w)):
        update_row(q, m1[row, k], m2[row, k], grads[row], h, code, bias1, bias2)


@numba.njit(cache=True, error_model="numpy")
def dense_epochs(theta, c, m1, m1c, m2, m2c, t0, h, x, y, B, p_t, cum_p, uniforms, sign_a0, gap,
                 code, crossed, first):
    """``uniforms.shape[0]`` epochs of the dense trainer (arrays as in ``DenseTrainer``; B (G, m) the
    slopes of the activity patterns), each a step then the crossing test; updated in place.
    Epoch t of network k, O(n + G m): pattern code g_i of every unit (``ActivityPatterns.codes``);
    per-code sums of w_i a_i and w_i b_i (in PARTIAL_SUMS interleaved partial sums, so that units of
    one code do not wait on each other); f_j = c + x_j sum_g B_gj Sigma_g[wa] + sum_g B_gj Sigma_g[wb];
    r_j = p_j (f_j - y_j); per code R_g = sum_j B_gj r_j, Rx_g = sum_j B_gj r_j x_j; gradients
    (w_i Rx_g, w_i R_g, a_i Rx_g + b_i R_g) and sum_j r_j (``loss_gradient``); the optimiser update
    (step t0 + t + 1, ``update_units``); then ``kinks_crossed``: crossed[k] = True, first[k] = t + 1
    for a network not crossed before. One network at a time through all its epochs, its units the
    inner loops."""
    m, P, n, G, epochs = len(x), theta.shape[1], theta.shape[2], B.shape[0], uniforms.shape[0]
    x_left, x_right = gap[0], gap[1]
    weights = np.empty((m, 1))
    codes = np.empty(n, dtype=np.int64)
    wa, wb = np.empty((G, PARTIAL_SUMS)), np.empty((G, PARTIAL_SUMS))
    R, Rx, r, grads = np.empty(G), np.empty(G), np.empty(m), np.empty((3, n))
    for k in range(P):
        a, b, w = theta[0, k], theta[1, k], theta[2, k]
        for t in range(epochs):
            if t == 0 or uniforms.shape[2] > 0:
                block_weights(weights, t, k, k + 1, p_t, cum_p, uniforms)
            codes[:] = 0
            for j in range(m):
                for i in range(n):
                    codes[i] += a[i] * x[j] + b[i] > 0
            wa[:], wb[:] = 0.0, 0.0
            for i in range(n):
                codes[i] += (m + 1) * (a[i] < 0)
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
                r[j] = weights[j, 0] * (c[k] + fa * x[j] + fb - y[j])
                gc += r[j]
            for g in range(G):
                R[g], Rx[g] = 0.0, 0.0
                for j in range(m):
                    R[g] += r[j] * B[g, j]
                    Rx[g] += r[j] * x[j] * B[g, j]
            step = t0 + t + 1
            bias1, bias2 = 1 - ADAM_BETAS[0] ** step, 1 - ADAM_BETAS[1] ** step
            if code == 0:  # one call per optimiser, each with a constant code (see update_units)
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 0, bias1, bias2, grads)
            elif code == 1:
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 1, bias1, bias2, grads)
            else:
                update_units(a, b, w, m1, m2, k, codes, R, Rx, h[k], 2, bias1, bias2, grads)
            c[k], m1c[k], m2c[k] = optimizer_update(c[k], gc, m1c[k], m2c[k], h[k], code, bias1, bias2)
            hit = False
            for i in range(n):
                a_, b_ = sign_a0[k, i] * a[i], sign_a0[k, i] * b[i]
                hit |= (-b_ >= x_right * a_) | (b_ >= x_left * a_)
            first[k] = t + 1 if hit and not crossed[k] else first[k]
            crossed[k] |= hit


class ReducedTrainer(CompiledSteps):
    """Exact O(1)-per-epoch training for gd, momentum and sgd (gd on minibatch weights, any batch
    size) while no kink has reached a data point; relu or leaky relu.

    While every kink stays in the gap between the data points next to 0, unit i of side s
    (sign a_i = s) has slope sigma' = 1 on the data of sign s and alpha on the other side's data
    (relu: alpha = 0, inactive there). So the network is affine on each side,
    f(x) = c + x F_s[a] + F_s[b] for x of sign s, with F_s = Sigma_s[w, .] + alpha Sigma_{-s}[w, .]
    (``leak_mixing``), and with r_j = p_j (f(x_j) - y_j) the gradient of a unit of side s is
    dL/d(a_i, b_i, w_i) = K_s theta_i,  K_s = [[0, 0, G1], [0, 0, G2], [G1, G2, 0]],
    G1 = sum_{j in s} r_j x_j + alpha sum_{j in -s} r_j x_j,  G2 = sum_{j in s} r_j + alpha sum_{j in -s} r_j
    (each point weighted by the unit's slope there). K_s is the same for every unit of the side: a
    step moves them all by one matrix, theta_i <- (I - h K_s) theta_i. Both G_s and the fits are
    one (m, 4) matrix away from r and from the per-side sums, E[j] = sigma' (x_j, 1) placed in the
    columns (slope, intercept) of both sides (1 for the own side, alpha for the other). Hence
    theta_i(t) = T_s(t) theta_i(0); as b(0) = 0 only the columns (a, w) of T_s matter.
    Momentum carries a second map V_s for the velocities: V <- beta V + K T, T <- T - h V. Adam
    cannot be reduced: it divides every coordinate of every unit by its own running gradient
    norm, so units of one side no longer move by one shared linear map.
    Arrays are stored side-major, networks last: T (3 rows a,b,w; 2 columns a,w; 2 sides; P).
    Once a network has crossed its trajectory is no longer the true one, but it is CROSSED at the
    next check either way.

    Crossing test per epoch (see ``kinks_crossed``, gap (x_left, x_right)): with r_i = w_i(0) / a_i(0),
    unit i of side s has a_i(t) = a_i(0) (T_aa + T_aw r_i), b_i(t) = a_i(0) (T_ba + T_bw r_i), so
    with A(r) = T_aa + T_aw r, B(r) = T_ba + T_bw r it has crossed iff
    phi(r_i) = max(-B(r_i) - x_right A(r_i), B(r_i) - x_left A(r_i)) >= 0. phi is convex in r, so its
    maximum over a side's units is at the smallest or the largest r_i: O(1) per network and epoch."""

    def __init__(self, a, b, c, w, x, y, h, optimizer, leak=0.0):
        require(np.all(b == 0), "the reduced trainer needs b(0) = 0")
        require(optimizer in ("gd", "momentum", "sgd"), f"the reduced trainer cannot train {optimizer}")
        self.x, self.y, self.h, self.optimizer = x, y, np.array(h, dtype=float), optimizer
        self.gap = data_gap(x)
        own = np.stack([x > 0, x < 0], axis=1).astype(float)  # (m, 2)
        slopes = own + leak * own[:, ::-1]  # sigma' of the units of each side at each point
        self.E = np.concatenate([slopes * x[:, None], slopes], axis=1)  # (m, 4)
        self.a0, self.w0 = np.array(a, dtype=float), np.array(w, dtype=float)
        self.plus = self.a0 > 0  # (P, n)
        sides = np.stack([self.plus, ~self.plus])  # (2, P, n)
        s_aa = np.sum(sides * self.a0**2, axis=2)  # Sigma_s(0) entries, (sides, P)
        s_aw = np.sum(sides * self.a0 * self.w0, axis=2)
        s_ww = np.sum(sides * self.w0**2, axis=2)
        self.sigma0 = np.array([[s_aa, s_aw], [s_aw, s_ww]])  # Sigma_s(0) on (a, w), (2, 2, sides, P)
        P = len(self.h)
        self.T = np.zeros((3, 2, 2, P))
        self.T[0, 0] = self.T[2, 1] = 1.0
        self.V = np.zeros_like(self.T) if optimizer == "momentum" else None
        self.c = np.array(c, dtype=float)
        self.vc = np.zeros(P)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.w0 / self.a0
        self.nonempty = sides.any(2)  # (2, P)
        r_min = np.where(sides, ratio, np.inf).min(2)
        r_max = np.where(sides, ratio, -np.inf).max(2)
        self.r_ends = np.where(self.nonempty, np.stack([r_min, r_max]), 0.0)  # per side, (2, 2, P)

    def _side_fits(self):
        """The per-side unit sums (Sigma_+[w, a], Sigma_-[w, a], Sigma_+[w, b], Sigma_-[w, b]) (the
        sides' slopes and intercepts for relu; ``E`` mixes them for a leak), from
        Sigma_s = T_s Sigma_s(0) T_s^T: (4, P)."""
        T_w = self.T[2]  # (columns a and w, sides, P)
        u = T_w[0] * self.sigma0[0] + T_w[1] * self.sigma0[1]  # row w of T Sigma(0), columns a, w
        return (u[0] * self.T[:2, 0] + u[1] * self.T[:2, 1]).reshape(4, -1)

    def advance(self, epochs, p_t, cum_p, uniforms, crossed):
        """Run ``epochs`` epochs of all networks in one compiled call (``reduced_epochs``) with the
        crossing test after each; see ``advance_by_steps`` for the arguments and the result."""
        first = np.full(len(self.h), -1, dtype=np.int64)
        momentum = self.optimizer == "momentum"
        V = self.V if momentum else self.T  # read, never written, without momentum
        reduced_epochs(self.T, V, self.c, self.vc, self.h, self.sigma0, self.E, self.y, p_t, cum_p,
                       empty_uniforms(epochs, uniforms), self.r_ends, self.nonempty,
                       np.array(self.gap), momentum, crossed, first)
        return first

    def crossed_now(self):
        """Whether any unit has crossed now (see ``kinks_crossed``), (P,) bool."""
        (T_aa, T_aw), (T_ba, T_bw) = self.T[0], self.T[1]
        r = self.r_ends
        A, B = T_aa + T_aw * r, T_ba + T_bw * r  # (ends, sides, P)
        x_left, x_right = self.gap
        phi = np.maximum(-B - x_right * A, B - x_left * A)
        hit = (np.maximum(phi[0], phi[1]) >= 0) & self.nonempty
        return hit[0] | hit[1]

    def params(self):
        """(a, b, c, w) reconstructed as theta_i = T_s theta_i(0), O(n) per network."""
        def unit_coef(row, col):  # the T entry of each unit's side, (P, n)
            return np.where(self.plus, self.T[row, col, 0][:, None], self.T[row, col, 1][:, None])
        a, b, w = (unit_coef(row, 0) * self.a0 + unit_coef(row, 1) * self.w0 for row in range(3))
        return a, b, self.c, w

    def moments(self):
        """Sigma_s = T_s Sigma_s(0) T_s^T, O(1) per network: (P, 2, 3, 3)."""
        return np.einsum("iksp,klsp,jlsp->psij", self.T, self.sigma0, self.T)

    def outputs(self):
        """f(x_j) from each side's affine function, (P, m)."""
        return (self.c + self.E @ self._side_fits()).T

    def check_units(self):
        """Stand-ins for all units in the certificate's per-unit test, (a, b, w) each (P, 4).

        Unit i of side s is theta_i(t) = a_i(0) v(r_i) with v(r) = T_s (1, 0, r) linear in r. The test
        x_min (|a| - E_a) > |b| + E_b is positively homogeneous in theta, so it may use v(r_i); while
        no unit has crossed, v_a > 0 between the side's extreme r_i, and there the test's violation
        |v_b| + (1 + x_min) E - x_min v_a is convex in r. So the units v(r_min), v(r_max) of each
        side pass it only if every unit does. An empty side repeats the other side's units."""
        v = self.T[:, 0, None] + self.T[:, 1, None] * self.r_ends  # (3, ends, sides, P)
        v = np.where(self.nonempty, v, v[:, :, ::-1])
        a, b, w = v.reshape(3, 4, -1).transpose(0, 2, 1)
        return a, b, w

    def finite(self):
        """No map entry and no c is inf or nan, (P,) bool."""
        return np.isfinite(self.T).all((0, 1, 2)) & np.isfinite(self.c)

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds."""
        for name in ("h", "c", "vc", "a0", "w0", "plus"):
            setattr(self, name, getattr(self, name)[mask])
        for name in ("nonempty", "T", "V", "r_ends", "sigma0"):  # networks on the last axis
            value = getattr(self, name)
            if value is not None:  # indexing the last axis leaves it strided: copy to contiguous
                setattr(self, name, np.ascontiguousarray(value[..., mask]))


class ReferenceReducedTrainer(ReducedTrainer):
    """The reduced trainer one NumPy step per epoch: the independent computation the tests hold
    the compiled ``reduced_epochs`` to, and the benchmark's baseline. Not used by runs."""

    def step(self, weights):
        """One step of all networks on the data weights (m, P). The velocities are kept as
        h V (h is fixed per network): h V <- beta h V + h K T, T <- T - h V."""
        r = weights * (self.E @ self._side_fits() + self.c - self.y[:, None])  # p_j (f(x_j) - y_j)
        hG = (self.h * (self.E.T @ r)).reshape(2, 1, 2, -1)  # h (G1, G2) per side
        hKT = np.concatenate([hG * self.T[2], (hG * self.T[:2]).sum(0, keepdims=True)])  # h K_s T_s
        h_gc = self.h * r.sum(0)
        if self.optimizer == "momentum":
            self.V *= MOMENTUM
            self.V += hKT
            self.T -= self.V
            self.vc = MOMENTUM * self.vc + h_gc
            self.c -= self.vc
        else:
            self.T -= hKT
            self.c -= h_gc


    def advance(self, epochs, p_t, cum_p, uniforms, crossed):
        return advance_by_steps(self, epochs, p_t, cum_p, uniforms, crossed)


def empty_uniforms(epochs, uniforms):
    """The minibatch uniforms (epochs, P, B) as given, or an (epochs, 0, 0) array for full batch."""
    return np.empty((epochs, 0, 0)) if uniforms is None else uniforms


@numba.njit(cache=True)
def block_weights(weights, t, start, stop, p_t, cum_p, uniforms):
    """The data weights of epoch t for networks start..stop-1 into ``weights`` (m, >= stop - start): p for
    full batch (no uniforms), else Multinomial(B, p) / B by inverse-cdf sampling: a draw u falls
    in category j = #{k < m - 1: cum_p_k <= u} (the counts of ``minibatch_weights``)."""
    m, batch = p_t.shape[0], uniforms.shape[2]
    for k in range(start, stop):
        if batch == 0:
            for j in range(m):
                weights[j, k - start] = p_t[j, k]
            continue
        for j in range(m):
            weights[j, k - start] = 0.0
        for draw in range(batch):
            u, j = uniforms[t, k, draw], 0
            while j < m - 1 and u >= cum_p[j, k]:
                j += 1
            weights[j, k - start] += 1.0
        for j in range(m):
            weights[j, k - start] /= batch


# The compiled reduced loop works on blocks of LANES networks. A block's whole state is copied into
# one scratch array Z (ROWS, LANES), one row per quantity, networks along the row, and every epoch
# is a few loops over the block's lanes whose rows lie at constant offsets: the compiler can see
# that they never overlap and runs LANES networks side by side in SIMD registers. 64 lanes keep
# Z (50 rows, 25 kB) in the L1 cache.
LANES = 64
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
            Z[Z_SIGMA + 3 * s, l], Z[Z_SIGMA + 3 * s + 1, l], Z[Z_SIGMA + 3 * s + 2, l] = S[s, k], S[2 + s, k], S[6 + s, k]
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
def reduced_epochs(T, V, c, vc, h, sigma0, E, y, p_t, cum_p, uniforms, r_ends, nonempty, gap,
                   momentum, crossed, first):
    """``uniforms.shape[0]`` epochs of the reduced trainer (arrays as in ``ReducedTrainer``,
    networks last), each a step then the crossing test; updated in place. Epoch t of a network:
    fits F = Sigma_s[w, (a, b)] from T_s Sigma_s(0) T_s^T; r_j = p_j (E_j F + c - y_j); h G = h E^T r;
    the maps' step and likewise c (``lane_step``). A network not yet ``crossed`` whose phi at a
    side's extreme r_i is >= 0 gets crossed[k] = True, first[k] = t + 1. Blocks of LANES networks
    go through all their epochs in the scratch Z (``load_block``); each network's arithmetic is
    the same whatever its lane, so results do not depend on the block a network falls in."""
    m, P, epochs = E.shape[0], h.shape[0], uniforms.shape[0]
    x_left, x_right = gap[0], gap[1]
    weights = np.zeros((m, LANES))
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
            if t == 0 or uniforms.shape[2] > 0:
                block_weights(weights, t, start, stop, p_t, cum_p, uniforms)
            lane_gradient_sums(Z, weights, E, y)
            if momentum:  # two loops, each with a constant flag, so that both vectorise
                for l in range(LANES):
                    lane_step(Z, l, t, x_left, x_right, True)
            else:
                for l in range(LANES):
                    lane_step(Z, l, t, x_left, x_right, False)
        store_block(Z, start, stop, T, V, c, vc, crossed, first, momentum)


# ============================================================================ training loop
def check_stops(trainer, x, y, q, p, h, stopping, early):
    """The stopping criteria of one check for the running networks, in the paper's order
    (a later status overrides an earlier one): EARLY_STOPPED < LOCALLY_CONVERGED < A_DEGENERATE
    < X_DEGENERATE. ``early`` holds the running best validation loss and wait count (P,) and is
    updated in place. Returns the new status per network ('' = keeps running), (P,)."""
    status = np.full(len(h), "", dtype="<U17")
    if "early" in stopping:
        V = np.sum(q * (y - trainer.outputs()) ** 2, axis=1)
        better = V < early["best"] - EARLY_TOL
        early["best"] = np.where(better, V, early["best"])
        early["wait"] = np.where(better, 0, early["wait"] + 1)
        status[early["wait"] >= EARLY_PATIENCE] = "EARLY_STOPPED"
    if "sufficient" in stopping:
        sigma = trainer.moments()
        a, b, w = trainer.check_units()
        status[certify(a, b, trainer.c, w, x, y, p, h, sigma)] = "LOCALLY_CONVERGED"
        status[degenerate_units(sigma)] = "A_DEGENERATE"
        status[degenerate_data(x, p)] = "X_DEGENERATE"
    return status


def batch_of(optimizer, batch_size=None):
    """The minibatch size B of a run, or None for full batch: ``batch_size`` ('full' or B), by
    default 16 for sgd (gd on minibatches of 16, the published sgd) and full batch otherwise."""
    if batch_size is None:
        return SGD_BATCH if optimizer == "sgd" else None
    return None if batch_size == "full" else int(batch_size)


def epoch_blocks(epochs, draws_per_epoch, max_draws=2**22):
    """Split ``epochs`` into blocks of at most ``max_draws`` minibatch uniforms (32 MB) each."""
    size = max(1, max_draws // max(draws_per_epoch, 1))
    return [min(size, epochs - start) for start in range(0, epochs, size)]


def train(trainer, x, y, p, q, h, optimizer, stopping, epochs_per_check, max_checks, rng,
          keep_params=False, batch_size=None):
    """Train until every network has stopped or ``max_checks`` checks have passed.

    Every epoch: one step of all running networks, then the crossing test (a running flag:
    has any kink left the gap of ``data_gap`` so far), run by ``trainer.advance`` many epochs at
    a time. Every ``epochs_per_check`` epochs: CROSSED
    networks leave first, then non-finite ones (DIVERGED), then ``check_stops``; stopped networks
    are dropped from the working arrays. With a minibatch size B (see ``batch_of``) each step uses
    weights Multinomial(B, p) / B from ``rng``: one (P, B) block of uniforms per epoch for all P
    networks of the chunk (drawn for several epochs at once, the same numbers in the same order),
    so the draws of a network do not depend on when the others stop.
    Returns a dict of (P,) arrays: status, stop_epoch, first_cross_epoch, step_size, and
    (a, b, c, w) at the stop when ``keep_params``."""
    batch = batch_of(optimizer, batch_size)
    P = len(h)
    out = {"status": np.full(P, "UNFINISHED", dtype="<U17"),
           "stop_epoch": np.full(P, epochs_per_check * max_checks, dtype=np.int64),
           "first_cross_epoch": np.full(P, -1, dtype=np.int64), "step_size": h.copy()}
    if keep_params:
        out.update(a=np.zeros_like(trainer.params()[0]), b=None, c=np.zeros(P), w=None)
        out["b"], out["w"] = np.zeros_like(out["a"]), np.zeros_like(out["a"])
    alive = np.arange(P)
    p_t = np.ascontiguousarray(p.T)  # weights are passed data-major, (m, P)
    cum_p = np.cumsum(p_t, axis=0)
    early = {"best": np.full(P, np.inf), "wait": np.zeros(P, dtype=np.int64)}
    crossed = trainer.crossed_now()
    out["first_cross_epoch"][crossed] = 0
    epoch = 0
    for _ in range(max_checks):
        for epochs in epoch_blocks(epochs_per_check, P * (batch or 0)):
            uniforms = np.ascontiguousarray(rng.random((epochs, P, batch))[:, alive]) if batch else None
            first = trainer.advance(epochs, p_t, cum_p, uniforms, crossed)
            new = first >= 0
            out["first_cross_epoch"][alive[new]] = epoch + first[new]
            epoch += epochs
        status = check_stops(trainer, x, y, q, p, h, stopping, early)
        status[~trainer.finite()] = "DIVERGED"
        status[crossed] = "CROSSED"
        stop = status != ""
        if keep_params:
            for name, value in zip("abcw", trainer.params()):
                out[name][alive[stop]] = value[stop]
        out["status"][alive[stop]] = status[stop]
        out["stop_epoch"][alive[stop]] = epoch
        run = ~stop
        alive, p, q, h, crossed = alive[run], p[run], q[run], h[run], crossed[run]
        p_t, cum_p = np.ascontiguousarray(p_t[:, run]), np.ascontiguousarray(cum_p[:, run])
        early = {k: v[run] for k, v in early.items()}
        trainer.keep(run)
        if len(alive) == 0:
            break
    if keep_params and len(alive):
        for name, value in zip("abcw", trainer.params()):
            out[name][alive] = value
    return out


# ============================================================================ Monte Carlo runner
PAPER = dict(offsets=[0.0, 0.01, 0.1], widths=[2**k for k in range(4, 12)], runs=10_000)
PRESETS = {
    "quick": dict(offsets=[0.0, 0.1], widths=[16, 32, 64], runs=500),
    "paper": PAPER,
    "paper_sgd": dict(PAPER, optimizer="sgd", step="small"),
    "paper_adam": dict(PAPER, optimizer="adam", batch_size=16, step="small"),  # dense: about 2 h on 2 cores
    "paper_swapped": dict(PAPER, init="swapped", epochs_per_check=100, max_checks=10_000),
    "leaky": dict(offsets=[0.0], widths=[16, 32, 64, 128, 256], runs=2000, leak=0.1),
}
PRESET_DEFAULTS = dict(optimizer="gd", step="theory", init="he", seed=0, epochs_per_check=None,
                       max_checks=None, engine="auto", chunk_size=None, save_params=False,
                       batch_size=None, leak=0.0, data=None, probs=None)


def complete_config(config):
    """A run configuration with the fields added after its format was fixed, given their old
    meaning where missing (run directories written before them): batch_size 16 for sgd, else
    'full'; leak 0; the paper's data with uniform probabilities."""
    old = {"batch_size": SGD_BATCH if config.get("optimizer") == "sgd" else "full", "leak": 0.0,
           "data": np.stack([X_DATA, Y_DATA], 1).tolist(), "probs": DataSet().probs.tolist()}
    return {**old, **config}


def certificate_applies(optimizer, batch_size="full", leak=0.0):
    """The certificate is proved for full-batch gradient descent on relu networks only."""
    return optimizer == "gd" and batch_size == "full" and leak == 0


def default_stopping(optimizer, batch_size="full", leak=0.0):
    """crossing + sufficient where the certificate applies, else crossing + early."""
    applies = certificate_applies(optimizer, batch_size, leak)
    return ["crossing", "sufficient"] if applies else ["crossing", "early"]


def resolve_engine(engine, optimizer):
    """'auto' -> 'reduced' where it is exact (gd, momentum, sgd at any batch size and leak;
    b(0) = 0 for both inits), else 'dense' (adam, see ``ReducedTrainer``)."""
    if engine == "auto":
        return "dense" if optimizer == "adam" else "reduced"
    require(not (engine == "reduced" and optimizer == "adam"),
            "--engine reduced cannot train adam: its per-parameter scaling breaks the shared "
            "per-side linear map; use --engine dense or auto")
    return engine


def check_batch_size(optimizer, batch_size):
    """'full' or an integer B >= 1; sgd is gd with B = 16 and takes no other batch size."""
    if optimizer == "sgd":
        require(batch_size in (None, SGD_BATCH), f"--batch_size: sgd is gd with batch size {SGD_BATCH}; "
                f"for batch size {batch_size} use --optimizer gd --batch_size {batch_size}")
        return SGD_BATCH
    if batch_size is None or batch_size == "full":
        return "full"
    return check_int("batch_size", batch_size, 1)


def default_chunk_size(width, engine):
    """Networks per chunk: dense holds O(P n) floats per epoch, so P n ~ 2^16; the reduced trainer
    costs O(P) per epoch and needs many networks per chunk to amortise the per-epoch overhead."""
    target = 2**16 // width if engine == "dense" else 4096
    return int(min(4096, max(16, target)))


def make_config(preset="quick", optimizer=None, step=None, init=None, stopping=None, offsets=None,
                widths=None, runs=None, seed=None, epochs_per_check=None, max_checks=None,
                engine=None, chunk_size=None, save_params=None, batch_size=None, leak=None,
                data=None, probs=None):
    """The validated run configuration (a plain dict): preset values, overridden by given options."""
    check_choice("preset", preset, tuple(PRESETS))
    given = {k: v for k, v in locals().items() if k != "preset" and v is not None}
    config = {**PRESET_DEFAULTS, **PRESETS[preset], **given}
    check_choice("optimizer", config["optimizer"], OPTIMIZERS)
    check_choice("step", config["step"], STEPS)
    check_choice("init", config["init"], INITS)
    check_choice("engine", config["engine"], ENGINES)
    config["batch_size"] = check_batch_size(config["optimizer"], config["batch_size"])
    config["leak"] = check_float("leak", config["leak"], 0.0)
    require(config["leak"] < 1, f"--leak must be in [0, 1); got {config['leak']!r}")
    dataset = parse_data(config.pop("data"), config.pop("probs"))
    config["data"], config["probs"] = np.stack([dataset.x, dataset.y], 1).tolist(), dataset.probs.tolist()
    swapped = config["init"] == "swapped" and config["epochs_per_check"] is None \
        and config["max_checks"] is None
    for option, usual, for_swapped in (("epochs_per_check", 1000, 100), ("max_checks", 1000, 10_000)):
        config[option] = config[option] if config[option] is not None else (for_swapped if swapped else usual)
    training = (config["optimizer"], config["batch_size"], config["leak"])
    criteria = as_list("stopping", config.get("stopping") or default_stopping(*training),
                             lambda o, v: check_choice(o, v, CRITERIA))
    require("sufficient" not in criteria or certificate_applies(*training),
            f"--stopping sufficient needs --optimizer gd, --batch_size full and --leak 0: the "
            f"certificate is proved for full-batch gradient descent on relu networks only, not for "
            f"{run_label(config)} (use crossing,early)")
    config["stopping"] = sorted(set(criteria) | {"crossing"}, key=CRITERIA.index)
    config["offsets"] = as_list("offsets", config["offsets"], check_float)
    config["widths"] = as_list("widths", config["widths"], lambda o, v: check_int(o, v, 2))
    for option in ("runs", "epochs_per_check", "max_checks"):
        config[option] = check_int(option, config[option], 1)
    config["seed"] = check_int("seed", config["seed"], 0)
    config["save_params"] = bool(config["save_params"])
    config["engine"] = resolve_engine(config["engine"], config["optimizer"])
    if config["chunk_size"] is not None:
        config["chunk_size"] = check_int("chunk_size", config["chunk_size"], 1)
    config["chunk_sizes"] = [config["chunk_size"] or default_chunk_size(n, config["engine"])
                             for n in config["widths"]]
    del config["chunk_size"]
    return config


EXTENT = ("offsets", "widths", "runs", "chunk_sizes")  # what an extension of a run directory may grow
USER_OPTIONS = ("optimizer", "init", "step", "stopping", "engine", "offsets", "widths", "runs", "seed",
                "epochs_per_check", "max_checks", "chunk_sizes", "save_params", "batch_size", "leak",
                "data", "probs")  # config keys set by options


def study_settings(config):
    """The settings every chunk of a run directory shares: the configuration without its extent
    (offsets, widths, runs, chunk sizes), which an extension may grow."""
    return {key: value for key, value in complete_config(config).items() if key not in EXTENT}


def chunk_size_of(config, width):
    """The networks per chunk at ``width``."""
    return dict(zip(config["widths"], config["chunk_sizes"]))[width]


def option_text(key, value):
    """How a configuration value is typed on the command line: ('--chunk_size', '4096') for the
    chunk sizes, ('--widths', '16,32') for lists, ('--save_params', 'true') for booleans."""
    if key == "chunk_sizes":
        key, value = "chunk_size", value[0] if len(set(value)) == 1 else value
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, (list, tuple)):
        value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"--{key}", str(value)


def run_label(config):
    """'optimizer[, batch B], init, step[, leak alpha][, data ...]': the parts that differ from
    the published gd runs on the paper's data."""
    config = complete_config(config)
    parts = [config["optimizer"]]
    if config["batch_size"] != batch_of(config["optimizer"]) and config["batch_size"] != "full":
        parts.append(f"batch {config['batch_size']}")
    parts += [f"{config['init']} init", f"{config['step']} step"]
    if config["leak"]:
        parts.append(f"leak {config['leak']:g}")
    dataset = DataSet.from_config(config)
    if not dataset.is_paper():
        parts.append(f"data {dataset.label()}")
    return ", ".join(parts)


def chunk_path(run_dir, offset, width, chunk):
    """<run dir>/delta_<offset>/n_<width>/chunk_<k>.npz (its JSON twin has suffix .json)."""
    return Path(run_dir) / f"delta_{float(offset)!r}" / f"n_{width}" / f"chunk_{chunk:05d}.npz"


def chunk_tasks(run_dir, config):
    """One task per (offset, width, chunk): plain dicts, in a fixed order. Chunk k of a width
    with chunk size s holds the runs k s ... min((k + 1) s, runs) - 1, so more runs add chunks
    after the existing ones and only a partial last chunk changes (it grows)."""
    tasks = []
    for offset in config["offsets"]:
        for width, size in zip(config["widths"], config["chunk_sizes"]):
            for chunk, start in enumerate(range(0, config["runs"], size)):
                tasks.append(dict(run_dir=str(run_dir), config=config, offset=offset, width=width,
                                  chunk=chunk, runs=min(size, config["runs"] - start)))
    return tasks


def chunk_seed(config, offset, width, chunk):
    """The chunk's SeedSequence: master seed, spawn key (bits of the offset, width, chunk index),
    so every chunk's numbers are fixed whatever the number of workers or the order of work."""
    offset_key = int(np.float64(offset).view(np.uint64))
    return np.random.SeedSequence(config["seed"], spawn_key=(offset_key, width, chunk))


def draw_problems(rng, runs, width, offset, init, step, data=None, leak=0.0):
    """The random part of ``runs`` Monte Carlo runs, in a fixed order of draws: data (x, y),
    weights p and q (runs, m) from the DataSet ``data`` (default the paper's), initial
    (a, b, c, w) and step sizes h (runs,)."""
    data = data or DataSet()
    x, y = data.x, data.y + offset
    p = sample_weights(rng, runs, width**2, probs=data.probs)
    q = sample_weights(rng, runs, width**2, probs=data.probs)
    a, b, c, w = init_params(rng, runs, width, init)
    h = theory_step_size(a, b, w, x, p, leak) if step == "theory" else np.full(runs, 0.01 / width)
    return x, y, p, q, (a, b, c, w), h


def make_trainer(config, a, b, c, w, x, y, h, reference=False):
    """The configuration's engine set up on the networks (a, b, c, w); its NumPy reference
    (``benchmark`` only) when ``reference``."""
    engines = {"reduced": (ReducedTrainer, ReferenceReducedTrainer), "dense": (DenseTrainer, ReferenceDenseTrainer)}
    trainer_class = engines[config["engine"]][reference]
    return trainer_class(a, b, c, w, x, y, h, config["optimizer"], leak=config["leak"])


def simulate_chunk(config, offset, width, chunk, runs, reference=False):
    """Train one chunk of networks (with the NumPy reference engine when ``reference``, see
    ``benchmark``); returns the dict of result arrays (see ``train``)."""
    config = complete_config(config)
    rng = np.random.default_rng(chunk_seed(config, offset, width, chunk))
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, runs, width, offset, config["init"], config["step"],
                                                DataSet.from_config(config), config["leak"])
    return train(make_trainer(config, a, b, c, w, x, y, h, reference), x, y, p, q, h, config["optimizer"],
                 config["stopping"], config["epochs_per_check"], config["max_checks"], rng,
                 config["save_params"], batch_size=config["batch_size"])


def compute_chunk(task):
    """Compute one chunk without writing it: (task, result arrays, the chunk's JSON metadata).
    The task's ``simulate`` (default ``simulate_chunk``) trains its networks: a function
    (config, offset, width, chunk, runs) -> dict of (runs,) arrays holding at least status,
    stop_epoch, first_cross_epoch and step_size (see ``load_chunk``)."""
    start = time.perf_counter()
    simulate = task.get("simulate", simulate_chunk)
    result = simulate(task["config"], task["offset"], task["width"], task["chunk"], task["runs"])
    names, counts = np.unique(result["status"], return_counts=True)
    seed = chunk_seed(task["config"], task["offset"], task["width"], task["chunk"])
    meta = {"format": CHUNK_FORMAT, "offset": task["offset"], "width": task["width"],
            "chunk": task["chunk"], "runs": task["runs"], "seed": task["config"]["seed"],
            "spawn_key": [int(k) for k in seed.spawn_key], "config": task["config"],
            "counts": {str(k): int(v) for k, v in zip(names, counts)},
            "wall_time_s": round(time.perf_counter() - start, 3)}
    return task, result, meta


def write_chunk(task, result, meta):
    """Write a computed chunk: the .npz first, then its .json, each atomically; a chunk counts
    as finished only when both are there and valid. Returns the chunk's status counts."""
    path = chunk_path(task["run_dir"], task["offset"], task["width"], task["chunk"])
    save_npz(path, **result)
    save_json(path.with_suffix(".json"), meta)
    return meta["counts"]


def run_chunk(task):
    """Compute one chunk and write it where it is computed; returns its status counts. A chunk
    found finished is read, not recomputed: Dask reruns a task whose result it lost with a
    worker, though the task may have written its chunk before the worker died."""
    try:
        return load_chunk(chunk_path(task["run_dir"], task["offset"], task["width"], task["chunk"]),
                          task["config"], task["runs"])[0]["counts"]
    except ChunkError:
        return write_chunk(*compute_chunk(task))


def same_study(written, config, width):
    """Whether a chunk written under configuration ``written`` belongs to ``config``: the same
    study settings and the same chunk size at its ``width``."""
    try:
        return study_settings(written) == study_settings(config) and \
            chunk_size_of(written, width) == chunk_size_of(config, width)
    except (TypeError, KeyError, AttributeError):
        return False


class ChunkError(Exception):
    """A chunk file that is missing, truncated, corrupt or from another configuration."""


def load_chunk(path, config=None, runs=None):
    """Load and validate a chunk: its .json (format; if ``config`` is given, the same study
    settings and chunk size; if ``runs`` is given, that many runs) and its .npz (keys, lengths,
    status names). Returns (meta, arrays); raises ChunkError naming what is wrong."""
    path = Path(path)
    try:
        meta = load_json(path.with_suffix(".json"))
        arrays = load_npz(path)
    except Exception as error:  # any unreadable file: missing, truncated, not JSON/npz, pickled
        raise ChunkError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHUNK_FORMAT:
        raise ChunkError(f"{path}: not a chunk of format {CHUNK_FORMAT}")
    if config is not None and not same_study(meta.get("config"), config, meta.get("width")):
        raise ChunkError(f"{path}: written by another configuration")
    if runs is not None and meta.get("runs") != runs:
        raise ChunkError(f"{path}: holds {meta.get('runs')} runs where the run directory now asks for {runs}")
    missing = {"status", "stop_epoch", "first_cross_epoch", "step_size"} - set(arrays)
    if missing:
        raise ChunkError(f"{path}: missing arrays {sorted(missing)}")
    if any(len(arrays[k]) != meta.get("runs") for k in ("status", "stop_epoch", "step_size")):
        raise ChunkError(f"{path}: holds a different number of runs than its .json says")
    if arrays["status"].dtype.kind != "U" or not set(arrays["status"]) <= set(STATUSES):
        raise ChunkError(f"{path}: unknown status names")
    return meta, arrays


def configuration_differences(old, new):
    """'--option OLD there, NEW now' for every user-facing setting in which ``old`` and ``new``
    differ as typed (chunk sizes [4096] and [4096, 4096] are both '--chunk_size 4096'), then for
    any other key of either (the settings of other studies run by ``run_chunks``)."""
    others = sorted((set(old) | set(new)) - set(USER_OPTIONS))
    texts = [(option_text(key, old.get(key)), option_text(key, new.get(key)))
             for key in (*USER_OPTIONS, *others) if key in old or key in new]
    return [f"{was[0]} {was[1]} there, {now[1]} now" for was, now in texts if was != now]


def extension_problems(old, new):
    """Why ``new`` is not ``old`` or an extension of it (empty if it is). An extension has the same
    study settings and contains the old study: every old offset and width, at least as many runs,
    the same chunk size at every old width; its chunks then hold exactly the numbers a run made at
    the larger size from the start would hold (chunk seeds depend on offset, width and chunk index
    only)."""
    problems = configuration_differences(study_settings(old), study_settings(new))
    for key in ("offsets", "widths"):
        missing = [value for value in old[key] if value not in new[key]]
        if missing:
            problems.append(f"--{key} lacks {option_text(key, missing)[1]} (there: {option_text(key, old[key])[1]})")
    if new["runs"] < old["runs"]:
        problems.append(f"--runs {new['runs']} is below the {old['runs']} there")
    if any(chunk_size_of(old, n) != chunk_size_of(new, n) for n in old["widths"] if n in new["widths"]):
        problems.append(f"--chunk_size {option_text('chunk_sizes', old['chunk_sizes'])[1]} there, "
                        f"{option_text('chunk_sizes', new['chunk_sizes'])[1]} now")
    return problems


def prepare_run_dir(run_dir, config):
    """Create ``run_dir`` with its run.json; or check that the existing one holds the same study
    or one that ``config`` extends (then run.json is rewritten to describe the extended study);
    anything else is refused, naming the differences in user-facing options."""
    manifest_path = Path(run_dir) / "run.json"
    manifest = {"format": "kinks-mc-run/1", "config": config, "label": run_label(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if manifest_path.exists():
        old = read_manifest(manifest_path)
        old["config"] = complete_config(old["config"])  # fields added later get their old meaning
        if old["config"] == config:
            return
        problems = extension_problems(old["config"], config)
        require(not problems, f"{run_dir} holds a different study ({'; '.join(problems)}); use the same "
                              f"options (more --runs, --widths or --offsets extend it) or another --out")
        print(f"extending {run_dir}: " + "; ".join(configuration_differences(old["config"], config)))
        manifest = {**old, "config": config, "extended": manifest["created"]}
    save_json(manifest_path, manifest)


def read_manifest(path):
    """The run.json at ``path`` as a dict with a 'config'; a UsageError naming it if it is unreadable."""
    try:
        manifest = load_json(path)
        require(isinstance(manifest, dict) and isinstance(manifest.get("config"), dict), "no config")
        return manifest
    except (OSError, ValueError, UsageError) as error:
        raise UsageError(f"{path} is unreadable ({error}); remove the folder or choose another") from None


def pending_tasks(run_dir, config):
    """The tasks whose chunk is not finished; a corrupt chunk is named in a warning and redone."""
    pending = []
    for task in chunk_tasks(run_dir, config):
        path = chunk_path(run_dir, task["offset"], task["width"], task["chunk"])
        if not path.exists() and not path.with_suffix(".json").exists():
            pending.append(task)
            continue
        try:
            load_chunk(path, config, task["runs"])
        except ChunkError as error:
            print(f"warning: {error}; recomputing it")
            pending.append(task)
    return pending


def run_dir_name(preset, config, given):
    """The default run directory's name: the preset, then one part per option in ``given`` (the
    options typed) whose value differs from the preset's, e.g. 'quick', 'quick-sgd-runs100',
    'paper-swapped-widths16_64'. Choices appear as their value, numbers and lists (joined by _)
    after the option's name."""
    base = make_config(preset)
    parts = [preset]
    for key in USER_OPTIONS:
        option = "chunk_size" if key == "chunk_sizes" else key
        if option not in given or config[key] == base[key]:
            continue
        if key in ("optimizer", "init", "step", "engine"):
            parts.append(config[key])
        elif key == "save_params":
            parts.append("params")
        elif key in ("data", "probs"):  # a short digest of the points or probabilities
            parts.append(key + hashlib.sha1(repr(config[key]).encode()).hexdigest()[:8])
        else:
            parts.append(option + option_text(key, config[key])[1].replace(",", "_"))
    return "-".join(parts)


def run(preset="quick", optimizer=None, step=None, init=None, stopping=None, offsets=None,
        widths=None, runs=None, seed=None, epochs_per_check=None, max_checks=None, engine=None,
        chunk_size=None, save_params=False, batch_size=None, leak=None, data=None, probs=None,
        jobs=-1, out=None, backend="loky", scheduler=None, results_on_client=False):
    """Run, resume or extend a Monte Carlo study of the crossing probability.

    For every offset Delta and width n, --runs networks are trained (in chunks) until a stopping
    criterion holds, and every finished chunk is written. An option left out takes its preset's
    value. Rerunning the same command skips finished chunks; the same options with more --runs,
    --widths or --offsets extend the study in place (the missing chunks, and a partial last chunk,
    are computed; the result equals a run made at the larger size from the start).

    Args:
        preset: quick (n = 16, 32, 64; 500 runs; offsets 0, 0.1), paper (n = 16, 32, ..., 2048;
            10,000 runs; offsets 0, 0.01, 0.1), paper_sgd, paper_adam,
            paper_swapped (the published sgd, minibatch adam and swapped-initialisation runs) or
            leaky (leak 0.1, n = 16 ... 256, 2,000 runs, offset 0).
        optimizer: gd (full batch) | momentum (heavy ball, beta = 0.9) | sgd (gd with
            --batch_size 16) | adam (0.9, 0.999, 1e-8); default gd.
        step: theory (h = 1/lambda_max(M^1/2 A_ref M^1/2) at initialisation, per network) | small
            (h = 0.01/n); default theory.
        init: he (a_i ~ N(0, 2), w_i ~ N(0, 2/n)) | swapped (a_i ~ N(0, 2/n), w_i ~ N(0, 2));
            default he.
        stopping: comma list of crossing (always on), sufficient (the paper's certificate;
            full-batch gd on relu networks only), early (validation, patience 10 checks); default
            crossing,sufficient where the certificate applies, crossing,early otherwise.
        offsets: comma list of offsets Delta added to y; default the preset's (quick: 0,0.1;
            paper: 0,0.01,0.1).
        widths: comma list of widths n >= 2; default the preset's (quick: 16,32,64; paper:
            16,32,64,128,256,512,1024,2048).
        runs: networks per (Delta, n); default the preset's (quick: 500; paper: 10000).
        seed: master seed, an integer >= 0; default 0.
        epochs_per_check: epochs between checks of the stopping criteria; default 1000 (100 with
            --init swapped).
        max_checks: checks before a network is UNFINISHED; default 1000 (10000 with --init swapped).
        engine: auto (reduced, dense for adam) | dense (any optimizer, O(n) per network-epoch) |
            reduced (exact O(1) per network-epoch; gd, momentum, sgd at any batch size and leak);
            default auto.
        chunk_size: networks per chunk file; default 4096 (reduced engine), 2^16/n within
            16 ... 4096 (dense engine).
        save_params: also store the final a, b, c, w of every network.
        batch_size: full | B: every step uses the weights Multinomial(B, p) / B; default full
            (sgd: 16).
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu).
        data: your own points "x:y,x:y,..." (x != 0, distinct, two or more on each side of 0);
            default the paper's six points.
        probs: their probabilities "p,p,..." (positive, summing to 1); default uniform.
        jobs: worker processes, -1 for all cores.
        out: the run directory; default results/mc/<preset>, followed by the options that differ
            from the preset (e.g. results/mc/quick-runs100, results/mc/quick-sgd).
        backend: loky (worker processes here) | dask (a dask.distributed cluster).
        scheduler: with --backend dask, the address tcp://HOST:PORT of the scheduler; default a
            LocalCluster of --jobs processes here.
        results_on_client: with --backend dask, the workers send each chunk back to be written
            here (no shared file system needed).
    """
    options = dict(optimizer=optimizer, step=step, init=init, stopping=stopping, offsets=offsets,
                   widths=widths, runs=runs, seed=seed, epochs_per_check=epochs_per_check,
                   max_checks=max_checks, engine=engine, chunk_size=chunk_size, save_params=save_params,
                   batch_size=batch_size, leak=leak, data=data, probs=probs)
    require(isinstance(save_params, bool), f"--save_params must be true or false; got {save_params!r}")
    config = make_config(preset, **options)
    require(isinstance(jobs, int) and not isinstance(jobs, bool) and (jobs >= 1 or jobs == -1),
            f"--jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    require(isinstance(results_on_client, bool), f"--results_on_client is a flag; got {results_on_client!r}")
    given = {key for key, value in options.items() if value is not None and value is not False}
    run_dir = Path(out) if out is not None else custom_paths.results_root() / "mc" / run_dir_name(preset, config, given)
    return run_chunks(run_dir.absolute(), config, jobs, backend, scheduler, results_on_client,
                      f"{run_label(config)}, engine {config['engine']}")


def run_chunks(run_dir, config, jobs=-1, backend="loky", scheduler=None, results_on_client=False,
               label="", simulate=simulate_chunk):
    """Compute (or resume) the chunks of ``config`` in ``run_dir`` with ``simulate`` (see
    ``compute_chunk``): a different configuration there is refused, finished chunks are kept,
    corrupt ones recomputed, the widest chunks scheduled first. Returns the run directory."""
    with backend_client(backend, scheduler, jobs) as client:  # before anything is written
        prepare_run_dir(run_dir, config)
        tasks = sorted(pending_tasks(run_dir, config), key=lambda task: -task["width"])  # longest first
        total = len(chunk_tasks(run_dir, config))
        print(f"{run_dir}: {label}; {total - len(tasks)} of {total} chunks already finished")
        start = time.perf_counter()
        function = compute_chunk if results_on_client else run_chunk
        tasks = [{**task, "simulate": simulate} for task in tasks]
        for outcome in parallel_map(function, tasks, jobs, "chunks", backend, client):
            if results_on_client:
                write_chunk(*outcome)
    print(f"done in {time.perf_counter() - start:.1f} s: {run_dir}")
    return str(run_dir)


def summarize(run_dir):
    """Status counts per (offset, width) over the valid chunks of a run: a dict
    {(offset, width): {"chunks": done, "total": expected, "runs": r, STATUS: count, ...}}."""
    config = read_manifest(Path(run_dir) / "run.json")["config"]
    table = {}
    for task in chunk_tasks(run_dir, config):
        row = table.setdefault((task["offset"], task["width"]), {"chunks": 0, "total": 0, "runs": 0})
        row["total"] += 1
        try:
            meta, _ = load_chunk(chunk_path(run_dir, task["offset"], task["width"], task["chunk"]), config,
                                 task["runs"])
        except ChunkError:
            continue
        row["chunks"] += 1
        row["runs"] += meta["runs"]
        for name, count in meta["counts"].items():
            row[name] = row.get(name, 0) + count
    return table


def status(input):
    """Print what is finished in a run directory: chunks and status counts per (offset, width).

    Args:
        input: the run directory (a folder holding run.json), e.g. results/mc/quick.
    """
    manifest = Path(input) / "run.json"
    require(manifest.exists(), f"--input {input} is not a run directory (no run.json)")
    read_manifest(manifest)
    table = summarize(input)
    names = [s for s in STATUSES if any(s in row for row in table.values())]
    print(f"{'offset':>8} {'n':>6} {'chunks':>9} {'runs':>7} " + " ".join(f"{s:>17}" for s in names))
    for (offset, width), row in table.items():
        print(f"{offset:>8g} {width:>6} {row['chunks']:>4}/{row['total']:<4} {row['runs']:>7} "
              + " ".join(f"{row.get(s, 0):>17}" for s in names))


# ============================================================================ the theorem's event
EVENT_CONDITIONS = ("W2", "W3", "W4", "W5", "W6", "W7", "D1", "D2")
C_A = C_W = 2.0  # the variances of He initialisation: a_i ~ N(0, c_a), w_i ~ N(0, c_w / n)
EVENT_CHUNK = 2**21  # networks x units drawn at once


def optimal_fits(x, y, p):
    """v_opt = M(p)^+ u_0(p), the side-wise weighted least-squares (slope, intercept) of the data,
    u_0 = (sum_{j in s} p_j x_j y_j, sum_{j in s} p_j y_j) per side s = +, -: (P, 4)."""
    u0 = np.stack([part for side in (x > 0, x < 0)
                   for part in (p[:, side] @ (x[side] * y[side]), p[:, side] @ y[side])], axis=1)
    [M_pinv] = symmetric_powers(data_matrix(x, p), [-1])
    return (M_pinv @ u0[:, :, None])[:, :, 0]


def event_conditions(a, w, p, epsilon, gamma, factor, x=X_DATA, y=Y_DATA):
    """Which of the theorem's conditions hold for P networks (a, w (P, n); b = c = 0) and data
    weights p (P, m) of N = n^2 samples; {name: (P,) bool}. With r = ``factor``, Sigma_s the unit
    moments of side s and u the uniform weights:
    W2: max|w_i| <= r n^(-1/2 + eps);  W3: max|a_i| <= r n^eps;  W4: min|a_i| >= n^(-1 - gamma) / r;
    W5: n c_a / 4 <= Sigma_s[a, a] <= n c_a;  W6: c_w / 4 <= Sigma_s[w, w] <= c_w;
    W7: |Sigma_s[w, a]| <= r n^eps (W5 to W7 on both sides);
    D1: max|v_opt(p) - v_opt(u)| <= r N^((eps - 1) / 2);
    D2: the eigenvalues of M(p) lie in [lambda_min(M(u)) / 2, 2 lambda_max(M(u))]."""
    n = a.shape[1]
    N = n**2
    sigma = unit_moments(a, np.zeros_like(a), w)  # (P, 2, 3, 3)
    s_aa, s_ww, s_wa = sigma[:, :, 0, 0], sigma[:, :, 2, 2], sigma[:, :, 2, 0]  # (P, 2)
    uniform = np.full((1, len(x)), 1.0 / len(x))
    lam_u = np.linalg.eigvalsh(data_matrix(x, uniform))[0]
    lam_p = np.linalg.eigvalsh(data_matrix(x, p))  # (P, 4), increasing
    fit_gap = np.abs(optimal_fits(x, y, p) - optimal_fits(x, y, uniform)).max(1)
    return {
        "W2": np.abs(w).max(1) <= factor * n ** (-0.5 + epsilon),
        "W3": np.abs(a).max(1) <= factor * n**epsilon,
        "W4": np.abs(a).min(1) >= n ** (-1 - gamma) / factor,
        "W5": np.all((n * C_A / 4 <= s_aa) & (s_aa <= n * C_A), axis=1),
        "W6": np.all((C_W / 4 <= s_ww) & (s_ww <= C_W), axis=1),
        "W7": np.all(np.abs(s_wa) <= factor * n**epsilon, axis=1),
        "D1": fit_gap <= factor * N ** ((epsilon - 1) / 2),
        "D2": (lam_p[:, 0] >= lam_u[0] / 2) & (lam_p[:, -1] <= 2 * lam_u[-1]),
    }


def event_counts(width, runs, epsilon, gamma, factor, seed):
    """How many of ``runs`` draws (p ~ Multinomial(n^2, uniform) / n^2, He initialisation) meet each
    condition and all of them: {name: count} with 'joint'. Drawn in chunks of about EVENT_CHUNK
    numbers, chunk k from SeedSequence(seed, spawn_key=(n, k))."""
    size = max(1, EVENT_CHUNK // width)
    counts = dict.fromkeys(EVENT_CONDITIONS + ("joint",), 0)
    for chunk, start in enumerate(range(0, runs, size)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(width, chunk)))
        P = min(size, runs - start)
        p = sample_weights(rng, P, width**2)
        a, _, _, w = init_params(rng, P, width, "he")
        held = event_conditions(a, w, p, epsilon, gamma, factor)
        for name, ok in held.items():
            counts[name] += int(ok.sum())
        counts["joint"] += int(np.all(list(held.values()), axis=0).sum())
    return counts


def event_rows(widths, runs, epsilon, gamma, factor, seed):
    """One row per width: n, runs, and per condition (and 'joint') the count, fraction and 95 %
    Clopper-Pearson interval (columns NAME, NAME_frac, NAME_low, NAME_high)."""
    rows = []
    for width in widths:
        row = {"n": width, "runs": runs}
        for name, count in event_counts(width, runs, epsilon, gamma, factor, seed).items():
            low, high = clopper_pearson(count, runs)
            row.update({name: count, f"{name}_frac": count / runs, f"{name}_low": float(low),
                        f"{name}_high": float(high)})
        rows.append(row)
    return rows


def event_figure(rows, title, path):
    """The joint probability against n (log x axis), with 95 % Clopper-Pearson bars; the single
    conditions as thin lines."""
    figure, ax = new_figure(7.5, 4.4)
    n = np.array([row["n"] for row in rows])
    for name, style in zip(EVENT_CONDITIONS, ("-", "--", ":", "-.") * 2):
        ax.plot(n, [row[f"{name}_frac"] for row in rows], style, lw=1, marker=".", alpha=0.7, label=name)
    joint = np.array([row["joint_frac"] for row in rows])
    bars = np.array([[j - row["joint_low"], row["joint_high"] - j] for j, row in zip(joint, rows)]).T
    ax.errorbar(n, joint, yerr=bars, color="black", lw=2, marker="o", capsize=3, label="joint (95% CI)")
    ax.set(xscale="log", xlabel="width n (N = n^2 samples)", ylabel="fraction of runs", ylim=(-0.02, 1.02),
           title=title)
    ax.set_xticks(n, [str(v) for v in n])
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.grid(True, color="0.9")
    return save_figure(figure, path)


def event(widths=tuple(2**k for k in range(4, 12)), runs=10_000, epsilon=0.1, gamma=0.1, factor=1.0,
          seed=0, out=None):
    """Estimate the probability of the theorem's event at initialisation (He scheme, the paper's
    data, N = n^2 samples): per width the fraction of draws meeting each of W2 ... W7, D1, D2 and
    all of them (W1 and D3 always hold), with 95 % Clopper-Pearson intervals; writes event.csv,
    event.json (settings) and event.png.

    Args:
        widths: comma list of widths n >= 2; default 16,32,...,2048.
        runs: draws per width; default 10000.
        epsilon: the theorem's eps; default 0.1.
        gamma: the theorem's gamma; default 0.1.
        factor: the right-hand-side factor r > 0; default 1.
        seed: master seed, an integer >= 0; default 0.
        out: the folder to write; default results/event/eps<epsilon>_gamma<gamma>_r<factor>.
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, seed = check_int("runs", runs), check_int("seed", seed, 0)
    epsilon = check_float("epsilon", epsilon)
    gamma = check_float("gamma", gamma)
    factor = check_float("factor", factor, 0.0, strict=True)
    name = f"eps{epsilon:g}_gamma{gamma:g}_r{factor:g}"
    out = Path(out) if out is not None else custom_paths.results_root() / "event" / name
    start = time.perf_counter()
    rows = event_rows(widths, runs, epsilon, gamma, factor, seed)
    names = EVENT_CONDITIONS + ("joint",)
    print(f"fraction of {runs} runs meeting each condition (eps = {epsilon:g}, gamma = {gamma:g}, "
          f"r = {factor:g}; 95% Clopper-Pearson interval of the joint fraction)")
    print(f"{'n':>6} " + " ".join(f"{c:>6}" for c in names) + "   joint 95% interval")
    for row in rows:
        print(f"{row['n']:>6} " + " ".join(f"{row[f'{c}_frac']:>6.3f}" for c in names)
              + f"   [{row['joint_low']:.4f}, {row['joint_high']:.4f}]")
    columns = ["n", "runs"] + [f"{c}{suffix}" for c in names for suffix in ("", "_frac", "_low", "_high")]
    settings = dict(widths=widths, runs=runs, epsilon=epsilon, gamma=gamma, factor=factor, seed=seed,
                    c_a=C_A, c_w=C_W, wall_time_s=round(time.perf_counter() - start, 2))
    save_csv(out / "event.csv", rows, columns)
    save_json(out / "event.json", settings)
    title = f"eps = {epsilon:g}, gamma = {gamma:g}, r = {factor:g}; {runs} runs per n"
    figure = event_figure(rows, title, out / "event.png")
    print(f"done in {settings['wall_time_s']} s: {out / 'event.csv'}, {figure}")


# ============================================================================ soundness check
def soundness(widths=(16, 32), runs=2000, epochs=200_000, offset=0.0, seed=0):
    """Check the certificate empirically: train gd networks (theory step, He init) until certified
    or crossed, then train every certified network ``epochs`` more epochs with the dense trainer,
    testing for a crossing after every epoch. Prints, per width, how many were certified, how many
    of those crossed later (the theory says none), and the largest |b_i / a_i| / min|x| reached.

    Args:
        widths: comma list of widths n >= 2.
        runs: networks per width.
        epochs: epochs of further training of the certified networks.
        offset: offset Delta added to y.
        seed: seed, an integer >= 0.
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, epochs = check_int("runs", runs), check_int("epochs", epochs)
    offset, seed = check_float("offset", offset), check_int("seed", seed, 0)
    print(f"{'n':>6} {'runs':>6} {'certified':>10} {'crossed later':>14} {'max |kink| / min|x|':>20}")
    for width in widths:
        rng = np.random.default_rng([seed, width])
        x, y, p, q, (a, b, c, w), h = draw_problems(rng, runs, width, offset, "he", "theory")
        out = train(ReducedTrainer(a, b, c, w, x, y, h, "gd"), x, y, p, q, h, "gd",
                    ["crossing", "sufficient"], 1000, 1000, rng, keep_params=True)
        certified = out["status"] == "LOCALLY_CONVERGED"
        trainer = DenseTrainer(*(out[k][certified] for k in "abcw"), x, y, h[certified], "gd",
                               sign_a0=a[certified])
        p_t = np.ascontiguousarray(p[certified].T)
        crossed, max_kink = trainer.crossed_now(), np.zeros(certified.sum())
        for _ in trange(epochs, desc=f"n = {width}", mininterval=2.0, leave=False):
            trainer.step(p_t)
            crossed |= trainer.crossed_now()
            max_kink = np.maximum(max_kink, np.max(np.abs(trainer.b / trainer.a), axis=1))
        print(f"{width:>6} {runs:>6} {certified.sum():>10} {crossed.sum():>14} "
              f"{max_kink.max(initial=0.0) / np.min(np.abs(x)):>20.4f}")


# ============================================================================ benchmarks
def per_second(work, seconds):
    """Units of work per second of ``work()`` (which returns how many units it did), timed for at
    least ``seconds`` after one warm-up call."""
    work()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    return done / (time.perf_counter() - start)


def benchmark_setup(n, P, seed=0):
    rng = np.random.default_rng(seed)
    p = sample_weights(rng, P, n**2)
    a, b, c, w = init_params(rng, P, n)
    return a, b, c, w, p, theory_step_size(a, b, w, X_DATA, p)


def engine_rate(trainer_class, n, P, epochs, seconds):
    """Network-epochs per second of full-batch gd (step + crossing test per epoch) of P networks
    of width n, ``epochs`` epochs per call of ``advance``."""
    a, b, c, w, p, h = benchmark_setup(n, P)
    trainer = trainer_class(a, b, c, w, X_DATA, Y_DATA, h, "gd")
    p_t = np.ascontiguousarray(p.T)
    cum_p, crossed = np.cumsum(p_t, axis=0), np.zeros(P, dtype=bool)

    def advance():
        trainer.advance(epochs, p_t, cum_p, None, crossed)
        return P * epochs
    return per_second(advance, seconds)


def study_wall_time(width, runs, reference):
    """Seconds to compute every chunk of ``run --widths width --runs runs`` (paper settings,
    offset 0, one process) with the compiled engine, or the NumPy reference engine."""
    config = make_config("paper", offsets=[0.0], widths=[width], runs=runs)
    start = time.perf_counter()
    for task in chunk_tasks("unused", config):
        simulate_chunk(config, task["offset"], width, task["chunk"], task["runs"], reference)
    return time.perf_counter() - start


def benchmark(widths=(16, 256, 2048), seconds=2.0, threads=1, study_width=512, study_runs=2000):
    """The compiled engines against their NumPy references, side by side in one process on
    ``threads`` BLAS threads: network-epochs per second of full-batch gd (step + crossing test)
    of the reduced trainer (4096 networks) and the dense trainer (2^16 / n networks, at least 8),
    and their ratio compiled / NumPy. Then the wall time of the study
    ``run --widths study_width --runs study_runs --offsets 0`` (paper settings, one process) with
    each engine (study_runs 0 skips it), and of one certificate check of 4,096 networks at n = 16.

    Args:
        widths: comma list of widths n >= 2.
        seconds: time per measurement, > 0.
        threads: BLAS threads, >= 1.
        study_width: width n >= 2 of the timed study.
        study_runs: networks of the timed study, >= 0 (0 skips it).
    """
    from threadpoolctl import threadpool_limits

    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    seconds = check_float("seconds", seconds, 0.0, strict=True)
    threads = check_int("threads", threads, 1)
    study_width = check_int("study_width", study_width, 2)
    study_runs = check_int("study_runs", study_runs, 0)
    with threadpool_limits(threads):
        print(f"{'n':>6} {'engine':>8} {'networks':>9} {'NumPy':>12} {'compiled':>12} {'ratio':>7}"
              f"   (network-epochs/s, {threads} thread(s))")
        for n in widths:
            for name, classes, P, epochs in (
                    ("reduced", (ReferenceReducedTrainer, ReducedTrainer), 4096, 100),
                    ("dense", (ReferenceDenseTrainer, DenseTrainer), max(2**16 // n, 8), 10)):
                numpy_rate, compiled_rate = (engine_rate(cls, n, P, epochs, seconds) for cls in classes)
                print(f"{n:>6} {name:>8} {P:>9} {numpy_rate:>12.4g} {compiled_rate:>12.4g}"
                      f" {compiled_rate / numpy_rate:>7.1f}", flush=True)
        if study_runs:
            times = [study_wall_time(study_width, study_runs, reference) for reference in (True, False)]
            print(f"study --widths {study_width} --runs {study_runs} --offsets 0, one process: NumPy "
                  f"{times[0]:.1f} s, compiled {times[1]:.1f} s, ratio {times[0] / times[1]:.1f}")
        a, b, c, w, p, h = benchmark_setup(16, 4096)
        c += 0.1

        def check():
            certify(a, b, c, w, X_DATA, Y_DATA, p, h)
            return 1
        check_time = 1.0 / per_second(check, seconds)
        print(f"certificate check, 4096 networks at n = 16: {1e3 * check_time:.2f} ms")


# ============================================================================ CLI
if __name__ == "__main__":
    # the commands of the importable module, not of __main__: worker processes then import the
    # functions they run (and numba's on-disk cache of the compiled loops) instead of unpickling copies
    import mc_training as module

    utils.run_cli({"run": module.run, "status": module.status, "event": module.event,
                   "soundness": module.soundness, "benchmark": module.benchmark}, aliases={"out": "input"})
