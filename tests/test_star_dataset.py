"""Tests of train_star_dataset.py and eval_star_dataset.py: the data sets, the NTK Gram matrix and
the fast ReLU epoch against per-sample autograd, the thresholds against direct weighted least
squares per ray, a network placed at the piecewise-linear fit, tracking, resuming, faults, the
CLI's bad-input exits and the evaluation outputs. Tiny sizes throughout."""
import json
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
from kinks.checks import UsageError  # noqa: E402
from kinks.figures import compile_tex, standalone_tex  # noqa: E402
from kinks.files import save_text  # noqa: E402

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
    with pytest.raises(UsageError, match="--dataset must be one of"):
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


def test_ntk_step_size_is_inverse_largest_eigenvalue():
    params, X, _ = network("star_7", width=8, layers=1)
    p = torch.as_tensor(ts.sample_weights(np.random.default_rng(0), 3, 64, 21))
    K = ts.ntk_gram(params, X, "relu")
    h = ts.ntk_step_sizes(K, p, lr_factor=2.0)
    for k in range(3):
        root = np.diag(np.sqrt(p[k].numpy()))
        assert h[k].item() == pytest.approx(2.0 / np.linalg.eigvalsh(root @ K[k].numpy() @ root).max(), rel=1e-12)


@pytest.mark.parametrize("layers", [1, 3])
def test_published_step_is_lr_factor_over_squared_parameter_norm(layers):
    config = ts.make_config("cross", width=6, layers=layers, runs=4, random_bias=True, step="published",
                            dtype="float64")
    assert config["lr_factor"] == 2.0
    state = ts.initial_state(config, torch.device("cpu"))
    for k in range(4):
        theta = np.concatenate([A[k].numpy().ravel() for A in state["params"]])   # every weight and bias
        assert state["step"][k].item() == pytest.approx(2.0 / np.dot(theta, theta), rel=1e-13)
    if layers == 1:
        ntk = ts.initial_state({**config, "step": "ntk", "lr_factor": 1.0}, torch.device("cpu"))
        assert all(torch.equal(A, B) for A, B in zip(ntk["params"], state["params"]))   # only the step differs
        assert not torch.allclose(ntk["step"], state["step"])


def test_published_kernel_reading_gives_the_published_step():
    """The published code's "kernel" (parameter values stacked where per-sample gradients belong)
    is |theta|^2 times the all-ones matrix; 1 / lambda_max of its P-scaled form is 1 / |theta|^2."""
    params, X, _ = network("star_7", width=5, layers=1, P=2)
    p = torch.as_tensor(ts.sample_weights(np.random.default_rng(4), 2, 25, 21))
    norms = torch.stack([sum((A[k] ** 2).sum() for A in params) for k in range(2)])
    stacked_values_kernel = norms[:, None, None] * torch.ones(2, 21, 21, dtype=torch.float64)
    torch.testing.assert_close(ts.ntk_step_sizes(stacked_values_kernel, p, 1.0), ts.published_step_sizes(params, 1.0),
                               rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- gradient steps
@pytest.mark.parametrize("order", ["fast first", "autograd first"])
@pytest.mark.parametrize("random_bias", [False, True])
def test_fast_relu_epoch_equals_autograd_epoch(random_bias, order):
    config = ts.make_config("star_7", width=11, runs=6, random_bias=random_bias, dtype="float64")
    state = ts.initial_state(config, torch.device("cpu"))
    data = ts.training_data(config, state, torch.device("cpu"))
    data["h"] = data["h"] * torch.tensor([1, 1, 5, 5, 20, 20])   # larger steps move kinks sooner
    fast = slow = state["params"]                                # one set of tensors shared by both
    changes = []
    for epoch in range(5):
        f = ts.forward(fast, data["X"], "relu")[0]
        if order == "fast first":
            fast, fast_loss, fast_changed = ts.relu_epoch(fast, data)
            slow, slow_loss, slow_changed = ts.autograd_epoch(slow, data)
        else:
            slow, slow_loss, slow_changed = ts.autograd_epoch(slow, data)
            fast, fast_loss, fast_changed = ts.relu_epoch(fast, data)
        for a, b in zip(fast, slow):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(fast_loss, slow_loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(fast_loss, 0.5 * (data["p"] * (f - data["y"]) ** 2).sum(1))
        assert torch.equal(fast_changed, slow_changed)
        changes.append(fast_changed)
    assert not changes[0].any() and changes[-1].any() and not changes[-1].all()


@pytest.mark.parametrize("layers,epoch_step", [(1, ts.relu_epoch), (1, ts.autograd_epoch), (2, ts.autograd_epoch)])
def test_epochs_leave_their_inputs_untouched(layers, epoch_step):
    config = ts.make_config("star_7", width=5, layers=layers, runs=3, dtype="float64")
    state = ts.initial_state(config, torch.device("cpu"))
    data = ts.training_data(config, state, torch.device("cpu"))
    before = [A.clone() for A in state["params"]]
    after = epoch_step(state["params"], data)[0]
    assert all(torch.equal(A, B) for A, B in zip(state["params"], before))
    assert all(not torch.equal(A, B) for A, B in zip(after, before))


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
    p = ts.sample_weights(np.random.default_rng(2), 5, 9, len(y))   # few samples: some weights are 0
    p[0, :3] = 0.0                                                     # a ray with one point of weight left
    expected = np.zeros(5)
    directions = X / np.linalg.norm(X, axis=1, keepdims=True)
    rays = {tuple(np.flatnonzero(directions @ u > 1 - 1e-12)) for u in directions}   # cosine 1: one ray
    for k in range(5):
        for rows in map(list, rays):
            if len(rows) < 3:
                continue
            root = np.sqrt(p[k, rows])
            design = np.stack([np.linalg.norm(X[rows], axis=1), np.ones(len(rows))], 1)
            coef = np.linalg.lstsq(root[:, None] * design, root * y[rows], rcond=None)[0]
            expected[k] += 0.5 * (p[k, rows] * (y[rows] - design @ coef) ** 2).sum()
    np.testing.assert_allclose(ts.regression_thresholds(X, y, p), expected, rtol=1e-10, atol=1e-13)


def test_a_ray_on_a_rounding_boundary_is_one_ray():
    c = 0.1234567895                              # halfway between two 9-decimal values
    directions = np.array([[c + 1e-11, np.sqrt(1 - c ** 2)], [c - 1e-11, np.sqrt(1 - c ** 2)],
                           [c, np.sqrt(1 - c ** 2)], [1.0, 0.0], [1.0, 1e-3]])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    assert len(np.unique(np.round(directions[:3, 0], 9))) == 2   # rounding to 9 decimals splits the ray
    X = directions * np.array([1.0, 2.0, 3.0, 1.0, 2.0])[:, None]
    assert [list(g) for g in ts.ray_groups(X)] == [[0, 1, 2], [3], [4]]   # 1e-3 apart: two rays
    threshold = ts.regression_thresholds(X, np.array([1.0, -2.0, 1.0, 0.0, 0.0]), np.full((1, 5), 0.2))
    assert threshold[0] == pytest.approx(0.5 * 0.2 * 6.0)   # the residual of a line through 3 points


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
    p = ts.sample_weights(np.random.default_rng(3), 1, 400, len(y))
    params = piecewise_linear_network(X, y, p[0])
    f, _ = ts.forward(params, torch.as_tensor(X), "relu")
    loss = ts.loss_per_network(f, torch.as_tensor(y), torch.as_tensor(p))
    threshold = ts.regression_thresholds(X, y, p)
    assert threshold[0] > 0.01
    assert loss.item() == pytest.approx(threshold[0], rel=1e-9)


# ----------------------------------------------------------------------------- runs
TINY = dict(dataset="star_7", width=16, runs=12, dtype="float64")


def assert_same_state(state, expected):
    """Every entry of two training states bitwise equal (NaN equal to NaN)."""
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        if key == "params":
            assert all(torch.equal(A, B) for A, B in zip(state[key], value))
        elif torch.is_tensor(value):
            torch.testing.assert_close(state[key], value, rtol=0, atol=0, equal_nan=True, msg=key)
        else:
            assert state[key] == value, key


def test_resume_from_1k_to_2k_equals_2k_straight(tmp_path):
    config = ts.make_config(**TINY)
    cpu = torch.device("cpu")
    _, resumed = ts.run(config, 1000, cpu, tmp_path / "a", log_every=250, progress=False)
    assert resumed["epoch"] == 1000
    _, resumed = ts.run(config, 2000, cpu, tmp_path / "a", log_every=250, progress=False)
    _, straight = ts.run(config, 2000, cpu, tmp_path / "b", log_every=250, progress=False)
    loaded = ts.load_state(ts.run_dir(config, tmp_path / "a"), cpu)
    for state in (resumed, loaded):
        assert_same_state(state, straight)
    assert straight["log"].shape == (8, len(ts.LOG_COLUMNS)) and straight["log"][-1, 0] == 1750
    result = json.loads((ts.run_dir(config, tmp_path / "a") / "result.json").read_text())
    assert result["epoch"] == 2000 and result["kink_epoch"] == straight["kink_epoch"].tolist()


@pytest.mark.parametrize("layers", [1, 2])
def test_start_and_results_do_not_depend_on_the_thread_count(tmp_path, layers):
    """Device policy: the start is drawn on the CPU in float64 and only then cast and moved; a
    second CPU run with another thread count starts from and ends at identical tensors."""
    config = ts.make_config("star_7", width=128, layers=layers, runs=32, random_bias=True, dtype="float32")
    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    starts, ends = [], []
    try:
        for count in (1, max(2, threads)):
            torch.set_num_threads(count)
            starts.append(ts.initial_state(config, cpu))
            ends.append(ts.run(config, 40, cpu, tmp_path / str(count), log_every=20, progress=False)[1])
    finally:
        torch.set_num_threads(threads)
    drawn = ts.init_params(32, 2, 128, layers, True, torch.Generator().manual_seed(0))
    assert all(torch.equal(A, B.float()) for A, B in zip(starts[0]["params"], drawn))
    assert_same_state(*starts)
    assert_same_state(*ends)


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


@pytest.mark.parametrize("suffix,step,lr_factor", [("", "published", 2.0), ("_ntk", "ntk", 1.0)])
def test_paper_presets_in_both_step_rules(suffix, step, lr_factor):
    star = ts.preset_configs("paper_star" + suffix)
    assert [(c["width"], c["runs"], c["seed"]) for c in star] == [
        (128, 1000, 0), (256, 1000, 0), (512, 1000, 0), (1024, 1000, 0), (2048, 1000, 0), (4096, 1000, 0),
        (8192, 500, 0), (8192, 500, 1)]
    assert ts.PRESETS["paper_star" + suffix]["stages"] == list(range(100_000, 1_000_001, 100_000))
    deep = ts.preset_configs("paper_deep" + suffix)
    assert [c["width"] for c in deep] == [16, 32, 64, 128, 256] and {c["layers"] for c in deep} == {3}
    assert {c["dataset"] for c in deep} == {"standard"} and ts.PRESETS["paper_deep" + suffix]["stages"][-1] == 100_000
    assert {(c["step"], c["lr_factor"]) for c in star + deep} == {(step, lr_factor)}
    assert all(ts.config_label(c).endswith(f"_{step}-lr{lr_factor:g}_seed{c['seed']}_float32") for c in star + deep)


def test_step_rule_and_factor_of_the_quick_preset_can_be_chosen():
    assert {(c["step"], c["lr_factor"]) for c in ts.preset_configs("quick")} == {("ntk", 1.0)}
    assert {(c["step"], c["lr_factor"]) for c in ts.preset_configs("quick", step="published")} == {("published", 2.0)}
    assert {c["lr_factor"] for c in ts.preset_configs("quick", step="published", lr_factor=1.0)} == {1.0}


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
    (["--runs", "-3"], "--runs must be an integer >= 1"),
    (["--step", "adam"], "--step must be one of ntk, published"),
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


def test_old_option_n_networks_still_works_with_a_warning(tmp_path):
    result = cli("train", "--dataset", "standard", "--width", "4", "--n_networks", "2", "--epochs", "3",
                 "--device", "cpu", "--results", tmp_path)
    assert result.returncode == 0 and "--n_networks is deprecated for train; use --runs" in result.stderr
    assert json.loads(next((tmp_path / "star" / "standard").glob("*/config.json")).read_text())["runs"] == 2


def test_a_different_configuration_is_refused(tmp_path):
    args = ["--dataset", "standard", "--width", "4", "--runs", "3", "--device", "cpu", "--results", tmp_path]
    assert cli("train", *args, "--epochs", 5).returncode == 0
    folder = next((tmp_path / "star" / "standard").iterdir())
    config = json.loads((folder / "config.json").read_text())
    ts.save_json(folder / "config.json", {**config, "seed": 7})
    before = (folder / "state.pt").read_bytes()
    result = cli("train", *args, "--epochs", 9)
    assert result.returncode == 2 and "different configuration" in result.stderr
    assert (folder / "state.pt").read_bytes() == before


# ----------------------------------------------------------------------------- evaluation

def hand_made_run(results, width, seed, kink, loss, epoch=100, dataset="cross", **settings):
    """A run folder written by hand with the given first epochs (-1: never)."""
    config = ts.make_config(dataset=dataset, width=width, runs=len(kink), seed=seed, **settings)
    folder = ts.run_dir(config, results)
    ts.save_json(folder / "config.json", config)
    ts.save_json(folder / "result.json", dict(
        config=config, epoch=epoch, n_networks=len(kink), kink_epoch=kink, loss_epoch=loss,
        nan_epoch=[-1] * len(kink), final_ratio=[1.0] * len(kink), log_columns=[], log=[]))
    return folder


def report_cli(results, *args):
    return cli("report", "--results", results, "--compile", "no", *args, script="eval_star_dataset.py")


def test_fractions_pooled_over_seeds_with_clopper_pearson_intervals(tmp_path, capsys):
    from scipy.stats import beta

    hand_made_run(tmp_path, 8, 0, kink=[-1, 5, 99, -1], loss=[-1, -1, 50, -1])
    hand_made_run(tmp_path, 8, 1, kink=[0, -1, -1, 120], loss=[-1, -1, -1, -1], epoch=150)
    hand_made_run(tmp_path, 16, 0, kink=[-1, -1, -1], loss=[-1, -1, -1])
    (tmp_path / "star" / "cross" / "broken").mkdir()
    (tmp_path / "star" / "cross" / "broken" / "config.json").write_text("{")
    runs = ev.load_runs([tmp_path])
    assert "skipping run" in capsys.readouterr().err
    rows = ev.table_rows(runs, epochs=100)
    row = rows[0]
    assert (row["width"], row["runs"], row["networks"], row["seeds"], row["epochs"]) == (8, 4, 8, 2, 100)
    assert (row["kink_crossed"], row["loss_crossed"]) == (3, 1)   # 120 >= 100: not yet
    assert row["kink_low"] == pytest.approx(beta.ppf(0.025, 3, 6)) and row["kink_high"] == pytest.approx(
        beta.ppf(0.975, 4, 5))
    assert rows[1]["kink_crossed"] == 0 and rows[1]["kink_low"] == 0 and rows[1]["kink_high"] == pytest.approx(
        1 - 0.025 ** (1 / 3))
    assert [r["loss_crossed"] for r in ev.table_rows(runs, epochs=50)] == [0, 0]
    assert "after 100 epochs; 8 networks per point (2 seeds of P = 4, n = 8); 3 networks per point " \
           "(1 seed of P = 3, n = 16); 95% Clopper-Pearson intervals" in ev.format_table(rows)


def test_report_refuses_to_pool_runs_with_different_p(tmp_path, capsys):
    """The issue's case: P = 50 at 4,000 epochs beside P = 200 at 10,000, same series and width."""
    hand_made_run(tmp_path, 64, 0, kink=[-1] * 50, loss=[-1] * 50, epoch=4000, dataset="star_11")
    hand_made_run(tmp_path, 64, 1, kink=[-1] * 200, loss=[10] * 200, epoch=10_000, dataset="star_11")
    message = "refusing to pool runs of star_11, ntk step, n = 64 with different P (50, 200)"
    result = report_cli(tmp_path, "--epochs", "4000")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ev.report(results=tmp_path, compile="no")
    assert not (tmp_path / "star" / "eval").exists()
    ev.report(results=tmp_path, select="runs=200", compile="no")
    out = capsys.readouterr().out
    assert "1.000 [0.982, 1.000]" in out   # loss crossed: 200 of 200
    assert "after 10,000 epochs; 200 networks per point (1 seed of P = 200)" in out
    assert "not drawn (no state.pt in" in out   # a hand-made run has no saved networks


def test_report_refuses_runs_at_different_epoch_counts_unless_one_count_is_given(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3], epoch=100)
    hand_made_run(tmp_path, 8, 1, kink=[-1, 150], loss=[-1, -1], epoch=200)
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], epoch=200)
    result = report_cli(tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "different epoch counts (100 epochs in 1 run, 200 epochs in 2 runs); pass --epochs E with E <= 100" \
        in result.stderr
    with pytest.raises(UsageError, match="--epochs 101 exceeds the epochs reached by some runs"):
        ev.report(results=tmp_path, epochs=101, compile="no")
    assert not (tmp_path / "star" / "eval").exists()
    rows = ev.table_rows(ev.load_runs([tmp_path]), epochs=100)
    assert {row["epochs"] for row in rows} == {100} and rows[0]["kink_crossed"] == 1   # epoch 150: not yet
    rows = ev.table_rows(ev.select_runs(ev.load_runs([tmp_path]), "width=16"))
    assert [(row["width"], row["epochs"]) for row in rows] == [(16, 200)]


def test_select_filters_runs_by_setting(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    hand_made_run(tmp_path, 8, 0, kink=[2, 5], loss=[-1, 3], step="published")
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], step="published", random_bias=True)
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], step="published", lr_factor=1.0)
    runs = ev.load_runs([tmp_path])
    assert len(runs) == 4 and len(ev.cells(runs)) == 4   # every setting apart from width, P, seed: a series
    chosen = ev.select_runs(runs, "step=published,width=16,random_bias=false")
    assert [(r["config"]["width"], r["config"]["lr_factor"]) for r in chosen] == [(16, 1.0)]
    assert len(ev.select_runs(runs, ("width=8", "width=16", "lr_factor=2"))) == 2
    labels = sorted(ev.series_label(key) for key, _ in ev.cells(runs))
    assert labels == ["cross, ntk step", "cross, published step", "cross, published step x1",
                      "cross, published step, random bias"]
    for select, message in [("colour=red", "--select takes key=value pairs with keys dataset, width"),
                            ("width", "--select takes key=value pairs"),
                            ("width=32", "--select width=32: no run has these settings")]:
        with pytest.raises(UsageError, match=message):
            ev.report(results=tmp_path, select=select, compile="no")


def test_the_same_run_found_twice_is_not_pooled(tmp_path):
    folder = hand_made_run(tmp_path / "a", 8, 0, kink=[-1, 5], loss=[-1, 3])
    shutil.copytree(folder, tmp_path / "b" / "copy")
    with pytest.raises(UsageError, match=r"seed 0\) appears 2 times"):
        ev.report(results=tmp_path, input=f"{tmp_path / 'a'},{tmp_path / 'b'}", compile="no")


def test_inconsistent_run_folders_are_named_and_skipped(tmp_path, capsys):
    good = hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    short = hand_made_run(tmp_path, 8, 1, kink=[-1, 5], loss=[-1, 3])
    result = json.loads((short / "result.json").read_text())
    ts.save_json(short / "result.json", {**result, "loss_epoch": [-1]})
    other = hand_made_run(tmp_path, 8, 2, kink=[-1, 5], loss=[-1, 3])
    ts.save_json(other / "config.json", {**json.loads((other / "config.json").read_text()), "seed": 9})
    assert [run["folder"] for run in ev.load_runs([tmp_path])] == [good.resolve()]
    err = capsys.readouterr().err
    assert f"skipping run {short.resolve()}: ValueError: the per-network lists" in err
    assert f"skipping run {other.resolve()}: ValueError: config.json and result.json differ" in err


def test_runs_written_before_the_step_rules_read_as_ntk(tmp_path):
    folder = hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    old = json.loads((folder / "config.json").read_text())
    old["n_networks"] = old.pop("runs")
    del old["step"]
    ts.save_json(folder / "config.json", old)
    ts.save_json(folder / "result.json", {**json.loads((folder / "result.json").read_text()), "config": old})
    [run] = ev.load_runs([tmp_path])
    assert run["config"] == ts.make_config(dataset="cross", width=8, runs=2, seed=0)


def pdf_uses_truetype_fonts_only(path):
    data = path.read_bytes()
    return data[:4] == b"%PDF" and b"/FontFile2" in data and b"/Type3" not in data


def test_report_writes_csv_figures_and_median_networks(tmp_path):
    for dataset in ("star_7", "standard"):
        config = ts.make_config(dataset=dataset, width=8, runs=5, seed=0)
        ts.run(config, 30, torch.device("cpu"), tmp_path, log_every=10, progress=False)
    out = tmp_path / "eval"
    ev.report(results=tmp_path, out=out, compile="yes" if shutil.which("pdflatex") else "no")
    lines = (out / "crossed_fractions.csv").read_text().splitlines()
    assert lines[0].split(",") == ev.COLUMNS and len(lines) == 3
    tex = (out / "crossed_fractions.tex").read_text()
    assert tex.count(r"\addplot") == 4 and r"star\_7, ntk step: kink crossed" in tex
    assert "after 30 epochs; 5 networks per point (1 seed of P = 5); 95\\% Clopper-Pearson intervals" in tex
    for stem in ("median_star_7__ntk_step_n8", "median_standard__ntk_step_n8"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert pdf_uses_truetype_fonts_only(out / f"{stem}.pdf")
    assert (out / "crossed_fractions.png").read_bytes()[:4] == b"\x89PNG"
    if shutil.which("pdflatex"):
        assert (out / "crossed_fractions.pdf").read_bytes()[:4] == b"%PDF"


def test_median_map_is_scaled_to_the_function():
    f = lambda x: 0.01 * x[:, 0]   # noqa: E731 - a small function on a scale of labels +-2
    X, y = ts.make_data("star_7")
    figure = ev.plane_figure(f, X, y, "title")
    image = figure.axes[0].get_images()[0]
    radius = 1.15 * np.abs(X).max()
    assert image.norm.vmin == pytest.approx(-0.01 * radius) and image.norm.vmax == pytest.approx(0.01 * radius)
    markers = figure.axes[0].collections
    assert sum(len(c.get_offsets()) for c in markers) == len(y)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_pgfplots_figure_compiles(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    hand_made_run(tmp_path, 32, 0, kink=[-1, 5], loss=[-1, -1], dataset="random_with_line")
    rows = ev.table_rows(ev.load_runs([tmp_path]))
    tex = tmp_path / "figure.tex"
    save_text(tex, standalone_tex(ev.pgfplots_body(rows)))
    assert compile_tex(tex, "yes").read_bytes()[:4] == b"%PDF"


def test_median_network_is_the_middle_finite_ratio():
    group = [dict(final_ratio=[3.0, None, 1.0]), dict(final_ratio=[2.0, 5.0])]
    run, index = ev.median_network(group)
    assert run is group[1] and index == 0
    assert ev.median_network([dict(final_ratio=[None])]) is None


@pytest.mark.parametrize("args,message", [
    (["--compile", "maybe"], "--compile must be one of"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--select", "seed"], "--select takes key=value pairs"),
    ([], "no star-data-set runs"),
])
def test_report_bad_input(tmp_path, args, message):
    result = cli("report", "--results", tmp_path, *args, script="eval_star_dataset.py")
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
