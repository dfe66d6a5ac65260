"""Tests of train_star_dataset.py and eval_star_dataset.py: the data sets, the NTK Gram matrix and
the fast ReLU epoch against per-sample autograd, the thresholds against direct weighted least
squares per ray, a network placed at the piecewise-linear fit, tracking, resuming, faults, the
CLI's bad-input exits and the evaluation outputs. Tiny sizes throughout."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import eval_star_dataset as ev  # noqa: E402
import train_star_dataset as ts  # noqa: E402

ALL_DATASETS = ("standard", "cross", "double_cross", "star_7", "star_11", "random_with_line", "multi_axis_3")


# ----------------------------------------------------------------------------- data sets
def test_standard_cross_and_double_cross():
    X, y = ts.make_data("standard")
    np.testing.assert_array_equal(X[:, 0], [-3, -2, -1, 1, 2, 3])
    np.testing.assert_array_equal(y, [-1, 2, -1, 1, -2, 1])
    X, y = ts.make_data("cross")
    assert X.shape == (12, 2)
    np.testing.assert_array_equal(X[:6], np.stack([np.zeros(6), [-3, -2, -1, 1, 2, 3]], 1))
    np.testing.assert_array_equal(X[6:], np.stack([[-3, -2, -1, 1, 2, 3], np.zeros(6)], 1))
    np.testing.assert_array_equal(y, np.tile([-1, 2, -1, 1, -2, 1], 2))
    X, y = ts.make_data("double_cross")
    assert X.shape == (24, 2) and len(y) == 24
    x = np.array([-3, -2, -1, 1, 2, 3.0])
    np.testing.assert_array_equal(X[12:18], np.stack([x, x], 1))
    np.testing.assert_array_equal(X[18:], np.stack([x, -x], 1))
    np.testing.assert_array_equal(y, np.tile([-1, 2, -1, 1, -2, 1], 4))


@pytest.mark.parametrize("k", [7, 11])
def test_star(k):
    X, y = ts.make_data(f"star_{k}")
    assert X.shape == (3 * k, 2)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.tile([0.9, 1.0, 1.1], k), atol=1e-12)
    angles = np.arctan2(X[1::3, 1], X[1::3, 0]) % (2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(k) / k, atol=1e-12)
    np.testing.assert_array_equal(y, np.tile([1, -2, 1], k))
    assert [len(g) for g in ts.ray_groups(X)] == [3] * k


def test_random_with_line_and_multi_axis():
    X, y = ts.make_data("random_with_line")
    assert X.shape == (12, 2)
    np.testing.assert_array_equal(X[:6, 0], 0)
    np.testing.assert_array_equal(y[:6], [-1, 2, -1, 1, -2, 1])
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(X[6:], rng.standard_normal((6, 2)))
    np.testing.assert_array_equal(y[6:], rng.standard_normal(6))
    for d in (1, 3):
        X, y = ts.make_data(f"multi_axis_{d}")
        assert X.shape == (5 * d, d)
        for axis in range(d):
            rows = slice(5 * axis, 5 * axis + 5)
            x = X[rows, axis]
            assert np.all((x >= 1) & (x <= 2)) and np.count_nonzero(X[rows]) == 5
            slope, intercept = np.polyfit(x, y[rows], 1)   # labels centred: least-squares intercept 0
            assert abs(intercept) < 1e-12
    np.testing.assert_array_equal(ts.make_data("multi_axis_3")[0][:5, 0], np.random.default_rng(1).uniform(1, 2, 5))


@pytest.mark.parametrize("name", ["star_0", "star", "circle", "multi_axis_x", 3])
def test_unknown_data_set(name):
    with pytest.raises(ts.utils.UsageError, match="--dataset must be one of"):
        ts.make_data(name)


# ----------------------------------------------------------------------------- NTK and steps
def per_sample_gradients(params, X, activation):
    """J (P, m, #params) by one autograd backward pass per network and point (the brute force)."""
    leaves = [A.detach().clone().requires_grad_() for A in params]
    f, _ = ts.forward(leaves, X, activation)
    rows = []
    for p in range(f.shape[0]):
        rows.append(torch.stack([torch.cat([g[p].flatten() for g in torch.autograd.grad(f[p, j], leaves,
                                                                                         retain_graph=True)])
                                 for j in range(f.shape[1])]))
    return torch.stack(rows)


def network(dataset, width, layers, random_bias=True, P=3, seed=0):
    X, y = ts.make_data(dataset)
    params = ts.init_params(P, X.shape[1], width, layers, random_bias, torch.Generator().manual_seed(seed))
    return params, torch.as_tensor(X), torch.as_tensor(y)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dataset", ["standard", "star_7"])
def test_closed_form_kernel_equals_autograd_gram(activation, dataset):
    params, X, _ = network(dataset, width=9, layers=1)
    J = per_sample_gradients(params, X, activation)
    expected = J @ J.transpose(1, 2)
    torch.testing.assert_close(ts.ntk_gram_one_layer(params, X, activation), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ts.ntk_gram_autograd(params, X, activation), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_deep_kernel_by_torch_func_in_chunks(activation):
    params, X, _ = network("cross", width=7, layers=3, P=5)
    J = per_sample_gradients(params, X, activation)
    K = ts.ntk_gram(params, X, activation)
    torch.testing.assert_close(K, J @ J.transpose(1, 2), rtol=1e-10, atol=1e-10)
    small_chunks = ts.ntk_gram_autograd(params, X, activation, max_elements=1)  # one network per chunk
    torch.testing.assert_close(small_chunks, K, rtol=1e-12, atol=1e-12)


def test_step_size_is_inverse_largest_eigenvalue():
    params, X, _ = network("star_7", width=8, layers=1)
    p = torch.as_tensor(ts.sample_weights(np.random.default_rng(0), 3, 21, 64))
    K = ts.ntk_gram(params, X, "relu")
    h = ts.step_sizes(K, p, lr_factor=2.0)
    for k in range(3):
        root = np.diag(np.sqrt(p[k].numpy()))
        assert h[k].item() == pytest.approx(2.0 / np.linalg.eigvalsh(root @ K[k].numpy() @ root).max(), rel=1e-12)


def test_sample_weights_are_multinomial_frequencies():
    p = ts.sample_weights(np.random.default_rng(0), 2000, 6, 16 ** 2)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(np.round(p * 256), p * 256)
    assert abs(p.mean() - 1 / 6) < 1e-3 and p.var(0).mean() == pytest.approx((1 / 6) * (5 / 6) / 256, rel=0.1)


# ----------------------------------------------------------------------------- gradient steps
@pytest.mark.parametrize("random_bias", [False, True])
def test_fast_relu_epoch_equals_autograd_epoch(random_bias):
    config = ts.make_config("star_7", width=11, n_networks=6, random_bias=random_bias, dtype="float64")
    state = ts.initial_state(config, torch.device("cpu"))
    data = ts.training_data(config, state, torch.device("cpu"))
    data["h"] = data["h"] * torch.tensor([1, 1, 5, 5, 20, 20])   # larger steps move kinks sooner
    fast = slow = state["params"]
    changes = []
    for epoch in range(5):
        f = ts.forward(fast, data["X"], "relu")[0]
        fast, fast_loss, fast_changed = ts.relu_epoch(fast, data)
        slow, slow_loss, slow_changed = ts.autograd_epoch(slow, data)
        for a, b in zip(fast, slow):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(fast_loss, slow_loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(fast_loss, 0.5 * (data["p"] * (f - data["y"]) ** 2).sum(1))
        assert torch.equal(fast_changed, slow_changed)
        changes.append(fast_changed)
    assert not changes[0].any() and changes[-1].any() and not changes[-1].all()


@pytest.mark.parametrize("m", [6, 33, 47])
def test_pattern_codes_tell_every_single_flip(m):
    generator = torch.Generator().manual_seed(m)
    pattern = torch.rand((1, m, 3), generator=generator) > 0.5
    bits = ts.bit_weights(m, torch.float32)
    code = ts.pattern_codes(pattern, bits)
    flips = torch.eye(m, dtype=torch.bool)[:, :, None] & torch.tensor([False, True, False])   # (m, m, 3)
    flipped = ts.pattern_codes(pattern ^ flips, bits)
    assert ((flipped != code).flatten(1).sum(1) == 1).all()
    assert torch.equal(ts.pattern_codes(pattern.double(), bits.double()), code.double())
    assert torch.equal(code, torch.round(code)) and code.max() < 2 ** 23


# ----------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_thresholds_equal_direct_weighted_least_squares_per_ray(dataset):
    X, y = ts.make_data(dataset)
    p = ts.sample_weights(np.random.default_rng(2), 5, len(y), 9)   # few samples: some weights are 0
    p[0, :3] = 0.0                                                     # a ray with one point of weight left
    expected = np.zeros(5)
    directions = np.round(X / np.linalg.norm(X, axis=1, keepdims=True), 9)
    for k in range(5):
        for direction in np.unique(directions, axis=0):
            rows = np.flatnonzero((directions == direction).all(1))
            if len(rows) < 3:
                continue
            root = np.sqrt(p[k, rows])
            design = np.stack([np.linalg.norm(X[rows], axis=1), np.ones(len(rows))], 1)
            coef = np.linalg.lstsq(root[:, None] * design, root * y[rows], rcond=None)[0]
            expected[k] += 0.5 * (p[k, rows] * (y[rows] - design @ coef) ** 2).sum()
    np.testing.assert_allclose(ts.regression_thresholds(X, y, p), expected, rtol=1e-10, atol=1e-13)


def piecewise_linear_network(X, y, p, width=64, seed=0):
    """A one-hidden-layer ReLU network whose restriction to every ray of >= 3 points is the weighted
    least-squares line alpha |x| + beta of that ray (and that interpolates the other points): hidden
    units drawn at random and kept if their on/off pattern is constant on every such ray, then the
    output weights solved from the linear conditions. Returns params [A1, A2] (1 network)."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    groups = [g for g in ts.ray_groups(X) if len(g) >= 3]
    singles = sorted(set(range(len(y))) - {j for g in groups for j in g})
    a, b = rng.standard_normal((20 * width, d)), rng.standard_normal(20 * width)
    on = X @ a.T + b > 0                                                # (m, units)
    keep = np.flatnonzero(np.all([(on[g] == on[g][:1]).all(0) for g in groups], axis=0))[:width]
    a, b, on = a[keep], b[keep], on[:, keep]
    rows, targets = [], []                                              # conditions on (w, c)
    for g in groups:
        root = np.sqrt(p[g])
        radius = np.linalg.norm(X[g], axis=1)
        slope, intercept = np.linalg.lstsq(root[:, None] * np.stack([radius, np.ones(len(g))], 1), root * y[g],
                                           rcond=None)[0]
        u = X[g[0]] / radius[0]
        rows += [np.append(on[g[0]] * (a @ u), 0.0), np.append(on[g[0]] * b, 1.0)]
        targets += [slope, intercept]
    for j in singles:
        rows.append(np.append(on[j] * np.maximum(X[j] @ a.T + b, 0), 1.0))
        targets.append(y[j])
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    np.testing.assert_allclose(np.array(rows) @ solution, targets, atol=1e-9)  # the fit is reachable
    A1 = np.concatenate([a.T, b[None]])[None]
    A2 = solution[None, :, None]
    return [torch.as_tensor(A1), torch.as_tensor(A2)]


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_network_at_piecewise_linear_fit_has_loss_equal_to_threshold(dataset):
    X, y = ts.make_data(dataset)
    p = ts.sample_weights(np.random.default_rng(3), 1, len(y), 400)
    params = piecewise_linear_network(X, y, p[0])
    f, _ = ts.forward(params, torch.as_tensor(X), "relu")
    loss = ts.loss_per_network(f, torch.as_tensor(y), torch.as_tensor(p))
    threshold = ts.regression_thresholds(X, y, p)
    assert threshold[0] > 0.01
    assert loss.item() == pytest.approx(threshold[0], rel=1e-9)


# ----------------------------------------------------------------------------- runs
TINY = dict(dataset="star_7", width=16, n_networks=12, dtype="float64")


def test_resume_from_1k_to_2k_equals_2k_straight(tmp_path):
    config = ts.make_config(**TINY)
    cpu = torch.device("cpu")
    _, resumed = ts.run(config, 1000, cpu, tmp_path / "a", log_every=250, progress=False)
    assert resumed["epoch"] == 1000
    _, resumed = ts.run(config, 2000, cpu, tmp_path / "a", log_every=250, progress=False)
    _, straight = ts.run(config, 2000, cpu, tmp_path / "b", log_every=250, progress=False)
    loaded = ts.load_state(ts.run_dir(config, tmp_path / "a"), cpu)
    for state in (resumed, loaded):
        for key, value in straight.items():
            if key == "params":
                assert all(torch.equal(x, z) for x, z in zip(state[key], value))
            else:
                assert torch.equal(state[key], value) if torch.is_tensor(value) else state[key] == value, key
    assert straight["log"].shape == (8, len(ts.LOG_COLUMNS)) and straight["log"][-1, 0] == 1750
    result = json.loads((ts.run_dir(config, tmp_path / "a") / "result.json").read_text())
    assert result["epoch"] == 2000 and result["kink_epoch"] == straight["kink_epoch"].tolist()


def test_tracked_epochs_match_a_direct_replay():
    config = ts.make_config(**TINY)
    cpu = torch.device("cpu")
    state = ts.initial_state(config, cpu)
    start = [A.clone() for A in state["params"]]
    data = ts.training_data(config, state, cpu)
    ts.train_state(state, data, 300, log_every=100)
    params, kink, below = start, np.full(12, -1), np.full(12, -1)
    initial = ts.on_off_pattern(ts.forward(params, data["X"], "relu")[1])
    for t in range(300):
        f, pre = ts.forward(params, data["X"], "relu")
        loss = ts.loss_per_network(f, data["y"], data["p"])
        changed = (ts.on_off_pattern(pre) != initial).flatten(1).any(1).numpy()
        kink = np.where((kink < 0) & changed, t, kink)
        below = np.where((below < 0) & (loss.numpy() < 0.999999 * state["threshold"].numpy()), t, below)
        params = ts.autograd_epoch(params, data)[0]
    np.testing.assert_array_equal(state["kink_epoch"].numpy(), kink)
    np.testing.assert_array_equal(state["loss_epoch"].numpy(), below)
    assert (kink >= 0).any()
    for A, B in zip(state["params"], params):
        torch.testing.assert_close(A, B, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation,layers", [("tanh", 1), ("relu", 2)])
def test_other_activations_and_depths_train(tmp_path, activation, layers):
    config = ts.make_config(**{**TINY, "activation": activation, "layers": layers, "random_bias": True})
    _, state = ts.run(config, 50, torch.device("cpu"), tmp_path, log_every=10, progress=False)
    assert state["initial_pattern"].shape == (12, 21, 16 * layers)
    assert torch.isfinite(state["loss"]).all() and state["log"].shape[0] == 5
    assert (state["log"][1:, 1] < state["log"][0, 1]).all()   # gradient descent lowers the mean loss


def test_non_finite_losses_are_reported_per_network(tmp_path):
    config = ts.make_config(**{**TINY, "lr_factor": 50.0})
    _, state = ts.run(config, 200, torch.device("cpu"), tmp_path, log_every=50, progress=False)
    diverged = state["nan_epoch"] >= 0
    assert 0 < diverged.sum() < 12 and torch.equal(diverged, ~torch.isfinite(state["loss"]))
    assert state["log"][-1, 0] == 150 and state["log"][-1, -1] == (diverged & (state["nan_epoch"] <= 150)).sum()
    result = json.loads((ts.run_dir(config, tmp_path) / "result.json").read_text())
    assert [v is None for v in result["final_ratio"]] == diverged.tolist()


def test_presets():
    star = ts.preset_configs("paper_star")
    assert [(c["width"], c["n_networks"], c["seed"]) for c in star] == [
        (128, 1000, 0), (256, 1000, 0), (512, 1000, 0), (1024, 1000, 0), (2048, 1000, 0), (4096, 1000, 0),
        (8192, 500, 0), (8192, 500, 1)]
    assert ts.PRESETS["paper_star"]["stages"] == list(range(100_000, 1_000_001, 100_000))
    deep = ts.preset_configs("paper_deep")
    assert [c["width"] for c in deep] == [16, 32, 64, 128, 256] and {c["layers"] for c in deep} == {3}
    assert {c["dataset"] for c in deep} == {"standard"} and ts.PRESETS["paper_deep"]["stages"][-1] == 100_000


def test_experiments_run_every_configuration_of_a_preset(tmp_path, capsys):
    ts.experiments("quick", device="cpu", results=tmp_path, max_epochs=3)
    folders = sorted((tmp_path / "star").glob("*/*"))
    assert len(folders) == len(ts.preset_configs("quick")) == 8
    assert all(json.loads((f / "result.json").read_text())["epoch"] == 3 for f in folders)
    assert capsys.readouterr().out.count("epoch 3:") == 8


# ----------------------------------------------------------------------------- CLI
def cli(*args, script="train_star_dataset.py"):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


@pytest.mark.parametrize("args,message", [
    (["--dataset", "circle"], "--dataset must be one of"),
    (["--activation", "sigmoid"], "--activation must be one of relu, tanh"),
    (["--width", "0"], "--width must be an integer >= 1"),
    (["--n_networks", "-3"], "--n_networks must be an integer >= 1"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--lr_factor", "0"], "--lr_factor must be a finite number > 0"),
    (["--dtype", "float16"], "--dtype must be one of"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:K"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = cli("train", *args, "--results", tmp_path)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "star").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_asked_for_but_absent(tmp_path):
    result = cli("train", "--device", "cuda", "--results", tmp_path)
    assert result.returncode == 2 and "CUDA is not available" in result.stderr


def test_a_different_configuration_is_refused(tmp_path):
    args = ["--dataset", "standard", "--width", "4", "--n_networks", "3", "--device", "cpu", "--results", tmp_path]
    assert cli("train", *args, "--epochs", 5).returncode == 0
    folder = next((tmp_path / "star" / "standard").iterdir())
    config = json.loads((folder / "config.json").read_text())
    ts.utils.save_json(folder / "config.json", {**config, "seed": 7})
    before = (folder / "state.pt").read_bytes()
    result = cli("train", *args, "--epochs", 9)
    assert result.returncode == 2 and "different configuration" in result.stderr
    assert (folder / "state.pt").read_bytes() == before


# ----------------------------------------------------------------------------- evaluation

def hand_made_run(results, width, seed, kink, loss, epoch=100, dataset="cross"):
    """A run folder written by hand with the given first epochs (-1: never)."""
    config = ts.make_config(dataset=dataset, width=width, n_networks=len(kink), seed=seed)
    folder = ts.run_dir(config, results)
    ts.utils.save_json(folder / "config.json", config)
    ts.utils.save_json(folder / "result.json", dict(
        config=config, epoch=epoch, n_networks=len(kink), kink_epoch=kink, loss_epoch=loss,
        nan_epoch=[-1] * len(kink), final_ratio=[1.0] * len(kink), log_columns=[], log=[]))
    return folder


def test_fractions_pooled_over_seeds_with_clopper_pearson_intervals(tmp_path, capsys):
    from scipy.stats import beta

    hand_made_run(tmp_path, 8, 0, kink=[-1, 5, 99, -1], loss=[-1, -1, 50, -1])
    hand_made_run(tmp_path, 8, 1, kink=[0, -1, -1, 120], loss=[-1, -1, -1, -1], epoch=150)
    hand_made_run(tmp_path, 16, 0, kink=[-1, -1, -1], loss=[-1, -1, -1])
    (tmp_path / "star" / "cross" / "broken").mkdir()
    (tmp_path / "star" / "cross" / "broken" / "config.json").write_text("{")
    rows = ev.table_rows(ev.load_runs(tmp_path))
    assert "skipping run" in capsys.readouterr().err
    row = rows[0]
    assert (row["width"], row["networks"], row["seeds"], row["epochs"]) == (8, 8, 2, 100)   # 120 >= 100: not yet
    assert (row["kink_crossed"], row["loss_crossed"]) == (3, 1)
    assert row["kink_low"] == pytest.approx(beta.ppf(0.025, 3, 6)) and row["kink_high"] == pytest.approx(
        beta.ppf(0.975, 4, 5))
    assert rows[1]["kink_crossed"] == 0 and rows[1]["kink_low"] == 0 and rows[1]["kink_high"] == pytest.approx(
        1 - 0.025 ** (1 / 3))
    assert [r["loss_crossed"] for r in ev.table_rows(ev.load_runs(tmp_path), epochs=50)] == [0, 0]
    with pytest.raises(ts.utils.UsageError, match="exceeds the 100 epochs"):
        ev.table_rows(ev.load_runs(tmp_path), epochs=101)


def test_report_writes_csv_figures_and_median_networks(tmp_path):
    for dataset in ("star_7", "standard"):
        config = ts.make_config(dataset=dataset, width=8, n_networks=5, seed=0)
        ts.run(config, 30, torch.device("cpu"), tmp_path, log_every=10, progress=False)
    out = tmp_path / "eval"
    ev.report(results=tmp_path, out=out, compile="yes" if shutil.which("pdflatex") else "no")
    lines = (out / "crossed_fractions.csv").read_text().splitlines()
    assert lines[0].split(",") == ev.COLUMNS and len(lines) == 3
    tex = (out / "crossed_fractions.tex").read_text()
    assert tex.count(r"\addplot") == 4 and r"star\_7: kink crossed" in tex
    for name in ("crossed_fractions.png", "median_star_7_n8.png", "median_standard_n8.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    if shutil.which("pdflatex"):
        assert (out / "crossed_fractions.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_pgfplots_figure_compiles(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    hand_made_run(tmp_path, 32, 0, kink=[-1, 5], loss=[-1, -1], dataset="random_with_line")
    rows = ev.table_rows(ev.load_runs(tmp_path))
    tex = tmp_path / "figure.tex"
    ts.utils.save_text(tex, ts.utils.standalone_tex(ev.pgfplots_body(rows)))
    assert ts.utils.compile_tex(tex, "yes").read_bytes()[:4] == b"%PDF"


def test_median_network_is_the_middle_finite_ratio():
    group = [dict(final_ratio=[3.0, None, 1.0]), dict(final_ratio=[2.0, 5.0])]
    run, index = ev.median_network(group)
    assert run is group[1] and index == 0
    assert ev.median_network([dict(final_ratio=[None])]) is None


@pytest.mark.parametrize("args,message", [
    (["--compile", "maybe"], "--compile must be one of"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    ([], "no star-data-set runs"),
])
def test_report_bad_input(tmp_path, args, message):
    result = cli("report", "--results", tmp_path, *args, script="eval_star_dataset.py")
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
