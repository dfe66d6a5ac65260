"""Training traces of the 1-D study: the landscape metrics of every network at log-spaced epochs of
its training (the trace), the trace study's configuration and chunks (run by ``kinks.mc.runner``),
pooling the chunks, and the two summaries: how often the sharpness lambda_max(H) exceeds 2/h
(the edge of stability), at smooth states and at states with a kink on a data point apart, and
how early a metric separates networks that will cross from those that stay put (the AUC per
metric and epoch). Shapes: P networks of width n, m data points, T traced epochs,
theta = (a, b, w, c) of dimension 3n + 1."""
from pathlib import Path

import numpy as np

from kinks.checks import check_choice, check_int, require
from kinks.mc.data import ActivityPatterns, DataSet, loss_gradient, network_output
from kinks.mc.engines import DenseTrainer
from kinks.mc.optimizers import OPTIMIZERS, MinibatchDraws, batch_of, minibatch_cuts
from kinks.mc.runner import finished_chunks, pending_tasks, read_manifest
from kinks.mc.study import STEPS, cell_settings, chunk_seed, complete_config
from kinks.mc.training import draw_problems
from kinks.minima.hessian import KINK_TOLERANCE, SIDE_RANGES, HessianStructure, kinks_on_points_summary
from kinks.samples import SampleRule
from kinks.stats import mean_interval

TRACE_DEFAULTS = dict(offsets=[0.0], widths=[16, 64, 256], runs=200, epochs=100_000, per_decade=50,
                      chunk_size=100)
TOP = 3  # Hessian eigenvalues and eigenvectors traced
KINK_METRICS = ("kinks_on_points", "kink_margin", *SIDE_RANGES)  # absent from traces written before them


# ============================================================================ the traced epochs
def trace_epochs(epochs, per_decade):
    """The traced epochs: 0, round(10^(k / per_decade)) for k = 0, 1, ... up to ``epochs``, and
    ``epochs`` itself, without repeats (about ``per_decade`` per decade once they are distinct),
    increasing, int64."""
    exponents = np.arange(int(np.floor(per_decade * np.log10(epochs))) + 1) / per_decade
    return np.unique(np.concatenate([[0], np.round(10.0**exponents), [epochs]]).astype(np.int64))


# ============================================================================ the metrics at one state
def unit_slopes(a, b, x, leak):
    """s_ij = sigma'(a_i x_j + b_i) (1 where unit i is active at x_j, alpha = ``leak`` where not),
    (P, n, m), from the activity patterns (the slopes the Hessian uses)."""
    patterns = ActivityPatterns(x, leak)
    return patterns.B[patterns.codes(a, b) % patterns.n_codes]


def jacobian_gram(a, b, w, x, leak):
    """K = J J^T (P, m, m), J_j = grad_theta f(x_j): with z_ij = a_i x_j + b_i and s_ij its slope,
    K_jk = sum_i s_ij s_ik (w_i^2 (x_j x_k + 1) + z_ij z_ik) + 1."""
    s = unit_slopes(a, b, x, leak)  # (P, n, m)
    z = a[:, :, None] * x + b[:, :, None]
    ws = w[:, :, None] * s
    K = np.einsum("pij,pik->pjk", ws, ws) * (np.outer(x, x) + 1.0)
    return K + np.einsum("pij,pik->pjk", s * z, s * z) + 1.0


def gradient_covariance_eigenvalues(a, b, c, w, x, y, p, leak):
    """The nonzero eigenvalues of the covariance of the per-sample gradients over the data weights
    p, descending, (P, m - 1).

    Per-sample gradient g_j = r_j J_j with r_j = f(x_j) - y_j (the gradient of
    1/2 (f(x_j) - y_j)^2); mean sum_j p_j g_j = grad L; C = sum_j p_j (g_j - grad L)(g_j - grad L)^T
    = G^T (diag p - p p^T) G (G the rows g_j, (m, 3n + 1)). With u = sqrt(p) (|u| = 1) and the
    projector Pi = I - u u^T, diag p - p p^T = D Pi Pi D (D = diag sqrt p), so C has rank at most
    m - 1 and its nonzero eigenvalues are those of the m x m matrix Pi D diag(r) K diag(r) D Pi
    (K = J J^T, ``jacobian_gram``), whose remaining eigenvalue (eigenvector u) is 0."""
    r = network_output(a, b, c, w, x, leak) - y  # (P, m)
    u = np.sqrt(p)
    Pi = np.eye(len(x)) - u[:, :, None] * u[:, None, :]  # (P, m, m)
    F = Pi * (u * r)[:, None, :]  # Pi D diag(r)
    values = np.linalg.eigvalsh(F @ jacobian_gram(a, b, w, x, leak) @ np.swapaxes(F, 1, 2))
    return values[:, :0:-1]  # the m - 1 largest, descending


def cosine(u, v):
    """u . v / (|u| |v|) along the last axis (0 where either is 0)."""
    norms = np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1)
    return np.einsum("...i,...i->...", u, v) / np.where(norms > 0, norms, 1.0)


def hessian_metrics(a, b, c, w, x, y, p, gradient, leak):
    """Per network, from the structured spectrum (``HessianStructure``, each unit active where
    a_i x_j + b_i > 0 in floating point, the side round-off puts a kink on a point on): the TOP
    largest eigenvalues of H descending (P, TOP), lambda_min (P,), and |cos(grad L, v_k)| with
    their eigenvectors v_k (P, TOP; the sign of v_k is arbitrary). A network with non-finite
    parameters gets nan."""
    P = len(a)
    top, low, cosines = np.full((P, TOP), np.nan), np.full(P, np.nan), np.full((P, TOP), np.nan)
    for k in range(P):
        if not (np.all(np.isfinite(gradient[k])) and np.all(np.isfinite(a[k]))):
            continue
        values, vectors = HessianStructure(a[k], b[k], c[k], w[k], x, y, p[k], leak).spectrum(TOP)
        top[k], low[k] = values[::-1][:TOP], values[0]
        cosines[k] = np.abs(cosine(gradient[k], vectors.T))
    return top, low, cosines


def kink_metrics(a, b, c, w, x, y, p, leak, tolerance, top, low):
    """The kinks on points of P networks (``kinks_on_points_summary`` of each, given its traced
    lambda_max ``top`` and lambda_min ``low`` (P,)): kinks_on_points, the units whose kink lies within
    ``tolerance`` (relative to max |x_j|) of a data point, kink_margin, the smallest relative
    distance of a kink from a data point, and SIDE_RANGES, the range of lambda_max(H) and
    lambda_min(H) over the sides of those kinks: a dict of (P,) arrays."""
    summaries = [kinks_on_points_summary(a[k], b[k], c[k], w[k], x, y, p[k], leak, low[k], top[k], tolerance)
                 for k in range(len(a))]
    return {name: np.array([summary[name] for summary in summaries]) for name in KINK_METRICS}


def flat_thetas(a, b, c, w):
    """theta = (a, b, w, c) of P networks, (P, 3n + 1)."""
    return np.concatenate([a, b, w, c[:, None]], axis=1)


def state_metrics(params, initial, x, y, p, pi, h, leak=0.0, tolerance=KINK_TOLERANCE):
    """The trace's metrics of P networks at one state ``params`` = (a, b, c, w) with initial state
    ``initial`` (the same form), data weights p (P, m), data distribution pi (m,), step sizes h
    (P,): a dict of (P,) arrays (and (P, k) for the spectra).

    loss L = 1/2 sum_j p_j r_j^2 (train), risk R = 1/2 sum_j pi_j r_j^2 (test: the population
    risk), grad_norm |grad L|, hessian_top (the TOP largest eigenvalues of H), hessian_min,
    sharpness lambda_max(H) h (the edge of stability is 2), grad_cosine |cos(grad L, v_k)|,
    covariance (the m - 1 nonzero eigenvalues of the gradient covariance), weight_norm |theta|,
    init_cosine cos(theta, theta_0), init_distance |theta - theta_0|; and the kinks on points of
    ``kink_metrics``: kinks_on_points, kink_margin, lambda_max_low, lambda_max_high,
    lambda_min_low, lambda_min_high."""
    a, b, c, w = params
    ga, gb, gc, gw, loss = loss_gradient(a, b, c, w, x, y, p, ActivityPatterns(x, leak))
    gradient = flat_thetas(ga, gb, gc, gw)
    theta, theta0 = flat_thetas(a, b, c, w), flat_thetas(*initial)
    r = network_output(a, b, c, w, x, leak) - y
    top, low, cosines = hessian_metrics(a, b, c, w, x, y, p, gradient, leak)
    return dict(loss=loss, risk=0.5 * (r**2) @ pi, grad_norm=np.linalg.norm(gradient, axis=1), hessian_top=top,
                hessian_min=low, sharpness=top[:, 0] * h, grad_cosine=cosines,
                covariance=gradient_covariance_eigenvalues(a, b, c, w, x, y, p, leak),
                weight_norm=np.linalg.norm(theta, axis=1), init_cosine=cosine(theta, theta0),
                init_distance=np.linalg.norm(theta - theta0, axis=1),
                **kink_metrics(a, b, c, w, x, y, p, leak, tolerance, top[:, 0], low))


# ============================================================================ the trace study
def trace_config(offsets, widths, runs, seed, optimizer, step, epochs, per_decade, chunk_size, data=None,
                 probs=None, leak=0.0, samples=SampleRule.DEFAULT):
    """The validated configuration of a trace run (a plain dict, recorded in run.json; the chunk
    machinery of ``kinks.mc.runner`` carries it out), with the kink tolerance its kinks on points
    are found with (run folders written before they were recorded have none)."""
    shared = cell_settings(offsets, widths, runs, seed, chunk_size, data, probs, leak, samples)
    optimizer, step = check_choice("optimizer", optimizer, OPTIMIZERS), check_choice("step", step, STEPS)
    epochs, per_decade = check_int("epochs", epochs), check_int("per_decade", per_decade)
    return complete_config(dict(kind="trace", optimizer=optimizer, init="he", step=step, epochs=epochs,
                                per_decade=per_decade, kink_tolerance=KINK_TOLERANCE, **shared))


def trace_problems(config, offset, width, chunk, runs):
    """The chunk's generator and problems: (rng, x, y, p, (a, b, c, w), h), drawn as
    ``kinks.mc.training.draw_problems`` draws them from the chunk's seed (the networks of an
    ``mc_training.py run`` or ``mc_minima.py risk`` chunk of the same seed, cell, index and size)."""
    rng = np.random.default_rng(chunk_seed(config, offset, width, chunk))
    x, y, p, _, init, h = draw_problems(rng, runs, width, offset, "he", config["step"],
                                        DataSet.from_config(config), config["leak"], SampleRule(config["samples"]))
    return rng, x, y, p, init, h


def simulate_trace_chunk(config, offset, width, chunk, runs):
    """One chunk of the trace study: its networks trained by the dense engine (exact for every
    optimizer, never stopping at a crossing) for ``epochs`` epochs, the metrics of
    ``state_metrics`` recorded at every traced epoch. Returns the runner's arrays (status CROSSED,
    DIVERGED or UNFINISHED: never crossed; stop_epoch; first_cross_epoch, -1 never; step_size)
    and one (runs, T[, k]) array per metric."""
    config = complete_config(config)
    rng, x, y, p, init, h = trace_problems(config, offset, width, chunk, runs)
    pi, epochs = np.array(config["probs"]), trace_epochs(config["epochs"], config["per_decade"])
    trainer = DenseTrainer(*init, x, y, h, config["optimizer"], leak=config["leak"])
    p_t = np.ascontiguousarray(p.T)
    cuts = minibatch_cuts(p_t)
    draws = MinibatchDraws(batch_of(config["optimizer"], config["batch_size"]), rng)
    crossed, first_cross = np.zeros(runs, dtype=bool), np.full(runs, -1, dtype=np.int64)
    traces = {}
    for k, epoch in enumerate(epochs):
        if k:
            first = trainer.advance(int(epoch - epochs[k - 1]), p_t, cuts, draws, crossed)
            first_cross[first >= 0] = epochs[k - 1] + first[first >= 0]
        with np.errstate(all="ignore"):
            metrics = state_metrics(trainer.params(), init, x, y, p, pi, h, config["leak"],
                                    config["kink_tolerance"])
        for name, value in metrics.items():
            traces.setdefault(name, np.zeros((runs, len(epochs)) + value.shape[1:], value.dtype))[:, k] = value
    status = np.where(crossed, "CROSSED", "UNFINISHED").astype("<U17")
    status[~trainer.finite()] = "DIVERGED"
    return dict(status=status, stop_epoch=np.full(runs, config["epochs"], dtype=np.int64),
                first_cross_epoch=first_cross, step_size=h, **traces)


def recorded_config(run_dir, config):
    """The configuration to carry out in ``run_dir``: ``config``, or, where the folder holds the
    same trace written before kinks on points were recorded (its run.json without a kink
    tolerance) with every chunk finished, the folder's own, so that it is reported as it was
    written (without kinks on points). Such a folder with chunks left to compute is refused in
    one line: its chunks and new ones would not hold the same metrics. A folder of another study
    is left to ``prepare_run_dir``, which refuses it naming the differences."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        return config
    old = complete_config(read_manifest(path)["config"])
    if "kink_tolerance" in old or old != {key: value for key, value in config.items() if key != "kink_tolerance"}:
        return config
    pending = len(pending_tasks(run_dir, old, announce=False))
    require(not pending, f"--out: {run_dir} holds this trace written before kinks on points were recorded, with "
                         f"{pending} chunks unfinished; new chunks would not mix with its old ones: finish it "
                         f"with the version that started it, or use another --out")
    return old


METRICS = ("loss", "risk", "grad_norm", "hessian_top", "hessian_min", "sharpness", "grad_cosine", "covariance",
           "weight_norm", "init_cosine", "init_distance")


def load_traces(run_dir, config):
    """The finished chunks pooled over every cell: a dict of arrays over all networks, offset,
    width, network (index in its cell), status, first_cross_epoch, step_size (N,) and the metrics
    (N, T[, k]), with KINK_METRICS where the configuration has a kink tolerance (every chunk of it
    recorded them); with ``epochs`` (T,)."""
    names = ("status", "first_cross_epoch", "step_size", *METRICS, *(KINK_METRICS if "kink_tolerance" in config
                                                                      else ()))
    parts = []
    for task, arrays in finished_chunks(run_dir, config):
        start = task["chunk"] * config["chunk_sizes"][config["widths"].index(task["width"])]
        runs = len(arrays["status"])
        parts.append(dict(offset=np.full(runs, task["offset"]), width=np.full(runs, task["width"]),
                          network=start + np.arange(runs), **{k: arrays[k] for k in names}))
    pooled = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]} if parts else {}
    pooled["epochs"] = trace_epochs(config["epochs"], config["per_decade"])
    return pooled


def kinks_recorded(pooled):
    """Whether pooled traces hold their kinks on points (traces written from 6 December 2026 on)."""
    return "kinks_on_points" in pooled


TRACE_COLUMNS = ["offset", "width", "network", "status", "first_cross_epoch", "step_size", "epoch", "crossed",
                 "loss", "risk", "grad_norm", *[f"hessian_top_{k + 1}" for k in range(TOP)], "hessian_min",
                 "sharpness", *[f"grad_cosine_{k + 1}" for k in range(TOP)], "weight_norm", "init_cosine",
                 "init_distance"]


def trace_rows(pooled):
    """The wide CSV's rows: one per (network, traced epoch), crossed meaning crossed by that
    epoch, the k-th of a spectrum as metric_k; covariance_1 ... covariance_{m-1} appended, then
    the kinks on points where recorded."""
    rows = []
    epochs = pooled["epochs"]
    names = METRICS + (KINK_METRICS if kinks_recorded(pooled) else ())
    for i in range(len(pooled["status"])):
        cross = pooled["first_cross_epoch"][i]
        for t, epoch in enumerate(epochs):
            row = {key: pooled[key][i] for key in ("offset", "width", "network", "status", "first_cross_epoch",
                                                     "step_size")}
            row.update(epoch=int(epoch), crossed=bool(0 <= cross <= epoch))
            for name in names:
                value = pooled[name][i, t]
                if np.ndim(value):
                    row.update({f"{name}_{k + 1}": v for k, v in enumerate(value)})
                else:
                    row[name] = value
            rows.append(row)
    return rows


def trace_columns(pooled):
    """TRACE_COLUMNS, the covariance eigenvalues' columns (m - 1 of them) and KINK_METRICS where
    recorded."""
    return TRACE_COLUMNS + [f"covariance_{k + 1}" for k in range(pooled["covariance"].shape[-1])] \
        + list(KINK_METRICS if kinks_recorded(pooled) else ())


# ============================================================================ summaries
def cells(pooled):
    """The (offset, width) cells of pooled traces with their networks' indices, sorted."""
    keys = sorted(set(zip(pooled["offset"].tolist(), pooled["width"].tolist())))
    return [(offset, width, np.flatnonzero((pooled["offset"] == offset) & (pooled["width"] == width)))
            for offset, width in keys]


GROUPS = (("stayed", lambda status: status != "CROSSED"), ("crossed", lambda status: status == "CROSSED"))


def state_kinds(pooled):
    """[(name, mask (N, T))]: every traced state ('all') and, where the kinks on points are
    recorded, the smooth states (no kink on a point: L is twice differentiable there) and the
    kink-on-point states (some kink on a point: the traced Hessian is that of one side)."""
    kinds = [("all", np.ones(pooled["sharpness"].shape, dtype=bool))]
    if kinks_recorded(pooled):
        kinds += [("smooth", pooled["kinks_on_points"] == 0), ("kink_on_point", pooled["kinks_on_points"] > 0)]
    return kinds


def states_row(pooled, chosen, kind, before, span):
    """The sharpness summary of the states ``kind`` (N, T) of the networks ``chosen``; ``before``
    (k, T) marks the states before each one's first crossing, ``span`` (T,) the epochs each
    traced epoch stands for. Shares are of all T traced epochs of a network, so that those of
    the smooth and the kink-on-point states add up to those of all states."""
    kind, sharpness = kind[chosen], pooled["sharpness"][chosen]  # (k, T)
    above = kind & (sharpness > 2.0)
    mean, low, high = mean_interval(above.mean(1))
    having = kind.any(1)
    values = np.where(kind, sharpness, np.nan)
    row = dict(networks=len(chosen), networks_with_states=int(having.sum()), traced_states=int(kind.sum()),
               states_fraction=float(kind.mean()) if len(chosen) else np.nan, epochs_above=int(above.sum()),
               fraction_above=mean, ci_low=low, ci_high=high,
               time_fraction_above=float(np.mean(above @ span / span.sum())) if len(chosen) else np.nan,
               networks_ever_above=int(above.any(1).sum()),
               median_max_sharpness=float(np.median(np.nanmax(values[having], 1))) if having.any() else np.nan,
               epochs_above_before_crossing=int((above & before).sum()),
               max_sharpness_before_crossing=float(np.nanmax(values[before], initial=-np.inf)))
    if kinks_recorded(pooled):  # lambda_max(H) h on every side of the kinks on points, and on some side
        h = pooled["step_size"][chosen][:, None]
        row.update(epochs_above_every_side=int((kind & (pooled["lambda_max_low"][chosen] * h > 2.0)).sum()),
                   epochs_above_some_side=int((kind & (pooled["lambda_max_high"][chosen] * h > 2.0)).sum()))
    return row


def sharpness_rows(pooled):
    """Per cell, group (stayed put: never crossed, crossed within the trace) and kind of state
    (all; and where recorded smooth and kink_on_point, ``state_kinds``): networks, those with
    such states and their count and share, the traced epochs of that kind with lambda_max(H) > 2/h
    (as a count, and per network as a share of its traced epochs, the mean over networks with a
    95 % t interval), the same share weighted by the epochs each traced epoch stands for (the
    epochs up to the next one: training time, not log time), the networks ever above 2/h there
    and the median of their largest lambda_max(H) h; before each network's first crossing only
    (all epochs of one that stayed put), the traced epochs above 2/h and the largest
    lambda_max(H) h; where recorded, the traced epochs above 2/h on every side of their kinks on
    points and on some side. Diverged networks are left out."""
    epochs = pooled["epochs"]
    span = np.diff(epochs, append=epochs[-1] + 1).astype(float)
    rows = []
    for offset, width, members in cells(pooled):
        for group, belongs in GROUPS:
            chosen = members[belongs(pooled["status"][members]) & (pooled["status"][members] != "DIVERGED")]
            cross = pooled["first_cross_epoch"][chosen]
            before = (cross[:, None] < 0) | (epochs < cross[:, None])  # (k, T)
            rows += [dict(offset=offset, width=width, group=group, states=states,
                          **states_row(pooled, chosen, kind, before, span)) for states, kind in state_kinds(pooled)]
    return rows


def auc(positives, negatives):
    """The AUC of a score separating ``positives`` (k1,) from ``negatives`` (k0,): the share of
    pairs with the positive scored higher, ties counting 1/2, A = P(X1 > X0) + P(X1 = X0)/2
    (Mann-Whitney U / (k1 k0)), counted by binary search in the sorted negatives; with the
    Hanley-McNeil 95 % interval A +- 1.96 SE, SE^2 = (A(1 - A) + (k1 - 1)(Q1 - A^2)
    + (k0 - 1)(Q2 - A^2)) / (k1 k0), Q1 = A / (2 - A), Q2 = 2 A^2 / (1 + A), clipped to [0, 1]."""
    k1, k0 = len(positives), len(negatives)
    ordered = np.sort(negatives)
    below, not_above = np.searchsorted(ordered, positives, "left"), np.searchsorted(ordered, positives, "right")
    A = (below.sum() + 0.5 * (not_above - below).sum()) / (k1 * k0)
    q1, q2 = A / (2 - A), 2 * A * A / (1 + A)
    se = np.sqrt(max(A * (1 - A) + (k1 - 1) * (q1 - A * A) + (k0 - 1) * (q2 - A * A), 0.0) / (k1 * k0))
    return float(A), float(max(A - 1.96 * se, 0.0)), float(min(A + 1.96 * se, 1.0))


AUC_METRICS = {"loss": ("loss", None), "risk": ("risk", None), "grad_norm": ("grad_norm", None),
               "sharpness": ("sharpness", None), "hessian_min": ("hessian_min", None),
               "grad_cosine_1": ("grad_cosine", 0), "covariance_1": ("covariance", 0),
               "weight_norm": ("weight_norm", None), "init_cosine": ("init_cosine", None),
               "init_distance": ("init_distance", None)}
MIN_GROUP = 5  # networks each group needs at an epoch for an AUC


def metric_values(pooled, name):
    """The (N, T) values of the scalar metric ``name`` of AUC_METRICS."""
    key, k = AUC_METRICS[name]
    return pooled[key] if k is None else pooled[key][..., k]


def auc_rows(pooled):
    """Per cell, metric and traced epoch t: the AUC of the metric at t as a classifier of 'will
    cross' among the networks not crossed by t (will cross: crossed after t; stays put: never
    crossed), as oriented (larger means will cross) and as the separation max(A, 1 - A), with the
    interval and both group sizes; epochs where a group has fewer than MIN_GROUP networks are left out."""
    rows = []
    for offset, width, members in cells(pooled):
        cross = pooled["first_cross_epoch"][members]
        finite = pooled["status"][members] != "DIVERGED"
        for t, epoch in enumerate(pooled["epochs"]):
            later, never = finite & (cross > epoch), finite & (cross < 0)
            if later.sum() < MIN_GROUP or never.sum() < MIN_GROUP:
                continue
            for name in AUC_METRICS:
                values = metric_values(pooled, name)[members, t]
                A, low, high = auc(values[later], values[never])
                rows.append(dict(offset=offset, width=width, metric=name, epoch=int(epoch), auc=A, ci_low=low,
                                 ci_high=high, separation=max(A, 1 - A), will_cross=int(later.sum()),
                                 stays=int(never.sum())))
    return rows


def earliest_separation(rows, level=0.9):
    """Per cell, the earliest epoch at which some metric separates the groups with AUC >= level
    (either way round): {(offset, width): row or None}."""
    found = {}
    for row in rows:
        key = (row["offset"], row["width"])
        best = found.get(key)
        if row["separation"] >= level and (best is None or row["epoch"] < best["epoch"]):
            found[key] = row
        else:
            found.setdefault(key, None)
    return found
