"""Tests of kinks.minima.examples: the example pair (one network stays put, one crosses, on the same
data weights), its training checked against a direct loss and gradient, the figures written by
``mc_plotting.py examples`` and the document section they make."""
import numpy as np
import pytest

import mc_plotting
from kinks.mc.data import init_params, loss_gradient, network_output
from kinks.minima import examples
from kinks.minima.examples import example_pair, train_example
from kinks.samples import X_DATA, Y_DATA, sample_weights


def test_example_pair_stays_put_and_crosses_on_the_same_data():
    p, inits, outcomes = example_pair(seed=3, epochs=2000)
    assert outcomes[0][0] != "CROSSED" and outcomes[1][0] == "CROSSED" and outcomes[1][1] >= 1
    largest_kink = [np.abs(train_example(p, init, 2000, (0,))["kinks"]).max() for init in inits]
    assert largest_kink[0] < 1.0 <= largest_kink[1]  # min |x_j| = 1


def test_example_training_is_gradient_descent():
    rng = np.random.default_rng(3)
    p = sample_weights(rng, 1, 256)[0]
    init = tuple(q[0] for q in init_params(rng, 1, 16))
    example = train_example(p, init, epochs=50, snapshots=(0, 50))
    assert np.all(example["kinks"][0] == 0)  # b = 0 at He initialisation
    a, b, c, w = example["params"][50]
    x, y = X_DATA, Y_DATA
    direct = 0.5 * np.sum(p * (network_output(a[None], b[None], np.array([c]), w[None], x)[0] - y) ** 2)
    assert example["loss"][50] == pytest.approx(direct, rel=1e-12)
    assert example["loss"][50] < example["loss"][0]
    ga, gb, gc, gw, _ = loss_gradient(a[None], b[None], np.array([c]), w[None], x, y, p[None])
    norm = np.sqrt(np.sum(ga**2) + np.sum(gb**2) + np.sum(gw**2) + gc[0] ** 2)
    assert example["grad_norm"][50] == pytest.approx(norm, rel=1e-12)


@pytest.mark.slow
def test_example_figures_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(examples, "EXAMPLE_EPOCHS", 2000)
    mc_plotting.examples(out=tmp_path, seed=3)
    for name in ("example_networks", "example_kinks", "example_loss"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
