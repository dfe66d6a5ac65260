"""Tests of kinks.minima.stationary against independent computations: numpy.linalg.lstsq for the side-wise
linear regression, the dense trainer for training to stationarity (the engine switch bitwise), the
population risk under pi; the risk study (determinism, refusals, own data with a leak); and the
two example networks."""
import csv
import json

import numpy as np
import pytest

import mc_minima
from kinks.checks import UsageError
from kinks.mc.data import DataSet, ActivityPatterns, loss_gradient, network_output, parse_data
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.minima.stationary import (
    population_linear_risk, reduced_gradient_norm, side_fit_outputs, side_fits, train_to_stationarity)
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import SEVEN, lstsq_floor, stationary_problems as problems

X, Y = X_DATA, Y_DATA


@pytest.mark.parametrize("data", [DataSet(), parse_data(**SEVEN)], ids=["paper", "seven points"])
def test_linear_floor_equals_weighted_lstsq_per_side(data):
    rng = np.random.default_rng(0)
    x = data.x
    p = sample_weights(rng, 50, 9, len(x), data.probs)  # small N: some zero weights, sides with one point
    y = data.y + rng.normal(size=len(x))
    slopes, intercepts, floor = side_fits(x, y, p)
    for k in range(len(p)):
        total, fitted = lstsq_floor(x, y, p[k])
        ours = side_fit_outputs(x, slopes[k:k + 1], intercepts[k:k + 1])[0]
        weighted = p[k] > 0  # where p_j = 0 the line is not determined by the data
        np.testing.assert_allclose(ours[weighted], fitted[weighted], atol=1e-10)
        assert floor[k] == pytest.approx(total, rel=1e-10, abs=1e-14)


def test_population_linear_risk():
    # paper's data, uniform pi: the best line on each side is y = Delta, residuals (1, -2, 1) on each side
    assert population_linear_risk(DataSet(), 0.0) == pytest.approx(1.0, rel=1e-14)
    assert population_linear_risk(DataSet(), 0.1) == pytest.approx(1.0, rel=1e-14)
    data = parse_data(**SEVEN)
    expected = lstsq_floor(data.x, data.y + 0.3, data.probs)[0]
    assert population_linear_risk(data, 0.3) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("leak", [0.0, 0.1])
def test_reduced_gradient_norm_equals_dense_gradient(leak):
    x, y, p, _, (a, b, c, w), h = problems(32, 40, leak=leak)
    trainer = ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
    crossed = np.zeros(len(h), bool)
    for _ in range(300):
        trainer.step(np.ascontiguousarray(p.T))
        crossed |= trainer.crossed_now()
    assert (~crossed).sum() >= 30  # the reduced engine is exact for these
    ga, gb, gc, gw, _ = loss_gradient(*trainer.params(), x, y, p, ActivityPatterns(x, leak))
    direct = np.sqrt((ga**2).sum(1) + (gb**2).sum(1) + (gw**2).sum(1) + gc**2)
    np.testing.assert_allclose(reduced_gradient_norm(trainer, p, leak)[~crossed], direct[~crossed], rtol=1e-9)


def test_engine_switch_follows_the_dense_trajectory():
    """Reduced until the crossing epoch, dense after it = the dense trainer all along."""
    x, y, p, _, (a, b, c, w), h = problems(16, 60, seed=1)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 0.0, 500, 3000, keep_params=True)
    assert np.sum(out["status"] == "CROSSED") >= 10
    dense = DenseTrainer(a, b, c, w, x, y, h, "gd")
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
    reduced = ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
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
            dense[k] = DenseTrainer(*(q[row:row + 1] for q in reduced.params()), x, y, h[k:k + 1], "gd",
                                    sign_a0=np.sign(reduced.initial_a()[row:row + 1]), leak=leak)
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
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 0.0, block, epochs, keep_params=True, leak=leak)
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
    data = parse_data(**SEVEN)
    x, y, p, _, (a, b, c, w), h = problems(16, 12, seed=4, offset=0.2, data=data, leak=0.1)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 1e-8, 500, 2000, keep_params=True, pi=data.probs,
                                leak=0.1)
    f = network_output(out["a"], out["b"], out["c"], out["w"], x, leak=0.1)
    np.testing.assert_allclose(out["risk"], 0.5 * np.sum(data.probs * (f - y) ** 2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(out["loss"], 0.5 * np.sum(p * (f - y) ** 2, axis=1), rtol=1e-12)
    assert not np.isin(out["status"], ["LOCALLY_CONVERGED", "A_DEGENERATE", "X_DEGENERATE"]).any()


def test_certified_network_at_stationarity_does_linear_regression():
    x, y, p, _, (a, b, c, w), h = problems(16, 30, seed=2, offset=0.1)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 1e-8, 1000, 30_000)
    done = (out["status"] == "LOCALLY_CONVERGED") & out["converged"]
    assert done.sum() >= 10
    np.testing.assert_allclose(out["loss"][done], out["linear_loss"][done], rtol=1e-6)
    np.testing.assert_allclose(out["risk"][done], out["linear_fit_risk"][done], rtol=1e-6)
    stayed = out["status"] != "CROSSED"  # affine on each side of 0, so L >= L_lin
    assert np.all(out["loss"][stayed] >= out["linear_loss"][stayed] * (1 - 1e-12))


SMALL_RISK = dict(offsets=[0.0, 0.1], widths=[16, 32], runs=6, chunk_size=3, max_epochs=2000,
                  epochs_per_check=500)


@pytest.mark.slow
def test_risk_identical_for_any_number_of_jobs(tmp_path):
    mc_minima.risk(**SMALL_RISK, jobs=1, out=tmp_path / "one")
    mc_minima.risk(**SMALL_RISK, jobs=2, out=tmp_path / "two")
    chunks = sorted((tmp_path / "one").rglob("chunk_*.npz"))
    assert len(chunks) == 8
    for path in chunks:
        ours = np.load(path)
        theirs = np.load(tmp_path / "two" / path.relative_to(tmp_path / "one"))
        for key in ours.files:
            assert ours[key].tobytes() == theirs[key].tobytes(), key
    assert (tmp_path / "one" / "risk.csv").read_text() == (tmp_path / "two" / "risk.csv").read_text()
    assert (tmp_path / "one" / "risk.png").stat().st_size > 0


def test_risk_refuses_another_configuration(tmp_path):
    mc_minima.risk(**{**SMALL_RISK, "widths": [16], "offsets": [0.0]}, jobs=1, out=tmp_path)
    with pytest.raises(UsageError, match="--tol"):
        mc_minima.risk(**{**SMALL_RISK, "widths": [16], "offsets": [0.0]}, tol=1e-6, jobs=1, out=tmp_path)


def test_risk_on_own_data_with_a_leak(tmp_path):
    """Seven points with their probabilities and leak 0.1: recorded, used for R_lin, nothing certified."""
    mc_minima.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, **SEVEN, leak=0.1, jobs=1,
                   out=tmp_path)
    config = json.loads((tmp_path / "run.json").read_text())["config"]
    data = parse_data(**SEVEN)
    assert config["leak"] == 0.1 and config["data"] == np.stack([data.x, data.y], 1).tolist()
    assert config["probs"] == data.probs.tolist()
    rows = list(csv.DictReader((tmp_path / "risk.csv").open()))
    assert len(rows) == 2 and all(row["certified"] == "" for row in rows)  # the certificate does not apply
    for row in rows:
        expected = lstsq_floor(data.x, data.y + float(row["offset"]), data.probs)[0]
        assert float(row["linear_risk"]) == pytest.approx(expected, rel=1e-12)
    statuses = {row["status"] for row in csv.DictReader((tmp_path / "risk_networks.csv").open())}
    assert statuses <= {"CROSSED", "UNFINISHED", "DIVERGED"}
    with pytest.raises(UsageError, match="--data"):  # resuming with other data is refused
        mc_minima.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, leak=0.1, jobs=1, out=tmp_path)
    with pytest.raises(UsageError, match="--leak"):
        mc_minima.risk(**{**SMALL_RISK, "widths": [16], "runs": 4, "chunk_size": 4}, **SEVEN, jobs=1, out=tmp_path)
