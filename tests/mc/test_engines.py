"""Tests of kinks.mc.engines: the reduced trainer (exact O(1) per network-epoch) against the dense
trainer on the same networks (paper's data, data of one's own, leaky relu, minibatches), and the
reduced trainer's unit moments against those of its reconstructed units."""
import numpy as np
import pytest

from kinks.mc.data import DataSet, init_params
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.mc.theory import theory_step_size, unit_moments
from kinks.mc.training import train
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import ASYMMETRIC, problems
from mc_checks import assert_params_agree

X, Y = X_DATA, Y_DATA


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "sgd"])
@pytest.mark.parametrize("n", [16, 64])
def test_reduced_trainer_equals_dense(optimizer, n):
    P = 2000
    stopping = ["crossing", "sufficient"] if optimizer == "gd" else ["crossing", "early"]
    results = []
    for trainer_class in (DenseTrainer, ReducedTrainer):
        rng = np.random.default_rng(6)
        p, q = sample_weights(rng, P, n**2), sample_weights(rng, P, n**2)
        a, b, c, w = init_params(rng, P, n)
        h = theory_step_size(a, b, w, X, p)
        trainer = trainer_class(a, b, c, w, X, Y, h, optimizer)
        results.append(train(trainer, X, Y, p, q, h, optimizer, stopping, 200, 15, rng, keep_params=True))
    dense, reduced = results
    same = dense["status"] == reduced["status"]
    assert same.mean() >= 0.999
    assert len(set(dense["status"])) >= 2  # a comparison across several outcomes
    np.testing.assert_array_equal(dense["stop_epoch"][same], reduced["stop_epoch"][same])
    never = (dense["first_cross_epoch"] < 0) & (reduced["first_cross_epoch"] < 0)
    assert never.sum() > P // 4
    assert_params_agree(dense, reduced, never, 1e-8)


def assert_engines_agree(data, optimizer, leak, stopping, batch_size=None, P=1500, n=16, checks=12):
    """Train the same networks with both engines; statuses, stop epochs and parameters must agree."""
    results = []
    for engine in (DenseTrainer, ReducedTrainer):
        rng = np.random.default_rng(11)
        p, q, (a, b, c, w), h = problems(rng, P, n, data, leak)
        trainer = engine(a, b, c, w, data.x, data.y, h, optimizer, leak=leak)
        results.append(train(trainer, data.x, data.y, p, q, h, optimizer, stopping, 200, checks, rng,
                             keep_params=True, batch_size=batch_size))
    dense, reduced = results
    same = dense["status"] == reduced["status"]
    assert same.mean() >= 0.998 and len(set(dense["status"])) >= 2
    np.testing.assert_array_equal(dense["stop_epoch"][same], reduced["stop_epoch"][same])
    never = (dense["first_cross_epoch"] < 0) & (reduced["first_cross_epoch"] < 0)
    assert never.sum() > P // 10
    assert_params_agree(dense, reduced, never, 1e-8)
    return dense


@pytest.mark.slow
def test_asymmetric_data_reduced_engine_equals_dense():
    dense = assert_engines_agree(ASYMMETRIC, "gd", 0.0, ["crossing", "sufficient"], P=600)
    assert {"CROSSED", "LOCALLY_CONVERGED"} <= set(dense["status"])
    assert_engines_agree(ASYMMETRIC, "gd", 0.0, ["crossing", "early"], batch_size=8, P=400)


@pytest.mark.slow
@pytest.mark.parametrize("data", [DataSet(), ASYMMETRIC], ids=["paper", "asymmetric"])
def test_leaky_reduced_engine_equals_dense(data):
    assert_engines_agree(data, "gd", 0.1, ["crossing", "early"], P=1000)


def test_reduced_moments_equal_moments_of_reconstructed_units():
    rng = np.random.default_rng(7)
    a, b, c, w = init_params(rng, 50, 16)
    p = sample_weights(rng, 50, 256)
    trainer = ReducedTrainer(a, b, c, w, X, Y, theory_step_size(a, b, w, X, p), "momentum")
    crossed = trainer.crossed_now()
    p_t = np.ascontiguousarray(p.T)
    trainer.advance(100, p_t, None, None, crossed)
    a_t, b_t, _, w_t = trainer.params()
    assert (~crossed).sum() > 25
    np.testing.assert_allclose(trainer.moments()[~crossed], unit_moments(a_t, b_t, w_t)[~crossed],
                               rtol=1e-10, atol=1e-12)
