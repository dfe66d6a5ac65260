"""The networks of the sweeps and their batched training: P two-layer ReLU networks of width n,

    f_p(x) = c_p + mu2 sum_i w_pi relu(mu1 a_pi . x + b_pi),

held as tensors with a leading network axis: input weights a (P, d, n) (unit i's a_i in column i),
biases b (P, 1, n), output weights w (P, n, 1), output bias c (P, 1, 1). The parameterisation sets
the multipliers (mu1, mu2) (``layer_scales``), the hidden-bias mode the biases (``hidden_biases``:
fixed laws, or data-dependent ones that place kinks among the training points). Training
(``train_networks``) takes minibatch steps of sgd, momentum or adam on the sum over networks of each
network's own minibatch mean squared error, with the gradients in closed form (``mse_gradients``).
"""
import math
import re

import torch
from tqdm import tqdm

from kinks.checks import check_choice, check_float, require

SQRT3 = math.sqrt(3.0)
SQRT6 = math.sqrt(6.0)
PARAMETERISATIONS = ("he", "ntk")
PARAM_NAMES = ("a", "b", "w", "c")


# ============================================================================= networks
def layer_scales(param, fan_in):
    """(init std, forward multiplier mu) of a layer with ``fan_in`` inputs:
    he: weights ~ N(0, 2/fan_in), mu = 1;  ntk: weights ~ N(0, 1), mu = sqrt(2/fan_in).
    Both give effective weights mu * weight ~ N(0, 2/fan_in) at initialisation."""
    check_choice("param", param, PARAMETERISATIONS)
    return (math.sqrt(2 / fan_in), 1.0) if param == "he" else (1.0, math.sqrt(2 / fan_in))


def forward(params, mults, X):
    """f_p(x) = mu2 w_p^T relu(mu1 a_p^T x + b_p) + c_p for every network p.

    params: a (P, d, n), b (P, 1, n), w (P, n, 1), c (P, 1, 1); mults = (mu1, mu2); X (P, m, d)
    -> (P, m, 1)."""
    hidden = torch.relu(torch.baddbmm(params["b"], X, params["a"], alpha=mults[0]))
    return torch.baddbmm(params["c"], hidden, params["w"], alpha=mults[1])


def kink_distances(params, mults):
    """Distance of each unit's kink hyperplane {x : mu1 a_i . x + b_i = 0} to the origin,
    |b_i| / ||mu1 a_i||, shape (P, n)."""
    return params["b"][:, 0].abs() / (mults[0] * params["a"]).norm(dim=1)


# ============================================================================= hidden biases
# mode -> (low, high, per-unit scale) of a uniform law U(low, high) * scale * gain; the scale is
# 'one', 'norm' (the norm of the unit's effective input weights) or 'fan_in' (1/sqrt(d)).
UNIFORM_BIASES = {
    "uniform": (-SQRT3, SQRT3, "one"), "pos-unif": (0.0, SQRT3, "one"), "neg-unif": (-SQRT3, 0.0, "one"),
    "unif": (-SQRT6, SQRT6, "one"), "unif-pos": (0.0, SQRT6, "one"), "unif-neg": (-SQRT6, 0.0, "one"),
    "kink-unif": (-SQRT3, SQRT3, "norm"), "kink-neg-unif": (-SQRT3, 0.0, "norm"),
    "pytorch": (-1.0, 1.0, "fan_in"),
}
DATA_BIASES = ("kink-point-<k>", "kink-range", "kink-neg-point", "mean")
BIAS_MODES = ("zero", "normal") + tuple(UNIFORM_BIASES) + DATA_BIASES


def check_bias(mode, gain):
    """Validate a bias mode and gain; data-dependent modes place kinks exactly, so need gain 1."""
    match = re.fullmatch(r"kink-point-(\d+)", mode) if isinstance(mode, str) else None
    require(mode in BIAS_MODES or (match is not None and int(match[1]) >= 1),
            f"--bias must be one of {', '.join(BIAS_MODES)} (k >= 1); got {mode!r}")
    gain = check_float("bias_gain", gain, -1e3, maximum=1e3)
    data_dependent = match is not None or mode in DATA_BIASES
    require(not data_dependent or gain == 1.0, f"--bias_gain must be 1 for the data-dependent bias {mode}")
    return mode, gain


def pre_activations_at(X, A_eff, index):
    """Z_{p, index[p, i], i} = x_{index[p, i]} . A_eff[p, :, i]: unit i's pre-activation (without
    bias) at its own training point; X (P, m, d), A_eff (P, d, n), index (P, n) -> (P, n)."""
    points = X.gather(1, index[..., None].expand(-1, -1, X.shape[2]))       # (P, n, d)
    return (points * A_eff.transpose(1, 2)).sum(2)


def pre_activation_range(X, A_eff, slice_size=4096):
    """min_j and max_j of x_j . A_eff over all points, each (P, 1, n); points taken in slices so
    that no (P, m, n) tensor is formed."""
    low = high = None
    for j in range(0, X.shape[1], slice_size):
        Z = torch.bmm(X[:, j:j + slice_size], A_eff)
        low = Z.amin(1, keepdim=True) if low is None else torch.minimum(low, Z.amin(1, keepdim=True))
        high = Z.amax(1, keepdim=True) if high is None else torch.maximum(high, Z.amax(1, keepdim=True))
    return low, high


def distinct_indices(n, k, shape, generator):
    """k distinct indices of range(n), uniform over k-subsets, for every entry of ``shape``:
    a list of k tensors of ``shape``. Floyd's algorithm: for i = n-k .. n-1 draw t ~ U{0..i} and
    take t, or i if t was already taken; the loop runs over k only."""
    chosen = []
    for i in range(n - k, n):
        t = torch.randint(i + 1, shape, generator=generator, device=generator.device)
        taken = torch.zeros(shape, dtype=torch.bool, device=t.device)
        for c in chosen:
            taken |= c == t
        chosen.append(torch.where(taken, i, t))
    return chosen


def data_biases(mode, X, A_eff, generator):
    """Data-dependent biases from the pre-activations Z_j = x_j . A_eff at the training points
    x_1 .. x_m of X (P, m, d); returns (b, flip) as in ``hidden_biases``. Per unit:

    kink-point-k:   b = -sum_l lambda_l Z_{j_l} over k distinct random points, lambda ~ Dirichlet(1..1)
    kink-range:     b ~ U(-max_j Z_j, -min_j Z_j)
    kink-neg-point: a random point j; flip = sign(Z_j); b = -|Z_j| (the kink passes through x_j)
    mean:           b = -mean_j Z_j = -(mean_j x_j) . A_eff"""
    P, m, _ = X.shape
    n = A_eff.shape[2]
    no_flip = torch.ones((P, 1, n), device=X.device, dtype=X.dtype)
    rand = lambda *shape: torch.rand(shape, generator=generator, device=X.device, dtype=X.dtype)  # noqa: E731
    if mode == "mean":
        return -torch.bmm(X.mean(1, keepdim=True), A_eff), no_flip
    if mode == "kink-range":
        low, high = pre_activation_range(X, A_eff)
        return -(low + rand(P, 1, n) * (high - low)), no_flip
    if mode == "kink-neg-point":
        z = pre_activations_at(X, A_eff, torch.randint(m, (P, n), generator=generator, device=X.device))[:, None]
        return -z.abs(), torch.where(z < 0, -1.0, 1.0).to(X.dtype)
    k = int(mode.rsplit("-", 1)[1])
    require(k <= m, f"--bias {mode} needs k <= the number of training points {m}")
    points = distinct_indices(m, k, (P, n), generator)
    weights = -torch.log1p(-rand(k, P, n))                              # Exp(1); normalised: Dirichlet
    weights = weights / weights.sum(0)
    offset = sum(lam * pre_activations_at(X, A_eff, index) for lam, index in zip(weights, points))
    return -offset[:, None], no_flip


def hidden_biases(mode, gain, A_eff, X_train, generator):
    """Hidden biases b (P, 1, n) and sign flips (P, 1, n) of the units' input weights.

    A_eff (P, d, n): effective input weights mu1 a; X_train (P, m, d): each network's whole training
    set, from which the data-dependent modes draw (as published; pre-activations Z = x . A_eff)."""
    P, d, n = A_eff.shape
    shape, like = (P, 1, n), dict(device=A_eff.device, dtype=A_eff.dtype)
    no_flip = torch.ones(shape, **like)
    if mode == "zero":
        return torch.zeros(shape, **like), no_flip
    if mode == "normal":
        return gain * torch.randn(shape, generator=generator, **like), no_flip
    if mode in UNIFORM_BIASES:
        low, high, scale = UNIFORM_BIASES[mode]
        u = low + (high - low) * torch.rand(shape, generator=generator, **like)
        unit = {"one": 1.0, "fan_in": 1 / math.sqrt(d), "norm": A_eff.norm(dim=1, keepdim=True)}[scale]
        return gain * u * unit, no_flip
    return data_biases(mode, X_train, A_eff, generator)


def init_networks(param, bias, bias_gain, X_train, width, generator):
    """P two-layer ReLU networks of ``width`` units for the training sets X_train (P, m, d),
    drawn with ``generator`` on X_train's device and dtype.

    The standard normal draws are the same for he and ntk (only their scaling differs), so both
    parameterisations give the same function from the same generator state. Output bias 0.
    Returns (params, mults) as used by ``forward``."""
    P, _, d = X_train.shape
    like = dict(device=X_train.device, dtype=X_train.dtype)
    (std1, mu1), (std2, mu2) = layer_scales(param, d), layer_scales(param, width)
    a = std1 * torch.randn((P, d, width), generator=generator, **like)
    w = std2 * torch.randn((P, width, 1), generator=generator, **like)
    b, flip = hidden_biases(bias, bias_gain, mu1 * a, X_train, generator)
    params = dict(a=a * flip, b=b, w=w, c=torch.zeros((P, 1, 1), **like))
    return params, (mu1, mu2)


# ============================================================================= training
OPTIMIZERS = ("sgd", "momentum", "adam")
OLD_OPTIMIZERS = {"sgd-momentum": "momentum"}   # old name: new (read from files silently)
BASE_STEPS = {("adam", "he"): 1e-2, ("adam", "ntk"): 8e-2, ("sgd", "he"): 8e-3, ("sgd", "ntk"): 8e-1,
              ("momentum", "he"): 8e-3, ("momentum", "ntk"): 8e-1}


def make_optimizer(name, tensors, lr):
    """sgd (plain steps), momentum (heavy ball, 0.9) or adam (PyTorch's defaults); all act
    elementwise, so networks stay independent."""
    if name == "adam":
        return torch.optim.Adam(tensors, lr=lr)
    return torch.optim.SGD(tensors, lr=lr, momentum=0.9 if name == "momentum" else 0.0)


def epoch_orders(runs, n_train, generator, device):
    """An endless stream of per-epoch orders (P, n_train): an independent shuffle per network,
    drawn with ``generator`` (on the CPU, so that every device gets the same orders) and then
    moved to ``device``."""
    while True:
        yield torch.argsort(torch.rand((runs, n_train), generator=generator), dim=1).to(device)


def rmse(params, mults, X, y, y_std, slice_size=4096):
    """Per-network RMSE in original units, sqrt(mean_j (f(x_j) - y_j)^2) * y_std, shape (P,);
    the points are taken in slices to bound the memory of the hidden layer."""
    with torch.no_grad():
        sq = sum(((forward(params, mults, X[:, j:j + slice_size]) - y[:, j:j + slice_size]) ** 2).sum((1, 2))
                 for j in range(0, X.shape[1], slice_size))
    return (sq / X.shape[1]).sqrt() * y_std[:, 0, 0]


CACHE_FLOATS = 2 ** 17  # hidden-layer floats of one group of networks on the CPU: 512 KB, within L2


def network_groups(P, batch_size, width, device):
    """Slices of the network axis whose gradients are computed together in one step. On the CPU,
    groups whose hidden layer (g, B, n) has at most CACHE_FLOATS entries: measured, batched matrix
    products of width-512 networks in groups of 2 or more (the hidden layer then streams through
    memory) cost about 4x per network what one network alone costs, while 8 width-64 networks
    gain from one batch. Elsewhere all P at once."""
    size = P if device.type != "cpu" else max(1, min(P, CACHE_FLOATS // (batch_size * width)))
    return [slice(start, min(start + size, P)) for start in range(0, P, size)]


def mse_gradients(params, mults, X, y, grads):
    """Per-network minibatch losses L_p = (1/B) sum_j (f_p(x_j) - y_j)^2 (P,) and their gradients,
    written into ``grads`` (same shapes as params), in closed form: with r = 2 (f - y) / B (P, B, 1),
    H = relu(Z), Z = mu1 X a + b and G = (r w^T) * 1[Z > 0] (P, B, n):
    dL/dw = mu2 H^T r, dL/dc = sum_j r_j, dL/db = mu2 sum_j G_j, dL/da = mu1 mu2 X^T G.
    X (P, B, d), y (P, B, 1)."""
    mu1, mu2 = mults
    z = torch.baddbmm(params["b"], X, params["a"], alpha=mu1)
    hidden = torch.relu(z)
    residual = torch.baddbmm(params["c"], hidden, params["w"], alpha=mu2) - y
    r = residual * (2 / X.shape[1])
    torch.bmm(hidden.transpose(1, 2), r, out=grads["w"]).mul_(mu2)
    torch.sum(r, 1, keepdim=True, out=grads["c"])
    G = torch.bmm(r, params["w"].transpose(1, 2)).mul_(z > 0)
    torch.sum(G, 1, keepdim=True, out=grads["b"]).mul_(mu2)
    torch.bmm(X.transpose(1, 2), G, out=grads["a"]).mul_(mu1 * mu2)
    return (residual ** 2).mean((1, 2))


def train_networks(params, mults, data, optimizer, lr, n_epochs, valid_every, batch_size, orders,
                   curve_X=None, progress=False, groups=None):
    """Train all P networks at once by minibatch steps on sum_p (1/B) sum_{j in batch_p} (f_p(x_j) - y_j)^2.

    orders: iterable of (P, n_train) index tensors, one per epoch; network p takes its batches from
    row p. Each step computes the gradients group by group of networks (``groups``: slices of the
    network axis, default ``network_groups``: cache-sized groups on the CPU, all at once on a GPU),
    then takes one optimizer step for all. After every
    ``valid_every`` epochs (and the last) the valid and test RMSEs are measured; per network the
    best valid RMSE and the test RMSE at that same moment are kept (and, with curve_X (P, G, 1), the
    function on curve_X at that moment). A network whose minibatch loss is ever non-finite is
    flagged as diverged; training stops early once all have diverged. ``params`` are updated in place.

    Returns a dict of tensors: last_train, last_valid, last_test, best_valid, best_test (P,),
    diverged (P,) bool, history_valid and history_test (checks, P), best_curve (P, G) or None."""
    X, y = data["X_train"], data["y_train"]
    P, n_train, _ = X.shape
    groups = network_groups(P, batch_size, params["a"].shape[2], X.device) if groups is None else groups
    tensors = [params[k] for k in PARAM_NAMES]
    grads = {k: torch.zeros_like(v) for k, v in params.items()}
    for tensor, k in zip(tensors, PARAM_NAMES):
        tensor.grad = grads[k]
    opt = make_optimizer(optimizer, tensors, lr)
    rows = torch.arange(P, device=X.device)[:, None]
    losses = torch.empty(P, dtype=X.dtype, device=X.device)
    diverged = torch.zeros(P, dtype=torch.bool, device=X.device)
    best_valid = torch.full((P,), math.inf, dtype=X.dtype, device=X.device)
    best_test = torch.full((P,), math.nan, dtype=X.dtype, device=X.device)
    best_curve, history = None, {"valid": [], "test": []}
    bar = tqdm(total=n_epochs, desc="epochs", disable=not progress)
    with torch.no_grad():
        for epoch, order in zip(range(n_epochs), orders):
            for start in range(0, n_train, batch_size):
                batch = order[:, start:start + batch_size]
                for g in groups:
                    losses[g] = mse_gradients({k: v[g] for k, v in params.items()}, mults, X[rows[g], batch[g]],
                                              y[rows[g], batch[g]], {k: v[g] for k, v in grads.items()})
                opt.step()
                diverged |= ~torch.isfinite(losses)
            bar.update()
            if (epoch + 1) % valid_every and epoch + 1 < n_epochs:
                continue
            valid = rmse(params, mults, data["X_valid"], data["y_valid"], data["y_std"])
            test = rmse(params, mults, data["X_test"], data["y_test"], data["y_std"])
            improved = valid < best_valid  # False for NaN
            best_valid, best_test = torch.where(improved, valid, best_valid), torch.where(improved, test, best_test)
            if curve_X is not None:
                curve = forward(params, mults, curve_X)[..., 0]
                best_curve = torch.where(improved[:, None], curve, curve if best_curve is None else best_curve)
            history["valid"].append(valid)
            history["test"].append(test)
            bar.set_postfix(valid=f"{valid.nanmean().item():.4f}", diverged=int(diverged.sum()))
            if diverged.all():
                break
    bar.close()
    for tensor in tensors:
        tensor.grad = None
    return dict(last_train=rmse(params, mults, X, y, data["y_std"]), last_valid=valid, last_test=test,
                best_valid=best_valid, best_test=best_test, diverged=diverged,
                history_valid=torch.stack(history["valid"]), history_test=torch.stack(history["test"]),
                best_curve=best_curve)
