"""Training a chunk of networks: the random problems of P runs (data weights p, q, initialisation,
step size h), the training loop with its stopping criteria and the statuses it gives, and the
empirical soundness check of the certificate."""
import numpy as np
from tqdm import trange

from kinks.mc.data import DataSet, data_gap, init_params
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.mc.optimizers import MinibatchDraws, batch_of, minibatch_cuts
from kinks.mc.theory import (
    certificate_applies, compiled_certify, data_powers, degenerate_data, degenerate_units, theory_step_size)
from kinks.samples import SampleRule

# How a network stopped, as written into the chunk files (text, one per network).
STATUSES = ("CROSSED", "DIVERGED", "EARLY_STOPPED", "LOCALLY_CONVERGED", "A_DEGENERATE", "X_DEGENERATE",
            "UNFINISHED")
CRITERIA = ("crossing", "sufficient", "early")
EARLY_PATIENCE, EARLY_TOL = 10, 1e-8


def draw_problems(rng, runs, width, offset, init, step, data=None, leak=0.0, samples=None):
    """The random part of ``runs`` Monte Carlo runs, in a fixed order of draws: data (x, y),
    weights p and q (runs, m) from the DataSet ``data`` (default the paper's) and the SampleRule
    ``samples`` (default n^2; population draws nothing), initial (a, b, c, w) and step sizes h (runs,)."""
    data, samples = data or DataSet(), samples or SampleRule()
    x, y = data.x, data.y + offset
    p = samples.draw(rng, runs, width, data.probs)
    q = samples.draw(rng, runs, width, data.probs)
    a, b, c, w = init_params(rng, runs, width, init)
    h = theory_step_size(a, b, w, x, p, leak) if step == "theory" else np.full(runs, 0.01 / width)
    return x, y, p, q, (a, b, c, w), h


def default_stopping(optimizer, batch_size="full", leak=0.0):
    """crossing + sufficient where the certificate applies, else crossing + early."""
    applies = certificate_applies(optimizer, batch_size, leak)
    return ["crossing", "sufficient"] if applies else ["crossing", "early"]


def check_stops(trainer, x, y, q, p, h, stopping, early, m_powers=None):
    """The stopping criteria of one check for the running networks, in the paper's order
    (a later status overrides an earlier one): EARLY_STOPPED < LOCALLY_CONVERGED < A_DEGENERATE
    < X_DEGENERATE. ``early`` holds the running best validation loss and wait count (P,) and is
    updated in place; ``m_powers`` are the data matrices' (M^{1/2}, M^{-1/2}) of the networks, if
    known (``data_powers``). The certificate is ``compiled_certify`` (the NumPy ``certify`` is its
    reference). Returns the new status per network ('' = keeps running), (P,)."""
    status = np.full(len(h), "", dtype="<U17")
    if "early" in stopping:
        V = np.sum(q * (y - trainer.outputs()) ** 2, axis=1)
        better = V < early["best"] - EARLY_TOL
        early["best"] = np.where(better, V, early["best"])
        early["wait"] = np.where(better, 0, early["wait"] + 1)
        status[early["wait"] >= EARLY_PATIENCE] = "EARLY_STOPPED"
    if "sufficient" in stopping:
        sigma = trainer.moments()
        a, b, w = trainer.check_units()
        M_half, M_inv_half = data_powers(x, p) if m_powers is None else m_powers
        certified = compiled_certify(a, b, trainer.c, w, x, y, p, h, sigma, M_half, M_inv_half, *data_gap(x))
        status[certified] = "LOCALLY_CONVERGED"
        status[degenerate_units(sigma)] = "A_DEGENERATE"
        status[degenerate_data(x, p)] = "X_DEGENERATE"
    return status


def train(trainer, x, y, p, q, h, optimizer, stopping, epochs_per_check, max_checks, rng,
          keep_params=False, batch_size=None):
    """Train P networks until every one has stopped or ``max_checks`` checks have passed.

    Every epoch: one step of all running networks, then the crossing test (a running flag: has any
    kink left the gap of ``data_gap`` so far), run by ``trainer.advance`` many epochs at a time.
    Every ``epochs_per_check`` epochs: CROSSED networks leave first, then non-finite ones
    (DIVERGED), then those that ``check_stops`` stops; stopped networks are dropped from the
    working arrays. With a minibatch size B (see ``batch_of``) each step uses the weights
    Multinomial(B, p) / B, whose uniforms the compiled loop draws from ``rng`` for the running
    networks only (``MinibatchDraws``: its order is fixed, so a chunk's numbers are fixed by its
    seed).

    Args:
        trainer: an engine holding the P networks (``kinks.mc.engines``: DenseTrainer, ReducedTrainer
            or their NumPy references); it is advanced and shrunk in place.
        x, y: data points and targets (targets with the offset Delta added), (m,) each.
        p, q: training and validation data weights, (P, m) each.
        h: step size per network, (P,).
        optimizer: gd | momentum | sgd | adam (as the trainer's; sets the default batch size).
        stopping: the criteria, a list of crossing, sufficient (the certificate), early.
        epochs_per_check: epochs between checks of the stopping criteria.
        max_checks: checks before a network that is still running is UNFINISHED.
        rng: a numpy Generator, the source of the minibatch draws.
        keep_params: also return (a, b, c, w) of every network where it stopped, its initial a0, w0
            (b0 = 0, c0 = 0) and its data weights p, q.
        batch_size: None (the optimiser's default), 'full' or B.
    Returns:
        A dict of (P,) arrays: status (one of ``STATUSES``), stop_epoch, first_cross_epoch (-1:
        never; 0: at initialisation), step_size, and with ``keep_params`` a, b, w, a0, w0 (P, n), c (P,)
        and p, q (P, m).
    Example:
        >>> from kinks.mc.engines import ReducedTrainer
        >>> rng = np.random.default_rng(0)
        >>> x, y, p, q, (a, b, c, w), h = draw_problems(rng, 100, 16, 0.0, "he", "theory")
        >>> out = train(ReducedTrainer(a, b, c, w, x, y, h, "gd"), x, y, p, q, h, "gd",
        ...             ["crossing", "sufficient"], 1000, 1000, rng)
        >>> p_hat = 1 - np.isin(out["status"], ["LOCALLY_CONVERGED", "EARLY_STOPPED"]).mean()
    """
    P = len(h)
    out = {"status": np.full(P, "UNFINISHED", dtype="<U17"),
           "stop_epoch": np.full(P, epochs_per_check * max_checks, dtype=np.int64),
           "first_cross_epoch": np.full(P, -1, dtype=np.int64), "step_size": h.copy()}
    if keep_params:  # what re-trains, continues or verifies a network without this code (docs/results.md)
        a0, _, _, w0 = trainer.params()
        out.update(a=np.zeros_like(a0), b=np.zeros_like(a0), c=np.zeros(P), w=np.zeros_like(a0), a0=a0.copy(),
                   w0=w0.copy(), p=p.copy(), q=q.copy())
    alive = np.arange(P)
    p_t = np.ascontiguousarray(p.T)  # weights are passed data-major, (m, P)
    cuts = minibatch_cuts(p_t)
    early = {"best": np.full(P, np.inf), "wait": np.zeros(P, dtype=np.int64)}
    draws = MinibatchDraws(batch_of(optimizer, batch_size), rng)
    m_powers = data_powers(x, p) if "sufficient" in stopping else None  # fixed per network: once
    crossed = trainer.crossed_now()
    out["first_cross_epoch"][crossed] = 0
    epoch = 0
    for _ in range(max_checks):
        first = trainer.advance(epochs_per_check, p_t, cuts, draws, crossed)
        new = first >= 0
        out["first_cross_epoch"][alive[new]] = epoch + first[new]
        epoch += epochs_per_check
        status = check_stops(trainer, x, y, q, p, h, stopping, early, m_powers)
        status[~trainer.finite()] = "DIVERGED"
        status[crossed] = "CROSSED"
        stop = status != ""
        if keep_params:
            for name, value in zip("abcw", trainer.params()):
                out[name][alive[stop]] = value[stop]
        out["status"][alive[stop]] = status[stop]
        out["stop_epoch"][alive[stop]] = epoch
        run = ~stop
        alive, p, q, h, crossed = alive[run], p[run], q[run], h[run], crossed[run]
        p_t, cuts = np.ascontiguousarray(p_t[:, run]), np.ascontiguousarray(cuts[:, run])
        early = {k: v[run] for k, v in early.items()}
        m_powers = m_powers and [power[run] for power in m_powers]
        trainer.keep(run)
        if len(alive) == 0:
            break
    if keep_params and len(alive):
        for name, value in zip("abcw", trainer.params()):
            out[name][alive] = value
    return out


def gap_reach(a, b, gap):
    """How far into the gap (x_-, x_+) = (-x_left, x_right) each network's kinks reach, (P,): the
    largest kink / x_right over kinks -b_i/a_i > 0 and -kink / x_left over the others (1 = at a data
    point; for the paper's data max |b_i / a_i|)."""
    kink = -b / a
    return np.max(np.where(kink > 0, kink / gap[1], -kink / gap[0]), axis=1)


def soundness_row(width, runs, epochs, offset=0.0, seed=0, data=None, block=100):
    """The certificate checked empirically at one width: ``runs`` gd networks (theory step, He
    initialisation, problems from the seed [seed, width] on the DataSet ``data``, default the
    paper's) trained on the reduced engine until certified or crossed; then every certified network
    trained ``epochs`` more epochs on the dense engine, with the crossing test (against the gap
    (x_-, x_+)) after every epoch in the compiled loop, and the reach of the kinks (``gap_reach``)
    after every ``block`` epochs. Returns (certified, crossed later (the theory says 0), the largest
    reach of a certified network's kinks, < 1)."""
    rng = np.random.default_rng([seed, width])
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, runs, width, offset, "he", "theory", data)
    out = train(ReducedTrainer(a, b, c, w, x, y, h, "gd"), x, y, p, q, h, "gd",
                ["crossing", "sufficient"], 1000, 1000, rng, keep_params=True)
    certified = out["status"] == "LOCALLY_CONVERGED"
    trainer = DenseTrainer(*(out[k][certified] for k in "abcw"), x, y, h[certified], "gd",
                           sign_a0=a[certified])
    p_t = np.ascontiguousarray(p[certified].T)
    crossed, gap = trainer.crossed_now(), data_gap(x)
    reach = gap_reach(trainer.a, trainer.b, gap) if certified.any() else np.zeros(0)
    for done in trange(0, epochs, block, desc=f"n = {width}", mininterval=2.0, leave=False):
        trainer.advance(min(block, epochs - done), p_t, None, None, crossed)
        reach = np.maximum(reach, gap_reach(trainer.a, trainer.b, gap)) if certified.any() else reach
    return int(certified.sum()), int(crossed.sum()), reach.max(initial=0.0)
