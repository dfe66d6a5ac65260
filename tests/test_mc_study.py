"""Tests of the study's extensions in mc_training.py and mc_plotting.py against independent
computations: minibatches of any optimiser, data sets of one's own (reduced engine == dense engine,
certificate soundness), Leaky ReLU (torch autograd, the Gauss-Newton matrix, the dense engine),
the event probability (a direct per-network loop), old run directories, the comparison with the
shipped reference, and the bad-input exits of every new option."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mc_plotting
import mc_training as mc
from engine_checks import assert_params_agree
from kinks.checks import UsageError
from kinks.files import load_json, load_npz, save_csv, save_json, save_npz
from kinks.stats import clopper_pearson

ROOT = Path(__file__).resolve().parents[1]
ASYMMETRIC = mc.DataSet([-4.0, -2.5, -1.5, -0.5, 0.7, 1.2, 2.0, 3.5, 5.0],
                        [0.5, -0.5, 0.3, 0.1, 0.2, 0.3, -0.2, 0.1, 0.4],
                        [0.05, 0.1, 0.15, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])


def problems(rng, P, n, data, leak=0.0):
    p = mc.sample_weights(rng, P, n**2, probs=data.probs)
    q = mc.sample_weights(rng, P, n**2, probs=data.probs)
    a, b, c, w = mc.init_params(rng, P, n)
    return p, q, (a, b, c, w), mc.theory_step_size(a, b, w, data.x, p, leak)


def assert_engines_agree(data, optimizer, leak, stopping, batch_size=None, P=1500, n=16, checks=12):
    """Train the same networks with both engines; statuses, stop epochs and parameters must agree."""
    results = []
    for engine in (mc.DenseTrainer, mc.ReducedTrainer):
        rng = np.random.default_rng(11)
        p, q, (a, b, c, w), h = problems(rng, P, n, data, leak)
        trainer = engine(a, b, c, w, data.x, data.y, h, optimizer, leak=leak)
        results.append(mc.train(trainer, data.x, data.y, p, q, h, optimizer, stopping, 200, checks, rng,
                                keep_params=True, batch_size=batch_size))
    dense, reduced = results
    same = dense["status"] == reduced["status"]
    assert same.mean() >= 0.998 and len(set(dense["status"])) >= 2
    np.testing.assert_array_equal(dense["stop_epoch"][same], reduced["stop_epoch"][same])
    never = (dense["first_cross_epoch"] < 0) & (reduced["first_cross_epoch"] < 0)
    assert never.sum() > P // 10
    assert_params_agree(dense, reduced, never, 1e-8)
    return dense


# ----------------------------------------------------------------------------- data of one's own
def test_asymmetric_data_reduced_engine_equals_dense():
    dense = assert_engines_agree(ASYMMETRIC, "gd", 0.0, ["crossing", "sufficient"], P=600)
    assert {"CROSSED", "LOCALLY_CONVERGED"} <= set(dense["status"])
    assert_engines_agree(ASYMMETRIC, "gd", 0.0, ["crossing", "early"], batch_size=8, P=400)


def test_crossing_uses_the_gap_next_to_zero():
    gap = mc.data_gap(ASYMMETRIC.x)  # (0.5, 0.7)
    assert gap == (0.5, 0.7)
    a, sign = np.array([[1.0, -1.0]]), np.array([[1.0, -1.0]])
    assert not mc.kinks_crossed(a, np.array([[-0.6, 0.0]]), sign, gap)[0]  # kink at 0.6 < 0.7
    assert mc.kinks_crossed(a, np.array([[-0.7, 0.0]]), sign, gap)[0]  # kink at the point 0.7
    assert not mc.kinks_crossed(a, np.array([[0.0, -0.45]]), sign, gap)[0]  # kink at -0.45 > -0.5
    assert mc.kinks_crossed(a, np.array([[0.0, -0.5]]), sign, gap)[0]  # kink at the point -0.5


def test_certificate_sound_on_asymmetric_data():
    """Networks certified on the 9-point set stay uncrossed for 20,000 more dense gd epochs."""
    rng = np.random.default_rng(12)
    data = ASYMMETRIC
    p, q, (a, b, c, w), h = problems(rng, 300, 16, data)
    out = mc.train(mc.ReducedTrainer(a, b, c, w, data.x, data.y, h, "gd"), data.x, data.y, p, q, h, "gd",
                   ["crossing", "sufficient"], 500, 40, rng, keep_params=True)
    certified = out["status"] == "LOCALLY_CONVERGED"
    assert certified.sum() >= 50
    trainer = mc.DenseTrainer(*(out[k][certified] for k in "abcw"), data.x, data.y, h[certified], "gd",
                              sign_a0=a[certified])
    ever = trainer.crossed_now()
    p_t = np.ascontiguousarray(p[certified].T)
    trainer.advance(20_000, p_t, p_t, None, ever)  # crossing tested after every epoch
    assert not ever.any()


def test_data_option_is_recorded_and_labels_the_run(tmp_path):
    run_dir = mc.run(widths=[8], runs=20, offsets=[0.0], max_checks=2, epochs_per_check=50, jobs=1,
                     data="2:1,-1:0.5,1:-1,-2:0", probs="0.1,0.2,0.3,0.4", out=tmp_path / "own")
    config = load_json(Path(run_dir) / "run.json")["config"]
    assert config["data"] == [[-2.0, 0.0], [-1.0, 0.5], [1.0, -1.0], [2.0, 1.0]]  # sorted by x
    np.testing.assert_allclose(config["probs"], [0.4, 0.2, 0.3, 0.1])
    assert "data -2:0,-1:0.5,1:-1,2:1 p 0.4,0.2,0.3,0.1" in mc.run_label(config)


# ----------------------------------------------------------------------------- leaky relu
def test_leaky_gradient_equals_autograd():
    rng = np.random.default_rng(13)
    leak, data = 0.1, ASYMMETRIC
    a, _, _, w = mc.init_params(rng, 20, 12)
    b, c = -a * rng.uniform(-6, 6, size=a.shape), rng.normal(size=20)
    p = mc.sample_weights(rng, 20, 144, probs=data.probs)
    grads = mc.loss_gradient(a, b, c, w, data.x, data.y, p, mc.ActivityPatterns(data.x, leak))
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    z = params[0][:, None, :] * torch.tensor(data.x)[None, :, None] + params[1][:, None, :]
    f = params[2][:, None] + (torch.nn.functional.leaky_relu(z, leak) * params[3][:, None, :]).sum(-1)
    loss = 0.5 * (torch.tensor(p) * (f - torch.tensor(data.y)) ** 2).sum()
    loss.backward()
    for ours, param in zip(grads[:4], params):
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mc.network_output(a, b, c, w, data.x, leak), f.detach().numpy(), rtol=1e-12)


def test_leaky_theory_step_is_inverse_gauss_newton_eigenvalue():
    """h = 1 / lambda_max(J^T diag(p) J), J the autograd Jacobian of f(x_j) at initialisation."""
    rng = np.random.default_rng(14)
    leak, data, n = 0.3, ASYMMETRIC, 6
    a, b, c, w = mc.init_params(rng, 5, n)
    p = mc.sample_weights(rng, 5, n**2, probs=data.probs)
    h = mc.theory_step_size(a, b, w, data.x, p, leak)
    for i in range(5):
        def f(theta):
            z = theta[:n, None] * torch.tensor(data.x) + theta[n:2 * n, None]
            return theta[-1] + theta[2 * n:3 * n] @ torch.nn.functional.leaky_relu(z, leak)
        theta = torch.tensor(np.concatenate([a[i], b[i] + 1e-300, w[i], [c[i]]]))  # b = +0: kinks at 0
        J = torch.autograd.functional.jacobian(f, theta).numpy()
        expected = 1.0 / np.linalg.eigvalsh(J.T @ np.diag(p[i]) @ J)[-1]
        np.testing.assert_allclose(h[i], expected, rtol=1e-9)


@pytest.mark.parametrize("data", [mc.DataSet(), ASYMMETRIC], ids=["paper", "asymmetric"])
def test_leaky_reduced_engine_equals_dense(data):
    assert_engines_agree(data, "gd", 0.1, ["crossing", "early"], P=1000)


def test_sufficient_refused_with_leak():
    with pytest.raises(UsageError, match="--stopping sufficient needs .* --leak 0"):
        mc.make_config(leak=0.1, stopping="crossing,sufficient")
    assert mc.make_config(leak=0.1)["stopping"] == ["crossing", "early"]


# ----------------------------------------------------------------------------- batching
def test_sgd_is_gd_with_batch_16(tmp_path):
    settings = dict(widths=[16], runs=40, offsets=[0.0], max_checks=3, epochs_per_check=100, jobs=1,
                    stopping="crossing,early")
    chunks = []
    for name, options in (("sgd", dict(optimizer="sgd")), ("gd16", dict(optimizer="gd", batch_size=16))):
        run_dir = Path(mc.run(**settings, **options, out=tmp_path / name))
        chunks.append(load_npz(next(run_dir.rglob("chunk_*.npz"))))
    for key in ("status", "stop_epoch", "first_cross_epoch"):
        np.testing.assert_array_equal(chunks[0][key], chunks[1][key])
    assert mc.make_config(optimizer="adam", batch_size=16)["engine"] == "dense"
    assert mc.make_config(optimizer="momentum", batch_size=4)["engine"] == "reduced"


def test_paper_presets_are_todays_sgd_and_swapped_runs():
    """paper_sgd and paper_swapped are the configurations (hence the chunks) of the earlier commands."""
    assert mc.make_config("paper_sgd") == mc.make_config("paper", optimizer="sgd", step="small")
    assert mc.make_config("paper_swapped") == mc.make_config("paper", init="swapped")
    assert mc.make_config("paper_adam") == mc.make_config("paper", optimizer="adam", batch_size=16, step="small")
    adam = mc.make_config("paper_adam")
    assert (adam["optimizer"], adam["batch_size"], adam["step"], adam["stopping"]) == \
        ("adam", 16, "small", ["crossing", "early"])


def test_minibatch_adam_equals_torch_adam_on_the_same_batches():
    rng = np.random.default_rng(15)
    a, b, c, w = mc.init_params(rng, 1, 8)
    b, c = -a * rng.uniform(-4, 4, size=a.shape), np.array([0.3])
    p = mc.sample_weights(rng, 1, 64)
    trainer = mc.DenseTrainer(a, b, c, w, mc.X_DATA, mc.Y_DATA, np.array([0.01]), "adam")
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    optimizer = torch.optim.Adam(params, lr=0.01)  # torch's default betas and eps
    for _ in range(30):
        weights = mc.minibatch_weights(rng.random((1, 16)), np.cumsum(p.T, axis=0))
        trainer.step(weights)
        optimizer.zero_grad()
        z = params[0][:, None, :] * torch.tensor(mc.X_DATA)[None, :, None] + params[1][:, None, :]
        f = params[2][:, None] + (torch.relu(z) * params[3][:, None, :]).sum(-1)
        (0.5 * (torch.tensor(weights.T) * (f - torch.tensor(mc.Y_DATA)) ** 2).sum()).backward()
        optimizer.step()
    for ours, param in zip(trainer.params(), params):
        np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_old_run_directory_without_new_fields_resumes(tmp_path):
    settings = dict(optimizer="sgd", widths=[16], runs=30, offsets=[0.0], chunk_size=10, max_checks=2,
                    epochs_per_check=50, jobs=1, out=tmp_path / "old")
    mc.run(**settings)
    new_fields = ("batch_size", "leak", "data", "probs")
    for path in [tmp_path / "old" / "run.json", *(tmp_path / "old").rglob("chunk_*.json")]:
        document = load_json(path)
        document["config"] = {k: v for k, v in document["config"].items() if k not in new_fields}
        save_json(path, document)
    (tmp_path / "old" / "delta_0.0" / "n_16" / "chunk_00002.json").unlink()
    before = mc.summarize(tmp_path / "old")[(0.0, 16)]
    assert before["chunks"] == 2
    mc.run(**settings)
    after = mc.summarize(tmp_path / "old")[(0.0, 16)]
    assert after["chunks"] == 3 and after["runs"] == 30


# ----------------------------------------------------------------------------- the event
def direct_conditions(a, w, p, epsilon, gamma, r):
    """The event's conditions of one network with plain loops and weighted least squares."""
    n, N, x, y = len(a), len(a) ** 2, mc.X_DATA, mc.Y_DATA

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
    p = mc.sample_weights(rng, P, n**2)
    a, _, _, w = mc.init_params(rng, P, n)
    held = mc.event_conditions(a, w, p, epsilon, gamma, r)
    direct = [direct_conditions(a[i], w[i], p[i], epsilon, gamma, r) for i in range(P)]
    for name in mc.EVENT_CONDITIONS:
        np.testing.assert_array_equal(held[name], [d[name] for d in direct], err_msg=name)
    mixed = [name for name in mc.EVENT_CONDITIONS if 0 < held[name].mean() < 1]
    assert len(mixed) >= 3, mixed  # the comparison covers both outcomes of several conditions


def test_event_writes_table_and_figure(tmp_path, capsys):
    mc.event(widths=[16, 32], runs=300, factor=10, out=tmp_path)
    with open(tmp_path / "event.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["n"]) for row in rows] == [16, 32]
    counts = mc.event_counts(32, 300, 0.1, 0.1, 10.0, 0)
    assert int(rows[1]["joint"]) == counts["joint"] and int(rows[1]["D1"]) == counts["D1"]
    low, high = clopper_pearson(counts["joint"], 300)
    assert float(rows[1]["joint_low"]) == pytest.approx(float(low))
    assert (tmp_path / "event.png").stat().st_size > 0
    assert load_json(tmp_path / "event.json")["factor"] == 10


# ----------------------------------------------------------------------------- the reference
def test_report_against_reference_on_hand_made_counts(tmp_path, capsys):
    config = mc.make_config(widths=[16, 32], runs=100, offsets=[0.0], chunk_size=100, seed=3)
    run_dir = tmp_path / "mc" / "mine"
    save_json(run_dir / "run.json", {"format": "kinks-mc-run/1", "config": config})
    for width, crossed in ((16, 40), (32, 25)):
        path = mc.chunk_path(run_dir, 0.0, width, 0)
        status = np.array(["CROSSED"] * crossed + ["LOCALLY_CONVERGED"] * (100 - crossed))
        save_npz(path, status=status, stop_epoch=np.zeros(100, int),
                       first_cross_epoch=np.zeros(100, int), step_size=np.ones(100))
        save_json(path.with_suffix(".json"), {"format": mc.CHUNK_FORMAT, "offset": 0.0, "width": width,
                                                    "chunk": 0, "runs": 100, "config": config, "counts": {}})
    experiment = mc_plotting.experiment_of(config)
    other = mc_plotting.experiment_of(mc.make_config(optimizer="sgd"))
    refs = [dict(preset="paper", offset=0.0, width=16, runs=400, crossed=200, p_hat=0.5, ci_low=0, ci_high=1,
                 seed=0, experiment=experiment, command="x"),
            dict(preset="paper_sgd", offset=0.0, width=32, runs=400, crossed=10, p_hat=0.025, ci_low=0,
                 ci_high=1, seed=0, experiment=other, command="y")]
    save_csv(tmp_path / "ref" / "refs.csv", refs, mc_plotting.REFERENCE_COLUMNS)
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no",
                       against=tmp_path / "ref")
    with open(tmp_path / "report" / "against_reference.csv") as file:
        (row,) = list(csv.DictReader(file))  # n = 32 has only a reference of another experiment
    pbar = 240 / 500
    expected = (0.4 - 0.5) / np.sqrt(pbar * (1 - pbar) * (1 / 100 + 1 / 400))
    assert int(row["width"]) == 16 and float(row["z"]) == pytest.approx(expected, rel=1e-12)
    assert "paper" in capsys.readouterr().out


def test_shipped_reference_files_are_complete():
    for path in sorted((ROOT / "reference").glob("*.csv")):
        with open(path) as file:
            rows = list(csv.DictReader(file))
        assert rows and all(row["command"].startswith("python mc_training.py run --preset") for row in rows)
        assert all(0 <= int(row["crossed"]) <= int(row["runs"]) for row in rows)


# ----------------------------------------------------------------------------- bad input
BAD_RUN = [
    (dict(batch_size=0), "--batch_size"), (dict(batch_size="half"), "--batch_size"),
    (dict(optimizer="sgd", batch_size=32), "--batch_size"),
    (dict(leak=1.0), "--leak"), (dict(leak=-0.1), "--leak"), (dict(leak="x"), "--leak"),
    (dict(leak=0.1, stopping="sufficient"), "--stopping"),
    (dict(optimizer="gd", batch_size=16, stopping="sufficient"), "--stopping"),
    (dict(data="-2:1,-1:0,0:1,1:0,2:1"), "--data"), (dict(data="-2:1,-1:0,1:0,1:1,2:1"), "--data"),
    (dict(data="1:0,2:1,3:0"), "--data"), (dict(data="-1:0,1:0,2:1"), "--data"),
    (dict(data="-1:0,-2"), "--data"), (dict(data="a:b"), "--data"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.5,0.5"), "--probs"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.5,0.5,0.5,-0.5"), "--probs"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.3,0.3,0.3,0.3"), "--probs"),
    (dict(probs="0.5,0.5"), "--probs"),
]


@pytest.mark.parametrize("options, option", BAD_RUN)
def test_bad_new_run_options_refused_before_work(tmp_path, options, option):
    with pytest.raises(UsageError) as error:
        mc.run(widths=[16], runs=10, jobs=1, out=tmp_path / "run", **options)
    assert option in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, option", [
    (dict(widths=1), "--widths"), (dict(runs=0), "--runs"), (dict(factor=0), "--factor"),
    (dict(epsilon="small"), "--epsilon"), (dict(gamma=float("nan")), "--gamma")])
def test_bad_event_options_refused_before_work(tmp_path, options, option):
    with pytest.raises(UsageError) as error:
        mc.event(out=tmp_path / "event", **options)
    assert option in str(error.value) and not (tmp_path / "event").exists()


@pytest.mark.parametrize("script, args, option", [
    ("mc_training.py", ["run", "--data=-1:0,1:0,0.5:1", "--runs", "5"], "--data"),
    ("mc_training.py", ["event", "--factor", "-1"], "--factor"),
    ("mc_plotting.py", ["report", "--against", "nowhere"], "--against"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, script, args, option):
    env = {**os.environ, "KINKS_RESULTS": str(tmp_path / "results")}
    process = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert process.returncode == 2 and process.stderr.startswith("error:") and option in process.stderr
    assert process.stderr.strip().count("\n") == 0 and not (tmp_path / "results").exists()
