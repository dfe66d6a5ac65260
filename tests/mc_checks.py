"""Shared by the tests of the 1-D study: data sets and problems, torch's losses, independent
computations (the weighted least-squares floor), hand-made and small real run folders, and the
checks that two results agree (parameters of two engines, chunk files of two runs)."""
import doctest
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mc_training
from kinks.files import save_json, save_npz
from kinks.mc.data import DataSet, init_params
from kinks.mc.runner import CHUNK_FORMAT, chunk_path, load_chunk
from kinks.mc.study import make_config, run_label
from kinks.mc.theory import theory_step_size
from kinks.mc.training import draw_problems
from kinks.samples import X_DATA, Y_DATA, sample_weights

X, Y = X_DATA, Y_DATA
ASYMMETRIC = DataSet([-4.0, -2.5, -1.5, -0.5, 0.7, 1.2, 2.0, 3.5, 5.0],
                     [0.5, -0.5, 0.3, 0.1, 0.2, 0.3, -0.2, 0.1, 0.4],
                     [0.05, 0.1, 0.15, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
SEVEN = dict(data="-3:1,-2:0.5,-0.5:2,1:0,1.5:1,2.5:-1,4:0.5", probs="0.1,0.2,0.1,0.2,0.1,0.2,0.1")


# ----------------------------------------------------------------------------- networks and problems
def random_networks(rng, P, n, spread_kinks=True):
    """Networks with kinks spread over [-4, 4] (between and beyond the data points)."""
    a, b, c, w = init_params(rng, P, n)
    if spread_kinks:
        b = -a * rng.uniform(-4, 4, size=a.shape)
        c = rng.normal(size=P)
    return a, b, c, w


def torch_loss(a, b, c, w, p):
    z = a[:, None, :] * torch.tensor(X)[None, :, None] + b[:, None, :]
    f = c[:, None] + (torch.relu(z) * w[:, None, :]).sum(-1)
    return 0.5 * (torch.tensor(p) * (f - torch.tensor(Y)) ** 2).sum()


def torch_theta_loss(theta, x, y, weights, leak=0.0, active=None):
    """1/2 sum_j weights_j (f(x_j) - y_j)^2 of one network's theta = (a, b, w, c) in torch; weights
    (m,), or (k, m) for one loss per row. With ``active`` (m, n) bool the activity of every unit at
    every point is fixed (sigma(z) = z where active, leak z where not, also at z = 0: one side of a
    kink on a point); else sigma = leaky_relu, inactive at z = 0."""
    n = (len(theta) - 1) // 3
    z = torch.tensor(x)[:, None] * theta[:n] + theta[n:2 * n]
    sigma = torch.nn.functional.leaky_relu(z, leak) if active is None else torch.where(torch.tensor(active), z,
                                                                                           leak * z)
    f = theta[-1] + sigma @ theta[2 * n:3 * n]
    return 0.5 * torch.tensor(weights) @ (f - torch.tensor(y)) ** 2


def pinned_network():
    """(a, b, c, w, p) of four units on the paper's data: unit 0's kink exactly on x = 2
    (1.5 * 2 - 3 = 0 in floating point), unit 1's exactly on x = -1, units 2 and 3 between
    points; with residuals."""
    a, b = np.array([1.5, -0.5, 1.0, -2.0]), np.array([-3.0, -0.5, 0.3, 3.0])
    return a, b, 0.2, np.array([0.9, -1.3, 0.7, 1.1]), np.array([0.1, 0.2, 0.15, 0.25, 0.2, 0.1])


def problems(rng, P, n, data, leak=0.0):
    p = sample_weights(rng, P, n**2, probs=data.probs)
    q = sample_weights(rng, P, n**2, probs=data.probs)
    a, b, c, w = init_params(rng, P, n)
    return p, q, (a, b, c, w), theory_step_size(a, b, w, data.x, p, leak)


def stationary_problems(n, P, seed=0, offset=0.0, data=None, leak=0.0):
    """P problems of width n drawn as a study draws them (He initialisation, theory step), from the
    seed [seed, n]."""
    rng = np.random.default_rng([seed, n])
    return draw_problems(rng, P, n, offset, "he", "theory", data, leak)


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


# ----------------------------------------------------------------------------- results that must agree
def assert_params_agree(first, second, networks, rtol):
    """a, b, c, w of the selected ``networks`` agree in both results within ``rtol``, relative to
    max(|value|, 1e-3 max|value|) so that parameters near 0 are held to the scale of the rest."""
    for key in "abcw":
        d, r = first[key][networks], second[key][networks]
        scale = np.maximum(np.abs(d), 1e-3 * np.abs(d).max())
        assert np.max(np.abs(d - r) / scale) < rtol, key


def chunk_contents(run_dir):
    """Every chunk's arrays and JSON minus its wall time, keyed by relative path."""
    contents = {}
    for path in sorted(Path(run_dir).rglob("chunk_*.npz")):
        meta, arrays = load_chunk(path)
        meta.pop("wall_time_s")
        contents[str(path.relative_to(run_dir))] = (meta, arrays)
    return contents


def assert_same_chunks(first, second):
    assert first.keys() == second.keys() and first
    for key in first:
        assert first[key][0] == second[key][0]
        for name, array in first[key][1].items():
            np.testing.assert_array_equal(array, second[key][1][name])


# ----------------------------------------------------------------------------- run folders
def write_run(run_dir, config):
    save_json(Path(run_dir) / "run.json", {"format": "kinks-mc-run/1", "config": config,
                                           "label": run_label(config), "created": "now"})


def write_chunk(run_dir, config, offset, width, chunk, counts):
    """A chunk file pair made by hand, holding the statuses ``counts`` ({status: count})."""
    status = np.array([name for name, count in counts.items() for _ in range(count)])
    runs = len(status)
    path = chunk_path(run_dir, offset, width, chunk)
    save_npz(path, status=status, stop_epoch=np.zeros(runs, int), first_cross_epoch=np.full(runs, -1),
             step_size=np.full(runs, 0.01))
    save_json(path.with_suffix(".json"), {"format": CHUNK_FORMAT, "offset": offset, "width": width,
                                          "chunk": chunk, "runs": runs, "config": config, "counts": counts})
    return path


def hand_made_run(run_dir):
    """Widths 16 and 32, 30 runs in chunks of 20 + 10; the second chunk of n = 32 is missing."""
    config = make_config(widths=[16, 32], runs=30, offsets=[0.0], chunk_size=20)
    write_run(run_dir, config)
    write_chunk(run_dir, config, 0.0, 16, 0, {"CROSSED": 12, "LOCALLY_CONVERGED": 6, "EARLY_STOPPED": 2})
    write_chunk(run_dir, config, 0.0, 16, 1, {"DIVERGED": 3, "LOCALLY_CONVERGED": 5, "UNFINISHED": 2})
    write_chunk(run_dir, config, 0.0, 32, 0, {"LOCALLY_CONVERGED": 20})
    return config


def real_run(out, seed=0):
    """A small real run: n = 16, 20 networks in 4 chunks of 5."""
    return Path(mc_training.run(widths=[16], runs=20, offsets=[0.0], max_checks=5, jobs=1, chunk_size=5, seed=seed,
                                out=out))


def compared_runs(tmp_path):
    for name, seed in (("gd_seed0", 0), ("gd_seed1", 1)):
        Path(mc_training.run(widths=[16, 32], runs=20, offsets=[0.0, 0.1], max_checks=5, jobs=1, seed=seed,
                             out=tmp_path / "mc" / name))


def assert_examples_hold(*objects):
    """Run the Example sections of the docstrings of ``objects``, in order, each in the namespace of
    its module (what it prints is compared with ELLIPSIS); every one must hold."""
    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for item in objects:
        tests = finder.find(item, globs=dict(vars(sys.modules[item.__module__])))
        assert tests and tests[0].examples, f"{item.__name__} has no example"
        for test in tests:
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) failed (the report above says which)"


# ----------------------------------------------------------------------------- test selection
def slow_after_first(cases):
    """The parameters of a test that runs a script (about 0.4 s a case), all but the first marked
    slow: ``pytest -m "not slow"`` keeps one case of the check."""
    return [cases[0], *(pytest.param(*case, marks=pytest.mark.slow) for case in cases[1:])]
