"""The paper's theory of the 1-D network (Holzmueller & Steinwart 2022): the data matrix M, the unit
moments Sigma_s, the reference matrix A_ref and the step size h = 1 / lambda_max(M^1/2 A_ref M^1/2);
the certificate that gradient descent never moves a kink across a data point, and where it
applies; the degenerate cases; and the theorem's event at initialisation (conditions W2 ... W7,
D1, D2) with the frequency of each. Shapes: P networks of width n, m data points."""
import numba
import numpy as np

from kinks.mc.data import data_gap, init_params
from kinks.samples import X_DATA, Y_DATA, SampleRule
from kinks.stats import clopper_pearson

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


MOMENT_BLOCK = 64  # networks per block of unit_moments: its temporaries stay in the cache


def unit_moments(a, b, w):
    """Sigma_s = sum over units with sign(a_i) = s of theta_i theta_i^T, theta_i = (a_i, b_i, w_i):
    (P, 2, 3, 3), side 0 is +, side 1 is -. Computed MOMENT_BLOCK networks at a time (each
    network's products are the same whatever the block, so the result is too, bit for bit)."""
    sigma = np.empty((a.shape[0], 2, 3, 3))
    for start in range(0, a.shape[0], MOMENT_BLOCK):
        rows = slice(start, start + MOMENT_BLOCK)
        theta = np.stack([a[rows], b[rows], w[rows]], axis=1)  # (block, 3, n)
        theta_t = np.swapaxes(theta, 1, 2)
        for s, side in enumerate((a[rows] > 0, a[rows] < 0)):
            sigma[rows, s] = (theta * side[:, None, :]) @ theta_t
    return sigma


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


def data_powers(x, p):
    """(M^{1/2}, M^{-1/2}) of the data matrix (``data_matrix``), (P, 4, 4) each."""
    return symmetric_powers(data_matrix(x, p), [0.5, -0.5])


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


def units_in_gap(a, b, err, gap):
    """Whether every unit's kink provably stays in the gap (x_-, x_+) = (-x_left, x_right), (P,) bool.

    Let a'_i = sign(a_i) a_i = |a_i| and b'_i = sign(a_i) b_i (a unit that has not crossed keeps the
    sign of a_i(0)). The kink -b_i/a_i = -b'_i/a'_i lies in (-x_left, x_right) iff a'_i > 0,
    -b'_i < x_right a'_i and b'_i < x_left a'_i. While every kink is in the gap, the activity
    patterns are those at the check, so the certificate's bounds hold: for all later t,
    |a_i(t) - a_i| <= E_i and |b_i(t) - b_i| <= E_i (E_a,i = E_b,i = E_i = ``err``, (P, n)). The
    worst case of both inequalities over that box is a'_i(t) = |a_i| - E_i, b'_i(t) = b'_i -+ E_i,
    so the kink stays in the gap at every t (by induction over the epochs) if

        x_right (|a_i| - E_i) > -b'_i + E_i   and   x_left (|a_i| - E_i) > b'_i + E_i;

    their sum gives |a_i| - E_i > 0, so a_i never changes sign. For a symmetric gap,
    x_left = x_right = x_min, the two read x_min (|a_i| - E_i) > |b_i| + E_i, the paper's
    condition, and give the same booleans bit for bit (|b_i| = max(b'_i, -b'_i) exactly)."""
    x_left, x_right = gap
    reach = np.abs(a) - err
    b_ = np.sign(a) * b
    return np.all((x_right * reach > -b_ + err) & (x_left * reach > b_ + err), axis=1)


def certify(a, b, c, w, x, y, p, h, sigma=None, m_powers=None):
    """The paper's sufficient certificate that gradient descent with step h never moves a kink
    across a data point, against the real gap (x_-, x_+) of the data; vectorised over P
    networks; returns (P,) bool.

    psi_0 = M^{-1/2} u_hat; S = U diag(lambda) U^T; mu_k = 1 - h lambda_k; rho = max|mu_k| < 1;
    S_bound = 2h / (1 - rho); S_psi = sum_k h/|1 - mu_k| |(U^T psi_0)_k| ||u_k||_inf;
    kappa = 2 ||M^{1/2}||_inf S_psi < 1/2;
    D_s = kappa (Q|Sigma_s| + |Sigma_s| Q) + 8 kappa^2 e^{4 kappa} ||Sigma_s||_inf;
    delta = S_bound ||M^{1/2}||_inf^2 (G_w + G_ab + G_wab) <= 1/2;
    per unit, with E_i = E_a,i = E_b,i = kappa Q|theta_i| + 2 kappa^2 e^{2 kappa} max|theta_i| the
    bound on how far a_i and b_i move: x_+ (|a_i| - E_i) > -b'_i + E_i and -x_- (|a_i| - E_i) >
    b'_i + E_i, b'_i = sign(a_i) b_i (``units_in_gap``, which derives it). The bounds E_i use only
    the data matrix M and the activity patterns of the check, never where the data points lie, so
    the only place the points enter is this gap; for symmetric gaps (the paper's data: x_min = 1)
    it is the paper's x_min (|a_i| - E_i) > |b_i| + E_i. Networks whose kinks already passed a data
    point are never certified. ``sigma``: the unit moments (see ``unit_moments``) if already known;
    ``m_powers``: (M^{1/2}, M^{-1/2}) (``data_powers``) if already known (they depend on p only)."""
    M_half, M_inv_half = data_powers(x, p) if m_powers is None else m_powers
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
        units_ok = units_in_gap(a, b, err, data_gap(x))
    return (rho < 1.0) & (kappa < 0.5) & (delta <= 0.5) & units_ok


JACOBI_SWEEPS = 30  # a 4 x 4 cyclic Jacobi converges quadratically: a handful of sweeps in practice


@numba.njit(cache=True)
def jacobi_eigen(S, lam, U):
    """The eigenvalues lam (4,) and eigenvectors U (4, 4) (columns, unordered) of the symmetric
    matrix S (4, 4), which is overwritten, by cyclic Jacobi rotations: for each p < q the rotation
    J (J_pp = J_qq = c, J_pq = s = -J_qp, t = s / c the root of t^2 + 2 theta t - 1 = 0 of smaller
    modulus, theta = (S_qq - S_pp) / (2 S_pq)) zeroes S_pq in J^T S J, and U accumulates the J. A
    sweep skips entries already negligible against their diagonal, |S_pq| <= eps sqrt|S_pp S_qq|
    (which keeps small eigenvalues to high relative accuracy); it stops after a sweep without a
    rotation. The size is the constant 4, so that the compiler unrolls the loops."""
    k = 4
    U[:, :] = 0.0
    for i in range(k):
        U[i, i] = 1.0
    for _ in range(JACOBI_SWEEPS):
        rotated = False
        for p in range(k - 1):
            for q in range(p + 1, k):
                if abs(S[p, q]) <= 2.2e-16 * np.sqrt(abs(S[p, p] * S[q, q])) or S[p, q] == 0.0:
                    continue
                rotated = True
                theta = (S[q, q] - S[p, p]) / (2.0 * S[p, q])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + np.sqrt(theta * theta + 1.0))
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                for r in range(k):  # S <- S J
                    s_rp, s_rq = S[r, p], S[r, q]
                    S[r, p], S[r, q] = c * s_rp - s * s_rq, s * s_rp + c * s_rq
                for r in range(k):  # S <- J^T S
                    s_pr, s_qr = S[p, r], S[q, r]
                    S[p, r], S[q, r] = c * s_pr - s * s_qr, s * s_pr + c * s_qr
                for r in range(k):  # U <- U J
                    u_rp, u_rq = U[r, p], U[r, q]
                    U[r, p], U[r, q] = c * u_rp - s * u_rq, s * u_rp + c * u_rq
        if not rotated:
            break
    for i in range(k):
        lam[i] = S[i, i]


@numba.njit(cache=True, inline="always")
def bound_entry(A, i, j, kappa, extra):
    """D_s[i, j] = kappa (Q|Sigma_s| + |Sigma_s| Q)_ij + extra from Sigma_s = A (3, 3), where
    (Q|A|)_ij = |A|_2j (i < 2) or |A|_0j + |A|_1j (i = 2), and (|A|Q)_ij likewise on columns."""
    QA = abs(A[2, j]) if i < 2 else abs(A[0, j]) + abs(A[1, j])
    AQ = abs(A[i, 2]) if j < 2 else abs(A[i, 0]) + abs(A[i, 1])
    return kappa * (QA + AQ) + extra


@numba.njit(cache=True, inline="always")
def moment_bounds(sig, kappa):
    """(g_w, g_ab, g_wab) of ``certify`` from the moments of both sides sig (2, 3, 3) and kappa,
    with D_s = kappa (Q|Sigma_s| + |Sigma_s| Q) + 8 kappa^2 e^(4 kappa) ||Sigma_s||_inf."""
    g_w, g_ab, g_wab = -np.inf, -np.inf, -np.inf
    for s in range(2):
        A = sig[s]
        norm = 0.0
        for i in range(3):
            norm = max(norm, abs(A[i, 0]) + abs(A[i, 1]) + abs(A[i, 2]))
        extra = 8.0 * kappa * kappa * np.exp(4.0 * kappa) * norm
        g_w = max(g_w, bound_entry(A, 2, 2, kappa, extra))
        g_ab = max(g_ab, bound_entry(A, 0, 0, kappa, extra) + bound_entry(A, 0, 1, kappa, extra)
                   + bound_entry(A, 1, 1, kappa, extra))
        g_wab = max(g_wab, abs(A[2, 0]) + abs(A[2, 1]) + bound_entry(A, 2, 0, kappa, extra)
                    + bound_entry(A, 2, 1, kappa, extra))
    return g_w, g_ab, kappa * g_wab


@numba.njit(cache=True, error_model="numpy")
def compiled_certify(a, b, c, w, x, y, p, h, sigma, M_half, M_inv_half, x_left, x_right):
    """``certify`` network by network in one compiled pass, (P,) bool: the same formulas, with
    S = M^{1/2} A_ref M^{1/2} decomposed by ``jacobi_eigen`` instead of LAPACK (the two agree to
    round-off, tested) and the per-unit test only for networks that pass the others. a, b, w (P, n);
    sigma (P, 2, 3, 3); M_half, M_inv_half (P, 4, 4) (``data_powers``); (x_left, x_right) the gap."""
    P, n = a.shape
    out = np.zeros(P, dtype=np.bool_)
    A_ref, S, U = np.zeros((4, 4)), np.empty((4, 4)), np.empty((4, 4))
    lam, u_hat, psi0 = np.empty(4), np.empty(4), np.empty(4)
    for k in range(P):
        sig, Mh = sigma[k], M_half[k]
        A_ref[:, :] = 0.0
        for s in range(2):
            for i in range(2):
                for j in range(2):
                    A_ref[2 * s + i, 2 * s + j] = sig[s, i, j] + (sig[s, 2, 2] if i == j else 0.0)
        for i in (1, 3):  # C: the shared output bias
            for j in (1, 3):
                A_ref[i, j] += 1.0
        for i in range(4):  # S = M^{1/2} A_ref M^{1/2}, by loops (numba's @ calls BLAS: slow at 4 x 4)
            for j in range(4):
                total = 0.0
                for q in range(4):
                    total += Mh[i, q] * (A_ref[q, 0] * Mh[0, j] + A_ref[q, 1] * Mh[1, j]
                                         + A_ref[q, 2] * Mh[2, j] + A_ref[q, 3] * Mh[3, j])
                S[i, j] = total
        jacobi_eigen(S, lam, U)
        for s, side in enumerate((1.0, -1.0)):  # linear_residual
            u_x, u_1 = 0.0, 0.0
            for j in range(x.shape[0]):
                if x[j] * side > 0:
                    e = p[k, j] * (y[j] - (c[k] + sig[s, 2, 0] * x[j] + sig[s, 2, 1]))
                    u_x += e * x[j]
                    u_1 += e
            u_hat[2 * s], u_hat[2 * s + 1] = u_x, u_1
        for i in range(4):
            psi0[i] = (M_inv_half[k, i, 0] * u_hat[0] + M_inv_half[k, i, 1] * u_hat[1]
                       + M_inv_half[k, i, 2] * u_hat[2] + M_inv_half[k, i, 3] * u_hat[3])
        rho, s_psi = 0.0, 0.0
        for j in range(4):
            mu = 1.0 - h[k] * lam[j]
            rho = max(rho, abs(mu))
            coeff = abs(U[0, j] * psi0[0] + U[1, j] * psi0[1] + U[2, j] * psi0[2] + U[3, j] * psi0[3])
            top = max(max(abs(U[0, j]), abs(U[1, j])), max(abs(U[2, j]), abs(U[3, j])))
            s_psi += h[k] / abs(1.0 - mu) * coeff * top
        m_norm = 0.0
        for i in range(4):
            m_norm = max(m_norm, abs(Mh[i, 0]) + abs(Mh[i, 1]) + abs(Mh[i, 2]) + abs(Mh[i, 3]))
        kappa = 2.0 * m_norm * s_psi
        g_w, g_ab, g_wab = moment_bounds(sig, kappa)
        delta = 2.0 * h[k] / (1.0 - rho) * m_norm**2 * (g_w + g_ab + g_wab)
        if not ((rho < 1.0) and (kappa < 0.5) and (delta <= 0.5)):
            continue
        spread = 2.0 * kappa**2 * np.exp(2.0 * kappa)
        ok = True
        for i in range(n):  # units_in_gap
            err = kappa * abs(w[k, i]) + spread * max(max(abs(a[k, i]), abs(b[k, i])), abs(w[k, i]))
            reach, b_ = abs(a[k, i]) - err, np.sign(a[k, i]) * b[k, i]
            ok &= (x_right * reach > -b_ + err) and (x_left * reach > b_ + err)
        out[k] = ok
    return out


def certificate_applies(optimizer, batch_size="full", leak=0.0):
    """The certificate is proved for full-batch gradient descent on relu networks only."""
    return optimizer == "gd" and batch_size == "full" and leak == 0


def degenerate_units(sigma):
    """All a_i of one sign, so one side has no unit (A_DEGENERATE): Sigma_s[a, a] = 0 for a side,
    from the unit moments (P, 2, 3, 3); (P,) bool."""
    return np.any(sigma[:, :, 0, 0] == 0, axis=1)


def degenerate_data(x, p):
    """At most one point of nonzero weight on one side of 0 (X_DEGENERATE), (P,) bool."""
    return ((p[:, x > 0] > 0).sum(1) <= 1) | ((p[:, x < 0] > 0).sum(1) <= 1)


# ============================================================================ the theorem's event
EVENT_CONDITIONS = ("W2", "W3", "W4", "W5", "W6", "W7", "D1", "D2")
EVENT_COLUMNS = ["n", "runs"] + [f"{name}{suffix}" for name in EVENT_CONDITIONS + ("joint",)
                                 for suffix in ("", "_frac", "_low", "_high")]  # of ``event_rows``
C_A = C_W = 2.0  # the variances of He initialisation: a_i ~ N(0, c_a), w_i ~ N(0, c_w / n)
EVENT_CHUNK = 2**21  # networks x units drawn at once


def optimal_fits(x, y, p):
    """v_opt = M(p)^+ u_0(p), the side-wise weighted least-squares (slope, intercept) of the data,
    u_0 = (sum_{j in s} p_j x_j y_j, sum_{j in s} p_j y_j) per side s = +, -: (P, 4)."""
    u0 = np.stack([part for side in (x > 0, x < 0)
                   for part in (p[:, side] @ (x[side] * y[side]), p[:, side] @ y[side])], axis=1)
    [M_pinv] = symmetric_powers(data_matrix(x, p), [-1])
    return (M_pinv @ u0[:, :, None])[:, :, 0]


def event_conditions(a, w, p, epsilon, gamma, factor, x=X_DATA, y=Y_DATA, samples=None):
    """Which of the theorem's conditions hold for P networks (a, w (P, n); b = c = 0) and data
    weights p (P, m) of N samples (the SampleRule ``samples``, default N = n^2; the population
    has N = infinity, so D1 asks v_opt(p) = v_opt(u) exactly, which p = u meets); {name: (P,) bool}.
    With r = ``factor``, Sigma_s the unit moments of side s and u the uniform weights:
    W2: max|w_i| <= r n^(-1/2 + eps);  W3: max|a_i| <= r n^eps;  W4: min|a_i| >= n^(-1 - gamma) / r;
    W5: n c_a / 4 <= Sigma_s[a, a] <= n c_a;  W6: c_w / 4 <= Sigma_s[w, w] <= c_w;
    W7: |Sigma_s[w, a]| <= r n^eps (W5 to W7 on both sides);
    D1: max|v_opt(p) - v_opt(u)| <= r N^((eps - 1) / 2);
    D2: the eigenvalues of M(p) lie in [lambda_min(M(u)) / 2, 2 lambda_max(M(u))]."""
    n = a.shape[1]
    N = (samples or SampleRule()).count(n)
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
        "D1": np.all(p == uniform, axis=1) if np.isinf(N) else fit_gap <= factor * N ** ((epsilon - 1) / 2),
        "D2": (lam_p[:, 0] >= lam_u[0] / 2) & (lam_p[:, -1] <= 2 * lam_u[-1]),
    }


def event_counts(width, runs, epsilon, gamma, factor, seed, samples=None):
    """How many of ``runs`` draws (p ~ Multinomial(N, uniform) / N with N from the SampleRule
    ``samples``, default n^2; He initialisation) meet each condition and all of them: {name: count}
    with 'joint'. Drawn in chunks of about EVENT_CHUNK numbers, chunk k from
    SeedSequence(seed, spawn_key=(n, k))."""
    samples = samples or SampleRule()
    size = max(1, EVENT_CHUNK // width)
    counts = dict.fromkeys(EVENT_CONDITIONS + ("joint",), 0)
    for chunk, start in enumerate(range(0, runs, size)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(width, chunk)))
        P = min(size, runs - start)
        p = samples.draw(rng, P, width, np.full(len(X_DATA), 1.0 / len(X_DATA)))
        a, _, _, w = init_params(rng, P, width, "he")
        held = event_conditions(a, w, p, epsilon, gamma, factor, samples=samples)
        for name, ok in held.items():
            counts[name] += int(ok.sum())
        counts["joint"] += int(np.all(list(held.values()), axis=0).sum())
    return counts


def event_rows(widths, runs, epsilon, gamma, factor, seed, samples=None):
    """One row per width: n, runs, and per condition (and 'joint') the count, fraction and 95 %
    Clopper-Pearson interval (columns NAME, NAME_frac, NAME_low, NAME_high); N from the SampleRule
    ``samples`` (default n^2)."""
    rows = []
    for width in widths:
        row = {"n": width, "runs": runs}
        for name, count in event_counts(width, runs, epsilon, gamma, factor, seed, samples).items():
            low, high = clopper_pearson(count, runs)
            row.update({name: count, f"{name}_frac": count / runs, f"{name}_low": float(low),
                        f"{name}_high": float(high)})
        rows.append(row)
    return rows
