"""Tests of kinks.star.training and kinks.star.data: the data sets, the NTK Gram matrix and the fast ReLU
epoch against per-sample autograd, the thresholds against direct weighted least squares per ray, a
network placed at the piecewise-linear fit, tracking, resuming, the training state's files (also as
older versions wrote them), the presets. Tiny sizes throughout."""
import json

import numpy as np
import pytest
import torch

from kinks.checks import UsageError
from kinks.files import save_json
from kinks.samples import sample_weights
from kinks.star import networks, training
from kinks.star import data as sd
from kinks.star.config import PRESETS, StarConfig, preset_configs, preset_stages
from kinks.star.state import (BOOL_PATTERN_FORMAT, LOG_COLUMNS, STATE_FORMAT, TrainingState, packed_pattern,
                              unpacked_pattern)

ALL_DATASETS = ("standard", "cross", "double_cross", "star_7", "star_11", "random_with_line", "multi_axis_3")


# ----------------------------------------------------------------------------- data sets
def test_standard_cross_and_double_cross():
    X, y = sd.make_data("standard")
    np.testing.assert_array_equal(X[:, 0], [-3, -2, -1, 1, 2, 3])
    np.testing.assert_array_equal(y, [-1, 2, -1, 1, -2, 1])
    X, y = sd.make_data("cross")
    assert X.shape == (12, 2)
    np.testing.assert_array_equal(X[:6], np.stack([np.zeros(6), [-3, -2, -1, 1, 2, 3]], 1))
    np.testing.assert_array_equal(X[6:], np.stack([[-3, -2, -1, 1, 2, 3], np.zeros(6)], 1))
    np.testing.assert_array_equal(y, np.tile([-1, 2, -1, 1, -2, 1], 2))
    X, y = sd.make_data("double_cross")
    assert X.shape == (24, 2) and len(y) == 24
    x = np.array([-3, -2, -1, 1, 2, 3.0])
    np.testing.assert_array_equal(X[12:18], np.stack([x, x], 1))
    np.testing.assert_array_equal(X[18:], np.stack([x, -x], 1))
    np.testing.assert_array_equal(y, np.tile([-1, 2, -1, 1, -2, 1], 4))


@pytest.mark.parametrize("k", [7, 11])
def test_star(k):
    X, y = sd.make_data(f"star_{k}")
    assert X.shape == (3 * k, 2)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.tile([0.9, 1.0, 1.1], k), atol=1e-12)
    angles = np.arctan2(X[1::3, 1], X[1::3, 0]) % (2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(k) / k, atol=1e-12)
    np.testing.assert_array_equal(y, np.tile([1, -2, 1], k))
    assert [len(g) for g in sd.ray_groups(X)] == [3] * k


def test_random_with_line_and_multi_axis():
    X, y = sd.make_data("random_with_line")
    assert X.shape == (12, 2)
    np.testing.assert_array_equal(X[:6, 0], 0)
    np.testing.assert_array_equal(y[:6], [-1, 2, -1, 1, -2, 1])
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(X[6:], rng.standard_normal((6, 2)))
    np.testing.assert_array_equal(y[6:], rng.standard_normal(6))
    for d in (1, 3):
        X, y = sd.make_data(f"multi_axis_{d}")
        assert X.shape == (5 * d, d)
        for axis in range(d):
            rows = slice(5 * axis, 5 * axis + 5)
            x = X[rows, axis]
            assert np.all((x >= 1) & (x <= 2)) and np.count_nonzero(X[rows]) == 5
            slope, intercept = np.polyfit(x, y[rows], 1)   # labels centred: least-squares intercept 0
            assert abs(intercept) < 1e-12
    np.testing.assert_array_equal(sd.make_data("multi_axis_3")[0][:5, 0], np.random.default_rng(1).uniform(1, 2, 5))


@pytest.mark.parametrize("name", ["star_0", "star", "circle", "multi_axis_x", 3])
def test_unknown_data_set(name):
    with pytest.raises(UsageError, match="--dataset must be one of"):
        sd.make_data(name)


# ----------------------------------------------------------------------------- NTK and steps
def per_sample_gradients(params, X, activation):
    """J (P, m, #params) by one autograd backward pass per network and point (the brute force)."""
    leaves = [A.detach().clone().requires_grad_() for A in params]
    f, _ = networks.forward(leaves, X, activation)
    rows = []
    for p in range(f.shape[0]):
        rows.append(torch.stack([torch.cat([g[p].flatten() for g in torch.autograd.grad(f[p, j], leaves,
                                                                                         retain_graph=True)])
                                 for j in range(f.shape[1])]))
    return torch.stack(rows)


def network(dataset, width, layers, random_bias=True, P=3, seed=0):
    X, y = sd.make_data(dataset)
    params = networks.init_params(P, X.shape[1], width, layers, random_bias, torch.Generator().manual_seed(seed))
    return params, torch.as_tensor(X), torch.as_tensor(y)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dataset", ["standard", "star_7"])
def test_closed_form_kernel_equals_autograd_gram(activation, dataset):
    params, X, _ = network(dataset, width=9, layers=1)
    J = per_sample_gradients(params, X, activation)
    expected = J @ J.transpose(1, 2)
    torch.testing.assert_close(networks.ntk_gram_one_layer(params, X, activation), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(networks.ntk_gram_autograd(params, X, activation), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.slow  # per-sample gradients of a deep network
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_deep_kernel_by_torch_func_in_chunks(activation):
    params, X, _ = network("cross", width=7, layers=3, P=5)
    J = per_sample_gradients(params, X, activation)
    K = networks.ntk_gram(params, X, activation)
    torch.testing.assert_close(K, J @ J.transpose(1, 2), rtol=1e-10, atol=1e-10)
    small_chunks = networks.ntk_gram_autograd(params, X, activation, max_elements=1)  # one network per chunk
    torch.testing.assert_close(small_chunks, K, rtol=1e-12, atol=1e-12)


def test_ntk_step_size_is_inverse_largest_eigenvalue():
    params, X, _ = network("star_7", width=8, layers=1)
    p = torch.as_tensor(sample_weights(np.random.default_rng(0), 3, 64, 21))
    K = networks.ntk_gram(params, X, "relu")
    h = networks.gram_step_sizes(K, p, lr_factor=2.0)
    for k in range(3):
        root = np.diag(np.sqrt(p[k].numpy()))
        assert h[k].item() == pytest.approx(2.0 / np.linalg.eigvalsh(root @ K[k].numpy() @ root).max(), rel=1e-12)


@pytest.mark.parametrize("layers", [1, 3])
def test_published_step_is_lr_factor_over_squared_parameter_norm(layers):
    config = StarConfig("cross", width=6, layers=layers, runs=4, random_bias=True, step="published",
                            dtype="float64")
    assert config.lr_factor == 2.0
    state = TrainingState.initial(config, torch.device("cpu"))
    for k in range(4):
        theta = np.concatenate([A[k].numpy().ravel() for A in state.params])   # every weight and bias
        assert state.step_size[k].item() == pytest.approx(2.0 / np.dot(theta, theta), rel=1e-13)
    if layers == 1:
        gram = TrainingState.initial(config.replace(step="gram"), torch.device("cpu"))
        assert all(torch.equal(A, B) for A, B in zip(gram.params, state.params))   # only the step differs
        assert not torch.allclose(gram.step_size, state.step_size)


def test_published_kernel_reading_gives_the_published_step():
    """The published code's "kernel" (parameter values stacked where per-sample gradients belong)
    is |theta|^2 times the all-ones matrix; 1 / lambda_max of its P-scaled form is 1 / |theta|^2."""
    params, X, _ = network("star_7", width=5, layers=1, P=2)
    p = torch.as_tensor(sample_weights(np.random.default_rng(4), 2, 25, 21))
    norms = torch.stack([sum((A[k] ** 2).sum() for A in params) for k in range(2)])
    stacked_values_kernel = norms[:, None, None] * torch.ones(2, 21, 21, dtype=torch.float64)
    torch.testing.assert_close(networks.gram_step_sizes(stacked_values_kernel, p, 1.0),
                               networks.published_step_sizes(params, 1.0), rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- gradient steps
@pytest.mark.parametrize("order", ["fast first", "autograd first"])
@pytest.mark.parametrize("random_bias", [False, True])
def test_fast_relu_epoch_equals_autograd_epoch(random_bias, order):
    config = StarConfig("star_7", width=11, runs=6, random_bias=random_bias, dtype="float64")
    state = TrainingState.initial(config, torch.device("cpu"))
    data = training.epoch_data(state, torch.device("cpu"))
    data["h"] = data["h"] * torch.tensor([1, 1, 5, 5, 20, 20])   # larger steps move kinks sooner
    fast = slow = state.params                                   # one set of tensors shared by both
    changes = []
    for _ in range(5):
        f = networks.forward(fast, data["X"], "relu")[0]
        if order == "fast first":
            fast, fast_loss, fast_changed = networks.relu_epoch(fast, data)
            slow, slow_loss, slow_changed = networks.autograd_epoch(slow, data)
        else:
            slow, slow_loss, slow_changed = networks.autograd_epoch(slow, data)
            fast, fast_loss, fast_changed = networks.relu_epoch(fast, data)
        for a, b in zip(fast, slow):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(fast_loss, slow_loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(fast_loss, 0.5 * (data["p"] * (f - data["y"]) ** 2).sum(1))
        assert torch.equal(fast_changed, slow_changed)
        changes.append(fast_changed)
    assert not changes[0].any() and changes[-1].any() and not changes[-1].all()


@pytest.mark.parametrize("layers,epoch_step", [(1, networks.relu_epoch), (1, networks.autograd_epoch),
                                               (2, networks.autograd_epoch)])
def test_epochs_leave_their_inputs_untouched(layers, epoch_step):
    config = StarConfig("star_7", width=5, layers=layers, runs=3, dtype="float64")
    state = TrainingState.initial(config, torch.device("cpu"))
    data = training.epoch_data(state, torch.device("cpu"))
    before = [A.clone() for A in state.params]
    after = epoch_step(state.params, data)[0]
    assert all(torch.equal(A, B) for A, B in zip(state.params, before))
    assert all(not torch.equal(A, B) for A, B in zip(after, before))


@pytest.mark.parametrize("m", [6, 33, 47])
def test_pattern_codes_tell_every_single_flip(m):
    generator = torch.Generator().manual_seed(m)
    pattern = torch.rand((1, m, 3), generator=generator) > 0.5
    bits = networks.bit_weights(m, torch.float32)
    code = networks.pattern_codes(pattern, bits)
    flips = torch.eye(m, dtype=torch.bool)[:, :, None] & torch.tensor([False, True, False])   # (m, m, 3)
    flipped = networks.pattern_codes(pattern ^ flips, bits)
    assert ((flipped != code).flatten(1).sum(1) == 1).all()
    assert torch.equal(networks.pattern_codes(pattern.double(), bits.double()), code.double())
    assert torch.equal(code, torch.round(code)) and code.max() < 2 ** 23


# ----------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_thresholds_equal_direct_weighted_least_squares_per_ray(dataset):
    X, y = sd.make_data(dataset)
    p = sample_weights(np.random.default_rng(2), 5, 9, len(y))   # few samples: some weights are 0
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
    np.testing.assert_allclose(sd.regression_thresholds(X, y, p), expected, rtol=1e-10, atol=1e-13)


def test_a_ray_on_a_rounding_boundary_is_one_ray():
    c = 0.1234567895                              # halfway between two 9-decimal values
    directions = np.array([[c + 1e-11, np.sqrt(1 - c ** 2)], [c - 1e-11, np.sqrt(1 - c ** 2)],
                           [c, np.sqrt(1 - c ** 2)], [1.0, 0.0], [1.0, 1e-3]])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    assert len(np.unique(np.round(directions[:3, 0], 9))) == 2   # rounding to 9 decimals splits the ray
    X = directions * np.array([1.0, 2.0, 3.0, 1.0, 2.0])[:, None]
    assert [list(g) for g in sd.ray_groups(X)] == [[0, 1, 2], [3], [4]]   # 1e-3 apart: two rays
    threshold = sd.regression_thresholds(X, np.array([1.0, -2.0, 1.0, 0.0, 0.0]), np.full((1, 5), 0.2))
    assert threshold[0] == pytest.approx(0.5 * 0.2 * 6.0)   # the residual of a line through 3 points


def piecewise_linear_network(X, y, p, width=64, seed=0):
    """A one-hidden-layer ReLU network whose restriction to every ray of >= 3 points is the weighted
    least-squares line alpha |x| + beta of that ray (and that interpolates the other points): hidden
    units drawn at random and kept if their on/off pattern is constant on every such ray, then the
    output weights solved from the linear conditions. Returns params [A1, A2] (1 network)."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    groups = [g for g in sd.ray_groups(X) if len(g) >= 3]
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
    X, y = sd.make_data(dataset)
    p = sample_weights(np.random.default_rng(3), 1, 400, len(y))
    params = piecewise_linear_network(X, y, p[0])
    f, _ = networks.forward(params, torch.as_tensor(X), "relu")
    loss = networks.loss_per_network(f, torch.as_tensor(y), torch.as_tensor(p))
    threshold = sd.regression_thresholds(X, y, p)
    assert threshold[0] > 0.01
    assert loss.item() == pytest.approx(threshold[0], rel=1e-9)


# ----------------------------------------------------------------------------- runs
TINY = dict(dataset="star_7", width=16, runs=12, dtype="float64")


def assert_same_state(state, expected):
    """Every entry of two training states (as in state.pt) bitwise equal (NaN equal to NaN)."""
    state, expected = state.to_dict(), expected.to_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        if key == "params":
            assert all(torch.equal(A, B) for A, B in zip(state[key], value))
        elif key == "restart":
            assert state[key]["epoch"] == value["epoch"]
            assert all(torch.equal(A, B) for A, B in zip(state[key]["params"], value["params"]))
        elif torch.is_tensor(value):
            torch.testing.assert_close(state[key], value, rtol=0, atol=0, equal_nan=True, msg=key)
        else:
            assert state[key] == value, key


@pytest.mark.slow
@pytest.mark.parametrize("engine,stop", [("torch", 1000), ("compiled", 1000), ("compiled", 1300)])
def test_resume_from_1k_to_2k_equals_2k_straight(tmp_path, engine, stop):
    config = StarConfig(**TINY)
    cpu = torch.device("cpu")
    _, resumed = training.train(config, stop, cpu, tmp_path / "a", log_every=250, progress=False, engine=engine)
    assert resumed.epoch == stop
    _, resumed = training.train(config, 2000, cpu, tmp_path / "a", log_every=250, progress=False)  # auto: same engine
    _, straight = training.train(config, 2000, cpu, tmp_path / "b", log_every=250, progress=False, engine=engine)
    assert straight.engine == resumed.engine == engine
    loaded = TrainingState.load(config.folder(tmp_path / "a"), cpu)
    for state in (resumed, loaded):
        assert_same_state(state, straight)
    assert straight.log.shape == (8, len(LOG_COLUMNS)) and straight.log[-1, 0] == 1750
    result = json.loads((config.folder(tmp_path / "a") / "result.json").read_text())
    assert result["epoch"] == 2000 and result["kink_epoch"] == straight.kink_epoch.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("layers", [1, 2])
def test_start_and_results_do_not_depend_on_the_thread_count(tmp_path, layers):
    """Device policy: the start is drawn on the CPU in float64 and only then cast and moved; a
    second CPU run with another thread count starts from and ends at identical tensors."""
    config = StarConfig("star_7", width=128, layers=layers, runs=32, random_bias=True, dtype="float32")
    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    starts, ends = [], []
    try:
        for count in (1, max(2, threads)):
            torch.set_num_threads(count)
            starts.append(TrainingState.initial(config, cpu))
            ends.append(training.train(config, 40, cpu, tmp_path / str(count), log_every=20, progress=False)[1])
    finally:
        torch.set_num_threads(threads)
    drawn = networks.init_params(32, 2, 128, layers, True, torch.Generator().manual_seed(0))
    assert all(torch.equal(A, B.float()) for A, B in zip(starts[0].params, drawn))
    assert_same_state(*starts)
    assert_same_state(*ends)


@pytest.mark.slow  # 300 epochs replayed one by one
def test_tracked_epochs_match_a_direct_replay():
    config = StarConfig(**TINY)
    cpu = torch.device("cpu")
    state = TrainingState.initial(config, cpu)
    start = [A.clone() for A in state.params]
    data = training.epoch_data(state, cpu)
    training.train_epochs(state, data, 300, log_every=100)
    params, kink, below = start, np.full(12, -1), np.full(12, -1)
    initial = networks.on_off_pattern(networks.forward(params, data["X"], "relu")[1])
    for t in range(300):
        f, pre = networks.forward(params, data["X"], "relu")
        loss = networks.loss_per_network(f, data["y"], data["p"])
        changed = (networks.on_off_pattern(pre) != initial).flatten(1).any(1).numpy()
        kink = np.where((kink < 0) & changed, t, kink)
        below = np.where((below < 0) & (loss.numpy() < 0.999999 * state.threshold.numpy()), t, below)
        params = networks.autograd_epoch(params, data)[0]
    np.testing.assert_array_equal(state.kink_epoch.numpy(), kink)
    np.testing.assert_array_equal(state.loss_epoch.numpy(), below)
    assert (kink >= 0).any()
    for A, B in zip(state.params, params):
        torch.testing.assert_close(A, B, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation,layers", [("tanh", 1), ("relu", 2)])
def test_other_activations_and_depths_train(tmp_path, activation, layers):
    config = StarConfig(**{**TINY, "activation": activation, "layers": layers, "random_bias": True})
    _, state = training.train(config, 50, torch.device("cpu"), tmp_path, log_every=10, progress=False)
    assert state.initial_pattern.shape == (12, 21, 16 * layers)
    assert torch.isfinite(state.loss).all() and state.log.shape[0] == 5
    assert (state.log[1:, 1] < state.log[0, 1]).all()   # gradient descent lowers the mean loss


def test_non_finite_losses_are_reported_per_network(tmp_path):
    config = StarConfig(**{**TINY, "lr_factor": 50.0})
    _, state = training.train(config, 200, torch.device("cpu"), tmp_path, log_every=50, progress=False)
    diverged = state.nan_epoch >= 0
    assert 0 < diverged.sum() < 12 and torch.equal(diverged, ~torch.isfinite(state.loss))
    assert state.log[-1, 0] == 150 and state.log[-1, -1] == (diverged & (state.nan_epoch <= 150)).sum()
    result = json.loads((config.folder(tmp_path) / "result.json").read_text())
    assert [v is None for v in result["final_ratio"]] == diverged.tolist()


@pytest.mark.parametrize("suffix,step,lr_factor", [("", "published", 2.0), ("_gram", "gram", 1.0)])
def test_paper_presets_in_both_step_rules(suffix, step, lr_factor):
    stars = preset_configs("paper_star" + suffix)
    assert [(c.width, c.runs, c.seed) for c in stars] == [
        (128, 1000, 0), (256, 1000, 0), (512, 1000, 0), (1024, 1000, 0), (2048, 1000, 0), (4096, 1000, 0),
        (8192, 500, 0), (8192, 500, 1)]
    assert PRESETS["paper_star" + suffix]["stages"] == list(range(100_000, 1_000_001, 100_000))
    deep = preset_configs("paper_deep" + suffix)
    assert [c.width for c in deep] == [16, 32, 64, 128, 256] and {c.layers for c in deep} == {3}
    assert {c.dataset for c in deep} == {"standard"} and PRESETS["paper_deep" + suffix]["stages"][-1] == 100_000
    assert {(c.step, c.lr_factor) for c in stars + deep} == {(step, lr_factor)}
    assert all(c.label().endswith(f"_{step}-lr{lr_factor:g}_seed{c.seed}_float32") for c in stars + deep)


def test_step_rule_and_factor_of_the_quick_preset_can_be_chosen():
    assert {(c.step, c.lr_factor) for c in preset_configs("quick")} == {("gram", 1.0)}
    assert {(c.step, c.lr_factor) for c in preset_configs("quick", step="published")} == {("published", 2.0)}
    assert {c.lr_factor for c in preset_configs("quick", step="published", lr_factor=1.0)} == {1.0}
    assert preset_stages("quick", max_epochs=7000) == [5000, 7000] and preset_stages("quick") == [5000, 10_000]


# ----------------------------------------------------------------------------- files of older versions
def old_folder(results, config, epochs=20):
    """A folder as a version before the rename of the step rule ntk wrote it: named ..._ntk-lr1_...,
    with 'ntk' in config.json, state.pt and result.json, trained to ``epochs``."""
    folder, state = training.train(config, epochs, torch.device("cpu"), results, log_every=10, progress=False,
                                   engine="torch")
    old = folder.with_name(config.label("ntk"))
    folder.rename(old)
    saved = state.to_dict()
    del saved["engine"]                       # written before the compiled engine: a torch state
    saved["format"], saved["initial_pattern"] = BOOL_PATTERN_FORMAT, state.initial_pattern   # bool, unpacked
    saved["config"] = saved["config"].replace('"step": "gram"', '"step": "ntk"')
    torch.save(saved, old / "state.pt")
    for name in ("config.json", "result.json"):
        text = (old / name).read_text()
        (old / name).write_text(text.replace('"step": "gram"', '"step": "ntk"'))
    return old


def test_old_step_rule_name_is_read_as_gram():
    assert StarConfig(step="ntk") == StarConfig(step="gram")
    old = dict(StarConfig(width=8).as_dict(), step="ntk")
    assert StarConfig.from_dict(old) == StarConfig(width=8)
    older = {k: v for k, v in old.items() if k not in ("step", "runs")} | {"n_networks": 1000}
    assert StarConfig.from_dict(older) == StarConfig(width=8)   # before the step rules and the --runs rename
    with pytest.raises(ValueError, match="are not those of this version"):
        StarConfig.from_dict({**old, "colour": "red"})
    with pytest.raises(UsageError, match="--step must be one of gram, published"):
        StarConfig(step="adam")


def test_a_folder_of_an_older_version_resumes_in_place_to_the_same_state(tmp_path):
    config = StarConfig(**TINY)
    old = old_folder(tmp_path / "old", config)
    assert json.loads((old / "config.json").read_text())["step"] == "ntk"
    assert config.folder(tmp_path / "old") == old                 # found under its old name
    folder, resumed = training.train(config, 40, torch.device("cpu"), tmp_path / "old", log_every=10, progress=False)
    _, straight = training.train(config, 40, torch.device("cpu"), tmp_path / "new", log_every=10, progress=False,
                                 engine="torch")
    assert folder == old and sorted(p.name for p in old.parent.iterdir()) == [old.name]
    assert_same_state(resumed, straight)
    assert TrainingState.load(old, torch.device("cpu")).config == config


@pytest.mark.parametrize("k", [1, 8, 13, 64])
def test_the_initial_pattern_packs_to_an_eighth_and_back_for_any_unit_count(k):
    pattern = torch.from_numpy(np.random.default_rng(k).random((3, 7, k)) > 0.5)
    packed = packed_pattern(pattern)
    assert packed.dtype == torch.uint8 and packed.shape == (3, 7, -(-k // 8))
    assert torch.equal(unpacked_pattern(packed, k), pattern)
    assert int(packed[0, 0, 0]) == sum(int(pattern[0, 0, i]) << i for i in range(min(k, 8)))   # unit i in bit i


@pytest.mark.parametrize("engine,extra", [("torch", set()), ("compiled", {"restart"})])
def test_state_file_holds_the_plain_dict_of_its_format(tmp_path, engine, extra):
    config = StarConfig(**TINY)
    folder, state = training.train(config, 3, torch.device("cpu"), tmp_path, progress=False, engine=engine)
    saved = torch.load(folder / "state.pt", weights_only=True)
    assert saved["format"] == STATE_FORMAT and json.loads(saved["config"]) == config.as_dict()
    assert set(saved) == {"format", "config", "epoch", "params", "weights", "threshold", "step", "initial_pattern",
                          "kink_epoch", "loss_epoch", "nan_epoch", "loss", "log", "engine"} | extra
    assert saved["engine"] == engine and json.loads((folder / "result.json").read_text())["engine"] == engine
    P, m, n = state.initial_pattern.shape
    assert saved["initial_pattern"].dtype == torch.uint8 and saved["initial_pattern"].shape == (P, m, n // 8)
    bits = np.unpackbits(saved["initial_pattern"].numpy(), axis=2, count=n, bitorder="little").astype(bool)
    assert np.array_equal(bits, state.initial_pattern.numpy()) and bits.any() and not bits.all()
    with pytest.raises(UsageError, match=f"trained by the {engine} engine"):
        training.train(config, 5, torch.device("cpu"), tmp_path, progress=False,
                       engine="torch" if engine == "compiled" else "compiled")
    save_json(folder / "config.json", {**config.as_dict(), "seed": 7})
    with pytest.raises(UsageError, match="holds a different configuration"):
        training.train(config, 5, torch.device("cpu"), tmp_path, progress=False)


def test_benchmark_projects_a_preset_from_a_sample_of_each_configuration(tmp_path, monkeypatch, capsys):
    """benchmark --preset: every configuration trained whole with --sample networks, its time scaled
    to its P, the sum the projection; the sample runs removed, one JSON left."""
    import train_star_dataset
    from conftest import call_script

    code, out, _ = call_script(monkeypatch, capsys, train_star_dataset, "train_star_dataset.py", "benchmark",
                               "--preset", "quick", "--sample", 3, "--jobs", 1, "--max_epochs", 300,
                               "--dtype", "float64", "--results", tmp_path)
    assert code == 0
    path = tmp_path / "star" / "projection_quick.json"
    assert list((tmp_path / "star").iterdir()) == [path]
    saved = json.loads(path.read_text())
    configs = preset_configs("quick", dtype="float64")
    assert [(row["dataset"], row["width"], row["runs"]) for row in saved["rows"]] == [
        (config.dataset, config.width, config.runs) for config in configs]
    for row in saved["rows"]:
        assert (row["sample"], row["epochs"], row["dtype"]) == (3, 300, "float64") and row["sample_s"] > 0
        assert row["projected_s"] == pytest.approx(row["sample_s"] * row["runs"] / 3)
    assert saved["projected_s"] == pytest.approx(sum(row["projected_s"] for row in saved["rows"]))
    assert (saved["jobs"], saved["sample"]) == (1, 3)
    assert "quick projected whole:" in out.splitlines()[-1] and str(path) in out.splitlines()[-1]
