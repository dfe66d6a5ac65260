"""What gradient descent finds: every network trained to a stationary point ||grad L|| < tol
without stopping at a crossing (reduced engine until a kink reaches a data point, dense engine
after), the side-wise linear regression that networks which stay put end at (L_lin, R_lin), the
population risk R under pi, the risk study's configuration, chunks, table; the problems of the
diagnose samples and of the two example networks."""
import copy

import numpy as np

from kinks.checks import check_float, check_int, require
from kinks.mc.data import DataSet, init_params, loss_gradient
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.mc.runner import finished_chunks
from kinks.mc.study import cell_settings, chunk_seed, complete_config
from kinks.mc.theory import certificate_applies, theory_step_size
from kinks.mc.training import check_stops, draw_problems
from kinks.samples import SampleRule
from kinks.stats import mean_interval

RISK_DEFAULTS = dict(offsets=[0.0, 0.1], widths=[2**k for k in range(4, 11)], runs=500, seed=0,
                     tol=1e-8, epochs_per_check=1000, max_epochs=1_000_000, chunk_size=100)


# ============================================================================ side-wise linear regression
def side_fits(x, y, p):
    """The weighted least-squares line on each side of 0: for s in (+, -) the (slope_s, intercept_s)
    minimising sum_{j in s} p_j (slope x_j + intercept - y_j)^2, with the floor's value. A side whose
    weight sits on one x (or none) is fitted by the constant weighted mean (the line through it is
    not unique; every such line has the same loss).

    slope = S_xy / S_xx, intercept = ybar - slope xbar with weighted means xbar, ybar and centred sums
    S_xx = sum p (x - xbar)^2, S_xy = sum p (x - xbar)(y - ybar), S_yy; the side's minimum is
    1/2 (S_yy - S_xy^2 / S_xx). Returns slopes, intercepts (P, 2) and L_lin = the sum of both
    sides' minima (P,); x, y (m,), p (P, m)."""
    slopes, intercepts, floor = [], [], 0.0
    for side in (x > 0, x < 0):
        ps, xs, ys = p[:, side], x[side], y[side]
        weight = np.maximum(ps.sum(1), np.finfo(float).tiny)
        xbar, ybar = ps @ xs / weight, ps @ ys / weight
        dx, dy = xs - xbar[:, None], ys - ybar[:, None]
        sxx, sxy, syy = (ps * dx * dx).sum(1), (ps * dx * dy).sum(1), (ps * dy * dy).sum(1)
        slope = np.where(sxx > 1e-14 * weight, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        slopes.append(slope)
        intercepts.append(ybar - slope * xbar)
        floor = floor + 0.5 * np.maximum(syy - slope * sxy, 0.0)  # >= 0, also after round-off
    return np.stack(slopes, 1), np.stack(intercepts, 1), floor


def side_fit_outputs(x, slopes, intercepts):
    """g(x_j) of the side-wise lines (slope, intercept (P, 2), side 0 is +): (P, m)."""
    side = (x < 0).astype(int)
    return slopes[:, side] * x + intercepts[:, side]


def population_risk(outputs, y, pi):
    """R = 1/2 sum_j pi_j (f(x_j) - y_j)^2 under the data distribution pi (m,); outputs (P, m)."""
    return 0.5 * ((outputs - y) ** 2) @ pi


def population_linear_risk(data, offset):
    """R_lin = L_lin with p = pi: the risk of the best function affine on each side of 0 for the
    DataSet ``data`` with targets y + offset."""
    return float(side_fits(data.x, data.y + offset, data.probs[None])[2][0])


# ============================================================================ training to stationarity
def reduced_gradient_norm(trainer, p, leak=0.0):
    """||grad L|| of networks on the reduced engine, O(1) each. A unit of side s has slope
    sigma'_s(x_j) = 1 at the points of sign s and alpha = ``leak`` at the others; with
    r_j = p_j (f(x_j) - y_j) and G_s = sum_j r_j sigma'_s(x_j) (x_j, 1), every unit of side s has
    dL/d(a_i, b_i) = w_i G_s and dL/dw_i = (a_i, b_i) . G_s, so
    ||grad L||^2 = sum_s (|G_s|^2 Sigma_s[w, w] + G_s^T Sigma_s[ab, ab] G_s) + (sum_j r_j)^2."""
    x = trainer.x
    r = p * (trainer.outputs() - trainer.y)  # (P, m)
    sigma = trainer.moments()  # (P, 2, 3, 3)
    slopes = np.stack([np.where(x > 0, 1.0, leak), np.where(x < 0, 1.0, leak)])  # (sides, m)
    weighted = r[:, None, :] * slopes  # (P, sides, m)
    G = np.stack([weighted @ x, weighted.sum(2)], -1)  # (P, sides, 2)
    squares = (G**2).sum(2) * sigma[:, :, 2, 2] + np.einsum("psi,psij,psj->ps", G, sigma[:, :, :2, :2], G)
    return np.sqrt(np.maximum(squares.sum(1), 0.0) + r.sum(1) ** 2)


def dense_gradient_norm(trainer, p):
    """||grad L|| of networks on the dense engine, from ``kinks.mc.data.loss_gradient``."""
    ga, gb, gc, gw, _ = loss_gradient(*trainer.params(), trainer.x, trainer.y, p, trainer.patterns)
    return np.sqrt((ga**2).sum(1) + (gb**2).sum(1) + (gw**2).sum(1) + gc**2)


class StationaryTraining:
    """gd of P networks (relu, or leaky relu with slope ``leak`` below 0), run in blocks of epochs
    (``advance``) between checks, never stopping at a crossing.

    Invariant: network k is on the reduced engine while none of its kinks has reached a data point,
    where that engine is exact, and from the epoch after which one did on, it is on the dense
    engine, which it entered with exactly its parameters after that epoch and the signs of its
    initial a_i. Index arrays ``on_reduced``, ``on_dense`` map the engines' rows to the chunk's
    networks. ``epoch`` counts the epochs run."""

    def __init__(self, x, y, p, a, b, c, w, h, leak=0.0):
        self.x, self.y, self.p, self.h, self.leak = x, y, p, h, leak
        P = len(h)
        self.reduced = ReducedTrainer(a, b, c, w, x, y, h, "gd", leak=leak)
        self.on_reduced, self.on_dense = np.arange(P), np.arange(0)
        self.dense = None
        self.first_cross = np.full(P, -1, dtype=np.int64)
        self.status = np.full(P, "UNFINISHED", dtype="<U17")
        self.epoch = 0
        self._weights()

    def _weights(self):
        """The data weights of each engine's networks, data-major (m, networks), as the engines take them."""
        self.p_reduced = np.ascontiguousarray(self.p[self.on_reduced].T)  # (m, P_reduced)
        self.p_dense = np.ascontiguousarray(self.p[self.on_dense].T)

    def _join_dense(self, trainer, networks):
        """Append the dense ``trainer`` holding ``networks`` (chunk indices) to the dense engine
        (gd keeps no optimiser state besides the parameters)."""
        if self.dense is not None:
            params = [np.concatenate(pair) for pair in zip(self.dense.params(), trainer.params())]
            trainer = DenseTrainer(*params, self.x, self.y, np.concatenate([self.dense.h, trainer.h]), "gd",
                                   sign_a0=np.concatenate([self.dense.sign_a0, trainer.sign_a0]), leak=self.leak)
        self.dense = trainer
        self.on_dense = np.concatenate([self.on_dense, networks])

    def _hand_over(self, replay, networks, first, epochs):
        """Move ``networks`` (chunk indices), which crossed after epoch ``first`` (1 ... epochs)
        of this block, to the dense engine: ``replay`` holds them on the reduced engine at the
        block start; in increasing order of t it runs them up to epoch t, and those that crossed
        after epoch t go to a dense engine of their own that runs the remaining epochs - t."""
        self.first_cross[networks] = self.epoch + first
        self.status[networks] = "CROSSED"
        done = 0
        for t in np.unique(first):
            p_t = np.ascontiguousarray(self.p[networks].T)
            replay.advance(t - done, p_t, None, None, np.zeros(len(networks), dtype=bool))
            done = t
            now = first == t
            handed = DenseTrainer(*(q[now] for q in replay.params()), self.x, self.y, self.h[networks[now]],
                                  "gd", sign_a0=np.sign(replay.initial_a()[now]), leak=self.leak)
            if epochs > t:
                p_now = np.ascontiguousarray(p_t[:, now])
                handed.advance(epochs - t, p_now, None, None, np.ones(int(now.sum()), dtype=bool))
            self._join_dense(handed, networks[now])
            replay.keep(~now)
            networks, first = networks[~now], first[~now]

    def advance(self, epochs):
        """Run ``epochs`` gd epochs of every running network, each engine in one compiled call.

        The reduced engine runs the whole block and reports, per network, the first epoch t after
        which a kink had reached a data point; its state after the block is exact only for the
        networks that reported none. Those that did are replayed on the reduced engine from a copy
        of its state at the block start for exactly t epochs (bitwise the same steps: the compiled
        engines treat networks independently and deterministically), handed to the dense engine,
        and run there for the block's remaining epochs."""
        start = copy.deepcopy(self.reduced)
        first = self.reduced.advance(epochs, self.p_reduced, None, None,
                                     np.zeros(len(self.on_reduced), dtype=bool))
        if self.dense is not None:  # all of them have crossed: no crossing epochs to report
            self.dense.advance(epochs, self.p_dense, None, None, np.ones(len(self.on_dense), dtype=bool))
        crossed = first >= 0
        if crossed.any():
            start.keep(crossed)
            self._hand_over(start, self.on_reduced[crossed], first[crossed], epochs)
            self.reduced.keep(~crossed)
            self.on_reduced = self.on_reduced[~crossed]
            self._weights()
        self.epoch += epochs

    def check(self):
        """Certificate statuses of the reduced networks where the certificate applies (relu; kept
        once given: a certified network never crosses), and per engine: (network indices,
        ||grad L||, outputs f(x_j), finite)."""
        if certificate_applies("gd", "full", self.leak):
            status = check_stops(self.reduced, self.x, self.y, None, self.p[self.on_reduced],
                                 self.h[self.on_reduced], ["sufficient"], None)
            self.status[self.on_reduced[status != ""]] = status[status != ""]
        norm = reduced_gradient_norm(self.reduced, self.p_reduced.T, self.leak)
        engines = [(self.on_reduced, self.reduced, norm)]
        if self.dense is not None:
            engines.append((self.on_dense, self.dense, dense_gradient_norm(self.dense, self.p_dense.T)))
        return [(index, norm, trainer.outputs(), trainer.finite() & np.isfinite(norm))
                for index, trainer, norm in engines]

    def keep(self, stopped):
        """Drop the networks (chunk indices) in ``stopped`` from both engines."""
        keep_reduced = ~np.isin(self.on_reduced, stopped)
        self.reduced.keep(keep_reduced)
        self.on_reduced = self.on_reduced[keep_reduced]
        if self.dense is not None:
            keep_dense = ~np.isin(self.on_dense, stopped)
            self.dense.keep(keep_dense)
            self.on_dense = self.on_dense[keep_dense]
        self._weights()

    def params_of(self, index):
        """(a, b, c, w) of the running networks ``index`` (chunk indices), O(n) each."""
        out = [np.zeros((len(index), self.reduced.a0.shape[1])), None, np.zeros(len(index)), None]
        out[1], out[3] = np.zeros_like(out[0]), np.zeros_like(out[0])
        for rows, trainer in ((self.on_reduced, self.reduced), (self.on_dense, self.dense)):
            found = np.isin(rows, index)
            if trainer is not None and found.any():
                where = np.searchsorted(index, rows[found])
                for target, value in zip(out, trainer.params()):
                    target[where] = value[found]
        return out

    def running(self):
        """How many networks are still training."""
        return len(self.on_reduced) + len(self.on_dense)


def train_to_stationarity(x, y, p, a, b, c, w, h, tol, epochs_per_check, max_epochs, keep_params=False,
                          pi=None, leak=0.0):
    """Train P networks by gd (step h per network; leaky relu with slope ``leak`` below 0) to
    ||grad L|| < tol, checked every ``epochs_per_check`` epochs, or ``max_epochs`` (a multiple of
    it); see StationaryTraining. ``pi`` (m,): the data distribution of the risk (default uniform).

    Returns a dict of (P,) arrays: status (CROSSED; for networks that never crossed the
    certificate's verdict LOCALLY_CONVERGED, A_DEGENERATE, X_DEGENERATE where it applies (relu),
    else UNFINISHED; DIVERGED for non-finite ones), stop_epoch, first_cross_epoch (-1: never),
    step_size, converged (||grad L|| < tol), grad_norm, loss L, risk R, linear_loss L_lin,
    linear_fit_risk (R of the side-wise least-squares fit to p), and (a, b, c, w) when
    ``keep_params``."""
    P = len(h)
    pi = np.full(len(x), 1.0 / len(x)) if pi is None else pi
    slopes, intercepts, floor = side_fits(x, y, p)
    out = {"status": None, "stop_epoch": np.full(P, max_epochs, dtype=np.int64), "first_cross_epoch": None,
           "step_size": h.copy(), "converged": np.zeros(P, bool), "grad_norm": np.full(P, np.nan),
           "loss": np.full(P, np.nan), "risk": np.full(P, np.nan), "linear_loss": floor,
           "linear_fit_risk": population_risk(side_fit_outputs(x, slopes, intercepts), y, pi)}
    if keep_params:
        out.update(a=np.zeros_like(a), b=np.zeros_like(a), c=np.zeros(P), w=np.zeros_like(a))
    training = StationaryTraining(x, y, p, a, b, c, w, h, leak)
    while training.running():
        training.advance(epochs_per_check)
        epoch = training.epoch
        last = epoch >= max_epochs
        stopped = []
        for index, norm, outputs, finite in training.check():
            stop = (norm < tol) | last | ~finite
            out["converged"][index] = norm < tol
            out["grad_norm"][index] = norm
            out["loss"][index] = 0.5 * np.sum(p[index] * (outputs - y) ** 2, axis=1)
            out["risk"][index] = population_risk(outputs, y, pi)
            training.status[index[~finite]] = "DIVERGED"
            out["stop_epoch"][index[stop]] = epoch
            stopped.append(index[stop])
        stopped = np.sort(np.concatenate(stopped))
        if keep_params and len(stopped):
            for name, value in zip("abcw", training.params_of(stopped)):
                out[name][stopped] = value
        training.keep(stopped)
    out["status"], out["first_cross_epoch"] = training.status, training.first_cross
    return out


def simulate_risk_chunk(config, offset, width, chunk, runs):
    """One chunk of the risk study: the problems of ``kinks.mc.training.draw_problems`` from the chunk's
    seed (the same networks as an ``mc_training.py run`` chunk of the same seed, offset, width,
    index, size, data, leak and samples), trained to stationarity."""
    rng = np.random.default_rng(chunk_seed(config, offset, width, chunk))
    data = DataSet.from_config(config)
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, runs, width, offset, "he", "theory", data, config["leak"],
                                                SampleRule(config["samples"]))
    kept = dict(a0=a.copy(), w0=w.copy(), p=p.copy(), q=q.copy()) if config["save_params"] else {}
    return {**train_to_stationarity(x, y, p, a, b, c, w, h, config["tol"], config["epochs_per_check"],
                                    config["max_epochs"], config["save_params"], data.probs, config["leak"]), **kept}


# ============================================================================ the risk study
def check_budget(epochs_per_check, max_epochs):
    """--epochs_per_check and --max_epochs, positive integers, the budget a multiple of the check."""
    epochs_per_check = check_int("epochs_per_check", epochs_per_check)
    max_epochs = check_int("max_epochs", max_epochs)
    require(max_epochs % epochs_per_check == 0,
            f"--max_epochs must be a multiple of --epochs_per_check ({epochs_per_check}); got {max_epochs}")
    return epochs_per_check, max_epochs


def risk_config(offsets, widths, runs, seed, tol, epochs_per_check, max_epochs, chunk_size, save_params,
                data=None, probs=None, leak=0.0, samples=SampleRule.DEFAULT):
    """The validated configuration of a risk run (a plain dict, recorded in run.json), complete
    in the sense of ``kinks.mc.study.complete_config`` (so a run folder from before --data, --leak
    and --samples resumes as the paper's data with relu and N = n^2)."""
    shared = cell_settings(offsets, widths, runs, seed, chunk_size, data, probs, leak, samples)
    tol = check_float("tol", tol, 0.0, strict=True, maximum=1.0)
    epochs_per_check, max_epochs = check_budget(epochs_per_check, max_epochs)
    require(isinstance(save_params, bool), f"--save_params must be true or false; got {save_params!r}")
    return complete_config(dict(kind="risk", optimizer="gd", init="he", step="theory", tol=tol,
                                epochs_per_check=epochs_per_check, max_epochs=max_epochs, save_params=save_params,
                                **shared))


RISK_KEYS = ("status", "stop_epoch", "first_cross_epoch", "converged", "grad_norm", "loss", "risk",
             "linear_loss", "linear_fit_risk")


def load_risk(run_dir, config):
    """The finished chunks' per-network arrays, pooled per (offset, width): {(offset, width): dict}."""
    pooled = {}
    for task, arrays in finished_chunks(run_dir, config):
        cell = pooled.setdefault((task["offset"], task["width"]), {k: [] for k in RISK_KEYS})
        for key in RISK_KEYS:
            cell[key].append(arrays[key])
    return {key: {k: np.concatenate(v) for k, v in cell.items()} for key, cell in pooled.items()}


RISK_COLUMNS = ["offset", "width", "runs", "crossed", "certified", "converged", "diverged", "mean_risk",
                "ci_low", "ci_high", "mean_risk_stayed", "mean_risk_crossed", "max_gap_stayed", "mean_loss",
                "mean_linear_loss", "mean_linear_fit_risk", "linear_risk", "bayes_risk", "max_grad_norm",
                "median_epochs", "max_epochs_used"]


def risk_rows(pooled, config):
    """One summary row per (offset, width): counts (certified: None where the certificate does not
    apply, with a leak), mean R with its 95 % t interval, means of R over networks that stayed put
    and that crossed, the largest relative gap (L - L_lin) / L_lin of the networks that stayed put
    (0 at an exact stationary point), means of L, L_lin and the fit's risk, R_lin, and the Bayes
    risk: 0, as every x_j carries one y_j (``DataSet`` refuses repeated x), so f(x_j) = y_j is
    possible."""
    data = DataSet.from_config(config)
    certificate = certificate_applies("gd", "full", config["leak"])
    rows = []
    for (offset, width), cell in sorted(pooled.items()):
        crossed = cell["status"] == "CROSSED"
        finite = cell["status"] != "DIVERGED"
        mean, low, high = mean_interval(cell["risk"][finite])
        gap = (cell["loss"] - cell["linear_loss"]) / cell["linear_loss"]  # how far from the floor
        rows.append(dict(
            offset=offset, width=width, runs=len(crossed), crossed=int(crossed.sum()),
            certified=int(np.sum(cell["status"] == "LOCALLY_CONVERGED")) if certificate else None,
            converged=int(cell["converged"].sum()), diverged=int((~finite).sum()),
            mean_risk=mean, ci_low=low, ci_high=high,
            mean_risk_stayed=float(np.mean(cell["risk"][~crossed & finite])) if np.any(~crossed & finite) else np.nan,
            mean_risk_crossed=float(np.mean(cell["risk"][crossed])) if crossed.any() else np.nan,
            max_gap_stayed=float(np.max(gap[~crossed & finite])) if np.any(~crossed & finite) else np.nan,
            mean_loss=float(np.mean(cell["loss"][finite])), mean_linear_loss=float(np.mean(cell["linear_loss"])),
            mean_linear_fit_risk=float(np.mean(cell["linear_fit_risk"])),
            linear_risk=population_linear_risk(data, offset), bayes_risk=0.0,
            max_grad_norm=float(np.max(cell["grad_norm"][finite], initial=0.0)),
            median_epochs=float(np.median(cell["stop_epoch"])), max_epochs_used=int(cell["stop_epoch"].max())))
    return rows


def format_risk_table(rows):
    """The rows of ``risk_rows`` as a text table, one line per (Delta, n)."""
    head = (f"{'Delta':>6} {'n':>5} {'runs':>5} {'crossed':>7} {'cert.':>5} {'conv.':>6} {'mean R':>8} "
            f"{'95% t interval':>19} "
            f"{'R stayed':>9} {'R crossed':>9} {'gap':>8} {'mean L':>8} {'L_lin':>8} {'R_lin':>6} {'max|grad|':>9} "
            f"{'epochs':>8}")
    lines = [head]
    for r in rows:
        certified = "n/a" if r["certified"] is None else r["certified"]
        lines.append(f"{r['offset']:>6g} {r['width']:>5} {r['runs']:>5} {r['crossed']:>7} {certified:>5} "
                     f"{r['converged']:>6} "
                     f"{r['mean_risk']:>8.4f} [{r['ci_low']:>8.4f}, {r['ci_high']:>8.4f}] "
                     f"{r['mean_risk_stayed']:>9.4f} {r['mean_risk_crossed']:>9.4f} {r['max_gap_stayed']:>8.1e} "
                     f"{r['mean_loss']:>8.4f} "
                     f"{r['mean_linear_loss']:>8.4f} {r['linear_risk']:>6.3f} {r['max_grad_norm']:>9.1e} "
                     f"{r['median_epochs']:>8.0f}")
    return "\n".join(lines)


# ============================================================================ the diagnose samples
def diagnose_problems(seed, width, runs, pairs, offset, data=None, leak=0.0):
    """The sample (``runs`` problems drawn as ``kinks.mc.training.draw_problems`` does, from the seed
    [seed, width], on the DataSet ``data``, default the paper's) followed by ``pairs`` networks that
    share the data weights p of the sample's first problem (initialisations and step sizes of
    their own, from the seed [seed, width, 1])."""
    x, y, p, _, (a, b, c, w), h = draw_problems(np.random.default_rng([seed, width]), runs, width, offset,
                                                "he", "theory", data, leak)
    p_pair = np.repeat(p[:1], pairs, axis=0)
    a2, b2, c2, w2 = init_params(np.random.default_rng([seed, width, 1]), pairs, width)
    h2 = theory_step_size(a2, b2, w2, x, p_pair, leak)
    joined = [np.concatenate(parts) for parts in ((p, p_pair), (a, a2), (b, b2), (c, c2), (w, w2), (h, h2))]
    return x, y, *joined
