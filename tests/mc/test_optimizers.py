"""Tests of the optimisers (kinks.mc.optimizers, as run by the dense engine) against torch's: gd,
momentum and adam step by step, adam on the same minibatches, and the minibatch weights against
brute-force categorical draws and against the multinomial's moments."""
import numpy as np
import pytest
import torch

from kinks.mc.data import init_params
from kinks.mc.engines import DenseTrainer
from kinks.mc.optimizers import ADAM_BETAS, ADAM_EPS, DRAW_BITS, MOMENTUM, SGD_BATCH, minibatch_cuts, minibatch_weights
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import random_networks, torch_loss

X, Y = X_DATA, Y_DATA


@pytest.mark.parametrize("name, make_torch", [
    ("adam", lambda params, lr: torch.optim.Adam(params, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)),
    ("momentum", lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)),
    ("gd", lambda params, lr: torch.optim.SGD(params, lr=lr)),
])
def test_optimizer_steps_equal_torch(name, make_torch):
    rng = np.random.default_rng(1)
    a, b, c, w = random_networks(rng, 1, 8)
    p = sample_weights(rng, 1, 64)
    h = 0.01
    trainer = DenseTrainer(a, b, c, w, X, Y, np.array([h]), name)
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    optimizer = make_torch(params, h)
    for _ in range(25):
        trainer.step(p.T)
        optimizer.zero_grad()
        torch_loss(*params, p).backward()
        optimizer.step()
    for ours, param in zip(trainer.params(), params):
        np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_minibatch_weights_equal_brute_force_categorical_draws():
    """A draw k falls on the first data point j with k / 2^32 < p_0 + ... + p_j (searchsorted on the
    cumulative sums scaled by 2^32, exact in floating point), including draws exactly on a cut."""
    rng = np.random.default_rng(3)
    p = sample_weights(rng, 200, 16)  # some zero weights
    draws = rng.integers(0, 2**DRAW_BITS, (200, SGD_BATCH))
    cuts = minibatch_cuts(p.T)
    draws[:50, 0] = cuts[2, :50]  # on a cut: the draw belongs to the point above it
    weights = minibatch_weights(draws, cuts).T
    expected = np.zeros_like(p)
    for i in range(200):
        for draw in draws[i]:
            expected[i, np.searchsorted(np.cumsum(p[i]) * 2.0**DRAW_BITS, draw, side="right")] += 1 / SGD_BATCH
    np.testing.assert_allclose(weights, expected, atol=1e-15)
    assert np.all(weights[p == 0] == 0)


def test_minibatch_cuts_give_the_probabilities_within_2_to_the_minus_32():
    """(c_j - c_{j-1}) / 2^32, the probability that a draw falls on point j, is p_j within 2^-32."""
    p = np.random.default_rng(7).dirichlet(np.ones(6), size=1000).T
    cuts = np.vstack([np.zeros((1, 1000)), minibatch_cuts(p), np.full((1, 1000), 2**DRAW_BITS)])
    assert np.all(np.abs(np.diff(cuts, axis=0) / 2.0**DRAW_BITS - p) <= 2.0**-DRAW_BITS)


def test_minibatch_weights_have_the_multinomial_moments():
    """Over 400,000 minibatches of 16 among 6 points with unequal p: every weight's mean is p_j and
    its variance p_j (1 - p_j) / B, each within 4 standard errors; two weights' covariance is
    -p_i p_j / B."""
    rng = np.random.default_rng(4)
    probs = np.array([0.05, 0.1, 0.15, 0.2, 0.22, 0.28])
    cuts = np.repeat(minibatch_cuts(probs[:, None]), 400_000, axis=1)
    weights = minibatch_weights(rng.integers(0, 2**DRAW_BITS, (400_000, SGD_BATCH)), cuts)
    var = probs * (1 - probs) / SGD_BATCH
    assert np.all(np.abs(weights.mean(1) - probs) < 4 * np.sqrt(var / 400_000))
    sample_var = weights.var(1)
    assert np.all(np.abs(sample_var - var) < 4 * var * np.sqrt(2 / 400_000) * 2)
    covariance = np.cov(weights)[0, 5]
    assert abs(covariance + probs[0] * probs[5] / SGD_BATCH) < 4 * np.sqrt(var[0] * var[5] / 400_000)


def test_minibatch_adam_equals_torch_adam_on_the_same_batches():
    rng = np.random.default_rng(15)
    a, b, c, w = init_params(rng, 1, 8)
    b, c = -a * rng.uniform(-4, 4, size=a.shape), np.array([0.3])
    p = sample_weights(rng, 1, 64)
    trainer = DenseTrainer(a, b, c, w, X_DATA, Y_DATA, np.array([0.01]), "adam")
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    optimizer = torch.optim.Adam(params, lr=0.01)  # torch's default betas and eps
    for _ in range(30):
        weights = minibatch_weights(rng.integers(0, 2**DRAW_BITS, (1, 16)), minibatch_cuts(p.T))
        trainer.step(weights)
        optimizer.zero_grad()
        z = params[0][:, None, :] * torch.tensor(X_DATA)[None, :, None] + params[1][:, None, :]
        f = params[2][:, None] + (torch.relu(z) * params[3][:, None, :]).sum(-1)
        (0.5 * (torch.tensor(weights.T) * (f - torch.tensor(Y_DATA)) ** 2).sum()).backward()
        optimizer.step()
    for ours, param in zip(trainer.params(), params):
        np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-9, atol=1e-12)
