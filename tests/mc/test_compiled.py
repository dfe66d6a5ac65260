"""The compiled training loops (kinks.mc.compiled, numba) against the NumPy reference engines they
replace: the same networks, the same draws, the same statuses, stop and first-crossing epochs, and
parameters within 1e-10 relative, on 2,000 networks per optimiser at n = 16 and n = 256."""
import numpy as np
import pytest

from kinks.mc.compiled import LANES, draw_weights
from kinks.mc.data import DataSet, init_params
from kinks.mc.engines import DenseTrainer, ReducedTrainer, ReferenceDenseTrainer, ReferenceReducedTrainer
from kinks.mc.optimizers import DRAW_BITS, MinibatchDraws, minibatch_cuts, minibatch_weights
from kinks.mc.theory import theory_step_size
from kinks.mc.training import train
from kinks.samples import X_DATA, Y_DATA, sample_weights
from mc_checks import ASYMMETRIC
from mc_checks import assert_params_agree

PAPER = DataSet()  # the paper's six points


def train_both(engines, optimizer, n, P=2000, batch_size=None, leak=0.0, data=PAPER, checks=8,
               epochs_per_check=100):
    """Train the same P networks (seed 6) with each engine class for ``checks`` x ``epochs_per_check``
    epochs."""
    stopping = ["crossing", "sufficient"] if optimizer == "gd" and batch_size is None and leak == 0 \
        else ["crossing", "early"]
    results = []
    for engine in engines:
        rng = np.random.default_rng(6)
        p = sample_weights(rng, P, n**2, probs=data.probs)
        q = sample_weights(rng, P, n**2, probs=data.probs)
        a, b, c, w = init_params(rng, P, n)
        h = theory_step_size(a, b, w, data.x, p, leak)
        trainer = engine(a, b, c, w, data.x, data.y, h, optimizer, leak=leak)
        results.append(train(trainer, data.x, data.y, p, q, h, optimizer, stopping, epochs_per_check, checks, rng,
                             keep_params=True, batch_size=batch_size))
    return results


def assert_same_results(reference, compiled, min_never=0.1):
    for key in ("status", "stop_epoch", "first_cross_epoch"):
        np.testing.assert_array_equal(reference[key], compiled[key], err_msg=key)
    assert len(set(reference["status"])) >= 2  # a comparison across several outcomes
    never = reference["first_cross_epoch"] < 0  # a crossed network's later trajectory is not the true one
    assert never.sum() > min_never * len(never)
    assert_params_agree(reference, compiled, never, 1e-10)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", pytest.param("sgd", marks=pytest.mark.slow)])  # sgd: draws
@pytest.mark.parametrize("n", [16, pytest.param(256, marks=pytest.mark.slow)])  # n = 256: seconds
def test_compiled_reduced_engine_equals_numpy_reference(optimizer, n):
    assert_same_results(*train_both((ReferenceReducedTrainer, ReducedTrainer), optimizer, n))


def test_compiled_reduced_engine_with_leak_minibatch_and_own_data():
    assert_same_results(*train_both((ReferenceReducedTrainer, ReducedTrainer), "gd", 16,
                                    P=600, batch_size=8, leak=0.1, data=ASYMMETRIC))


@pytest.mark.parametrize("optimizer, batch_size", [("gd", None), ("momentum", None), ("adam", 16)])
@pytest.mark.parametrize("n", [16, pytest.param(256, marks=pytest.mark.slow)])  # n = 256: seconds
def test_compiled_dense_engine_equals_numpy_reference(optimizer, batch_size, n):
    """Few epochs, as the NumPy reference is slow at n = 256; adam networks cross early."""
    results = train_both((ReferenceDenseTrainer, DenseTrainer), optimizer, n, batch_size=batch_size,
                         checks=3, epochs_per_check=20)
    assert_same_results(*results, min_never=0.002)


def test_compiled_dense_engine_with_leak_minibatch_and_own_data():
    assert_same_results(*train_both((ReferenceDenseTrainer, DenseTrainer), "gd", 16, P=600,
                                    batch_size=8, leak=0.1, data=ASYMMETRIC, checks=4, epochs_per_check=50))


@pytest.mark.parametrize("batch", [1, 9, 16])
def test_compiled_minibatch_weights_are_the_inverse_cdf_counts(batch):
    """draw_weights draws from its generator, network after network, the draws that
    ``MinibatchDraws.draws`` gives the NumPy references, and counts the data points as
    ``minibatch_weights`` does, including a draw exactly on a cut and data points of probability 0;
    the generator is left where the NumPy draws leave it."""
    rng = np.random.default_rng(3)
    p = rng.multinomial(40, [0.3, 0.0, 0.2, 0.25, 0.25], size=70).T / 40  # some p_j = 0
    cuts = minibatch_cuts(p)
    k = int(np.random.default_rng(5).bit_generator.random_raw() >> DRAW_BITS)  # network 6's first draw
    cuts[:, 6] = [k, k, k + 2**30, k + 2**31]  # the draw lies on the first cut: data point 1 gets nothing
    compiled, reference = np.random.default_rng(5), MinibatchDraws(batch, np.random.default_rng(5))
    weights = np.empty((5, 64))
    draws, fractions = np.empty((LANES, batch + 1), dtype=np.int64), np.arange(batch + 1) / batch
    for epoch in range(2):
        draw_weights(weights, 6, 70, p, cuts, batch, compiled, draws, fractions)
        drawn = reference.draws(1, 64, 64)[0]
        assert drawn[0, 0] == cuts[0, 6] or epoch == 1
        np.testing.assert_array_equal(weights, minibatch_weights(drawn, cuts[:, 6:]))
    assert compiled.bit_generator.random_raw() == reference.rng.bit_generator.random_raw()


def test_minibatch_draws_follow_the_blocks_of_the_compiled_loop():
    """MinibatchDraws.draws: blocks of ``lanes`` networks, each through all epochs, each epoch
    network after network, each network the high and low halves of its 64-bit outputs (B = 3: the
    second output's low half unused); a brute-force loop over one generator in that order."""
    draws, rng = MinibatchDraws(3, np.random.default_rng(8)), np.random.default_rng(8)
    drawn = draws.draws(4, 10, 4)
    expected = np.empty((4, 10, 3), dtype=np.int64)
    for start in (0, 4, 8):
        for t in range(4):
            for k in range(start, min(start + 4, 10)):
                first, second = (int(rng.bit_generator.random_raw()) for _ in range(2))
                expected[t, k] = [first // 2**32, first % 2**32, second // 2**32]
    np.testing.assert_array_equal(drawn, expected)


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_compiled_reduced_networks_do_not_depend_on_their_block(optimizer):
    """The compiled loop runs networks in blocks of LANES lanes: a network's trajectory, crossing flag
    and first crossing epoch are bitwise the same whichever lane and block it falls in."""
    rng = np.random.default_rng(2)
    P = 2 * LANES + 22  # two full blocks and a partial one
    p = sample_weights(rng, P, 256)
    a, b, c, w = init_params(rng, P, 16)
    h = theory_step_size(a, b, w, X_DATA, p)
    runs = []
    for rows in (np.arange(P), np.arange(37, P)):  # the second call shifts every network by 37 lanes
        trainer = ReducedTrainer(a[rows], b[rows], c[rows], w[rows], X_DATA, Y_DATA, h[rows], optimizer)
        p_t = np.ascontiguousarray(p[rows].T)
        crossed = np.zeros(len(rows), dtype=bool)
        first = trainer.advance(3000, p_t, None, None, crossed)
        runs.append((first, crossed, trainer.T, trainer.c))
    assert 0 < runs[0][1].sum() < P  # some cross, some do not
    for whole, shifted in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(whole[..., 37:], shifted)


def test_dense_loop_finds_crossed_networks_itself():
    """The dense loop takes a unit's pattern code from its side only while the network is inside
    the gap, which it tests itself at the start of every call: networks whose kinks already lie
    beyond data points, passed as not crossed (as ``step`` passes them), train exactly as the
    NumPy reference trains them."""
    rng = np.random.default_rng(12)
    a, b, c, w = init_params(rng, 50, 16)
    b = -a * rng.uniform(-3.5, 3.5, size=a.shape)  # kinks anywhere in [-3.5, 3.5]: most networks crossed
    p = sample_weights(rng, 50, 256)
    h = np.full(50, 0.002)
    compiled, reference = (engine(a, b, c, w, X_DATA, Y_DATA, h, "gd")
                           for engine in (DenseTrainer, ReferenceDenseTrainer))
    assert compiled.crossed_now().mean() > 0.9
    for _ in range(20):
        compiled.step(p.T)
        reference.step(p.T)
    for ours, theirs in zip(compiled.params(), reference.params()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("n", [13, 16])  # 13: three units past the last group of four
def test_dense_loop_inside_path_is_bitwise_the_general_path(optimizer, n):
    """While no kink has crossed, the dense loop sums by side (``side_partial_sums``) and, for
    momentum and adam, updates and tests the crossing in one pass (``update_units_inside``); the
    same networks passed as crossed take the general path (pattern codes from the data, the
    scatter by code, ``update_units``, ``kinks_hit``). Networks that never cross end bitwise equal."""
    rng = np.random.default_rng(14)
    a, b, c, w = init_params(rng, 40, n)
    p = sample_weights(rng, 40, n**2)
    h = np.full(40, 0.02 / n)
    p_t = np.ascontiguousarray(p.T)
    cuts, results = minibatch_cuts(p_t), []
    for flagged in (False, True):
        trainer = DenseTrainer(a, b, c, w, X_DATA, Y_DATA, h, optimizer)
        crossed = np.full(40, flagged)
        trainer.advance(300, p_t, cuts, MinibatchDraws(16 if optimizer == "adam" else None, np.random.default_rng(2)),
                        crossed)
        results.append((trainer.params(), crossed))  # the first run's flags: ever crossed
    never = ~results[0][1]
    assert never.sum() >= 10
    for inside, general in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(inside[never], general[never])
