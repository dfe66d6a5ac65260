"""The star study's compiled engine: full-batch gd of one-hidden-layer ReLU networks in float64 at
a cost per epoch set by the number of pattern groups, not by the width, with the same records as
the torch epochs (``kinks.star.state``), chunk by chunk over worker processes (``kinks.parallel``).

The reduction (Holzmüller & Steinwart's 1-D argument in d dimensions). Write x~ = (x, 1),
theta_i = (a_i, b_i), u_i = [theta_i; w_i] and r_j = p_j (f(x_j) - y_j). A unit's on/off pattern
S = {j : theta_i . x~_j > 0} puts it in a pattern group; with g_S = sum_{j in S} r_j x~_j every unit
of S has dL/dtheta_i = w_i g_S and dL/dw_i = theta_i . g_S, so one gd step moves all of them by one
linear map,

    u_i <- L_S u_i,    L_S = [[I, -h g_S], [-h g_S^T, 1]]                       (E = d + 2 rows),

and the moment matrix Sigma_S = sum_{i in S} u_i u_i^T by Sigma_S <- L_S Sigma_S L_S^T. Its blocks are
A_S = sum theta_i theta_i^T, M_S = sum w_i theta_i and W_S = sum w_i^2 (so M' = M - h W g - h A g +
h^2 (M . g) g, A' = A - h (M g^T + g M^T) + h^2 W g g^T, W' = W - 2h M . g + h^2 g^T A g), and the
outputs need only M: f(x_j) = c + x~_j . sum_{S on at j} M_S. Points that every group is on at
alike form a point class (on star_11 at zero bias: the 11 rays), and the outputs and the g_S are
summed class by class. An epoch thus costs O(groups x (classes + E^2)), whatever n (zero bias: a
unit's group is set by the direction of a_i; on star_11 there are 22 sectors).

The crossing test stays per unit, but a unit need not be tested every epoch (a skin, as in the
neighbour lists of molecular dynamics): the group map Phi_S, the product of the epochs' L_S since
the group's last rebase, gives every unit of S as u_i = Phi_S v_i from its base vector v_i. While a
unit keeps its group, theta' = theta - h w g_S and w' = w - h theta . g_S, so with the drift
G_S = sum_t h |g_S(t)|, its move since a test at s is bounded by

    |theta_i(t) - theta_i(s)| <= |w_i(s)| sinh(G) + |theta_i(s)| (cosh(G) - 1),   G = G_S(t) - G_S(s)

(the sums of the increments are left Riemann sums of the increasing solution of A' = |w| + B,
B' = |theta| + A). A unit tested exactly at s with margin rho_i = min_j |theta_i . x~_j| / |x~_j|
cannot have changed its pattern while that bound is below rho_i, so it is tested again only once the
drift reaches its threshold (where the bound reaches SKIN_SAFETY rho_i); He-initialised output
weights are small (|w_i| ~ (2 / n)^(1/2)), so the skin is wide. A unit near a boundary is tested
every epoch (hot), at its WATCH nearest points alone while the same bound from the next nearest
point keeps the others on their side (its reach). A unit that changes its pattern takes its u u^T
out of its group's Sigma and turns loose: it is stepped on its own, as in the torch epoch (its
outputs and g_i summed over the data points), so a kink hopping back and forth across a data point
costs O(m) an epoch and nothing more. Every COOL_EVERY epochs each loose unit is tested, and one
far enough from every point joins the group of its pattern, with base vector v_i = Phi_S^-1 u_i
there (Phi_S is a product of the invertible L_S, det L_S = 1 - h^2 |g_S|^2, rebased to I once G_S
has grown by REBASE_DRIFT, so that it stays well conditioned); a group its units have left stays
parked with its code (and Phi_S = I) until the next rebuild. Units turn loose when their code
changes and join at fixed epochs, so which units are loose, and so the round-off, does not depend
on when the skin tests. The step sizes are those of the state, fixed at initialisation
(``kinks.star.networks.initial_step_sizes``).

Round-off: the groups sum in another order than the torch epochs, so the two paths agree to
round-off, not bitwise; a first epoch differs only where a margin or the loss's distance to the
threshold is of that order (tested, and measured in docs/star.md). Every REBUILD_EVERY epochs the
groups are rebuilt from the units' vectors, none loose (with each unit's code and test bounds
carried over, except in a run's first block: the same groups either way), so a run that stops and resumes at
such an epoch repeats a straight run bitwise; a stop elsewhere keeps the parameters of the last
rebuild (``restart``) and resumes from there (``advance``). Networks are independent, so the
chunks' results do not depend on the split or on --jobs."""
import math

import numpy as np
import torch

from kinks.checks import check_choice, require
from kinks.parallel import parallel_map
from kinks.star.state import LOSS_MARGIN

ENGINES = ("auto", "compiled", "torch")
CHUNK_NETWORKS = 25   # networks per task: any split gives the same numbers, this one keeps tasks short
CHECKPOINT_EVERY = 50_000   # epochs between checkpoints: each gathers the chunks, saves the state and rebuilds
                            # every network's groups afresh (at n = 8192 every 10^4 epochs cost a third more)


# ============================================================================= the engine's choice
def compiled_applies(config, device):
    """Whether the compiled engine trains ``config`` on ``device``: one hidden layer of ReLU units
    in float64 on the CPU (gd, any data set and bias)."""
    return config.uses_relu_epoch() and config.dtype == "float64" and device.type == "cpu"


def choose_engine(engine, config, device, recorded=None):
    """The engine that trains ``config``: ``auto`` is the recorded engine of a started run, else
    compiled where it applies and torch elsewhere (deep networks, tanh, float32, a GPU). A started
    run is continued only by the engine that started it (the two agree to round-off, not bitwise);
    --engine compiled where it does not apply is refused."""
    engine = check_choice("engine", engine, ENGINES)
    if recorded is not None:
        require(engine in ("auto", recorded), f"--engine {engine}: this run was trained by the {recorded} engine "
                                              f"and continues only with it (--engine {recorded} or auto)")
        return recorded
    if engine == "auto":
        return "compiled" if compiled_applies(config, device) else "torch"
    require(engine == "torch" or compiled_applies(config, device),
            f"--engine compiled trains one hidden layer of relu units in float64 on the CPU; got layers "
            f"{config.layers}, {config.activation}, {config.dtype} on {device}")
    return engine


# ============================================================================= arrays
def unit_vectors(params):
    """The units' vectors u_i = [a_i; b_i; w_i] (P, n, E) and the output biases c (P,) of layers
    [A1 (P, d + 1, n), A2 (P, n + 1, 1)], as contiguous float64 NumPy arrays."""
    A1, A2 = (A.detach().cpu().double().numpy() for A in params)
    return np.ascontiguousarray(np.concatenate([A1.transpose(0, 2, 1), A2[:, :-1]], axis=2)), A2[:, -1, 0].copy()


def layer_params(U, c, device):
    """The inverse of ``unit_vectors``: [A1 (P, d + 1, n), A2 (P, n + 1, 1)] float64 on ``device``."""
    A1 = torch.as_tensor(U[:, :, :-1].transpose(0, 2, 1).copy())
    A2 = torch.as_tensor(np.concatenate([U[:, :, -1], c[:, None]], axis=1)[:, :, None])
    return [A1.to(device), A2.to(device)]


def pattern_words(pattern):
    """The on/off pattern bool (P, m, n) as codes (P, n, W) uint64, bit j of word j // 64 set where
    the unit is on at point j (the compiled loops' codes): the bits packed eight to a byte, lowest
    point first, and the bytes read as little-endian words (once per checkpoint: at n = 8192 the
    pattern holds 2.7 x 10^5 bits per network)."""
    on = pattern.cpu().numpy().transpose(0, 2, 1)                 # (P, n, m)
    P, n, m = on.shape
    packed = np.zeros((P, n, 8 * math.ceil(m / 64)), dtype=np.uint8)
    packed[:, :, :math.ceil(m / 8)] = np.packbits(on, axis=2, bitorder="little")
    return packed.view("<u8")


def data_arrays(config):
    """x~ = [X, 1] (m, D), y (m,) and 1 / |x~_j| (m,) of the data of ``config`` (a data set or
    one's own: ``StarConfig.training_data``)."""
    X, y, _ = config.training_data()
    X1 = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    return X1, y, 1.0 / np.linalg.norm(X1, axis=1)


# ============================================================================= chunks
def train_chunk(task):
    """Train one chunk of networks from epoch t0 to t1 in one compiled call (a worker's task):
    ``task`` holds the chunk's start k0, U, c, p, h, codes, thresholds, first epochs, t0, t1,
    log_every, the data's arrays X1, y, inv_norm (``data_arrays``) and ``every``. Returns the task
    with U, c, first updated (copies: a worker may receive them as read-only memory maps, as joblib
    passes arrays over 1 MB) and logs (rows, P_chunk), last_loss, U_grid, c_grid added."""
    from kinks.star.compiled import train_networks   # numba only where the engine runs

    X1, y, inv_norm = task["X1"], task["y"], task["inv_norm"]
    P = len(task["c"])
    rows = len(range(-(-task["t0"] // task["log_every"]) * task["log_every"], task["t1"], task["log_every"]))
    out = dict(task, U=np.array(task["U"]), c=np.array(task["c"]), first=np.array(task["first"]),
               logs=np.full((rows, P), np.nan), last_loss=np.full(P, np.nan), U_grid=np.empty_like(task["U"]),
               c_grid=np.empty(P))
    train_networks(out["U"], out["c"], X1, y, task["p"], task["h"], inv_norm, task["codes"], task["threshold"],
                   task["t0"], task["t1"], task["log_every"], LOSS_MARGIN, task["every"], out["first"], out["logs"],
                   out["last_loss"], out["U_grid"], out["c_grid"], task["blocks"], X1.shape[1])
    return out


def chunk_tasks(state, start, params, epochs, log_every, every, blocks="auto"):
    """The tasks that train every network of ``state`` from epoch ``start`` (parameters ``params``)
    to ``epochs``, CHUNK_NETWORKS networks each, every task with the data's arrays."""
    X1, y, inv_norm = data_arrays(state.config)
    U, c = unit_vectors(params)
    codes = pattern_words(state.initial_pattern)
    as_numpy = lambda tensor: tensor.detach().cpu().double().numpy()  # noqa: E731
    p, h, threshold = as_numpy(state.p), as_numpy(state.step_size), as_numpy(state.threshold)
    first = np.stack([state.kink_epoch.cpu().numpy(), state.loss_epoch.cpu().numpy(),
                      state.nan_epoch.cpu().numpy()], axis=1).astype(np.int64)
    return [dict(k0=k0, U=U[k0:k0 + CHUNK_NETWORKS].copy(), c=c[k0:k0 + CHUNK_NETWORKS].copy(),
                 p=p[k0:k0 + CHUNK_NETWORKS], h=h[k0:k0 + CHUNK_NETWORKS], codes=codes[k0:k0 + CHUNK_NETWORKS],
                 threshold=threshold[k0:k0 + CHUNK_NETWORKS], first=first[k0:k0 + CHUNK_NETWORKS].copy(),
                 t0=start, t1=epochs, log_every=log_every, X1=X1, y=y, inv_norm=inv_norm, every=every, blocks=blocks)
            for k0 in range(0, len(c), CHUNK_NETWORKS)]


def gathered(results, key):
    """The chunks' arrays ``key`` joined along the network axis (the last axis for logs)."""
    results = sorted(results, key=lambda result: result["k0"])
    return np.concatenate([result[key] for result in results], axis=1 if key == "logs" else 0)


# ============================================================================= advancing a state
def advance(state, epochs, log_every=1000, jobs=1, backend="loky", scheduler=None, every=False, blocks="auto"):
    """Continue gd of ``state`` (a compiled-engine state) from ``state.epoch`` to ``epochs`` in
    chunks over ``jobs`` workers, recording as the torch epochs do: the first epochs, the log rows
    of the epochs t % log_every == 0, the last loss, the parameters. It starts from the state's
    ``restart`` (the parameters of the last rebuild) where the state stopped between rebuilds,
    re-running the epochs up to ``state.epoch`` without recording them twice, so that any stop
    repeats a straight run. ``every``: test every unit every epoch (the skin's reference)."""
    from kinks.star.compiled import REBUILD_EVERY

    start, params = (state.restart["epoch"], state.restart["params"]) if state.restart else (state.epoch, state.params)
    results = list(parallel_map(train_chunk, chunk_tasks(state, start, params, epochs, log_every, every, blocks), jobs,
                                "chunks", backend, scheduler))
    device = state.params[0].device
    first = torch.as_tensor(gathered(results, "first"), device=device)
    state.kink_epoch, state.loss_epoch, state.nan_epoch = first[:, 0], first[:, 1], first[:, 2]
    logs = gathered(results, "logs")
    for row, t in enumerate(range(-(-start // log_every) * log_every, epochs, log_every)):
        if t >= state.epoch:
            state.log = torch.cat([state.log, state.log_row(t, torch.as_tensor(logs[row], device=device))[None]])
    state.params = layer_params(gathered(results, "U"), gathered(results, "c"), device)
    state.loss = torch.as_tensor(gathered(results, "last_loss"), device=device)
    state.epoch = epochs
    state.restart = None if epochs % REBUILD_EVERY == 0 else dict(
        epoch=epochs // REBUILD_EVERY * REBUILD_EVERY,
        params=layer_params(gathered(results, "U_grid"), gathered(results, "c_grid"), device))
    return state


def train_compiled(state, epochs, log_every=1000, checkpoint=None, checkpoint_every=CHECKPOINT_EVERY, jobs=1,
                   backend="loky", scheduler=None):
    """Continue ``state`` to ``epochs`` by ``advance``, stopping at every multiple of
    ``checkpoint_every`` and at the end to call ``checkpoint(state)``, where the torch loop
    (``kinks.star.training.train_epochs``) checkpoints too. Returns the state."""
    while state.epoch < epochs:
        advance(state, min(epochs, (state.epoch // checkpoint_every + 1) * checkpoint_every), log_every, jobs,
                backend, scheduler)
        if checkpoint is not None:
            checkpoint(state)
    return state
