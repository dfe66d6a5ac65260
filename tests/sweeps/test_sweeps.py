"""Tests of kinks.sweeps.data, kinks.sweeps.nets and kinks.sweeps.grid, and of the fit and sweep commands
as functions: distributions, parameterisations, bias modes, batched training against separate runs,
tasks and result files (also as older versions wrote them), divergence, the resumable sweep and the
step search. Tiny sizes throughout."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import run_nn_setups as rn
import utils
from kinks.checks import UsageError
from kinks.sweeps import data as sdata
from kinks.sweeps import nets as sn
from kinks.sweeps import grid as sweeps
from kinks.sweeps.grid import Task

TINY = dict(runs=2, width=8, epoch_budget=8, valid_budget=2, n_valid=64, n_test=64, device="cpu")


# ----------------------------------------------------------------------------- distributions
def test_ex_moments_shapes_and_regression_function():
    X, y, bayes = sdata.sample_distribution("ex", (4, 50_000), np.random.default_rng(0))
    assert X.shape == (4, 50_000, 1) and y.shape == (4, 50_000)
    assert abs(X.mean()) < 0.01 and abs((X ** 2).mean() - 1) < 0.01
    assert bayes == pytest.approx(0.1 / 0.727)
    residual = y - sdata.ex_regression_function(X[..., 0])
    assert abs(residual.mean()) < 0.002 and residual.std() == pytest.approx(bayes, rel=0.01)


@pytest.mark.parametrize("d", [1, 2, 16, 64])
def test_radial_and_rbf_shapes_bounds_and_targets(d):
    rng = np.random.default_rng(d)
    X, y, bayes = sdata.sample_distribution(f"radial_{d}", (3, 20_000), rng)
    radius = np.linalg.norm(X, axis=-1)
    assert X.shape == (3, 20_000, d) and y.shape == (3, 20_000) and bayes == 0
    assert radius.max() <= math.sqrt(3) + 1e-12
    np.testing.assert_allclose(y, np.cos(2 * np.pi * radius / math.sqrt(3)), atol=1e-9)
    assert stats.kstest(radius.ravel() / math.sqrt(3), "uniform").pvalue > 1e-3
    assert np.abs(X.mean((0, 1))).max() < 0.03  # uniform directions: centred
    X, y, _ = sdata.sample_distribution(f"rbf_{d}", (3, 20_000), rng)
    radius = np.linalg.norm(X, axis=-1)
    np.testing.assert_allclose(y, np.exp(-radius ** 2), atol=1e-12)
    assert radius.max() <= math.sqrt(3) + 1e-12
    assert stats.kstest(radius.ravel() / math.sqrt(3), "uniform").pvalue > 1e-3


def test_datasets_are_standardised_per_network_and_independent():
    data = sdata.make_datasets("radial_2", 3, 512, 64, 64, seed=1, dtype=torch.float64)
    assert data["X_train"].shape == (3, 512, 2) and data["y_valid"].shape == (3, 64, 1)
    torch.testing.assert_close(data["X_train"].mean(1), torch.zeros(3, 2, dtype=torch.float64))
    torch.testing.assert_close(data["X_train"].std(1, unbiased=False), torch.ones(3, 2, dtype=torch.float64))
    torch.testing.assert_close(data["y_train"].std(1, unbiased=False), torch.ones(3, 1, dtype=torch.float64))
    assert not torch.allclose(data["X_train"][0], data["X_train"][1])
    same = sdata.make_datasets("radial_2", 3, 512, 64, 64, seed=1, dtype=torch.float64)
    assert all(torch.equal(data[k], same[k]) for k in data if k != "bayes_rmse")


def test_rmse_is_in_original_units():
    data = sdata.make_datasets("ex", 2, 256, 100, 100, seed=2, dtype=torch.float64)
    params, mults = sn.init_networks("he", "zero", 1.0, data["X_train"], 16, torch.Generator().manual_seed(0))
    got = sn.rmse(params, mults, data["X_test"], data["y_test"], data["y_std"], slice_size=7)
    # direct: undo the standardisation of predictions and targets
    f = sn.forward(params, mults, data["X_test"]) * data["y_std"] + data["y_mean"]
    y = data["y_test"] * data["y_std"] + data["y_mean"]
    torch.testing.assert_close(got, ((f - y) ** 2).mean((1, 2)).sqrt())


# ----------------------------------------------------------------------------- model
def test_forward_matches_a_loop_over_networks_and_units():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    params, mults = sn.init_networks("ntk", "normal", 1.0, X, 4, g)
    params["c"] += 0.3
    got = sn.forward(params, mults, X)
    for p in range(2):
        for i in range(5):
            value = params["c"][p, 0, 0].item()
            for j in range(4):
                pre = mults[0] * sum(params["a"][p, k, j].item() * X[p, i, k].item() for k in range(3))
                value += mults[1] * params["w"][p, j, 0].item() * max(pre + params["b"][p, 0, j].item(), 0.0)
            assert got[p, i, 0].item() == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("bias", ["zero", "pytorch", "unif-neg", "kink-neg-unif", "kink-neg-point", "kink-point-3"])
def test_he_and_ntk_give_the_same_function_at_initialisation(bias):
    X = torch.randn(3, 64, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    he = sn.init_networks("he", bias, 1.0, X[:, :32], 16, torch.Generator().manual_seed(5))
    ntk = sn.init_networks("ntk", bias, 1.0, X[:, :32], 16, torch.Generator().manual_seed(5))
    assert not torch.allclose(he[0]["a"], ntk[0]["a"])  # different parameters ...
    torch.testing.assert_close(sn.forward(*he, X), sn.forward(*ntk, X))  # ... same function


def test_effective_weights_have_variance_two_over_fan_in():
    X = torch.zeros(200, 1, 8, dtype=torch.float64)
    for param in sn.PARAMETERISATIONS:
        params, (mu1, mu2) = sn.init_networks(param, "zero", 1.0, X, 100, torch.Generator().manual_seed(6))
        assert (mu1 * params["a"]).var().item() == pytest.approx(2 / 8, rel=0.03)
        assert (mu2 * params["w"]).var().item() == pytest.approx(2 / 100, rel=0.03)


# ----------------------------------------------------------------------------- bias modes
def init_sample(bias, d, gain=1.0, P=40, width=500, batch=None, seed=7):
    """Parameters of P networks with hidden-bias mode ``bias`` on standard normal inputs."""
    X = torch.randn(P, 256, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    params, mults = sn.init_networks("he", bias, gain, X, width, torch.Generator().manual_seed(seed + 1))
    return X, params, mults


def signed_offsets(params, mults):
    """b_i / ||mu1 a_i|| per unit: minus the signed distance of the kink to the origin along a_i."""
    return (params["b"][:, 0] / (mults[0] * params["a"]).norm(dim=1)).flatten().numpy()


@pytest.mark.parametrize("bias, gain, law", [
    ("normal", 2.0, stats.norm(0, 2)), ("uniform", 1.0, stats.uniform(-math.sqrt(3), 2 * math.sqrt(3))),
    ("pos-unif", 1.0, stats.uniform(0, math.sqrt(3))),
    ("neg-unif", 0.5, stats.uniform(-math.sqrt(3) / 2, math.sqrt(3) / 2)),
    ("unif", 1.0, stats.uniform(-math.sqrt(6), 2 * math.sqrt(6))), ("unif-pos", 1.0, stats.uniform(0, math.sqrt(6))),
    ("unif-neg", 1.0, stats.uniform(-math.sqrt(6), math.sqrt(6))),
    ("pytorch", 3.0, stats.uniform(-3 / math.sqrt(4), 6 / math.sqrt(4)))])
def test_fixed_bias_laws(bias, gain, law):
    _, params, _ = init_sample(bias, d=4, gain=gain)
    assert stats.kstest(params["b"].flatten().numpy(), law.cdf).pvalue > 1e-3


@pytest.mark.parametrize("bias, gain, law", [
    ("kink-unif", 1.0, stats.uniform(-math.sqrt(3), 2 * math.sqrt(3))),
    ("kink-neg-unif", 2.0, stats.uniform(-2 * math.sqrt(3), 2 * math.sqrt(3)))])
@pytest.mark.parametrize("d", [1, 8])
def test_kink_uniform_modes_give_uniform_kink_distances(bias, gain, law, d):
    _, params, mults = init_sample(bias, d=d, gain=gain)
    assert stats.kstest(signed_offsets(params, mults), law.cdf).pvalue > 1e-3
    distances = sn.kink_distances(params, mults).flatten().numpy()
    assert stats.kstest(distances, stats.uniform(0, gain * math.sqrt(3)).cdf).pvalue > 1e-3


@pytest.mark.parametrize("d", [1, 4, 64])
def test_unif_neg_kink_distance_matches_an_independent_simulation(d):
    """|b| / ||w|| with b ~ U(0, sqrt 6), w ~ N(0, 2/d I_d), simulated with numpy."""
    _, params, mults = init_sample("unif-neg", d=d, P=20)
    rng = np.random.default_rng(d)
    w = rng.normal(0, math.sqrt(2 / d), size=(20_000, d))
    reference = rng.uniform(0, math.sqrt(6), 20_000) / np.linalg.norm(w, axis=1)
    got = sn.kink_distances(params, mults).flatten().numpy()
    assert stats.ks_2samp(got, reference).pvalue > 1e-3
    assert (params["b"] <= 0).all()


def test_zero_bias():
    _, params, mults = init_sample("zero", d=3, P=2)
    assert (params["b"] == 0).all() and (sn.kink_distances(params, mults) == 0).all()


def pre_activations(X, params, mults):
    """Pre-activations mu1 a_i . x_j + b_i (P, m, n) on the training points X (P, m, d)."""
    return mults[0] * torch.bmm(X, params["a"]) + params["b"]


def test_kink_neg_point_puts_each_kink_through_a_training_point():
    X, params, mults = init_sample("kink-neg-point", d=3, P=4, width=200)
    pre = pre_activations(X, params, mults)
    assert pre.abs().min(1).values.max() < 1e-12  # a training point on every kink ...
    assert (params["b"] <= 0).all()                # ... with a non-positive bias
    # the flipped weights are still standard-normal-like: about half flipped relative to a no-flip draw
    _, unflipped, _ = init_sample("zero", d=3, P=4, width=200)
    flipped = (torch.sign(params["a"][:, 0]) != torch.sign(unflipped["a"][:, 0])).double().mean()
    assert 0.4 < flipped < 0.6


def test_data_dependent_biases_draw_from_the_whole_training_set_not_the_first_batch():
    """Training sets of 1,024 points whose first 256 (the first minibatch) lie near the origin and
    the rest far out: as published, kinks go through points of the whole set (3/4 of them beyond
    the first batch), kink-range spans the whole set's range and mean is the whole set's mean."""
    g = torch.Generator().manual_seed(11)
    X = torch.randn(2, 1024, 2, generator=g, dtype=torch.float64)
    X[:, :256] *= 0.01
    params, mults = sn.init_networks("he", "kink-neg-point", 1.0, X, 3000, torch.Generator().manual_seed(12))
    through = pre_activations(X, params, mults).abs().argmin(1)            # (P, m): the kink's point
    assert pre_activations(X, params, mults).abs().amin(1).max() < 1e-12
    beyond = (through >= 256).double().mean().item()
    assert abs(beyond - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 6000)          # binomial, 4 sigma
    # the number of distinct points hit: E = n (1 - (1 - 1/n)^m) per network
    distinct = np.mean([len(set(row.tolist())) for row in through])
    assert abs(distinct - 1024 * (1 - (1 - 1 / 1024) ** 3000)) < 15
    params, mults = sn.init_networks("he", "kink-range", 1.0, X, 3000, torch.Generator().manual_seed(13))
    Z = mults[0] * torch.bmm(X, params["a"])
    low, high = Z.amin(1), Z.amax(1)
    position = ((-params["b"][:, 0] - low) / (high - low)).flatten().numpy()
    assert stats.kstest(position, "uniform").pvalue > 1e-3                 # uniform over the WHOLE range
    first = Z[:, :256]
    assert ((-params["b"][:, 0] > first.amax(1)) | (-params["b"][:, 0] < first.amin(1))).double().mean() > 0.9
    params, mults = sn.init_networks("he", "mean", 1.0, X, 50, torch.Generator().manual_seed(14))
    assert pre_activations(X, params, mults).mean(1).abs().max() < 1e-12
    params, mults = sn.init_networks("he", "kink-point-300", 1.0, X, 20, torch.Generator().manual_seed(15))
    assert params["b"].isfinite().all()                                    # k > one batch of 256 is fine


def test_distinct_indices_are_uniform_over_subsets():
    """Floyd's sampler against the exact law: k = 2 of n = 4 gives each of the 6 pairs w.p. 1/6."""
    first, second = sn.distinct_indices(4, 2, (60_000,), torch.Generator().manual_seed(16))
    assert (first != second).all()
    pairs = torch.minimum(first, second) * 4 + torch.maximum(first, second)
    counts = np.array([(pairs == code).sum().item() for code in (1, 2, 3, 6, 7, 11)])
    assert counts.sum() == 60_000 and stats.chisquare(counts).pvalue > 1e-3


def test_kink_point_1_and_k_place_kinks_among_the_data():
    X, params, mults = init_sample("kink-point-1", d=2, P=4, width=200)
    assert pre_activations(X, params, mults).abs().min(1).values.max() < 1e-12
    X, params, mults = init_sample("kink-point-5", d=2, P=4, width=200)
    Z = mults[0] * torch.bmm(X, params["a"])
    offset = -params["b"][:, 0]  # a convex combination of pre-activations: within their range
    assert (offset >= Z.min(1).values).all() and (offset <= Z.max(1).values).all()
    assert (offset.std() < Z.std(1).mean()).item()  # averaging 5 points shrinks the spread


def test_kink_point_k_weights_are_dirichlet():
    """With pre-activations Z = (1, 0, 0, ...) on a 1-D batch, the offset of kink-point-2 is
    lambda_1 1[point 1 chosen], lambda ~ Dirichlet(1, 1) = U(0, 1): check against that law."""
    X = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    b, _ = sn.data_biases("kink-point-2", X, torch.ones(1, 1, 20_000, dtype=torch.float64),
                          torch.Generator().manual_seed(8))
    offsets = -b.flatten().numpy()
    chosen = offsets > 0
    assert chosen.mean() == pytest.approx(2 / 3, abs=0.02)
    assert stats.kstest(offsets[chosen], "uniform").pvalue > 1e-3


def test_kink_range_and_mean():
    X, params, mults = init_sample("kink-range", d=2, P=10, width=300)
    Z = mults[0] * torch.bmm(X, params["a"])
    low, high = Z.min(1).values, Z.max(1).values
    position = ((-params["b"][:, 0] - low) / (high - low)).flatten().numpy()
    assert stats.kstest(position, "uniform").pvalue > 1e-3
    X, params, mults = init_sample("mean", d=2, P=3, width=50)
    assert pre_activations(X, params, mults).mean(1).abs().max() < 1e-12


# ----------------------------------------------------------------------------- training
def tiny_problem(P=3, dataset="radial_2", bias="kink-neg-point", param="ntk", seed=9):
    data = sdata.make_datasets(dataset, P, 512, 64, 64, seed=seed, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    orders = [torch.argsort(torch.rand(P, 512, generator=g), dim=1) for _ in range(4)]
    params, mults = sn.init_networks(param, bias, 1.0, data["X_train"], 16, g)
    return data, params, mults, orders


@pytest.mark.parametrize("optimizer", sn.OPTIMIZERS)
def test_batched_training_equals_separate_single_network_runs(optimizer):
    data, params, mults, orders = tiny_problem()
    start = {k: v.clone() for k, v in params.items()}
    batched = sn.train_networks(params, mults, data, optimizer, 0.01, 4, 2, 256, orders)
    for p in range(3):
        one = {k: v[p:p + 1] for k, v in data.items() if k != "bayes_rmse"}
        single_params = {k: v[p:p + 1].clone() for k, v in start.items()}
        single = sn.train_networks(single_params, mults, one, optimizer, 0.01, 4, 2, 256, [o[p:p + 1] for o in orders])
        for k in sn.PARAM_NAMES:
            torch.testing.assert_close(single_params[k], params[k][p:p + 1], rtol=1e-10, atol=1e-12)
        for k in ("last_train", "best_valid", "best_test", "history_valid"):
            torch.testing.assert_close(single[k][..., 0], batched[k][..., p], rtol=1e-10, atol=1e-12)


def test_grouping_of_networks_does_not_change_the_training():
    """The CPU path computes gradients in cache-sized groups of networks, the GPU path all at once:
    groups of 1 and one group of all give the same training."""
    data, params, mults, orders = tiny_problem()
    start = {k: v.clone() for k, v in params.items()}
    whole = sn.train_networks(params, mults, data, "adam", 0.01, 4, 2, 256, orders, groups=[slice(0, 3)])
    ones = sn.train_networks(start, mults, data, "adam", 0.01, 4, 2, 256, orders,
                             groups=[slice(p, p + 1) for p in range(3)])
    for k in sn.PARAM_NAMES:
        torch.testing.assert_close(start[k], params[k], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ones["history_valid"], whole["history_valid"], rtol=1e-12, atol=1e-14)
    assert sn.network_groups(3, 256, 512, torch.device("cpu")) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert sn.network_groups(10, 256, 64, torch.device("cpu")) == [slice(0, 8), slice(8, 10)]
    assert sn.network_groups(3, 256, 512, torch.device("meta")) == [slice(0, 3)]


def test_training_step_follows_the_per_network_mse_gradient():
    """One plain SGD step equals theta - lr * grad of that network's own minibatch MSE (autograd on
    a separately written loss)."""
    data, params, mults, orders = tiny_problem(P=2, bias="unif")
    start = {k: v.clone().requires_grad_() for k, v in params.items()}
    sn.train_networks(params, mults, data, "sgd", 0.05, 1, 1, 512, orders)  # one full batch step
    for p in range(2):
        idx = orders[0][p]
        X, y = data["X_train"][p, idx], data["y_train"][p, idx, 0]
        hidden = torch.relu(mults[0] * X @ start["a"][p] + start["b"][p, 0])
        loss = ((mults[1] * hidden @ start["w"][p, :, 0] + start["c"][p, 0, 0] - y) ** 2).mean()
        grads = torch.autograd.grad(loss, [start[k] for k in sn.PARAM_NAMES])
        for k, grad in zip(sn.PARAM_NAMES, grads):
            torch.testing.assert_close(params[k][p], (start[k] - 0.05 * grad)[p], rtol=1e-10, atol=1e-12)


def test_best_test_is_the_test_rmse_at_the_best_validation_check():
    data, params, mults, orders = tiny_problem(P=4, bias="unif")
    out = sn.train_networks(params, mults, data, "adam", 0.3, 4, 1, 256, orders)
    valid, test = out["history_valid"], out["history_test"]
    assert valid.shape == (4, 4)
    best = valid.argmin(0)
    torch.testing.assert_close(out["best_valid"], valid.min(0).values)
    torch.testing.assert_close(out["best_test"], test[best, torch.arange(4)])
    torch.testing.assert_close(out["last_test"], test[-1])


def test_divergence_is_recorded_not_raised_and_never_chosen(tmp_path):
    task = Task("radial_1", "he", "sgd", "zero", lr=1e6, **TINY, path=tmp_path / "huge.json")
    assert sweeps.run_task(task)[1] == "done"
    huge = sweeps.read_result(tmp_path / "huge.json")
    assert huge["diverged"] == 2 and huge["mean"]["last_test"] is None
    sweeps.run_task(task.replace(lr=1e-3, path=tmp_path / "small.json"))
    small = sweeps.read_result(tmp_path / "small.json")
    assert small["diverged"] == 0
    assert sweeps.choose_step([huge, small]) is small and sweeps.choose_step([huge]) is None


def test_same_seed_same_results_and_chunks_differ(tmp_path):
    task = Task("ex", "he", "adam", "kink-neg-point", **{**TINY, "runs": 4}, n_chunks=2)
    first, second = sweeps.execute(task), sweeps.execute(task)
    assert first["per_network"] == second["per_network"] and first["curve"] == second["curve"]
    assert len(first["per_network"]["best_test"]) == 4 and len(set(first["per_network"]["best_test"])) == 4
    assert len(first["curve"]["f"]) == sweeps.CURVE_POINTS and len(first["curve"]["train_x"]) == 256
    other = sweeps.execute(task.replace(seed=1))
    assert other["per_network"] != first["per_network"]


def test_median_curve_is_the_function_of_the_median_network():
    task = Task("radial_1", "ntk", "adam", "zero", **{**TINY, "runs": 3}, lr=0.05)
    chunk = sweeps.train_chunk(task, 0)
    summary = sweeps.summarise(task, [chunk], 0.0)
    median = summary["curve"]["network"]
    assert chunk["best_test"][median] == np.median(chunk["best_test"])
    np.testing.assert_allclose(summary["curve"]["f"], chunk["best_curve"][median])


# ----------------------------------------------------------------------------- sweep
SWEEP = dict(grid="quick", datasets="ex,radial_2", params="he", optimizers="adam,sgd", biases="zero",
             runs=2, width=8, epoch_budget=4, valid_budget=2, n_valid=32, n_test=32, device="cpu", jobs=1)


def folder_state(folder):
    """{relative path: (size, mtime)} of every file under folder, hidden temporaries included (the
    folder's lock file, which a run takes before it checks the folder, left out)."""
    return {str(f.relative_to(folder)): (f.stat().st_size, f.stat().st_mtime_ns)
            for f in Path(folder).rglob("*") if f.is_file() and f.name != ".kinks.lock"}


def contents(folder):
    """{relative path: result without its wall time} of every result file under folder."""
    return {str(f.relative_to(folder)): {k: v for k, v in json.loads(f.read_text()).items() if k != "wall_time_s"}
            for f in sorted(Path(folder).rglob("step_e*.json"))}


@pytest.mark.slow  # three small sweeps
def test_sweep_writes_the_step_search_and_an_interrupted_sweep_resumes_to_the_same_files(tmp_path, monkeypatch):
    options = {**SWEEP, "datasets": "radial_1"}
    whole = rn.sweep(out=tmp_path / "whole", **options)
    files = sorted((tmp_path / "whole").rglob("step_e*.json"))
    assert whole["done"] == len(files) and whole["skipped"] == 0
    coarse = [f"step_e{e:+04d}.json" for e in sweeps.GRIDS["quick"]["coarse"]]
    for folder in {f.parent for f in files}:
        assert set(coarse) <= {f.name for f in folder.iterdir()}
    result = sweeps.read_result(files[0])
    assert set(result["mean"]) == set(sweeps.STATISTICS) and result["wall_time_s"] > 0
    # interrupt a second sweep after 13 tasks (like Ctrl-C), then rerun it
    calls, execute = [], sweeps.execute

    def interrupted(task, progress=False):
        calls.append(task.path)
        if len(calls) > 13:
            raise KeyboardInterrupt
        return execute(task, progress)

    monkeypatch.setattr(sweeps, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rn.sweep(out=tmp_path / "resumed", **options)
    monkeypatch.setattr(sweeps, "execute", execute)
    assert len(list((tmp_path / "resumed").rglob("step_e*.json"))) == 13
    resumed = rn.sweep(out=tmp_path / "resumed", **options)
    assert resumed["skipped"] == 13 and resumed["done"] == len(files) - 13
    assert contents(tmp_path / "resumed") == contents(tmp_path / "whole")  # file by file, every number


@pytest.mark.slow  # a small sweep first
def test_sweep_into_a_folder_of_other_settings_is_refused_and_writes_nothing(tmp_path, monkeypatch, capsys):
    rn.sweep(out=tmp_path, **{**SWEEP, "datasets": "radial_1", "optimizers": "adam"})
    before = folder_state(tmp_path)
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["run_nn_setups.py", "sweep", "--out", str(tmp_path), "--grid", "quick",
                                      "--datasets", "radial_1", "--params", "he", "--optimizers", "adam",
                                      "--biases", "zero", "--runs", "2", "--width", "16", "--epoch_budget", "4",
                                      "--valid_budget", "2", "--n_valid", "32", "--n_test", "32", "--device", "cpu",
                                      "--jobs", "1"])
    with pytest.raises(SystemExit) as exit_info:
        utils.run_cli(rn.COMMANDS, rn.ALIASES)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a sweep with other settings" in err[0] and "width: 8 there, 16 here" in err[0]
    assert folder_state(tmp_path) == before
    (tmp_path / "sweep.json").unlink()  # a folder of an older version: settings read from a result file
    with pytest.raises(UsageError, match="width: 8 there, 16 here"):
        rn.sweep(out=tmp_path, **{**SWEEP, "datasets": "radial_1", "optimizers": "adam", "width": 16})


@pytest.mark.parametrize("overrides, name", [
    ({}, "quick"), (dict(datasets="ex", optimizers="adam"), "quick"), (dict(width=16), "quick-width16"),
    (dict(runs=4, seed=1, dtype="float64"), "quick-runs4-seed1-float64"), (dict(bias_gain=0.5), "quick-bias_gain0.5")])
def test_the_default_sweep_folder_records_the_shared_settings_that_differ_from_the_grid(overrides, name):
    """A trial sweep with other sizes gets a folder of its own, so it never blocks the grid's sweep;
    fewer configurations share the grid's folder."""
    grid_options = {k: v for k, v in overrides.items() if k in ("datasets", "optimizers", "runs")}
    common = {**sweeps.SWEEP_DEFAULTS, "device": "cpu",
              **{k: v for k, v in overrides.items() if k in sweeps.SWEEP_DEFAULTS}}
    settings = sweeps.grid_settings("quick", width=overrides.get("width"), **grid_options)
    task = next(iter(sweeps.configuration_tasks(settings, **common).values()))
    assert sweeps.sweep_folder_name("quick", task) == name


def test_truncated_or_foreign_result_files_are_named_and_recomputed(tmp_path, capsys):
    options = {**SWEEP, "datasets": "radial_1", "optimizers": "adam"}
    rn.sweep(out=tmp_path, **options)
    files = sorted(tmp_path.rglob("step_e*.json"))
    reference = contents(tmp_path)
    truncated, foreign = files[0], files[1]
    truncated.write_text(truncated.read_text()[:100])
    other = json.loads(foreign.read_text())
    other["task"]["lr"] *= 2
    foreign.write_text(json.dumps(other))
    capsys.readouterr()
    again = rn.sweep(out=tmp_path, **options)
    err = capsys.readouterr().err
    assert again["done"] == 2 and f"warning: {truncated}: unreadable" in err
    assert f"warning: {foreign} holds other settings (lr:" in err
    assert contents(tmp_path) == reference


def test_result_validation_uses_explicit_errors(tmp_path):
    task = Task("radial_1", "he", "adam", "zero", **TINY, path=tmp_path / "r.json")
    sweeps.run_task(task)
    good = json.loads((tmp_path / "r.json").read_text())
    for broken, message in [({**good, "format": "x"}, "not a result file"),
                            ({"format": sweeps.RESULT_FORMAT}, "missing"),
                            ({**good, "mean": {**good["mean"], "best_test": "nan"}}, "finite number or null"),
                            ({**good, "per_network": {"best_valid": [], "best_test": []}}, "for each of the 2 runs")]:
        (tmp_path / "bad.json").write_text(json.dumps(broken))
        with pytest.raises(sweeps.ResultError, match=message):
            sweeps.read_result(tmp_path / "bad.json")


def result_at(exponent, valid, diverged=0):
    """A minimal result of step exponent ``exponent`` with mean best-validation RMSE ``valid``."""
    return {"task": {"step_exponent": exponent}, "diverged": diverged, "mean": {"best_valid": valid}}


def test_search_extends_past_the_coarse_range_while_the_best_step_is_at_an_edge():
    settings = dict(coarse=(-8, 0, 8), fine=(-4, 4), extend=2)
    assert sweeps.step_limits(settings) == (-24, 24)
    edge = [result_at(-8, 3.0), result_at(0, 2.0), result_at(8, 1.0)]       # best at the top edge
    assert sweeps.next_exponents(edge, settings) == [4, 12, 16]                # fine around 8, one spacing beyond
    inside = edge + [result_at(16, 1.5, diverged=0), result_at(12, 1.2), result_at(4, 1.1)]
    assert sweeps.next_exponents(inside, settings) == []                       # bracketed: done
    assert sweeps.bracketed(inside[2], inside) and not sweeps.bracketed(edge[2], edge)
    at_limit = [result_at(e, 10.0 - e / 8) for e in range(-8, 25, 4)]      # ever better up to the limit
    assert sweeps.next_exponents(at_limit, settings) == [] and not sweeps.bracketed(at_limit[-1], at_limit)
    below = [result_at(-8, 1.0), result_at(0, 2.0, diverged=1), result_at(8, 3.0, diverged=2)]
    assert sweeps.next_exponents(below, settings) == [-16, -12, -4]


def test_chunks_keep_points_per_chunk_bounded():
    assert sweeps.n_chunks_for(100, 256 * 64, 50 * 256 * 64) == 2
    assert sweeps.n_chunks_for(100, 256 * 32, 50 * 256 * 64) == 1
    assert sweeps.n_chunks_for(7, 100, 300) == 7  # 3 chunks would do, but must divide 7


def test_start_is_drawn_on_the_cpu_whatever_the_thread_count():
    """Data, initialisation and batch orders of a chunk are identical with 1 and 2 torch threads,
    and equal a float64 CPU draw cast to the run dtype (what every device receives)."""
    task = Task("radial_4", "he", "adam", "kink-neg-point", **{**TINY, "runs": 3, "width": 64})
    threads = torch.get_num_threads()
    starts = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            data, params, _, orders = sweeps.chunk_start(task, 0)
            starts.append((data, params, [next(orders) for _ in range(3)]))
    finally:
        torch.set_num_threads(threads)
    (data1, params1, orders1), (data2, params2, orders2) = starts
    assert all(torch.equal(data1[k], data2[k]) for k in data1 if k != "bayes_rmse")
    assert all(torch.equal(params1[k], params2[k]) for k in params1)
    assert all(torch.equal(a, b) for a, b in zip(orders1, orders2))
    assert params1["a"].dtype == torch.float32
    data64, params64, _, _ = sweeps.chunk_start(task.replace(dtype="float64"), 0)
    assert torch.equal(params64["a"].float(), params1["a"]) and torch.equal(data64["X_train"].float(), data1["X_train"])


def test_fit_names_its_file_by_its_sizes_and_never_overwrites_another_fit(tmp_path, monkeypatch):
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    options = dict(dataset="radial_1", **TINY)
    rn.fit(**options)
    rn.fit(**{**options, "width": 16})
    names = sorted(f.name for f in (tmp_path / "nn_setups" / "fit").iterdir() if not f.name.startswith("."))
    assert len(names) == 2 and any("width8_" in n for n in names) and any("width16_" in n for n in names)
    target = tmp_path / "one.json"
    rn.fit(**options, out=target)
    with pytest.raises(UsageError, match="holds a fit with other settings.*width: 8 there, 16 here"):
        rn.fit(**{**options, "width": 16}, out=target)




# ----------------------------------------------------------------------------- tasks and files of older versions
def test_task_settings_are_kept_apart_from_how_it_runs(tmp_path):
    task = Task("radial_2", "ntk", "momentum", "unif", 2.0, **{**TINY, "device": "cpu"}, path=tmp_path / "r.json",
                threads=1)
    settings = task.settings()
    assert not set(Task.RUNTIME) & set(settings) and settings["n_train"] == 512 and settings["n_epochs"] == 4
    assert settings["lr"] == sn.BASE_STEPS["momentum", "ntk"]
    again = Task.from_settings(settings, device="cpu")
    assert again.settings() == settings and again.path is None and again.threads is None
    assert task.replace(step_exponent=8, lr=None).lr == pytest.approx(2 * settings["lr"])
    assert task.label() == "ntk_momentum_unifx2" and task.label("sgd-momentum") == "ntk_sgd-momentum_unifx2"


def age_sweep_folder(folder):
    """Turn a sweep folder into one as written before sgd-momentum was renamed momentum: the
    folders and the settings in every result file say sgd-momentum."""
    for path in sorted(folder.rglob("*_momentum_*")):
        path.rename(path.with_name(path.name.replace("_momentum_", "_sgd-momentum_")))
    for path in folder.rglob("step_e*.json"):
        path.write_text(path.read_text().replace('"optimizer": "momentum"', '"optimizer": "sgd-momentum"'))


@pytest.mark.slow  # a small sweep first
def test_a_sweep_written_with_sgd_momentum_resumes_without_recomputing(tmp_path):
    options = {**SWEEP, "datasets": "radial_1", "optimizers": "momentum"}
    first = rn.sweep(out=tmp_path, **options)
    reference = contents(tmp_path)
    age_sweep_folder(tmp_path)
    old = sorted(tmp_path.rglob("step_e*.json"))
    assert old and all("sgd-momentum" in str(path) and '"sgd-momentum"' in path.read_text() for path in old)
    assert sweeps.read_result(old[0])["task"]["optimizer"] == "momentum"
    again = rn.sweep(out=tmp_path, **options)
    assert again["done"] == 0 and again["skipped"] == first["done"]       # nothing recomputed
    assert sorted(tmp_path.rglob("step_e*.json")) == old                  # nothing written beside them
    assert {k.replace("sgd-momentum", "momentum"): v for k, v in contents(tmp_path).items()} == {
        k: {**v, "task": {**v["task"], "optimizer": "sgd-momentum"}} for k, v in reference.items()}
