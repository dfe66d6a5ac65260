"""Tests of kinks.mc.theory against independent computations: the step size by plain loops and
scipy.linalg (and, with a leak, as the inverse largest eigenvalue of the autograd Gauss-Newton
matrix), the certificate's refusal of networks beyond the data, and the theorem's event
conditions by a direct per-network loop."""
import numpy as np
import pytest
import scipy.linalg
import torch

from kinks.mc.data import init_params
from kinks.mc.theory import EVENT_CONDITIONS, certify, event_conditions, theory_step_size
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import ASYMMETRIC

X, Y = X_DATA, Y_DATA


def direct_step_size(a, w, p):
    """1 / lambda_max(M^{1/2} A_ref M^{1/2}) for one network, with plain loops and scipy.linalg."""
    blocks_M, blocks_G = [], []
    for sign in (1, -1):
        xs, ps = X[np.sign(X) == sign], p[np.sign(X) == sign]
        blocks_M.append(np.array([[ps @ xs**2, ps @ xs], [ps @ xs, ps.sum()]]))
        G = np.zeros((2, 2))
        for ai, wi in zip(a, w):
            if np.sign(ai) == sign:
                G += np.outer([ai, 0.0], [ai, 0.0]) + wi**2 * np.eye(2)
        blocks_G.append(G)
    A = scipy.linalg.block_diag(*blocks_G)
    A[np.ix_([1, 3], [1, 3])] += 1.0
    M_half = np.real(scipy.linalg.sqrtm(scipy.linalg.block_diag(*blocks_M)))
    return 1.0 / np.max(np.linalg.eigvalsh(M_half @ A @ M_half))


def test_theory_step_size_equals_direct_computation():
    rng = np.random.default_rng(2)
    a, b, c, w = init_params(rng, 40, 16)
    p = sample_weights(rng, 40, 256)
    h = theory_step_size(a, b, w, X, p)
    np.testing.assert_allclose(h, [direct_step_size(a[i], w[i], p[i]) for i in range(40)], rtol=1e-10)


def test_certificate_rejects_networks_beyond_the_data():
    rng = np.random.default_rng(4)
    a, b, c, w = init_params(rng, 4, 16)
    p = sample_weights(rng, 4, 256)
    h = theory_step_size(a, b, w, X, p)
    b[:, 0] = -1.5 * a[:, 0]  # kink of unit 0 at 1.5
    assert not certify(a, b, c, w, X, Y, p, h).any()


def test_leaky_theory_step_is_inverse_gauss_newton_eigenvalue():
    """h = 1 / lambda_max(J^T diag(p) J), J the autograd Jacobian of f(x_j) at initialisation."""
    rng = np.random.default_rng(14)
    leak, data, n = 0.3, ASYMMETRIC, 6
    a, b, c, w = init_params(rng, 5, n)
    p = sample_weights(rng, 5, n**2, probs=data.probs)
    h = theory_step_size(a, b, w, data.x, p, leak)
    for i in range(5):
        def f(theta):
            z = theta[:n, None] * torch.tensor(data.x) + theta[n:2 * n, None]
            return theta[-1] + theta[2 * n:3 * n] @ torch.nn.functional.leaky_relu(z, leak)
        theta = torch.tensor(np.concatenate([a[i], b[i] + 1e-300, w[i], [c[i]]]))  # b = +0: kinks at 0
        J = torch.autograd.functional.jacobian(f, theta).numpy()
        expected = 1.0 / np.linalg.eigvalsh(J.T @ np.diag(p[i]) @ J)[-1]
        np.testing.assert_allclose(h[i], expected, rtol=1e-9)


def direct_conditions(a, w, p, epsilon, gamma, r):
    """The event's conditions of one network with plain loops and weighted least squares."""
    n, N, x, y = len(a), len(a) ** 2, X_DATA, Y_DATA

    def side_fits(weights):
        fits = []
        for side in (x > 0, x < 0):
            design = np.stack([x[side], np.ones(side.sum())], 1) * np.sqrt(weights[side])[:, None]
            fits += list(np.linalg.lstsq(design, y[side] * np.sqrt(weights[side]), rcond=None)[0])
        return np.array(fits)

    def eigenvalues(weights):
        blocks = [np.array([[sum(weights[j] * x[j] ** 2 for j in range(6) if np.sign(x[j]) == s),
                             sum(weights[j] * x[j] for j in range(6) if np.sign(x[j]) == s)],
                            [sum(weights[j] * x[j] for j in range(6) if np.sign(x[j]) == s),
                             sum(weights[j] for j in range(6) if np.sign(x[j]) == s)]]) for s in (1, -1)]
        return np.concatenate([np.linalg.eigvalsh(block) for block in blocks])

    sums = {s: [sum(a[i] ** 2 for i in range(n) if np.sign(a[i]) == s),
                sum(w[i] ** 2 for i in range(n) if np.sign(a[i]) == s),
                sum(w[i] * a[i] for i in range(n) if np.sign(a[i]) == s)] for s in (1, -1)}
    uniform = np.full(6, 1 / 6)
    lam_p, lam_u = eigenvalues(p), eigenvalues(uniform)
    return {"W2": max(abs(w)) <= r * n ** (epsilon - 0.5), "W3": max(abs(a)) <= r * n**epsilon,
            "W4": min(abs(a)) >= n ** (-1 - gamma) / r,
            "W5": all(n / 2 <= sums[s][0] <= 2 * n for s in (1, -1)),
            "W6": all(0.5 <= sums[s][1] <= 2 for s in (1, -1)),
            "W7": all(abs(sums[s][2]) <= r * n**epsilon for s in (1, -1)),
            "D1": max(abs(side_fits(p) - side_fits(uniform))) <= r * N ** ((epsilon - 1) / 2),
            "D2": min(lam_p) >= min(lam_u) / 2 and max(lam_p) <= 2 * max(lam_u)}


@pytest.mark.parametrize("n, r", [(4, 1.0), (8, 1.0), (8, 6.0)])
def test_event_conditions_equal_direct_computation(n, r):
    rng = np.random.default_rng(16)
    P, epsilon, gamma = 300, 0.1, 0.1
    p = sample_weights(rng, P, n**2)
    a, _, _, w = init_params(rng, P, n)
    held = event_conditions(a, w, p, epsilon, gamma, r)
    direct = [direct_conditions(a[i], w[i], p[i], epsilon, gamma, r) for i in range(P)]
    for name in EVENT_CONDITIONS:
        np.testing.assert_array_equal(held[name], [d[name] for d in direct], err_msg=name)
    mixed = [name for name in EVENT_CONDITIONS if 0 < held[name].mean() < 1]
    assert len(mixed) >= 3, mixed  # the comparison covers both outcomes of several conditions
