"""Tests of kinks.minima.hessian against torch autograd and dense eigh: the structured Hessian, its full
spectrum and top eigenvectors (trained and untrained networks, relu and leaky), the kinks on
points and the one-sided spectra on every side of them (autograd with the activity pattern fixed
to the side), and the losses along lines and segments."""
import numpy as np
import pytest
import torch

from kinks.mc.data import init_params, network_output
from kinks.minima.hessian import (
    KINK_TOLERANCE, HessianStructure, flat_params, interpolation_losses, kinks_on_points, kinks_on_points_summary,
    line_losses, side_codes, side_extremes, split_params, unitwise_normalised)
from kinks.minima.stationary import train_to_stationarity
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import pinned_network, stationary_problems as problems, torch_theta_loss

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
    theta = torch.tensor(flat_params(a, b, c, w))
    expected = torch.autograd.functional.hessian(lambda t: torch_theta_loss(t, X, Y, p, leak), theta).numpy()
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


def autograd_side_spectrum(a, b, c, w, p, leak, active):
    """The eigenvalues of the torch float64 autograd Hessian of L with every unit's activity at
    every point fixed to ``active`` (m, n), so that the derivative at z = 0 is the side's."""
    theta = torch.tensor(flat_params(a, b, c, w))
    hessian = torch.autograd.functional.hessian(lambda t: torch_theta_loss(t, X, Y, p, leak, active), theta)
    return np.linalg.eigvalsh(hessian.numpy())


@pytest.mark.parametrize("leak", [0.0, 0.2])
def test_kinks_on_points_are_flagged_and_every_side_equals_autograd(leak):
    a, b, c, w, p = pinned_network()
    units, points = kinks_on_points(a, b, X)
    assert units.tolist() == [0, 1] and X[points].tolist() == [2.0, -1.0]
    extremes = side_extremes(a, b, c, w, X, Y, p, leak, units, points)
    assert extremes.shape == (4, 2)
    rounded = (X[:, None] * a + b > 0)  # the side round-off chose: z = 0 counts inactive
    for row, side in enumerate([(False, False), (False, True), (True, False), (True, True)]):
        active = rounded.copy()
        active[points, units] = side
        expected = autograd_side_spectrum(a, b, c, w, p, leak, active)
        ours = HessianStructure(a, b, c, w, X, Y, p, leak, side_codes(a, b, X, units, points, side)).spectrum()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(ours, expected, atol=1e-12 * scale)
        np.testing.assert_allclose(extremes[row], expected[[0, -1]], atol=1e-12 * scale)
    assert extremes[:, 1].max() > 1.01 * extremes[:, 1].min()  # the sides differ; the traced one is one of them
    traced = HessianStructure(a, b, c, w, X, Y, p, leak).spectrum()
    np.testing.assert_array_equal(traced[[0, -1]], extremes[0])
    summary = kinks_on_points_summary(a, b, c, w, X, Y, p, leak, traced[0], traced[-1])
    assert summary["kinks_on_points"] == 2 and summary["kink_margin"] == 0.0
    assert (summary["lambda_max_low"], summary["lambda_max_high"]) == (extremes[:, 1].min(), extremes[:, 1].max())
    assert (summary["lambda_min_low"], summary["lambda_min_high"]) == (extremes[:, 0].min(), extremes[:, 0].max())


def test_a_smooth_network_is_not_flagged_and_the_tolerance_is_relative_to_the_data():
    a, b, c, w, p = pinned_network()
    scale = np.abs(X).max()
    for shift, flagged in ((1e-6, []), (10 * KINK_TOLERANCE, []), (0.1 * KINK_TOLERANCE, [0])):
        moved = b.copy()
        moved[0] -= a[0] * shift * scale  # unit 0's kink moved by shift max|x| off x = 2
        moved[1] -= a[1] * 1e-3  # unit 1's kink well off x = -1
        assert kinks_on_points(a, moved, X)[0].tolist() == flagged
        assert kinks_on_points(a, 1000 * moved, 1000 * X)[0].tolist() == flagged  # data and kinks 1000 x wider
    smooth = b + a * np.array([-0.3, 0.4, 0.0, 0.0])
    values = HessianStructure(a, smooth, c, w, X, Y, p).spectrum()
    summary = kinks_on_points_summary(a, smooth, c, w, X, Y, p, 0.0, values[0], values[-1])
    assert summary["kinks_on_points"] == 0 and summary["kink_margin"] == pytest.approx(0.3 / 3)
    assert summary["lambda_max_low"] == summary["lambda_max_high"] == values[-1]
    assert summary["lambda_min_low"] == summary["lambda_min_high"] == values[0]


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
