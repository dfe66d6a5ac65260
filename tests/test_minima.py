"""Tests of mc_minima.py against independent computations: numpy.linalg.lstsq for the side-wise
linear regression, the dense trainer for training to stationarity, torch autograd and dense eigh
for the Hessian and its spectrum; the risk CLI's determinism and its bad-input exits."""
import csv
import json
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


SEVEN = dict(data="-3:1,-2:0.5,-0.5:2,1:0,1.5:1,2.5:-1,4:0.5", probs="0.1,0.2,0.1,0.2,0.1,0.2,0.1")


def problems(n, P, seed=0, offset=0.0, data=None, leak=0.0):
    rng = np.random.default_rng([seed, n])
    return mc.draw_problems(rng, P, n, offset, "he", "theory", data, leak)


def lstsq_floor(x, y, p):
    """L_lin and the fitted values of one weighting p (m,): a weighted least-squares line per side
    of 0 by numpy.linalg.lstsq."""
    total, fitted = 0.0, np.zeros(len(x))
    for side in (x > 0, x < 0):
        root = np.sqrt(p[side])
        design = np.stack([x[side], np.ones(side.sum())], 1)
        coef, *_ = np.linalg.lstsq(design * root[:, None], y[side] * root, rcond=None)
        total += 0.5 * np.sum(p[side] * (design @ coef - y[side]) ** 2)
        fitted[side] = design @ coef
    return total, fitted


@pytest.mark.parametrize("data", [mc.DataSet(), mc.parse_data(**SEVEN)], ids=["paper", "seven points"])
def test_linear_floor_equals_weighted_lstsq_per_side(data):
    rng = np.random.default_rng(0)
    x = data.x
    p = mc.sample_weights(rng, 50, 9, len(x), data.probs)  # small N: some zero weights, sides with one point
    y = data.y + rng.normal(size=len(x))
    slopes, intercepts, floor = mm.side_fits(x, y, p)
    for k in range(len(p)):
        total, fitted = lstsq_floor(x, y, p[k])
        ours = mm.side_fit_outputs(x, slopes[k:k + 1], intercepts[k:k + 1])[0]
        weighted = p[k] > 0  # where p_j = 0 the line is not determined by the data
        np.testing.assert_allclose(ours[weighted], fitted[weighted], atol=1e-10)
        assert floor[k] == pytest.approx(total, rel=1e-10, abs=1e-14)


def test_population_linear_risk():
    # paper's data, uniform pi: the best line on each side is y = Delta, residuals (1, -2, 1) on each side
    assert mm.population_linear_risk(mc.DataSet(), 0.0) == pytest.approx(1.0, rel=1e-14)
    assert mm.population_linear_risk(mc.DataSet(), 0.1) == pytest.approx(1.0, rel=1e-14)
    data = mc.parse_data(**SEVEN)
    expected = lstsq_floor(data.x, data.y + 0.3, data.probs)[0]
    assert mm.population_linear_risk(data, 0.3) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_reduced_gradient_norm_equals_dense_gradient(leak):
    x, y, p, _, (a, b, c, w), h = problems(32, 40, leak=leak)
    trainer = mc.ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
    crossed = np.zeros(len(h), bool)
    for _ in range(300):
        trainer.step(np.ascontiguousarray(p.T))
        crossed |= trainer.crossed_now()
    assert (~crossed).sum() >= 30  # the reduced engine is exact for these
    ga, gb, gc, gw, _ = mc.loss_gradient(*trainer.params(), x, y, p, mc.ActivityPatterns(x, leak))
    direct = np.sqrt((ga**2).sum(1) + (gb**2).sum(1) + (gw**2).sum(1) + gc**2)
    np.testing.assert_allclose(mm.reduced_gradient_norm(trainer, p, leak)[~crossed], direct[~crossed], rtol=1e-9)


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


def per_epoch_switch(x, y, p, a, b, c, w, h, epochs, leak):
    """The engine switch one epoch at a time, as simply as possible: every epoch one step of the
    reduced engine and of each crossed network's own dense engine, then the crossing test; a
    network that crossed moves to a dense engine of its own with its parameters after that epoch.
    Returns the final (a, b, c, w) and the first crossing epochs."""
    reduced = mc.ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
    on_reduced, dense = np.arange(len(h)), {}
    first = np.full(len(h), -1)
    for epoch in range(1, epochs + 1):
        reduced.step(np.ascontiguousarray(p[on_reduced].T))
        for k, trainer in dense.items():
            trainer.step(np.ascontiguousarray(p[k:k + 1].T))
        crossed = reduced.crossed_now()
        for row in np.flatnonzero(crossed):
            k = on_reduced[row]
            first[k] = epoch
            dense[k] = mc.DenseTrainer(*(q[row:row + 1] for q in reduced.params()), x, y, h[k:k + 1], "gd",
                                       sign_a0=np.sign(reduced.a0[row:row + 1]), leak=leak)
        reduced.keep(~crossed)
        on_reduced = on_reduced[~crossed]
    final = [np.zeros_like(a), np.zeros_like(a), np.zeros_like(c), np.zeros_like(a)]
    for target, value in zip(final, reduced.params()):
        target[on_reduced] = value
    for k, trainer in dense.items():
        for target, value in zip(final, trainer.params()):
            target[k] = value[0]
    return final, first


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_block_engine_equals_per_epoch_switch_bitwise(leak):
    """Blocks of 250 epochs with replay and hand-over = the switch one epoch at a time, bit for bit,
    with several networks crossing at different epochs of one block and in several blocks."""
    x, y, p, _, (a, b, c, w), h = problems(16, 40, seed=3, leak=leak)
    block, epochs = 250, 1500
    out = mm.train_to_stationarity(x, y, p, a, b, c, w, h, 0.0, block, epochs, keep_params=True, leak=leak)
    final, first = per_epoch_switch(x, y, p, a, b, c, w, h, epochs, leak)
    np.testing.assert_array_equal(out["first_cross_epoch"], first)
    for name, ours, theirs in zip("abcw", (out[k] for k in "abcw"), final):
        assert ours.tobytes() == theirs.tobytes(), name
    crossed = first[first > 0]
    blocks = (crossed - 1) // block
    busiest = np.bincount(blocks).argmax()
    assert len(np.unique(crossed[blocks == busiest])) >= 2  # crossings at different epochs of one block
    assert len(np.unique(blocks)) >= 2
    assert np.all(out["stop_epoch"] == epochs)


def test_risk_is_the_population_risk_under_pi():
    data = mc.parse_data(**SEVEN)
    x, y, p, _, (a, b, c, w), h = problems(16, 12, seed=4, offset=0.2, data=data, leak=0.1)
    out = mm.train_to_stationarity(x, y, p, a, b, c, w, h, 1e-8, 500, 2000, keep_params=True, pi=data.probs,
                                   leak=0.1)
    f = mc.network_output(out["a"], out["b"], out["c"], out["w"], x, leak=0.1)
    np.testing.assert_allclose(out["risk"], 0.5 * np.sum(data.probs * (f - y) ** 2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(out["loss"], 0.5 * np.sum(p * (f - y) ** 2, axis=1), rtol=1e-12)
    assert not np.isin(out["status"], ["LOCALLY_CONVERGED", "A_DEGENERATE", "X_DEGENERATE"]).any()


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


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_structured_hessian_equals_autograd(leak):
    a, b, c, w, p = point_away_from_kinks(5, 3)
    structure = mm.HessianStructure(a, b, c, w, X, Y, p, leak)

    def loss(theta):
        n = (len(theta) - 1) // 3
        z = theta[:n] * torch.tensor(X)[:, None] + theta[n:2 * n]
        f = theta[-1] + torch.nn.functional.leaky_relu(z, leak) @ theta[2 * n:3 * n]
        return 0.5 * torch.sum(torch.tensor(p) * (f - torch.tensor(Y)) ** 2)

    theta = torch.tensor(mm.flat_params(a, b, c, w))
    expected = torch.autograd.functional.hessian(loss, theta).numpy()
    np.testing.assert_allclose(structure.matrix(), expected, atol=1e-12)
    v = np.random.default_rng(4).normal(size=len(theta))
    np.testing.assert_allclose(structure.matvec(v), expected @ v, atol=1e-12)


@pytest.mark.parametrize("trained, leak", [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.2)])
def test_structured_spectrum_equals_dense_eigh_at_n64(trained, leak):
    a, b, c, w, p = point_away_from_kinks(64, 5)
    if trained:
        x, y, ps, _, (a0, b0, c0, w0), h = problems(64, 4, seed=6, leak=leak)
        out = mm.train_to_stationarity(x, y, ps, a0, b0, c0, w0, h, 1e-6, 1000, 20_000, keep_params=True,
                                       leak=leak)
        a, b, c, w, p = out["a"][0], out["b"][0], out["c"][0], out["w"][0], ps[0]
    structure = mm.HessianStructure(a, b, c, w, X, Y, p, leak)
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
    theta = mm.flat_params(a, b, c, w)
    d = mm.unitwise_normalised(np.random.default_rng(8).normal(size=len(theta)), theta)
    units = d[:24].reshape(3, 8)
    np.testing.assert_allclose(np.linalg.norm(units, axis=0), np.linalg.norm(theta[:24].reshape(3, 8), axis=0))
    alphas = np.array([-1.0, 0.0, 0.5])
    losses = mm.line_losses(theta, d[:, None], alphas, X, Y, p, leak)[0]
    for alpha, value in zip(alphas, losses):
        A, B, C, W = mm.split_params(theta + alpha * d)
        f = mc.network_output(A[None], B[None], np.array([C]), W[None], X, leak)[0]
        assert value == pytest.approx(0.5 * np.sum(p * (f - Y) ** 2), rel=1e-12)
    ends = mm.interpolation_losses(theta, theta + d, np.array([0.0, 1.0]), X, Y, p, leak)
    np.testing.assert_allclose(ends, mm.line_losses(theta, d[:, None], np.array([0.0, 1.0]), X, Y, p, leak)[0])


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
    (["--leak", "1"], "--leak"),
    (["--data", "1:2,2:3,3:1"], "--data"),
    (["--probs", "0.5,0.5"], "--probs"),
    (["--data", SEVEN["data"], "--probs", "0.5,0.5"], "--probs"),
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


def test_risk_on_own_data_with_a_leak(tmp_path):
    """Seven points with their probabilities and leak 0.1: recorded, used for R_lin, nothing certified."""
    mm.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, **SEVEN, leak=0.1, jobs=1, out=tmp_path)
    config = json.loads((tmp_path / "run.json").read_text())["config"]
    data = mc.parse_data(**SEVEN)
    assert config["leak"] == 0.1 and config["data"] == np.stack([data.x, data.y], 1).tolist()
    assert config["probs"] == data.probs.tolist()
    rows = list(csv.DictReader((tmp_path / "risk.csv").open()))
    assert len(rows) == 2 and all(row["certified"] == "" for row in rows)  # the certificate does not apply
    for row in rows:
        expected = lstsq_floor(data.x, data.y + float(row["offset"]), data.probs)[0]
        assert float(row["linear_risk"]) == pytest.approx(expected, rel=1e-12)
    statuses = {row["status"] for row in csv.DictReader((tmp_path / "risk_networks.csv").open())}
    assert statuses <= {"CROSSED", "UNFINISHED", "DIVERGED"}
    with pytest.raises(mc.UsageError, match="--data"):  # resuming with other data is refused
        mm.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, leak=0.1, jobs=1, out=tmp_path)
    with pytest.raises(mc.UsageError, match="--leak"):
        mm.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, **SEVEN, jobs=1, out=tmp_path)


def test_diagnose_on_own_data_with_a_leak(tmp_path):
    mm.diagnose(widths=[8], runs=3, pairs=6, max_epochs=2000, **SEVEN, leak=0.1, out=tmp_path)
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["leak"] == 0.1 and settings["probs"] == mc.parse_data(**SEVEN).probs.tolist()
    rows = list(csv.DictReader((tmp_path / "diagnose.csv").open()))
    assert len(rows) == 3 and all(int(row["dimension"]) == 25 for row in rows)
    assert (tmp_path / "spectrum.png").stat().st_size > 0 and (tmp_path / "extremes.pdf").stat().st_size > 0
    with pytest.raises(mc.UsageError, match="--leak"):
        mm.diagnose(widths=[8], leak=1.0, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
