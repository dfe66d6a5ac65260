"""A chunk written with --save_params holds all that re-trains a network without this code: the
saved networks are re-trained here by a plain NumPy gradient-descent loop written in this test
(not the package's engines) from the file alone, and reach the same status; and result files get
the umask's mode (0644 under umask 022), not mkstemp's 0600."""
import os

import numpy as np
import pytest

import mc_training
from conftest import call_script
from kinks.files import load_json, load_npz

EPOCHS = 3000  # re-train the networks that stopped within this many epochs


def gd_plain(a, b, c, w, x, y, p, h, stop, gap):
    """Full-batch gd on L = 1/2 sum_j p_j (f(x_j) - y_j)^2, f(x) = c + sum_i w_i relu(a_i x + b_i),
    theta <- theta - h grad L, for P networks at once (a, b, w (P, n), c (P,), p (P, m), h (P,)) up
    to epoch max(stop); returns each network's (a, b, c, w) after its stop[k] epochs and the first
    epoch after which a kink -b_i/a_i had left (-x_left, x_right) or a_i changed sign (-1: never)."""
    sign = np.sign(a)
    first = np.full(len(c), -1)
    at_stop = [np.zeros_like(theta) for theta in (a, b, c, w)]
    for epoch in range(1, stop.max() + 1):
        z = a[:, None, :] * x[None, :, None] + b[:, None, :]           # (P, m, n)
        residual = c[:, None] + np.einsum("pjn,pn->pj", np.maximum(z, 0), w) - y  # (P, m)
        g = (p * residual)[:, :, None] * (z > 0) * w[:, None, :]       # dL/dz, (P, m, n)
        grads = ((g * x[None, :, None]).sum(1), g.sum(1), (p * residual).sum(1),
                 np.einsum("pj,pjn->pn", p * residual, np.maximum(z, 0)))
        a, b, c, w = (theta - (h[:, None] if theta.ndim == 2 else h) * grad
                      for theta, grad in zip((a, b, c, w), grads))
        aa, bb = sign * a, sign * b
        crossed = np.any((-bb >= gap[1] * aa) | (bb >= gap[0] * aa), axis=1)
        first[(first < 0) & crossed] = epoch
        for kept, theta in zip(at_stop, (a, b, c, w)):
            kept[stop == epoch] = theta[stop == epoch]
    return at_stop, first


@pytest.mark.slow
def test_saved_networks_retrain_to_the_same_status_with_plain_numpy(monkeypatch, capsys, tmp_path):
    old = os.umask(0o022)
    try:
        code, out, err = call_script(monkeypatch, capsys, mc_training, "mc_training.py", "run", "--widths", "16",
                                     "--offsets", "0.1", "--runs", "64", "--save_params", "--jobs", "1",
                                     "--out", tmp_path / "run")
    finally:
        os.umask(old)
    assert code in (0, None), err
    chunk = tmp_path / "run" / "delta_0.1" / "n_16" / "chunk_00000.npz"
    for path in (chunk, chunk.with_suffix(".json"), tmp_path / "run" / "run.json"):
        assert path.stat().st_mode & 0o777 == 0o644, path
    saved, meta = load_npz(chunk), load_json(chunk.with_suffix(".json"))
    data = np.array(meta["config"]["data"])
    x, y = data[:, 0], data[:, 1] + meta["offset"]
    gap = (-x[x < 0].max(), x[x > 0].min())
    assert saved["p"].shape == saved["q"].shape == (64, len(x))
    chosen = saved["stop_epoch"] <= EPOCHS
    assert chosen.sum() >= 20 and set(saved["status"][chosen]) >= {"CROSSED", "LOCALLY_CONVERGED"}
    zeros = np.zeros_like(saved["a0"])
    stop = np.where(chosen, saved["stop_epoch"], 0)
    (a, b, c, w), first = gd_plain(saved["a0"], zeros, np.zeros(64), saved["w0"], x, y, saved["p"],
                                   saved["step_size"], stop, gap)
    for k in np.flatnonzero(chosen):
        if saved["status"][k] == "CROSSED":  # it crosses at the saved epoch
            assert first[k] == saved["first_cross_epoch"][k], k
        else:  # certified: it never crosses
            assert saved["status"][k] == "LOCALLY_CONVERGED" and first[k] == -1, k
    certified = chosen & (saved["status"] == "LOCALLY_CONVERGED")  # and ends where it was saved
    for mine, name in zip((a, b, c, w), "abcw"):
        assert np.allclose(mine[certified], saved[name][certified], rtol=1e-6, atol=1e-9), name
