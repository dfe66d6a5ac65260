"""The optimisers by name, as the glossary defines them: gd (full batch), sgd (gd on minibatches
of B = 16), momentum (heavy ball) and adam; their constants, their update rules in NumPy
(``Optimizer``: the reference the compiled loops are held to), the source of the minibatches
(``MinibatchDraws``), the cuts that turn a draw into a data point (``minibatch_cuts``) and the
minibatch weights Multinomial(B, p) / B of a step."""
import numpy as np

OPTIMIZERS = ("gd", "momentum", "sgd", "adam")
MOMENTUM = 0.9  # heavy ball beta
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
SGD_BATCH = 16  # samples drawn with replacement per sgd step: sgd = gd with --batch_size 16
LARGEST_BATCH = 2**16  # the compiled loops keep a block's draws, 64 (B + 1) numbers; beyond, use full batch


def batch_of(optimizer, batch_size=None):
    """The minibatch size B of a run, or None for full batch: ``batch_size`` ('full' or B), by
    default 16 for sgd (gd on minibatches of 16, the published sgd) and full batch otherwise."""
    if batch_size is None:
        return SGD_BATCH if optimizer == "sgd" else None
    return None if batch_size == "full" else int(batch_size)


def adam_scales(h, t):
    """Adam's step size and second-moment scale at step t: (h / (1 - b1^t), 1 / sqrt(1 - b2^t)),
    so that the update h m1_hat / (sqrt(m2_hat) + eps) is step_size m1 / (sqrt(m2) inv_root + eps):
    one square root and one division per parameter (torch's order of operations, within round-off)."""
    return h / (1 - ADAM_BETAS[0] ** t), 1 / np.sqrt(1 - ADAM_BETAS[1] ** t)


class Optimizer:
    """Update rules on lists of parameter arrays, with one step size h per network (P,).

    gd: theta <- theta - h g.  momentum (heavy ball): v <- beta v + g, theta <- theta - h v.
    adam: m1 <- b1 m1 + (1 - b1) g, m2 <- b2 m2 + (1 - b2) g^2,
    theta <- theta - h m1_hat / (sqrt(m2_hat) + eps), m1_hat = m1 / (1 - b1^t), m2_hat = m2 / (1 - b2^t)
    (the moments are m1, m2: m is the number of data points). sgd is gd on minibatch weights."""

    def __init__(self, name, params):
        self.name = name
        self.t = 0
        zeros = [np.zeros_like(q) for q in params]
        self.state = {"gd": [], "sgd": [], "momentum": [zeros],
                      "adam": [zeros, [np.zeros_like(q) for q in params]]}[name]

    def update(self, params, grads, h):
        """Update ``params`` in place; h broadcasts against every parameter's leading axis."""
        self.t += 1
        for i, (q, g) in enumerate(zip(params, grads)):
            hq = h.reshape(h.shape + (1,) * (q.ndim - 1))
            if self.name == "momentum":
                v = self.state[0][i]
                v *= MOMENTUM
                v += g
                q -= hq * v
            elif self.name == "adam":
                m1, m2 = self.state[0][i], self.state[1][i]
                b1, b2 = ADAM_BETAS
                m1 *= b1
                m1 += (1 - b1) * g
                m2 *= b2
                m2 += (1 - b2) * g * g
                step_size, inv_root = adam_scales(hq, self.t)
                q -= step_size * m1 / (np.sqrt(m2) * inv_root + ADAM_EPS)
            else:
                q -= hq * g

    def keep(self, mask):
        """Drop the state of stopped networks."""
        self.state = [[s[mask] for s in group] for group in self.state]


DRAW_BITS = 32  # a draw is a 32-bit integer: each 64-bit output of the generator gives two


class MinibatchDraws:
    """The source of a run's minibatches: B draws per network and epoch, each a uniform integer k in
    {0, ..., 2^32 - 1}, from one Generator ``rng`` (a chunk's), which the compiled loops draw
    themselves, for running networks only (``batch`` None or 0, as ``batch_of`` gives it: full
    batch, no draws). A network's B draws are the high then the low halves of ceil(B / 2)
    consecutive 64-bit outputs of the generator (an odd B leaves the last low half unused). The
    order is fixed by the loops: blocks of ``lanes`` networks (LANES of ``kinks.mc.compiled``), each
    block through all the epochs of one ``advance``, each epoch the block's networks in order."""

    def __init__(self, batch, rng):
        self.batch, self.rng = int(batch or 0), rng

    def draws(self, epochs, networks, lanes):
        """The draws of ``epochs`` epochs of ``networks`` networks in the compiled loops' order, as
        the int64 array (epochs, P, B) that ``minibatch_weights`` takes epoch by epoch (NumPy
        references)."""
        pairs = (self.batch + 1) // 2
        draws = np.empty((epochs, networks, 2 * pairs), dtype=np.int64)
        for start in range(0, networks, lanes):
            stop = min(start + lanes, networks)
            outputs = self.rng.bit_generator.random_raw((epochs, stop - start, pairs))
            draws[:, start:stop, 0::2] = outputs >> DRAW_BITS
            draws[:, start:stop, 1::2] = outputs & (2**DRAW_BITS - 1)
        return draws[:, :, :self.batch]


FULL_BATCH = MinibatchDraws(None, np.random.default_rng(0))  # draws nothing: its rng is never called


def minibatch_cuts(p_t):
    """The cuts c_j = ceil(2^32 (p_0 + ... + p_j)), j < m - 1, that split the draws: a draw k falls
    on data point j = #{i: k >= c_i}, with probability (c_j - c_{j-1}) / 2^32, which is p_j to
    within 2^-32 (the inverse cdf of p on k / 2^32). p_t (m, P); returns (m - 1, P) int64."""
    return np.ceil(np.cumsum(p_t, axis=0)[:-1] * 2.0**DRAW_BITS).astype(np.int64)


def minibatch_weights(draws, cuts):
    """Minibatch weights Multinomial(B, p) / B from B draws per network: the counts of the data
    points the draws fall on (``minibatch_cuts``), divided by B, (m, P). draws (P, B); cuts (m - 1, P)."""
    below = (draws[None, :, :] < cuts[:, :, None]).sum(2)  # #{draws below c_j}, (m - 1, P)
    batch = draws.shape[1]
    counts = np.diff(below, prepend=0, append=batch, axis=0)
    return counts / batch
