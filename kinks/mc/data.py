"""The 1-D model and data: the network f(x) = c + sum_i w_i sigma_alpha(a_i x + b_i) (width n, kink of
unit i at -b_i / a_i), data sets (``DataSet``: the paper's six points of ``kinks.samples`` or one's
own), He and swapped initialisation, the gap between the data points next to 0 and the test whether
a kink left it, and the O(n) forward and backward passes by activity pattern (``ActivityPatterns``,
``loss_gradient``)."""
import numpy as np

from kinks.checks import MAGNITUDE, UsageError, require
from kinks.samples import X_DATA, Y_DATA, check_probs, parse_probs


class DataSet:
    """The data of a 1-D study: points x_j, targets y_j (before the offset Delta) and probabilities pi_j.

    The study needs x_j != 0, distinct x_j and at least two points on each side of 0 (so that each
    side's 2 x 2 data matrix M_s can be non-singular); pi_j > 0 summing to 1 within 1e-6, then
    divided by their sum (equal pi_j become exactly 1/m, so the paper's draws are unchanged).

    Args:
        x: the points, (m,), in any order; default the paper's (-3, -2, -1, 1, 2, 3).
        y: their targets, (m,); default the paper's (-1, 2, -1, 1, -2, 1).
        probs: their probabilities pi, (m,); default uniform, 1/m each.
    Attributes:
        x, y, probs: the data sorted by x, (m,) each.
    Raises:
        UsageError: data the study cannot use, in one line naming --data or --probs.
    Example:
        >>> data = DataSet([2.0, -1.0, 1.0, -2.0], [0.0, 0.5, -1.0, 1.0], [0.4, 0.2, 0.3, 0.1])
        >>> data.x.tolist(), data.label()
        ([-2.0, -1.0, 1.0, 2.0], '-2:1,-1:0.5,1:-1,2:0 p 0.1,0.2,0.3,0.4')
        >>> DataSet().is_paper()
        True
    """

    def __init__(self, x=X_DATA, y=Y_DATA, probs=None):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        require(np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.abs(x) <= MAGNITUDE)
                and np.all(np.abs(y) <= MAGNITUDE),
                f"--data: x and y must be finite numbers of size at most {MAGNITUDE:g}")
        require(np.all(x != 0), "--data: no point may lie at x = 0 (a kink there touches both sides)")
        require(len(np.unique(x)) == len(x), f"--data: every x must appear once; repeated x in {x.tolist()}")
        for name, side in (("negative", x < 0), ("positive", x > 0)):
            require(side.sum() >= 2, f"--data needs at least two points with {name} x; got {int(side.sum())}")
        order = np.argsort(x)
        self.x, self.y, self.probs = x[order], y[order], check_probs(probs, len(x))[order]

    @classmethod
    def from_config(cls, config):
        """The data of a run configuration (its ``data`` [[x, y], ...] and ``probs``)."""
        points = np.array(config["data"], dtype=float).reshape(-1, 2)
        return cls(points[:, 0], points[:, 1], config["probs"])

    def is_paper(self):
        """Whether these are the paper's six points with uniform probabilities."""
        return np.array_equal(self.x, X_DATA) and np.array_equal(self.y, Y_DATA) \
            and np.array_equal(self.probs, np.full(len(X_DATA), 1.0 / len(X_DATA)))

    def label(self):
        """'x:y,...' with probabilities when not uniform, as in the CLI."""
        text = ",".join(f"{xj:g}:{yj:g}" for xj, yj in zip(self.x, self.y))
        if not np.all(self.probs == self.probs[0]):
            text += " p " + ",".join(f"{pj:.3g}" for pj in self.probs)
        return text


def parse_data(data=None, probs=None):
    """The DataSet of the options --data "x:y,x:y,..." and --probs "p,p,..." (default: the paper's)."""
    if data is None:
        require(probs is None, "--probs needs --data (the paper's data has uniform probabilities)")
        return DataSet()
    items = data if isinstance(data, (list, tuple)) else str(data).split(",")
    pairs = [item for item in items if str(item).strip()]
    try:
        points = np.array([[float(v) for v in str(item).split(":")] for item in pairs])
    except ValueError:  # a value that is no number, or pairs of unequal length
        points = np.empty(0)
    if points.ndim != 2 or points.shape[1] != 2:
        raise UsageError(f'--data must be x:y pairs separated by commas, e.g. "-2:1,-1:0,1:1,2:0"; '
                         f"got {data!r}")
    return DataSet(points[:, 0], points[:, 1], parse_probs(probs))


def init_params(rng, runs, n, init="he"):
    """Initial parameters (a, b, c, w): a, b, w (runs, n), c (runs,).

    he: a_i ~ N(0, 2), w_i ~ N(0, 2/n); swapped: a_i ~ N(0, 2/n), w_i ~ N(0, 2); b = 0, c = 0."""
    var_a, var_w = (2.0, 2.0 / n) if init == "he" else (2.0 / n, 2.0)
    a = rng.normal(0.0, np.sqrt(var_a), size=(runs, n))
    w = rng.normal(0.0, np.sqrt(var_w), size=(runs, n))
    return a, np.zeros(a.shape), np.zeros(runs), w  # zeros, not zeros_like: untouched pages cost nothing


def network_output(a, b, c, w, x, leak=0.0):
    """f(x_j) = c + sum_i w_i sigma_alpha(a_i x_j + b_i), computed directly: (P, m)."""
    z = a[:, None, :] * x[None, :, None] + b[:, None, :]  # (P, m, n)
    return c[:, None] + np.einsum("pjn,pn->pj", np.maximum(z, leak * z), w)


def data_gap(x):
    """(x_left, x_right) = (-max{x_j < 0}, min{x_j > 0}): the kinks start at 0 and must stay in
    the gap (-x_left, x_right) between the data points next to 0."""
    return -np.max(x[x < 0]), np.min(x[x > 0])


def kinks_crossed(a, b, sign_a0, gap):
    """Whether any unit has left its initial activity region, (P,) bool. ``gap`` = (x_left,
    x_right) (see ``data_gap``), or one number for both. With a'_i = sign(a_i(0)) a_i and
    b'_i = sign(a_i(0)) b_i the kink -b_i/a_i = -b'_i/a'_i lies in (-x_left, x_right) with a'_i > 0
    iff neither -b'_i >= x_right a'_i nor b'_i >= x_left a'_i; for x_left = x_right = x_min this
    is |b_i / a_i| < x_min. The test also fires when a_i changed sign (a'_i <= 0 makes one of the two
    hold), which a discrete step can do without the kink ever being seen beyond the data (it passes
    through infinity): the unit then switched to the data on the other side, so it did cross
    every data point there."""
    x_left, x_right = np.broadcast_to(np.asarray(gap, dtype=float), (2,))
    a_, b_ = sign_a0 * a, sign_a0 * b
    return np.any((-b_ >= x_right * a_) | (b_ >= x_left * a_), axis=1)


class ActivityPatterns:
    """The activity patterns a unit can have on sorted data x_1 < ... < x_m.

    A unit with a_i > 0 is active (a_i x_j + b_i > 0) on a suffix of the data, one with a_i < 0 on a
    prefix, one with a_i = 0 on all or none. Pattern code g = k (suffix of length k) or m + 1 + k
    (prefix of length k), k = number of active points, so G = 2(m + 1) codes; ``B`` (G, m) holds
    the slope sigma_alpha'(z) of each code at each point: 1 where active, alpha (the leak) where
    not, as sigma_alpha(z) = z (alpha + (1 - alpha) [z > 0]). Sums over units with equal pattern
    turn the (P, m, n) forward and backward passes into O(n) gathers and scatters per network."""

    def __init__(self, x, leak=0.0):
        require(np.all(np.diff(x) > 0), "data x must be strictly increasing")
        self.x = np.asarray(x, dtype=float)
        m = len(x)
        self.n_codes = 2 * (m + 1)
        k = np.arange(m + 1)[:, None]
        j = np.arange(m)[None, :]
        active = np.concatenate([j >= m - k, j < k]).astype(float)  # (G, m)
        self.B = active if leak == 0 else leak + (1.0 - leak) * active

    def codes(self, a, b):
        """Flat pattern index row * G + g for every unit, (P, n)."""
        m = len(self.x)
        active = np.zeros(a.shape, dtype=np.intp)
        for xj in self.x:  # m vectorised passes, exactly the sign test a_i x_j + b_i > 0
            active += a * xj + b > 0
        rows = np.arange(a.shape[0])[:, None] * self.n_codes
        return rows + active + (m + 1) * (a < 0)

    def output(self, codes, a, b, c, w):
        """f(x_j) = c + x_j sum_i B_{g_i j} w_i a_i + sum_i B_{g_i j} w_i b_i, (P, m)."""
        size = a.shape[0] * self.n_codes
        wa = np.bincount(codes.ravel(), (w * a).ravel(), size).reshape(-1, self.n_codes)
        wb = np.bincount(codes.ravel(), (w * b).ravel(), size).reshape(-1, self.n_codes)
        return c[:, None] + (wa @ self.B) * self.x + wb @ self.B


def loss_gradient(a, b, c, w, x, y, p, patterns=None):
    """Gradient of L = 1/2 sum_j p_j (f(x_j) - y_j)^2 for P networks at once, O(n) per network.

    With r_j = p_j (f(x_j) - y_j) and s_ij = sigma_alpha'(a_i x_j + b_i) (1 active, alpha not;
    the rows of ``patterns.B``): dL/da_i = w_i sum_j s_ij r_j x_j,  dL/db_i = w_i sum_j s_ij r_j,
    dL/dw_i = a_i sum_j s_ij r_j x_j + b_i sum_j s_ij r_j,  dL/dc = sum_j r_j.
    Returns (ga, gb, gc, gw) with the shapes of (a, b, c, w) and the loss (P,)."""
    patterns = patterns or ActivityPatterns(x)
    codes = patterns.codes(a, b)
    residual = patterns.output(codes, a, b, c, w) - y
    r = p * residual
    per_code = (r @ patterns.B.T).ravel()[codes]  # sum_{A_i} r_j, (P, n)
    per_code_x = ((r * patterns.x) @ patterns.B.T).ravel()[codes]  # sum_{A_i} r_j x_j
    loss = 0.5 * np.sum(r * residual, axis=1)
    return w * per_code_x, w * per_code, r.sum(axis=1), a * per_code_x + b * per_code, loss
