"""Tests of kinks.mc.training: the certificate's soundness, empirically (every network certified at a
check stays uncrossed for tens of thousands of further gd epochs, on the paper's data and on data
of one's own), and the minibatch draws of a chunk (running networks only, the same for both engines)."""
import numpy as np
import pytest

from kinks.mc.data import init_params
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.mc.theory import theory_step_size
from kinks.mc.training import train
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import assert_examples_hold
from mc_checks import ASYMMETRIC, problems

X, Y = X_DATA, Y_DATA


@pytest.mark.slow
def test_certified_networks_never_cross_in_50000_more_epochs():
    """Soundness: every network certified at a check stays uncrossed for 50,000 more gd epochs."""
    rng = np.random.default_rng(5)
    P, n = 900, 16
    p, q = sample_weights(rng, P, n**2), sample_weights(rng, P, n**2)
    a, b, c, w = init_params(rng, P, n)
    h = theory_step_size(a, b, w, X, p)
    out = train(DenseTrainer(a, b, c, w, X, Y, h, "gd"), X, Y, p, q, h, "gd",
                ["crossing", "sufficient"], 500, 40, rng, keep_params=True)
    certified = out["status"] == "LOCALLY_CONVERGED"
    assert certified.sum() >= 500
    trainer = DenseTrainer(*(out[k][certified] for k in "abcw"), X, Y, h[certified], "gd",
                           sign_a0=a[certified])
    ever_crossed = trainer.crossed_now()
    p_t = np.ascontiguousarray(p[certified].T)
    trainer.advance(50_000, p_t, None, None, ever_crossed)  # crossing tested after every epoch
    assert not ever_crossed.any()


@pytest.mark.slow
def test_certificate_sound_on_asymmetric_data():
    """Networks certified on the 9-point set stay uncrossed for 20,000 more dense gd epochs."""
    rng = np.random.default_rng(12)
    data = ASYMMETRIC
    p, q, (a, b, c, w), h = problems(rng, 300, 16, data)
    out = train(ReducedTrainer(a, b, c, w, data.x, data.y, h, "gd"), data.x, data.y, p, q, h, "gd",
                ["crossing", "sufficient"], 500, 40, rng, keep_params=True)
    certified = out["status"] == "LOCALLY_CONVERGED"
    assert certified.sum() >= 50
    trainer = DenseTrainer(*(out[k][certified] for k in "abcw"), data.x, data.y, h[certified], "gd",
                           sign_a0=a[certified])
    ever = trainer.crossed_now()
    p_t = np.ascontiguousarray(p[certified].T)
    trainer.advance(20_000, p_t, None, None, ever)  # crossing tested after every epoch
    assert not ever.any()


def test_the_example_of_train_holds():
    assert_examples_hold(train)


def test_minibatch_draws_only_for_running_networks():
    """sgd (B = 16) on 300 networks, 6 checks of 50 epochs, crossing + early stopping: the chunk's
    generator gives exactly B / 2 outputs (2 draws each) per network and epoch trained (the sum of the stop epochs,
    networks dropped at a check draw nothing after it), and both engines draw the same ones."""
    results, after = [], []
    for engine_class in (ReducedTrainer, DenseTrainer):
        rng = np.random.default_rng(9)
        p, q = sample_weights(rng, 300, 256), sample_weights(rng, 300, 256)
        a, b, c, w = init_params(rng, 300, 16)
        h = theory_step_size(a, b, w, X, p)
        start = rng.bit_generator.state
        out = train(engine_class(a, b, c, w, X, Y, h, "sgd"), X, Y, p, q, h, "sgd", ["crossing", "early"], 50, 6, rng)
        results.append(out)
        replay = np.random.default_rng(0)
        replay.bit_generator.state = start
        replay.bit_generator.random_raw(8 * int(out["stop_epoch"].sum()))  # 16 draws: 8 outputs
        after.append((rng.random(), replay.random()))
    stopped_early = results[0]["stop_epoch"] < 300
    assert 0 < stopped_early.sum() < 300  # some networks stop before the last check
    for drawn, counted in after:
        assert drawn == counted
    np.testing.assert_array_equal(results[0]["stop_epoch"], results[1]["stop_epoch"])
    np.testing.assert_array_equal(results[0]["status"], results[1]["status"])
