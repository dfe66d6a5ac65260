"""Tests of kinks.mc.data (the 1-D model and data) against independent computations: torch autograd
for the gradient by activity pattern (relu and leaky relu), the direct forward pass, and the
crossing test at the data points next to 0."""
import numpy as np
import torch

from kinks.mc.data import ActivityPatterns, data_gap, init_params, kinks_crossed, loss_gradient, network_output
from kinks.mc.data import DataSet
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import ASYMMETRIC, assert_examples_hold, random_networks, torch_loss

X, Y = X_DATA, Y_DATA


def test_gradient_equals_autograd():
    rng = np.random.default_rng(0)
    a, b, c, w = random_networks(rng, 64, 32)
    p = sample_weights(rng, 64, 32**2)
    ga, gb, gc, gw, loss = loss_gradient(a, b, c, w, X, Y, p)
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    total = torch_loss(*params, p)
    total.backward()
    for ours, param in zip((ga, gb, gc, gw), params):
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.sum(), total.item(), rtol=1e-12)
    np.testing.assert_allclose(ActivityPatterns(X).output(ActivityPatterns(X).codes(a, b), a, b, c, w),
                               network_output(a, b, c, w, X), rtol=1e-12, atol=1e-12)


def test_crossing_test_catches_kinks_beyond_data_and_sign_flips():
    a0 = np.array([[1.0, -1.0, 2.0]])
    sign = np.sign(a0)
    assert not kinks_crossed(a0, np.array([[0.5, 0.5, 1.9]]), sign, 1.0)[0]
    assert kinks_crossed(a0, np.array([[0.5, 1.0, 0.0]]), sign, 1.0)[0]  # kink at data point
    assert kinks_crossed(np.array([[-0.1, -1.0, 2.0]]), np.zeros((1, 3)), sign, 1.0)[0]  # a flipped


def test_crossing_uses_the_gap_next_to_zero():
    gap = data_gap(ASYMMETRIC.x)  # (0.5, 0.7)
    assert gap == (0.5, 0.7)
    a, sign = np.array([[1.0, -1.0]]), np.array([[1.0, -1.0]])
    assert not kinks_crossed(a, np.array([[-0.6, 0.0]]), sign, gap)[0]  # kink at 0.6 < 0.7
    assert kinks_crossed(a, np.array([[-0.7, 0.0]]), sign, gap)[0]  # kink at the point 0.7
    assert not kinks_crossed(a, np.array([[0.0, -0.45]]), sign, gap)[0]  # kink at -0.45 > -0.5
    assert kinks_crossed(a, np.array([[0.0, -0.5]]), sign, gap)[0]  # kink at the point -0.5


def test_leaky_gradient_equals_autograd():
    rng = np.random.default_rng(13)
    leak, data = 0.1, ASYMMETRIC
    a, _, _, w = init_params(rng, 20, 12)
    b, c = -a * rng.uniform(-6, 6, size=a.shape), rng.normal(size=20)
    p = sample_weights(rng, 20, 144, probs=data.probs)
    grads = loss_gradient(a, b, c, w, data.x, data.y, p, ActivityPatterns(data.x, leak))
    params = [torch.tensor(v, requires_grad=True) for v in (a, b, c, w)]
    z = params[0][:, None, :] * torch.tensor(data.x)[None, :, None] + params[1][:, None, :]
    f = params[2][:, None] + (torch.nn.functional.leaky_relu(z, leak) * params[3][:, None, :]).sum(-1)
    loss = 0.5 * (torch.tensor(p) * (f - torch.tensor(data.y)) ** 2).sum()
    loss.backward()
    for ours, param in zip(grads[:4], params):
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(network_output(a, b, c, w, data.x, leak), f.detach().numpy(), rtol=1e-12)


def test_the_example_of_dataset_holds():
    assert_examples_hold(DataSet)
