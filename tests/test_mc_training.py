"""Tests of the Monte Carlo engine against independent computations: torch autograd and optimisers,
direct per-network eigenvalue and matrix-square-root computations, brute-force sampling, and
long training runs for the certificate's soundness."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

import mc_training as mc
from engine_checks import assert_params_agree
from kinks.checks import UsageError
from kinks.files import load_json

ROOT = Path(__file__).resolve().parents[1]
X, Y = mc.X_DATA, mc.Y_DATA


def random_networks(rng, P, n, spread_kinks=True):
    """Networks with kinks spread over [-4, 4] (between and beyond the data points)."""
    a, b, c, w = mc.init_params(rng, P, n)
    if spread_kinks:
        b = -a * rng.uniform(-4, 4, size=a.shape)
        c = rng.normal(size=P)
    return a, b, c, w


def torch_loss(a, b, c, w, p):
    z = a[:, None, :] * torch.tensor(X)[None, :, None] + b[:, None, :]
    f = c[:, None] + (torch.relu(z) * w[:, None, :]).sum(-1)
    return 0.5 * (torch.tensor(p) * (f - torch.tensor(Y)) ** 2).sum()


def test_gradient_equals_autograd():
    rng = np.random.default_rng(0)
    a, b, c, w = random_networks(rng, 64, 32)
    p = mc.sample_weights(rng, 64, 32**2)
    ga, gb, gc, gw, loss = mc.loss_gradient(a, b, c, w, X, Y, p)
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    total = torch_loss(*params, p)
    total.backward()
    for ours, param in zip((ga, gb, gc, gw), params):
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.sum(), total.item(), rtol=1e-12)
    np.testing.assert_allclose(mc.ActivityPatterns(X).output(mc.ActivityPatterns(X).codes(a, b), a, b, c, w),
                               mc.network_output(a, b, c, w, X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, make_torch", [
    ("adam", lambda params, lr: torch.optim.Adam(params, lr=lr, betas=mc.ADAM_BETAS, eps=mc.ADAM_EPS)),
    ("momentum", lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=mc.MOMENTUM)),
    ("gd", lambda params, lr: torch.optim.SGD(params, lr=lr)),
])
def test_optimizer_steps_equal_torch(name, make_torch):
    rng = np.random.default_rng(1)
    a, b, c, w = random_networks(rng, 1, 8)
    p = mc.sample_weights(rng, 1, 64)
    h = 0.01
    trainer = mc.DenseTrainer(a, b, c, w, X, Y, np.array([h]), name)
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    optimizer = make_torch(params, h)
    for _ in range(25):
        trainer.step(p.T)
        optimizer.zero_grad()
        torch_loss(*params, p).backward()
        optimizer.step()
    for ours, param in zip(trainer.params(), params):
        np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-10, atol=1e-13)


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
    a, b, c, w = mc.init_params(rng, 40, 16)
    p = mc.sample_weights(rng, 40, 256)
    h = mc.theory_step_size(a, b, w, X, p)
    np.testing.assert_allclose(h, [direct_step_size(a[i], w[i], p[i]) for i in range(40)], rtol=1e-10)


def test_minibatch_weights_equal_brute_force_categorical_draws():
    rng = np.random.default_rng(3)
    p = mc.sample_weights(rng, 200, 16)  # some zero weights
    u = rng.random((200, mc.SGD_BATCH))
    weights = mc.minibatch_weights(u, np.cumsum(p, axis=1).T).T
    expected = np.zeros_like(p)
    for i in range(200):
        for draw in u[i]:
            expected[i, np.searchsorted(np.cumsum(p[i]), draw, side="right")] += 1 / mc.SGD_BATCH
    np.testing.assert_allclose(weights, expected, atol=1e-15)
    assert np.all(weights[p == 0] == 0)


def test_crossing_test_catches_kinks_beyond_data_and_sign_flips():
    a0 = np.array([[1.0, -1.0, 2.0]])
    sign = np.sign(a0)
    assert not mc.kinks_crossed(a0, np.array([[0.5, 0.5, 1.9]]), sign, 1.0)[0]
    assert mc.kinks_crossed(a0, np.array([[0.5, 1.0, 0.0]]), sign, 1.0)[0]  # kink at data point
    assert mc.kinks_crossed(np.array([[-0.1, -1.0, 2.0]]), np.zeros((1, 3)), sign, 1.0)[0]  # a flipped


def test_certificate_rejects_networks_beyond_the_data():
    rng = np.random.default_rng(4)
    a, b, c, w = mc.init_params(rng, 4, 16)
    p = mc.sample_weights(rng, 4, 256)
    h = mc.theory_step_size(a, b, w, X, p)
    b[:, 0] = -1.5 * a[:, 0]  # kink of unit 0 at 1.5
    assert not mc.certify(a, b, c, w, X, Y, p, h).any()


def test_certified_networks_never_cross_in_50000_more_epochs():
    """Soundness: every network certified at a check stays uncrossed for 50,000 more gd epochs."""
    rng = np.random.default_rng(5)
    P, n = 900, 16
    p, q = mc.sample_weights(rng, P, n**2), mc.sample_weights(rng, P, n**2)
    a, b, c, w = mc.init_params(rng, P, n)
    h = mc.theory_step_size(a, b, w, X, p)
    out = mc.train(mc.DenseTrainer(a, b, c, w, X, Y, h, "gd"), X, Y, p, q, h, "gd",
                   ["crossing", "sufficient"], 500, 40, rng, keep_params=True)
    certified = out["status"] == "LOCALLY_CONVERGED"
    assert certified.sum() >= 500
    trainer = mc.DenseTrainer(*(out[k][certified] for k in "abcw"), X, Y, h[certified], "gd",
                              sign_a0=a[certified])
    ever_crossed = trainer.crossed_now()
    p_t = np.ascontiguousarray(p[certified].T)
    trainer.advance(50_000, p_t, p_t, None, ever_crossed)  # crossing tested after every epoch
    assert not ever_crossed.any()


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "sgd"])
@pytest.mark.parametrize("n", [16, 64])
def test_reduced_trainer_equals_dense(optimizer, n):
    P = 2000
    stopping = ["crossing", "sufficient"] if optimizer == "gd" else ["crossing", "early"]
    results = []
    for trainer_class in (mc.DenseTrainer, mc.ReducedTrainer):
        rng = np.random.default_rng(6)
        p, q = mc.sample_weights(rng, P, n**2), mc.sample_weights(rng, P, n**2)
        a, b, c, w = mc.init_params(rng, P, n)
        h = mc.theory_step_size(a, b, w, X, p)
        trainer = trainer_class(a, b, c, w, X, Y, h, optimizer)
        results.append(mc.train(trainer, X, Y, p, q, h, optimizer, stopping, 200, 15, rng, keep_params=True))
    dense, reduced = results
    same = dense["status"] == reduced["status"]
    assert same.mean() >= 0.999
    assert len(set(dense["status"])) >= 2  # a comparison across several outcomes
    np.testing.assert_array_equal(dense["stop_epoch"][same], reduced["stop_epoch"][same])
    never = (dense["first_cross_epoch"] < 0) & (reduced["first_cross_epoch"] < 0)
    assert never.sum() > P // 4
    assert_params_agree(dense, reduced, never, 1e-8)


# ----------------------------------------------------------------------------- the runner
SMALL = dict(widths=[16, 32], runs=60, offsets=[0.0, 0.1], chunk_size=25, max_checks=4,
             epochs_per_check=250)


def chunk_contents(run_dir):
    """Every chunk's arrays and JSON minus its wall time, keyed by relative path."""
    contents = {}
    for path in sorted(Path(run_dir).rglob("chunk_*.npz")):
        meta, arrays = mc.load_chunk(path)
        meta.pop("wall_time_s")
        contents[str(path.relative_to(run_dir))] = (meta, arrays)
    return contents


def assert_same_chunks(first, second):
    assert first.keys() == second.keys() and first
    for key in first:
        assert first[key][0] == second[key][0]
        for name, array in first[key][1].items():
            np.testing.assert_array_equal(array, second[key][1][name])


def test_results_identical_for_any_number_of_jobs(tmp_path):
    mc.run(**SMALL, jobs=1, out=tmp_path / "one")
    mc.run(**SMALL, jobs=2, out=tmp_path / "two")
    assert_same_chunks(chunk_contents(tmp_path / "one"), chunk_contents(tmp_path / "two"))


def test_dense_engine_and_adam_run(tmp_path):
    for optimizer in ("adam", "sgd"):
        mc.run(widths=[16], runs=30, offsets=[0.0], optimizer=optimizer, engine="dense",
               max_checks=3, epochs_per_check=100, jobs=1, out=tmp_path / optimizer)
        (meta, arrays), = chunk_contents(tmp_path / optimizer).values()
        assert meta["config"]["stopping"] == ["crossing", "early"]
        assert set(arrays["status"]) <= {"CROSSED", "EARLY_STOPPED", "UNFINISHED", "DIVERGED"}


def test_corrupt_chunk_is_named_and_recomputed(tmp_path, capsys):
    mc.run(**SMALL, jobs=1, out=tmp_path / "run")
    expected = chunk_contents(tmp_path / "run")
    victim = tmp_path / "run" / next(iter(expected))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    capsys.readouterr()
    mc.run(**SMALL, jobs=1, out=tmp_path / "run")
    assert str(victim) in capsys.readouterr().out
    assert_same_chunks(expected, chunk_contents(tmp_path / "run"))


def cli(*args, cwd, **kwargs):
    env = {**os.environ, "KINKS_RESULTS": str(Path(cwd) / "results")}
    return subprocess.Popen([sys.executable, str(ROOT / "mc_training.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def small_cli_args(out):
    return ["run", "--widths", "16,32", "--runs", "120", "--offsets", "0", "--chunk_size", "20",
            "--max_checks", "6", "--epochs_per_check", "500", "--jobs", "1", "--out", str(out)]


def test_killed_run_resumes_to_identical_results(tmp_path):
    cli(*small_cli_args(tmp_path / "full"), cwd=tmp_path).communicate()
    process = cli(*small_cli_args(tmp_path / "killed"), cwd=tmp_path)
    deadline = time.time() + 120
    while len(list((tmp_path / "killed").rglob("chunk_*.json"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    finished = len(list((tmp_path / "killed").rglob("chunk_*.json")))
    assert 2 <= finished < 12
    resumed = cli(*small_cli_args(tmp_path / "killed"), cwd=tmp_path)
    stdout, _ = resumed.communicate()
    assert resumed.returncode == 0
    assert f"{finished} of 12 chunks already finished" in stdout
    assert_same_chunks(chunk_contents(tmp_path / "full"), chunk_contents(tmp_path / "killed"))


@pytest.mark.parametrize("args, option", [
    (["--optimizer", "rmsprop"], "--optimizer"),
    (["--stopping", "crossing,never"], "--stopping"),
    (["--optimizer", "sgd", "--stopping", "sufficient"], "--stopping"),
    (["--runs", "0"], "--runs"),
    (["--widths", "1"], "--widths"),
    (["--widths", "abc"], "--widths"),
    (["--offsets", ""], "--offsets"),
    (["--jobs", "two"], "--jobs"),
    (["--engine", "reduced", "--optimizer", "adam"], "--engine"),
])
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, option):
    process = cli("run", *args, cwd=tmp_path)
    stdout, stderr = process.communicate()
    assert process.returncode == 2
    assert stderr.strip().count("\n") == 0 and option in stderr and stderr.startswith("error:")
    assert not (tmp_path / "results").exists()


def test_different_configuration_is_refused_naming_only_user_facing_options(tmp_path):
    mc.run(widths=[16], runs=10, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--max_checks 1 there, 2 now") as refused:
        mc.run(widths=[16], runs=10, offsets=[0.0], max_checks=2, jobs=1, out=tmp_path / "run")
    assert "chunk_sizes" not in str(refused.value)
    with pytest.raises(UsageError, match="--chunk_size 4096 there, 5 now"):
        mc.run(widths=[16], runs=10, offsets=[0.0], max_checks=1, chunk_size=5, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--runs 5 is below the 10 there"):
        mc.run(widths=[16], runs=5, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--widths lacks 16"):
        mc.run(widths=[32], runs=10, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")


def test_default_run_directory_names_the_options_that_differ_from_the_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    small = dict(widths=[16], offsets=[0.0], max_checks=1, jobs=1)
    assert Path(mc.run(**small, runs=4)).name == "quick-offsets0-widths16-runs4-max_checks1"
    assert Path(mc.run(**small, runs=4, optimizer="gd", seed=0)).name == "quick-offsets0-widths16-runs4-max_checks1"
    assert Path(mc.run(**small, runs=4, optimizer="sgd", save_params=True)).name == \
        "quick-sgd-offsets0-widths16-runs4-max_checks1-params"
    assert mc.run_dir_name("quick", mc.make_config(runs=100), {"runs"}) == "quick-runs100"
    assert mc.run_dir_name("quick", mc.make_config(), set()) == "quick"


@pytest.mark.parametrize("grow", [dict(runs=70), dict(widths=[16, 32]), dict(offsets=[0.0, 0.1])])
def test_extended_study_equals_the_larger_study_run_from_the_start_bitwise(tmp_path, capsys, grow):
    """50 runs in chunks of 20 (the last partial: 10 runs), grown to 70 runs (that chunk is
    recomputed with 20), or by a width or an offset (their chunks are added)."""
    start = dict(widths=[16], runs=50, offsets=[0.0], chunk_size=20, max_checks=3, epochs_per_check=200, jobs=1)
    mc.run(**start, out=tmp_path / "grown")
    before = chunk_contents(tmp_path / "grown")
    capsys.readouterr()
    mc.run(**{**start, **grow}, out=tmp_path / "grown")
    printed = capsys.readouterr().out
    assert f"extending {tmp_path / 'grown'}: --{next(iter(grow))} " in printed and "--chunk_size" not in printed
    partial = "delta_0.0/n_16/chunk_00002.npz"
    assert ("recomputing it" in printed) == ("runs" in grow) and (partial in printed) == ("runs" in grow)
    mc.run(**{**start, **grow}, out=tmp_path / "direct")
    grown, direct = chunk_contents(tmp_path / "grown"), chunk_contents(tmp_path / "direct")
    assert grown.keys() == direct.keys() and len(grown) > len(before) - ("runs" in grow)
    for key in grown:  # identical numbers; the chunk's recorded configuration may be the smaller one
        for name, array in direct[key][1].items():
            np.testing.assert_array_equal(grown[key][1][name], array)
        assert {**grown[key][0], "config": None} == {**direct[key][0], "config": None}
    config = load_json(tmp_path / "grown" / "run.json")["config"]
    assert config == load_json(tmp_path / "direct" / "run.json")["config"]
    assert mc.summarize(tmp_path / "grown") == mc.summarize(tmp_path / "direct")


def test_reduced_moments_equal_moments_of_reconstructed_units():
    rng = np.random.default_rng(7)
    a, b, c, w = mc.init_params(rng, 50, 16)
    p = mc.sample_weights(rng, 50, 256)
    trainer = mc.ReducedTrainer(a, b, c, w, X, Y, mc.theory_step_size(a, b, w, X, p), "momentum")
    crossed = trainer.crossed_now()
    p_t = np.ascontiguousarray(p.T)
    trainer.advance(100, p_t, np.cumsum(p_t, axis=0), None, crossed)
    a_t, b_t, _, w_t = trainer.params()
    assert (~crossed).sum() > 25
    np.testing.assert_allclose(trainer.moments()[~crossed], mc.unit_moments(a_t, b_t, w_t)[~crossed],
                               rtol=1e-10, atol=1e-12)
