"""Tests of kinks.minima.hessian against torch autograd and dense eigh: the structured Hessian, its full
spectrum and top eigenvectors (trained and untrained networks, relu and leaky), and the losses
along lines and segments."""
import numpy as np
import pytest
import torch

from kinks.mc.data import init_params, network_output
from kinks.minima.hessian import (
    HessianStructure, flat_params, interpolation_losses, line_losses, split_params, unitwise_normalised)
from kinks.minima.stationary import train_to_stationarity
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import stationary_problems as problems

X, Y = X_DATA, Y_DATA


def point_away_from_kinks(n, seed):
    """A network whose kinks lie between and beyond the data points, with some residual."""
    rng = np.random.default_rng(seed)
    a, _, _, w = init_params(rng, 1, n)
    kinks = rng.choice([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], n) + rng.uniform(-0.3, 0.3, n)
    return a[0], -a[0] * kinks, float(rng.normal()), w[0], sample_weights(rng, 1, n**2)[0]


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_structured_hessian_equals_autograd(leak):
    a, b, c, w, p = point_away_from_kinks(5, 3)
    structure = HessianStructure(a, b, c, w, X, Y, p, leak)

    def loss(theta):
        n = (len(theta) - 1) // 3
        z = theta[:n] * torch.tensor(X)[:, None] + theta[n:2 * n]
        f = theta[-1] + torch.nn.functional.leaky_relu(z, leak) @ theta[2 * n:3 * n]
        return 0.5 * torch.sum(torch.tensor(p) * (f - torch.tensor(Y)) ** 2)

    theta = torch.tensor(flat_params(a, b, c, w))
    expected = torch.autograd.functional.hessian(loss, theta).numpy()
    np.testing.assert_allclose(structure.matrix(), expected, atol=1e-12)
    v = np.random.default_rng(4).normal(size=len(theta))
    np.testing.assert_allclose(structure.matvec(v), expected @ v, atol=1e-12)


@pytest.mark.parametrize("trained, leak", [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.2)])
def test_structured_spectrum_equals_dense_eigh_at_n64(trained, leak):
    a, b, c, w, p = point_away_from_kinks(64, 5)
    if trained:
        x, y, ps, _, (a0, b0, c0, w0), h = problems(64, 4, seed=6, leak=leak)
        out = train_to_stationarity(x, y, ps, a0, b0, c0, w0, h, 1e-6, 1000, 20_000, keep_params=True,
                                    leak=leak)
        a, b, c, w, p = out["a"][0], out["b"][0], out["c"][0], out["w"][0], ps[0]
    structure = HessianStructure(a, b, c, w, X, Y, p, leak)
    H = structure.matrix()
    dense = np.linalg.eigvalsh(H)
    values, vectors = structure.spectrum(vectors=3)
    scale = np.abs(dense).max()
    np.testing.assert_allclose(values, dense, atol=1e-12 * scale)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(H @ vectors, vectors * dense[:-4:-1], atol=1e-9 * scale)  # descending


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_line_and_interpolation_losses_are_the_loss(leak):
    a, b, c, w, p = point_away_from_kinks(8, 7)
    theta = flat_params(a, b, c, w)
    d = unitwise_normalised(np.random.default_rng(8).normal(size=len(theta)), theta)
    units = d[:24].reshape(3, 8)
    np.testing.assert_allclose(np.linalg.norm(units, axis=0), np.linalg.norm(theta[:24].reshape(3, 8), axis=0))
    alphas = np.array([-1.0, 0.0, 0.5])
    losses = line_losses(theta, d[:, None], alphas, X, Y, p, leak)[0]
    for alpha, value in zip(alphas, losses):
        A, B, C, W = split_params(theta + alpha * d)
        f = network_output(A[None], B[None], np.array([C]), W[None], X, leak)[0]
        assert value == pytest.approx(0.5 * np.sum(p * (f - Y) ** 2), rel=1e-12)
    ends = interpolation_losses(theta, theta + d, np.array([0.0, 1.0]), X, Y, p, leak)
    np.testing.assert_allclose(ends, line_losses(theta, d[:, None], np.array([0.0, 1.0]), X, Y, p, leak)[0])
