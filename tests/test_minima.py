"""Tests of mc_minima.py against independent computations: numpy.linalg.lstsq for the side-wise
linear regression, the dense trainer for training to stationarity, torch autograd and dense eigh
for the Hessian and its spectrum; the risk CLI's determinism and its bad-input exits."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mc_minima as mm
import mc_training as mc

ROOT = Path(__file__).resolve().parents[1]
X, Y = mc.X_DATA, mc.Y_DATA


def problems(n, P, seed=0, offset=0.0):
    rng = np.random.default_rng([seed, n])
    return mc.draw_problems(rng, P, n, offset, "he", "theory")


def test_linear_floor_equals_weighted_lstsq_per_side():
    rng = np.random.default_rng(0)
    p = mc.sample_weights(rng, 50, 9)  # small N: some zero weights, sides with one point
    y = Y + rng.normal(size=len(Y))
    slopes, intercepts, floor = mm.side_fits(X, y, p)
    for k in range(len(p)):
        total = 0.0
        for s, side in enumerate((X > 0, X < 0)):
            root = np.sqrt(p[k, side])
            design = np.stack([X[side], np.ones(side.sum())], 1) * root[:, None]
            coef, *_ = np.linalg.lstsq(design, y[side] * root, rcond=None)
            total += 0.5 * np.sum((design @ coef - y[side] * root) ** 2)
            fitted = mm.side_fit_outputs(X, slopes[k:k + 1], intercepts[k:k + 1])[0]
            np.testing.assert_allclose(fitted[side] * root, design @ coef, atol=1e-12)
        assert floor[k] == pytest.approx(total, rel=1e-10, abs=1e-14)


def test_population_linear_risk_of_paper_data():
    # uniform weights: the best line on each side is y = Delta, residuals (1, -2, 1) on each side
    assert mm.population_linear_risk(0.0) == pytest.approx(1.0, rel=1e-14)
    assert mm.population_linear_risk(0.1) == pytest.approx(1.0, rel=1e-14)


def test_reduced_gradient_norm_equals_dense_gradient():
    x, y, p, _, (a, b, c, w), h = problems(32, 40)
    trainer = mc.ReducedTrainer(a, b, c, w, x, y, h, "gd")
    crossed = np.zeros(len(h), bool)
    for _ in range(300):
        trainer.step(np.ascontiguousarray(p.T))
        crossed |= trainer.crossed_now()
    assert (~crossed).sum() >= 30  # the reduced engine is exact for these
    ga, gb, gc, gw, _ = mc.loss_gradient(*trainer.params(), x, y, p)
    direct = np.sqrt((ga**2).sum(1) + (gb**2).sum(1) + (gw**2).sum(1) + gc**2)
    np.testing.assert_allclose(mm.reduced_gradient_norm(trainer, p)[~crossed], direct[~crossed], rtol=1e-9)


def test_engine_switch_follows_the_dense_trajectory():
    """Reduced until the crossing epoch, dense after it = the dense trainer all along."""
    x, y, p, _, (a, b, c, w), h = problems(16, 60, seed=1)
    out = mm.train_to_stationarity(x, y, p, a, b, c, w, h, 0.0, 500, 3000, keep_params=True)
    assert np.sum(out["status"] == "CROSSED") >= 10
    dense = mc.DenseTrainer(a, b, c, w, x, y, h, "gd")
    first_cross = np.full(len(h), -1)
    for epoch in range(1, 3001):
        dense.step(np.ascontiguousarray(p.T))
        first_cross[(first_cross < 0) & dense.crossed_now()] = epoch
    for ours, theirs in zip((out[k] for k in "abcw"), dense.params()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(out["first_cross_epoch"], first_cross)


def test_certified_network_at_stationarity_does_linear_regression():
    x, y, p, _, (a, b, c, w), h = problems(16, 30, seed=2, offset=0.1)
    out = mm.train_to_stationarity(x, y, p, a, b, c, w, h, 1e-8, 1000, 30_000)
    done = (out["status"] == "LOCALLY_CONVERGED") & out["converged"]
    assert done.sum() >= 10
    np.testing.assert_allclose(out["loss"][done], out["linear_loss"][done], rtol=1e-6)
    np.testing.assert_allclose(out["risk"][done], out["linear_fit_risk"][done], rtol=1e-6)
    stayed = out["status"] != "CROSSED"  # affine on each side of 0, so L >= L_lin
    assert np.all(out["loss"][stayed] >= out["linear_loss"][stayed] * (1 - 1e-12))


def point_away_from_kinks(n, seed):
    """A network whose kinks lie between and beyond the data points, with some residual."""
    rng = np.random.default_rng(seed)
    a, _, _, w = mc.init_params(rng, 1, n)
    kinks = rng.choice([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], n) + rng.uniform(-0.3, 0.3, n)
    return a[0], -a[0] * kinks, float(rng.normal()), w[0], mc.sample_weights(rng, 1, n**2)[0]


def test_structured_hessian_equals_autograd():
    a, b, c, w, p = point_away_from_kinks(5, 3)
    structure = mm.HessianStructure(a, b, c, w, X, Y, p)

    def loss(theta):
        n = (len(theta) - 1) // 3
        z = theta[:n] * torch.tensor(X)[:, None] + theta[n:2 * n]
        f = theta[-1] + torch.relu(z) @ theta[2 * n:3 * n]
        return 0.5 * torch.sum(torch.tensor(p) * (f - torch.tensor(Y)) ** 2)

    theta = torch.tensor(mm.flat_params(a, b, c, w))
    expected = torch.autograd.functional.hessian(loss, theta).numpy()
    np.testing.assert_allclose(structure.matrix(), expected, atol=1e-12)
    v = np.random.default_rng(4).normal(size=len(theta))
    np.testing.assert_allclose(structure.matvec(v), expected @ v, atol=1e-12)


@pytest.mark.parametrize("trained", [False, True])
def test_structured_spectrum_equals_dense_eigh_at_n64(trained):
    a, b, c, w, p = point_away_from_kinks(64, 5)
    if trained:
        x, y, ps, _, (a0, b0, c0, w0), h = problems(64, 4, seed=6)
        out = mm.train_to_stationarity(x, y, ps, a0, b0, c0, w0, h, 1e-6, 1000, 20_000, keep_params=True)
        a, b, c, w, p = out["a"][0], out["b"][0], out["c"][0], out["w"][0], ps[0]
    structure = mm.HessianStructure(a, b, c, w, X, Y, p)
    H = structure.matrix()
    dense = np.linalg.eigvalsh(H)
    values, vectors = structure.spectrum(vectors=3)
    scale = np.abs(dense).max()
    np.testing.assert_allclose(values, dense, atol=1e-12 * scale)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(H @ vectors, vectors * dense[:-4:-1], atol=1e-9 * scale)  # descending


def test_line_and_interpolation_losses_are_the_loss():
    a, b, c, w, p = point_away_from_kinks(8, 7)
    theta = mm.flat_params(a, b, c, w)
    d = mm.unitwise_normalised(np.random.default_rng(8).normal(size=len(theta)), theta)
    units = d[:24].reshape(3, 8)
    np.testing.assert_allclose(np.linalg.norm(units, axis=0), np.linalg.norm(theta[:24].reshape(3, 8), axis=0))
    alphas = np.array([-1.0, 0.0, 0.5])
    losses = mm.line_losses(theta, d[:, None], alphas, X, Y, p)[0]
    for alpha, value in zip(alphas, losses):
        A, B, C, W = mm.split_params(theta + alpha * d)
        f = mc.network_output(A[None], B[None], np.array([C]), W[None], X)[0]
        assert value == pytest.approx(0.5 * np.sum(p * (f - Y) ** 2), rel=1e-12)
    ends = mm.interpolation_losses(theta, theta + d, np.array([0.0, 1.0]), X, Y, p)
    np.testing.assert_allclose(ends, mm.line_losses(theta, d[:, None], np.array([0.0, 1.0]), X, Y, p)[0])


SMALL_RISK = dict(offsets=[0.0, 0.1], widths=[16, 32], runs=6, chunk_size=3, max_epochs=2000,
                  epochs_per_check=500)


def test_risk_identical_for_any_number_of_jobs(tmp_path):
    mm.risk(**SMALL_RISK, jobs=1, out=tmp_path / "one")
    mm.risk(**SMALL_RISK, jobs=2, out=tmp_path / "two")
    chunks = sorted((tmp_path / "one").rglob("chunk_*.npz"))
    assert len(chunks) == 8
    for path in chunks:
        ours = np.load(path)
        theirs = np.load(tmp_path / "two" / path.relative_to(tmp_path / "one"))
        for key in ours.files:
            assert ours[key].tobytes() == theirs[key].tobytes(), key
    assert (tmp_path / "one" / "risk.csv").read_text() == (tmp_path / "two" / "risk.csv").read_text()
    assert (tmp_path / "one" / "risk.png").stat().st_size > 0


@pytest.mark.parametrize("args, option", [
    (["--widths", "1"], "--widths"),
    (["--runs", "0"], "--runs"),
    (["--tol", "-1"], "--tol"),
    (["--max_epochs", "1500"], "--max_epochs"),
    (["--offsets", "a"], "--offsets"),
    (["--jobs", "two"], "--jobs"),
])
def test_risk_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, option):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "mc_minima.py", "risk", *args, "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}")
    assert not out.exists()


def test_risk_refuses_another_configuration(tmp_path):
    mm.risk(**{**SMALL_RISK, "widths": [16], "offsets": [0.0]}, jobs=1, out=tmp_path)
    with pytest.raises(mc.UsageError, match="--tol"):
        mm.risk(**{**SMALL_RISK, "widths": [16], "offsets": [0.0]}, tol=1e-6, jobs=1, out=tmp_path)
