"""Speed measurements (never part of the tests): units of work per second, the compiled engines
against their NumPy references, the cost of minibatch training against full batch, Adam against a
straightforward NumPy step, the wall time of a small study, and the seconds per certificate check."""
import time

import numpy as np

from kinks.mc.data import data_gap, init_params
from kinks.mc.optimizers import DRAW_BITS, SGD_BATCH, MinibatchDraws, Optimizer, minibatch_cuts, minibatch_weights
from kinks.mc.study import chunk_tasks, make_config, simulate_chunk
from kinks.mc.theory import certify, compiled_certify, data_powers, theory_step_size, unit_moments
from kinks.samples import X_DATA, Y_DATA, sample_weights


def per_second(work, seconds):
    """Units of work per second of ``work()`` (which returns how many units it did), timed for at
    least ``seconds`` after one warm-up call."""
    work()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    return done / (time.perf_counter() - start)


def benchmark_setup(n, P, seed=0):
    """P He-initialised networks of width n on the paper's data: (a, b, c, w, p, h)."""
    rng = np.random.default_rng(seed)
    p = sample_weights(rng, P, n**2)
    a, b, c, w = init_params(rng, P, n)
    return a, b, c, w, p, theory_step_size(a, b, w, X_DATA, p)


def dense_networks(n):
    """Networks of a dense-engine measurement at width n: 2^16 / n (the dense chunks' size), at least 8."""
    return max(2**16 // n, 8)


def engine_rate(trainer_class, n, P, epochs, seconds, optimizer="gd", batch=None):
    """Network-epochs per second (step + crossing test per epoch) of P networks of width n,
    ``epochs`` epochs per call of ``advance``: full-batch gd with the theory step by default; with a
    batch size B, minibatches drawn from a fixed generator and the small step 0.01 / n."""
    a, b, c, w, p, h = benchmark_setup(n, P)
    h = h if batch is None else np.full(P, 0.01 / n)
    trainer = trainer_class(a, b, c, w, X_DATA, Y_DATA, h, optimizer)
    p_t = np.ascontiguousarray(p.T)
    cuts, crossed = minibatch_cuts(p_t), np.zeros(P, dtype=bool)
    draws = MinibatchDraws(batch, np.random.default_rng(1))

    def advance():
        trainer.advance(epochs, p_t, cuts, draws, crossed)
        return P * epochs
    return per_second(advance, seconds)


def chunk_cost(optimizer, width, runs):
    """Seconds per network-epoch of one chunk of ``runs`` networks of ``width`` trained by
    ``optimizer`` (paper preset, small step, crossing + early stopping, Delta = 0, one process;
    network-epochs: the sum of the stop epochs)."""
    config = make_config("paper", optimizer=optimizer, step="small", stopping=["crossing", "early"],
                         widths=[width], runs=runs, offsets=[0.0])
    simulate_chunk(config, 0.0, width, 0, min(runs, 64))  # loads the compiled loop
    start = time.perf_counter()
    out = simulate_chunk(config, 0.0, width, 0, runs)
    return (time.perf_counter() - start) / out["stop_epoch"].sum()


def straightforward_adam_rate(n, P, seconds):
    """Network-epochs per second of a straightforward NumPy minibatch-Adam step of P networks: the
    pre-activations z = a x_j + b as a dense (P, n, m) array, f_j = c + sum_i w_i relu(z_ij),
    r_j = p~_j (f_j - y_j) on minibatch weights p~, the gradients (w_i sum_j r_j x_j [z_ij > 0],
    w_i sum_j r_j [z_ij > 0], c: sum_j r_j, sum_j r_j relu(z_ij)) and ``Optimizer``'s Adam update:
    the baseline the compiled loop is compared with."""
    a, b, c, w, p, _ = benchmark_setup(n, P)
    params, h, rng = [a, b, c, w], np.full(P, 0.01 / n), np.random.default_rng(1)
    optimizer, cuts = Optimizer("adam", params), minibatch_cuts(p.T)

    def step():
        z = a[:, :, None] * X_DATA + b[:, :, None]
        active, relu = z > 0, np.maximum(z, 0.0)
        weights = minibatch_weights(rng.integers(0, 2**DRAW_BITS, (P, SGD_BATCH)), cuts).T
        r = weights * (c[:, None] + np.einsum("pi,pij->pj", w, relu) - Y_DATA)
        r_active = r[:, None, :] * active
        grads = [w * (r_active @ X_DATA), w * r_active.sum(2), r.sum(1), np.einsum("pj,pij->pi", r, relu)]
        optimizer.update(params, grads, h)
        return P
    return per_second(step, seconds)


def study_wall_time(width, runs, reference):
    """Seconds to compute every chunk of ``run --widths width --runs runs`` (paper settings,
    offset 0, one process) with the compiled engine, or the NumPy reference engine."""
    config = make_config("paper", offsets=[0.0], widths=[width], runs=runs)
    start = time.perf_counter()
    for task in chunk_tasks("unused", config):
        simulate_chunk(config, task["offset"], width, task["chunk"], task["runs"], reference)
    return time.perf_counter() - start


def best_time(function, repeats):
    """The shortest of ``repeats`` timed calls of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def certificate_seconds(seconds):
    """Seconds per certificate check of 4,096 networks at n = 16 (the output bias c = 0.1): the
    NumPy ``certify`` and the ``compiled_certify`` the study uses, which give the same booleans."""
    a, b, c, w, p, h = benchmark_setup(16, 4096)
    c += 0.1
    M_half, M_inv_half = data_powers(X_DATA, p)
    sigma = unit_moments(a, b, w)

    def numpy_check():
        certify(a, b, c, w, X_DATA, Y_DATA, p, h, sigma, (M_half, M_inv_half))
        return 1

    def compiled_check():
        compiled_certify(a, b, c, w, X_DATA, Y_DATA, p, h, sigma, M_half, M_inv_half, *data_gap(X_DATA))
        return 1
    return 1.0 / per_second(numpy_check, seconds), 1.0 / per_second(compiled_check, seconds)
