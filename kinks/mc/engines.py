"""The two engines that train P networks at once, each epoch a gradient step and the test whether a
kink crossed: the dense trainer (full parameter arrays (3, P, n), any optimiser) and the reduced
trainer (exact O(1) per network-epoch while no kink has crossed: gd, momentum, sgd), each running
its epochs in a compiled loop of ``kinks.mc.compiled``; their NumPy per-epoch references (tests and
benchmark only); and the choice of engine for a configuration."""
import numpy as np

from kinks.checks import require
from kinks.mc.compiled import LANES, dense_epochs, reduced_epochs
from kinks.mc.data import ActivityPatterns, data_gap, kinks_crossed, loss_gradient
from kinks.mc.optimizers import FULL_BATCH, MOMENTUM, Optimizer, minibatch_weights
from kinks.mc.theory import MOMENT_BLOCK, unit_moments

ENGINES = ("auto", "dense", "reduced")
NO_CUTS = np.zeros((0, 0), dtype=np.int64)  # what the compiled loops get for cuts in full batch: nothing to cut


def advance_by_steps(trainer, epochs, p_t, cuts, draws, crossed):
    """Run ``epochs`` epochs, each one ``trainer.step`` then ``trainer.crossed_now``. p_t (m, P):
    the weights p; cuts (m - 1, P) their ``minibatch_cuts`` (None for full batch); draws: the
    MinibatchDraws of the run, or None for full batch (taken in the order of the compiled loops,
    blocks of LANES networks);
    crossed (P,) bool: the running crossing flag, updated in place.
    Returns (P,) int64: the epoch 1..epochs after which a network that had not crossed before
    crossed first, else -1."""
    first = np.full(len(crossed), -1, dtype=np.int64)
    drawn = None if draws is None or draws.batch == 0 else draws.draws(epochs, len(crossed), LANES)
    for t in range(epochs):
        trainer.step(p_t if drawn is None else minibatch_weights(drawn[t], cuts))
        new = trainer.crossed_now() & ~crossed
        first[new] = t + 1
        crossed |= new
    return first


class CompiledSteps:
    """``step``: one full-batch epoch through the trainer's compiled ``advance``, for callers that
    act between epochs (the soundness check, kinks.minima.stationary's switch of engines at a crossing)."""

    def step(self, weights):
        """One gradient step of all networks on the data weights (m, P)."""
        weights = np.ascontiguousarray(weights, dtype=float)
        self.advance(1, weights, None, None, np.zeros(len(self.h), dtype=bool))


class DenseTrainer(CompiledSteps):
    """P networks held as full parameter arrays theta = (a, b, w) (3, P, n), c (P,); gd, momentum,
    sgd (gd on minibatches) or adam, any leak. One epoch costs O(n) per network (see
    ActivityPatterns), run by the compiled ``dense_epochs``. Crossing is measured against the
    signs ``sign_a0`` of the initial a_i (default: the signs of ``a``). The optimiser state
    (momentum: velocity in ``m1``; adam: first and second moments ``m1``, ``m2``) has the shapes
    of theta and c; ``t`` counts the steps taken."""

    OPTIMIZER_CODES = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}

    def __init__(self, a, b, c, w, x, y, h, optimizer, sign_a0=None, leak=0.0):
        self.theta = np.array([a, b, w], dtype=float)
        self.c = np.array(c, dtype=float)
        self.x, self.y, self.h = x, y, np.array(h, dtype=float)
        self.gap = data_gap(x)
        self.sign_a0 = np.sign(self.a if sign_a0 is None else sign_a0)
        self.patterns = ActivityPatterns(x, leak)
        self.optimizer, self.t = optimizer, 0
        self.m1, self.m2 = np.zeros_like(self.theta), np.zeros_like(self.theta)
        self.m1c, self.m2c = np.zeros_like(self.c), np.zeros_like(self.c)

    a = property(lambda self: self.theta[0])
    b = property(lambda self: self.theta[1])
    w = property(lambda self: self.theta[2])

    def _params(self):
        """[a, b, c, w]: views of the parameters, which an update changes in place."""
        return [self.a, self.b, self.c, self.w]

    def advance(self, epochs, p_t, cuts, draws, crossed):
        """Run ``epochs`` epochs of all networks in one compiled call (``dense_epochs``) with the
        crossing test after each; see ``advance_by_steps`` for the arguments and the result."""
        first = np.full(len(self.h), -1, dtype=np.int64)
        draws, cuts = (draws, cuts) if draws and draws.batch else (FULL_BATCH, NO_CUTS)
        dense_epochs(self.theta, self.c, self.m1, self.m1c, self.m2, self.m2c, self.t, self.h, self.x,
                     self.y, self.patterns.B, p_t, cuts, epochs, draws.batch, draws.rng, self.sign_a0,
                     np.array(self.gap), self.OPTIMIZER_CODES[self.optimizer], crossed, first)
        self.t += epochs
        return first

    def crossed_now(self):
        """Whether any unit has crossed now (see ``kinks_crossed``), (P,) bool."""
        return kinks_crossed(self.a, self.b, self.sign_a0, self.gap)

    def params(self):
        """The current (a, b, c, w)."""
        return self.a, self.b, self.c, self.w

    def moments(self):
        """The unit moments Sigma_s, (P, 2, 3, 3)."""
        return unit_moments(self.a, self.b, self.w)

    def outputs(self):
        """f(x_j), (P, m)."""
        return self.patterns.output(self.patterns.codes(self.a, self.b), self.a, self.b, self.c, self.w)

    def check_units(self):
        """The units the certificate's per-unit test must pass: all of them, (a, b, w) each (P, n)."""
        return self.a, self.b, self.w

    def finite(self):
        """No parameter is inf or nan, (P,) bool."""
        return np.all([np.isfinite(q).all(1) for q in (self.a, self.b, self.w)], axis=0) & np.isfinite(self.c)

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds."""
        for name in ("c", "h", "sign_a0", "m1c", "m2c"):
            setattr(self, name, getattr(self, name)[mask])
        for name in ("theta", "m1", "m2"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[:, mask]))


class ReferenceDenseTrainer(DenseTrainer):
    """The dense trainer one NumPy step per epoch (``loss_gradient``, ``Optimizer``): the
    independent computation the tests hold the compiled ``dense_epochs`` to, and the benchmark's
    baseline. Not used by runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference_optimizer = Optimizer(self.optimizer, self._params())

    def step(self, weights):
        """One NumPy gradient step of all networks on the data weights (m, P)."""
        ga, gb, gc, gw, _ = loss_gradient(self.a, self.b, self.c, self.w, self.x, self.y, weights.T,
                                          self.patterns)
        self.reference_optimizer.update(self._params(), [ga, gb, gc, gw], self.h)

    def advance(self, epochs, p_t, cuts, draws, crossed):
        """``epochs`` NumPy epochs, one ``step`` and crossing test each (see ``advance_by_steps``)."""
        return advance_by_steps(self, epochs, p_t, cuts, draws, crossed)

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds, with their optimiser state."""
        super().keep(mask)
        self.reference_optimizer.keep(mask)


class ReducedTrainer(CompiledSteps):
    """Exact O(1)-per-epoch training for gd, momentum and sgd (gd on minibatch weights, any batch
    size) while no kink has reached a data point; relu or leaky relu.

    While every kink stays in the gap between the data points next to 0, unit i of side s
    (sign a_i = s) has slope sigma' = 1 on the data of sign s and alpha on the other side's data
    (relu: alpha = 0, inactive there). So the network is affine on each side,
    f(x) = c + x F_s[a] + F_s[b] for x of sign s, with F_s = Sigma_s[w, .] + alpha Sigma_{-s}[w, .]
    (``leak_mixing``), and with r_j = p_j (f(x_j) - y_j) the gradient of a unit of side s is
    dL/d(a_i, b_i, w_i) = K_s theta_i,  K_s = [[0, 0, G1], [0, 0, G2], [G1, G2, 0]],
    G1 = sum_{j in s} r_j x_j + alpha sum_{j in -s} r_j x_j,  G2 = sum_{j in s} r_j + alpha sum_{j in -s} r_j
    (each point weighted by the unit's slope there). K_s is the same for every unit of the side: a
    step moves them all by one matrix, theta_i <- (I - h K_s) theta_i. Both G_s and the fits are
    one (m, 4) matrix away from r and from the per-side sums, E[j] = sigma' (x_j, 1) placed in the
    columns (slope, intercept) of both sides (1 for the own side, alpha for the other). Hence
    theta_i(t) = T_s(t) theta_i(0); as b(0) = 0 only the columns (a, w) of T_s matter.
    Momentum carries a second map V_s for the velocities: V <- beta V + K T, T <- T - h V. Adam
    cannot be reduced: it divides every coordinate of every unit by its own running gradient
    norm, so units of one side no longer move by one shared linear map.
    Arrays are stored side-major, networks last: T (3 rows a,b,w; 2 columns a,w; 2 sides; P).
    Once a network has crossed its trajectory is no longer the true one, but it is CROSSED at the
    next check either way.

    Crossing test per epoch (see ``kinks_crossed``, gap (x_left, x_right)): with r_i = w_i(0) / a_i(0),
    unit i of side s has a_i(t) = a_i(0) (T_aa + T_aw r_i), b_i(t) = a_i(0) (T_ba + T_bw r_i), so
    with A(r) = T_aa + T_aw r, B(r) = T_ba + T_bw r it has crossed iff
    phi(r_i) = max(-B(r_i) - x_right A(r_i), B(r_i) - x_left A(r_i)) >= 0. phi is convex in r, so its
    maximum over a side's units is at the smallest or the largest r_i: O(1) per network and epoch."""

    def __init__(self, a, b, c, w, x, y, h, optimizer, leak=0.0):
        require(np.all(b == 0), "the reduced trainer needs b(0) = 0")
        require(optimizer in ("gd", "momentum", "sgd"), f"the reduced trainer cannot train {optimizer}")
        self.x, self.y, self.h, self.optimizer = x, y, np.array(h, dtype=float), optimizer
        self.gap = data_gap(x)
        own = np.stack([x > 0, x < 0], axis=1).astype(float)  # (m, 2)
        slopes = own + leak * own[:, ::-1]  # sigma' of the units of each side at each point
        self.E = np.concatenate([slopes * x[:, None], slopes], axis=1)  # (m, 4)
        self.a0, self.w0 = np.asarray(a, dtype=float), np.asarray(w, dtype=float)  # kept, not copied: read only
        self.plus = self.a0 > 0  # (P, n)
        self.rows = np.arange(len(self.a0))  # the networks kept, as rows of a0, w0 and plus
        P = len(self.h)
        self.sigma0 = np.empty((2, 2, 2, P))  # Sigma_s(0) on (a, w), (2, 2, sides, P)
        self.nonempty, self.r_ends = np.empty((2, P), dtype=bool), np.empty((2, 2, P))
        for start in range(0, P, MOMENT_BLOCK):  # blocks of networks: the (2, P, n) temporaries stay small
            self._initial_sides(slice(start, start + MOMENT_BLOCK))
        self.T = np.zeros((3, 2, 2, P))
        self.T[0, 0] = self.T[2, 1] = 1.0
        self.V = np.zeros_like(self.T) if optimizer == "momentum" else None
        self.c = np.array(c, dtype=float)
        self.vc = np.zeros(P)

    def _initial_sides(self, rows):
        """Sigma_s(0), ``nonempty`` and ``r_ends`` (the extreme r_i = w_i(0) / a_i(0) per side, 0 for
        an empty side) of the networks ``rows``: per network sums and extremes over its units."""
        a0, w0 = self.a0[rows], self.w0[rows]
        sides = np.stack([self.plus[rows], ~self.plus[rows]])  # (2, block, n)
        s_aa = np.sum(sides * a0**2, axis=2)  # Sigma_s(0) entries, (sides, block)
        s_aw = np.sum(sides * a0 * w0, axis=2)
        s_ww = np.sum(sides * w0**2, axis=2)
        self.sigma0[:, :, :, rows] = np.array([[s_aa, s_aw], [s_aw, s_ww]])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = w0 / a0
        self.nonempty[:, rows] = nonempty = sides.any(2)  # (2, block)
        r_min = np.where(sides, ratio, np.inf).min(2)
        r_max = np.where(sides, ratio, -np.inf).max(2)
        self.r_ends[:, :, rows] = np.where(nonempty, np.stack([r_min, r_max]), 0.0)  # per side, (2, 2, block)

    def _side_fits(self):
        """The per-side unit sums (Sigma_+[w, a], Sigma_-[w, a], Sigma_+[w, b], Sigma_-[w, b]) (the
        sides' slopes and intercepts for relu; ``E`` mixes them for a leak), from
        Sigma_s = T_s Sigma_s(0) T_s^T: (4, P)."""
        T_w = self.T[2]  # (columns a and w, sides, P)
        u = T_w[0] * self.sigma0[0] + T_w[1] * self.sigma0[1]  # row w of T Sigma(0), columns a, w
        return (u[0] * self.T[:2, 0] + u[1] * self.T[:2, 1]).reshape(4, -1)

    def advance(self, epochs, p_t, cuts, draws, crossed):
        """Run ``epochs`` epochs of all networks in one compiled call (``reduced_epochs``) with the
        crossing test after each; see ``advance_by_steps`` for the arguments and the result."""
        first = np.full(len(self.h), -1, dtype=np.int64)
        momentum = self.optimizer == "momentum"
        V = self.V if momentum else self.T  # read, never written, without momentum
        draws, cuts = (draws, cuts) if draws and draws.batch else (FULL_BATCH, NO_CUTS)
        reduced_epochs(self.T, V, self.c, self.vc, self.h, self.sigma0, self.E, self.y, p_t, cuts, epochs,
                       draws.batch, draws.rng, self.r_ends, self.nonempty, np.array(self.gap), momentum,
                       crossed, first)
        return first

    def crossed_now(self):
        """Whether any unit has crossed now (see ``kinks_crossed``), (P,) bool."""
        (T_aa, T_aw), (T_ba, T_bw) = self.T[0], self.T[1]
        r = self.r_ends
        A, B = T_aa + T_aw * r, T_ba + T_bw * r  # (ends, sides, P)
        x_left, x_right = self.gap
        phi = np.maximum(-B - x_right * A, B - x_left * A)
        hit = (np.maximum(phi[0], phi[1]) >= 0) & self.nonempty
        return hit[0] | hit[1]

    def initial_a(self):
        """a_i(0) of the networks kept, (P, n)."""
        return self.a0[self.rows]

    def params(self):
        """(a, b, c, w) reconstructed as theta_i = T_s theta_i(0), O(n) per network."""
        plus, a0, w0 = self.plus[self.rows], self.a0[self.rows], self.w0[self.rows]

        def unit_coef(row, col):  # the T entry of each unit's side, (P, n)
            return np.where(plus, self.T[row, col, 0][:, None], self.T[row, col, 1][:, None])
        a, b, w = (unit_coef(row, 0) * a0 + unit_coef(row, 1) * w0 for row in range(3))
        return a, b, self.c, w

    def moments(self):
        """Sigma_s = T_s Sigma_s(0) T_s^T, O(1) per network: (P, 2, 3, 3)."""
        return np.einsum("iksp,klsp,jlsp->psij", self.T, self.sigma0, self.T)

    def outputs(self):
        """f(x_j) from each side's affine function, (P, m)."""
        return (self.c + self.E @ self._side_fits()).T

    def check_units(self):
        """Stand-ins for all units in the certificate's per-unit test, (a, b, w) each (P, 4).

        Unit i of side s is theta_i(t) = a_i(0) v(r_i) with v(r) = T_s (1, 0, r) linear in r. The test
        x_min (|a| - E_a) > |b| + E_b is positively homogeneous in theta, so it may use v(r_i); while
        no unit has crossed, v_a > 0 between the side's extreme r_i, and there the test's violation
        |v_b| + (1 + x_min) E - x_min v_a is convex in r. So the units v(r_min), v(r_max) of each
        side pass it only if every unit does. An empty side repeats the other side's units."""
        v = self.T[:, 0, None] + self.T[:, 1, None] * self.r_ends  # (3, ends, sides, P)
        v = np.where(self.nonempty, v, v[:, :, ::-1])
        a, b, w = v.reshape(3, 4, -1).transpose(0, 2, 1)
        return a, b, w

    def finite(self):
        """No map entry and no c is inf or nan, (P,) bool."""
        return np.isfinite(self.T).all((0, 1, 2)) & np.isfinite(self.c)

    def keep(self, mask):
        """Keep only the networks where ``mask`` holds: O(P) per call, as the (P, n) arrays a0, w0
        and plus stay whole and ``rows`` names the networks kept."""
        for name in ("h", "c", "vc", "rows"):
            setattr(self, name, getattr(self, name)[mask])
        for name in ("nonempty", "T", "V", "r_ends", "sigma0"):  # networks on the last axis
            value = getattr(self, name)
            if value is not None:  # indexing the last axis leaves it strided: copy to contiguous
                setattr(self, name, np.ascontiguousarray(value[..., mask]))


class ReferenceReducedTrainer(ReducedTrainer):
    """The reduced trainer one NumPy step per epoch: the independent computation the tests hold
    the compiled ``reduced_epochs`` to, and the benchmark's baseline. Not used by runs."""

    def step(self, weights):
        """One step of all networks on the data weights (m, P). The velocities are kept as
        h V (h is fixed per network): h V <- beta h V + h K T, T <- T - h V."""
        r = weights * (self.E @ self._side_fits() + self.c - self.y[:, None])  # p_j (f(x_j) - y_j)
        hG = (self.h * (self.E.T @ r)).reshape(2, 1, 2, -1)  # h (G1, G2) per side
        hKT = np.concatenate([hG * self.T[2], (hG * self.T[:2]).sum(0, keepdims=True)])  # h K_s T_s
        h_gc = self.h * r.sum(0)
        if self.optimizer == "momentum":
            self.V *= MOMENTUM
            self.V += hKT
            self.T -= self.V
            self.vc = MOMENTUM * self.vc + h_gc
            self.c -= self.vc
        else:
            self.T -= hKT
            self.c -= h_gc

    def advance(self, epochs, p_t, cuts, draws, crossed):
        """``epochs`` NumPy epochs, one ``step`` and crossing test each (see ``advance_by_steps``)."""
        return advance_by_steps(self, epochs, p_t, cuts, draws, crossed)


def resolve_engine(engine, optimizer):
    """'auto' -> 'reduced' where it is exact (gd, momentum, sgd at any batch size and leak;
    b(0) = 0 for both inits), else 'dense' (adam, see ``ReducedTrainer``)."""
    if engine == "auto":
        return "dense" if optimizer == "adam" else "reduced"
    require(not (engine == "reduced" and optimizer == "adam"),
            "--engine reduced cannot train adam: its per-parameter scaling breaks the shared "
            "per-side linear map; use --engine dense or auto")
    return engine


def make_trainer(config, a, b, c, w, x, y, h, reference=False):
    """The configuration's engine set up on the networks (a, b, c, w); its NumPy reference
    (``benchmark`` only) when ``reference``."""
    engines = {"reduced": (ReducedTrainer, ReferenceReducedTrainer), "dense": (DenseTrainer, ReferenceDenseTrainer)}
    trainer_class = engines[config["engine"]][reference]
    return trainer_class(a, b, c, w, x, y, h, config["optimizer"], leak=config["leak"])
