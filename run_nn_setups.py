"""Optimiser x initialisation x parameterisation sweeps for two-layer ReLU networks in PyTorch.

P networks, each with its own training, validation and test set, are trained at once as batched
tensors (a leading network axis; torch.bmm over it). The objective is the sum over networks of each
network's minibatch mean squared error, so every network gets exactly its own gradient.

Commands: ``fit`` (one configuration and step size), ``sweep`` (coarse then fine step-size search
over a grid, resumable: one JSON file per configuration and step) and ``benchmark``.
"""
import itertools
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinks.checks import UsageError, as_list, check_choice, check_float, check_int, require
from kinks.files import load_json, save_json
from kinks.nets import torch_device, torch_dtype
from kinks.parallel import backend_client, parallel_map
import utils
from custom_paths import results_root

SQRT3 = math.sqrt(3.0)
SQRT6 = math.sqrt(6.0)

# ============================================================================= distributions
EX_SCALE = math.sqrt(105 / 196)  # sqrt(E[beta^2]) for beta ~ Beta(5, 2): 5/7 mean, 10/392 variance
EX_NOISE = 0.1 / 0.727           # noise std of ex = its Bayes RMSE
FAMILIES = ("ex", "radial", "rbf")


def parse_dataset(name):
    """('ex', 1) for 'ex'; (family, d) for 'radial_<d>' and 'rbf_<d>'."""
    match = re.fullmatch(r"(radial|rbf)_(\d+)", name) if isinstance(name, str) else None
    require(name == "ex" or (match is not None and int(match[2]) >= 1),
                  f"--dataset must be ex, radial_<d> or rbf_<d> with an integer d >= 1; got {name!r}")
    return ("ex", 1) if name == "ex" else (match[1], int(match[2]))


def ex_regression_function(x):
    """E[y | X = x] of ex: (cos(7 pi (x - x / sqrt(1 + x^2))) + 0.2 x^2 + 0.074) / 0.727."""
    return (np.cos(7 * np.pi * (x - x / np.sqrt(1 + x ** 2))) + 0.2 * x ** 2 + 0.074) / 0.727


def uniform_directions(rng, shape, d):
    """Uniform points on the unit sphere of R^d: normalised standard normals, shape (*shape, d)."""
    g = rng.standard_normal(shape + (d,))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def sample_distribution(name, shape, rng):
    """Draw X (*shape, d) and y (*shape) from data set ``name``; also return its Bayes RMSE.

    ex:       X = s beta / sqrt(105/196), beta ~ Beta(5, 2), s = +-1; y = ex_regression_function(X)
              + eps, eps ~ N(0, (0.1/0.727)^2); Bayes RMSE 0.1/0.727.
    radial_d: X = sqrt(3) U u, U ~ U(0, 1), u uniform on the sphere; y = cos(2 pi U); noise-free.
    rbf_d:    X = r u, r ~ U(-sqrt(3), sqrt(3)), u uniform on the sphere; y = exp(-r^2); noise-free.
    """
    family, d = parse_dataset(name)
    if family == "ex":
        x = rng.choice([-1.0, 1.0], size=shape) * rng.beta(5, 2, size=shape) / EX_SCALE
        y = ex_regression_function(x) + EX_NOISE * rng.standard_normal(shape)
        return x[..., None], y, EX_NOISE
    if family == "radial":
        u = rng.uniform(size=shape)
        return SQRT3 * u[..., None] * uniform_directions(rng, shape, d), np.cos(2 * np.pi * u), 0.0
    r = rng.uniform(-SQRT3, SQRT3, size=shape)
    return r[..., None] * uniform_directions(rng, shape, d), np.exp(-r ** 2), 0.0


def make_datasets(dataset, n_networks, n_train, n_valid, n_test, seed, device="cpu", dtype=torch.float32):
    """Independent train/valid/test sets for each of P networks, standardised per network and
    feature with that network's training mean and std (targets likewise).

    Returns a dict of tensors: X_<split> (P, n, d), y_<split> (P, n, 1) standardised, x_mean and
    x_std (P, 1, d), y_mean and y_std (P, 1, 1), and the float bayes_rmse (original units)."""
    rng = np.random.default_rng(seed)
    raw = {split: sample_distribution(dataset, (n_networks, n), rng)
           for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test))}
    X_train, y_train, bayes_rmse = raw["train"]
    stats = dict(x_mean=X_train.mean(1, keepdims=True), x_std=X_train.std(1, keepdims=True),
                 y_mean=y_train.mean(1, keepdims=True)[..., None], y_std=y_train.std(1, keepdims=True)[..., None])
    data = {}
    for split, (X, y, _) in raw.items():
        data[f"X_{split}"] = (X - stats["x_mean"]) / stats["x_std"]
        data[f"y_{split}"] = (y[..., None] - stats["y_mean"]) / stats["y_std"]
    data.update(stats)
    data = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in data.items()}
    data["bayes_rmse"] = bayes_rmse
    return data


# ============================================================================= model
PARAMETERISATIONS = ("he", "ntk")
PARAM_NAMES = ("W", "b", "a", "c")


def layer_scales(param, fan_in):
    """(init std, forward multiplier) of a layer with ``fan_in`` inputs:
    He: weights ~ N(0, 2/fan_in), multiplier 1;  NTK: weights ~ N(0, 1), multiplier sqrt(2/fan_in).
    Both give effective weights multiplier * weight ~ N(0, 2/fan_in) at initialisation."""
    check_choice("param", param, PARAMETERISATIONS)
    return (math.sqrt(2 / fan_in), 1.0) if param == "he" else (1.0, math.sqrt(2 / fan_in))


def forward(params, mults, X):
    """f_p(x) = m2 a_p^T relu(m1 W_p^T x + b_p) + c_p for every network p.

    params: W (P, d, m), b (P, 1, m), a (P, m, 1), c (P, 1, 1); mults = (m1, m2); X (P, n, d)
    -> (P, n, 1)."""
    hidden = torch.relu(torch.baddbmm(params["b"], X, params["W"], alpha=mults[0]))
    return torch.baddbmm(params["c"], hidden, params["a"], alpha=mults[1])


def kink_distances(params, mults):
    """Distance of each unit's kink hyperplane {x : m1 w^T x + b = 0} to the origin,
    |b| / ||m1 w||, shape (P, m)."""
    return (params["b"][:, 0].abs() / (mults[0] * params["W"]).norm(dim=1))


# ----------------------------------------------------------------------------- hidden biases
# mode -> (low, high, per-unit scale) of a uniform law U(low, high) * scale * gain; the scale is
# 'one', 'norm' (the norm of the unit's effective weights) or 'fan_in' (1/sqrt(d)).
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
    gain = check_float("bias_gain", gain)
    data_dependent = match is not None or mode in DATA_BIASES
    require(not data_dependent or gain == 1.0, f"--bias_gain must be 1 for the data-dependent bias {mode}")
    return mode, gain


def hidden_biases(mode, gain, W_eff, X_train, generator):
    """Hidden biases b (P, 1, m) and sign flips s (P, 1, m) for the units' incoming weights.

    W_eff (P, d, m): effective first-layer weights m1 W; X_train (P, n, d): each network's whole
    training set, from which the data-dependent modes draw (as published; pre-activations
    Z = x^T W_eff)."""
    P, d, m = W_eff.shape
    shape, like = (P, 1, m), dict(device=W_eff.device, dtype=W_eff.dtype)
    no_flip = torch.ones(shape, **like)
    if mode == "zero":
        return torch.zeros(shape, **like), no_flip
    if mode == "normal":
        return gain * torch.randn(shape, generator=generator, **like), no_flip
    if mode in UNIFORM_BIASES:
        low, high, scale = UNIFORM_BIASES[mode]
        u = low + (high - low) * torch.rand(shape, generator=generator, **like)
        unit = {"one": 1.0, "fan_in": 1 / math.sqrt(d), "norm": W_eff.norm(dim=1, keepdim=True)}[scale]
        return gain * u * unit, no_flip
    return data_biases(mode, X_train, W_eff, generator)


def pre_activations_at(X, W_eff, index):
    """Z_{p, index[p, j], j} = x_{index[p, j]}^T W_eff[p, :, j]: unit j's pre-activation (without
    bias) at its own training point; X (P, n, d), W_eff (P, d, m), index (P, m) -> (P, m)."""
    points = X.gather(1, index[..., None].expand(-1, -1, X.shape[2]))       # (P, m, d)
    return (points * W_eff.transpose(1, 2)).sum(2)


def pre_activation_range(X, W_eff, slice_size=4096):
    """min_i and max_i of x_i^T W_eff over all points, each (P, 1, m); points taken in slices so
    that no (P, n, m) tensor is formed."""
    low = high = None
    for i in range(0, X.shape[1], slice_size):
        Z = torch.bmm(X[:, i:i + slice_size], W_eff)
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


def data_biases(mode, X, W_eff, generator):
    """Data-dependent biases from the pre-activations Z_i = x_i^T W_eff at the training points
    x_1 .. x_n of X (P, n, d); returns (b, s) as in ``hidden_biases``. Per unit:

    kink-point-k:   b = -sum_j lambda_j Z_j over k distinct random points, lambda ~ Dirichlet(1..1)
    kink-range:     b ~ U(-max_i Z_i, -min_i Z_i)
    kink-neg-point: a random point j; s = sign(Z_j); b = -|Z_j| (the kink passes through x_j)
    mean:           b = -mean_i Z_i = -(mean_i x_i)^T W_eff"""
    P, n, _ = X.shape
    m = W_eff.shape[2]
    no_flip = torch.ones((P, 1, m), device=X.device, dtype=X.dtype)
    rand = lambda *shape: torch.rand(shape, generator=generator, device=X.device, dtype=X.dtype)  # noqa: E731
    if mode == "mean":
        return -torch.bmm(X.mean(1, keepdim=True), W_eff), no_flip
    if mode == "kink-range":
        low, high = pre_activation_range(X, W_eff)
        return -(low + rand(P, 1, m) * (high - low)), no_flip
    if mode == "kink-neg-point":
        z = pre_activations_at(X, W_eff, torch.randint(n, (P, m), generator=generator, device=X.device))[:, None]
        return -z.abs(), torch.where(z < 0, -1.0, 1.0).to(X.dtype)
    k = int(mode.rsplit("-", 1)[1])
    require(k <= n, f"--bias {mode} needs k <= the number of training points {n}")
    points = distinct_indices(n, k, (P, m), generator)
    weights = -torch.log1p(-rand(k, P, m))                              # Exp(1); normalised: Dirichlet
    weights = weights / weights.sum(0)
    offset = sum(w * pre_activations_at(X, W_eff, index) for w, index in zip(weights, points))
    return -offset[:, None], no_flip


def init_networks(param, bias, bias_gain, X_train, width, generator):
    """P two-layer ReLU networks of ``width`` units for the training sets X_train (P, n, d),
    drawn with ``generator`` on X_train's device and dtype.

    The standard normal draws are the same for He and NTK (only their scaling differs), so both
    parameterisations give the same function from the same generator state. Output bias 0.
    Returns (params, mults) as used by ``forward``."""
    P, _, d = X_train.shape
    like = dict(device=X_train.device, dtype=X_train.dtype)
    (std1, m1), (std2, m2) = layer_scales(param, d), layer_scales(param, width)
    W = std1 * torch.randn((P, d, width), generator=generator, **like)
    a = std2 * torch.randn((P, width, 1), generator=generator, **like)
    b, flip = hidden_biases(bias, bias_gain, m1 * W, X_train, generator)
    params = dict(W=W * flip, b=b, a=a, c=torch.zeros((P, 1, 1), **like))
    return params, (m1, m2)


# ============================================================================= training
OPTIMIZERS = ("sgd", "sgd-momentum", "adam")
BASE_STEPS = {("adam", "he"): 1e-2, ("adam", "ntk"): 8e-2, ("sgd", "he"): 8e-3, ("sgd", "ntk"): 8e-1,
              ("sgd-momentum", "he"): 8e-3, ("sgd-momentum", "ntk"): 8e-1}


def make_optimizer(name, tensors, lr):
    """Plain SGD, SGD with momentum 0.9 or Adam (PyTorch defaults); all act elementwise, so
    networks stay independent."""
    if name == "adam":
        return torch.optim.Adam(tensors, lr=lr)
    return torch.optim.SGD(tensors, lr=lr, momentum=0.9 if name == "sgd-momentum" else 0.0)


def epoch_orders(runs, n_train, generator, device):
    """An endless stream of per-epoch orders (P, n_train): an independent shuffle per network,
    drawn with ``generator`` (on the CPU, so that every device gets the same orders) and then
    moved to ``device``."""
    while True:
        yield torch.argsort(torch.rand((runs, n_train), generator=generator), dim=1).to(device)


def rmse(params, mults, X, y, y_std, slice_size=4096):
    """Per-network RMSE in original units, sqrt(mean_i (f(x_i) - y_i)^2) * y_std, shape (P,);
    the points are taken in slices to bound the memory of the hidden layer."""
    with torch.no_grad():
        sq = sum(((forward(params, mults, X[:, i:i + slice_size]) - y[:, i:i + slice_size]) ** 2).sum((1, 2))
                 for i in range(0, X.shape[1], slice_size))
    return (sq / X.shape[1]).sqrt() * y_std[:, 0, 0]


CACHE_FLOATS = 2 ** 17  # hidden-layer floats of one group of networks on the CPU: 512 KB, within L2


def network_groups(P, batch_size, width, device):
    """Slices of the network axis whose gradients are computed together in one step. On the CPU,
    groups whose hidden layer (g, B, m) has at most CACHE_FLOATS entries: measured, batched matrix
    products of width-512 networks in groups of 2 or more (the hidden layer then streams through
    memory) cost about 4x per network what one network alone costs, while 8 width-64 networks
    gain from one batch. Elsewhere all P at once."""
    size = P if device.type != "cpu" else max(1, min(P, CACHE_FLOATS // (batch_size * width)))
    return [slice(start, min(start + size, P)) for start in range(0, P, size)]


def mse_gradients(params, mults, X, y, grads):
    """Per-network minibatch losses L_p = (1/B) sum_i (f_p(x_i) - y_i)^2 (P,) and their gradients,
    written into ``grads`` (same shapes as params), in closed form: with r = 2 (f - y) / B (P, B, 1),
    h = relu(z), z = m1 X W + b and G = m2 (r a^T) * 1[z > 0] (P, B, m):
    dL/da = m2 h^T r, dL/dc = sum_i r, dL/db = sum_i G, dL/dW = m1 X^T G.
    X (P, B, d), y (P, B, 1)."""
    m1, m2 = mults
    z = torch.baddbmm(params["b"], X, params["W"], alpha=m1)
    hidden = torch.relu(z)
    residual = torch.baddbmm(params["c"], hidden, params["a"], alpha=m2) - y
    r = residual * (2 / X.shape[1])
    torch.bmm(hidden.transpose(1, 2), r, out=grads["a"]).mul_(m2)
    torch.sum(r, 1, keepdim=True, out=grads["c"])
    G = torch.bmm(r, params["a"].transpose(1, 2)).mul_(z > 0)
    torch.sum(G, 1, keepdim=True, out=grads["b"]).mul_(m2)
    torch.bmm(X.transpose(1, 2), G, out=grads["W"]).mul_(m1 * m2)
    return (residual ** 2).mean((1, 2))


def train_networks(params, mults, data, optimizer, lr, n_epochs, valid_every, batch_size, orders,
                   curve_X=None, progress=False, groups=None):
    """Train all P networks at once by minibatch steps on sum_p (1/B) sum_{i in batch_p} (f_p(x_i) - y_i)^2.

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
    groups = network_groups(P, batch_size, params["W"].shape[2], X.device) if groups is None else groups
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


# ============================================================================= one task
STATISTICS = ("last_train", "last_valid", "last_test", "best_valid", "best_test")
CURVE_POINTS = 256
CURVE_RANGE = 1.8  # the 1-D curve is recorded on [-1.8, 1.8], beyond both sqrt(3) and 1/EX_SCALE
RESULT_FORMAT = "kinks-nn-result/2"


def chunk_seed(seed, chunk):
    """An independent 63-bit seed for network chunk ``chunk`` of a task with seed ``seed``."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def chunk_start(task, chunk):
    """Data, initial networks and batch orders of chunk ``chunk`` of ``task``, on the task's device.

    All of it is drawn on the CPU in float64 from the chunk's seed (data with NumPy, parameters and
    orders with a CPU torch.Generator) and only then cast to the run dtype and moved, so every
    device and thread count starts from identical tensors. Returns (data, params, mults, orders)."""
    device, dtype = torch_device(task["device"]), torch_dtype(task["dtype"])
    P = task["runs"] // task["n_chunks"]
    seed = chunk_seed(task["seed"], chunk)
    data = make_datasets(task["dataset"], P, task["n_train"], task["n_valid"], task["n_test"], seed,
                         dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    params, mults = init_networks(task["param"], task["bias"], task["bias_gain"], data["X_train"], task["width"],
                                  generator)
    move = lambda tensor: tensor.to(device=device, dtype=dtype)  # noqa: E731
    data = {k: v if k == "bayes_rmse" else move(v) for k, v in data.items()}
    params = {k: move(v) for k, v in params.items()}
    return data, params, mults, epoch_orders(P, task["n_train"], generator, device)


def train_chunk(task, chunk, progress=False):
    """Train chunk ``chunk`` of P / n_chunks networks of ``task`` (see ``chunk_start``).
    Returns train_networks' dict as numpy arrays, plus the 1-D training data in original units."""
    data, params, mults, orders = chunk_start(task, chunk)
    one_d = data["X_train"].shape[2] == 1
    grid = torch.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS, device=data["X_train"].device,
                          dtype=data["X_train"].dtype)
    curve_X = (grid[None, :, None] - data["x_mean"]) / data["x_std"] if one_d else None
    out = train_networks(params, mults, data, task["optimizer"], task["lr"], task["n_epochs"],
                         task["valid_every"], task["batch_size"], orders, curve_X, progress)
    if one_d:
        out["best_curve"] = out["best_curve"] * data["y_std"][:, :, 0] + data["y_mean"][:, :, 0]
        out["train_x"] = (data["X_train"] * data["x_std"] + data["x_mean"])[..., 0]
        out["train_y"] = (data["y_train"] * data["y_std"] + data["y_mean"])[..., 0]
    out = {k: v.detach().cpu().numpy() for k, v in out.items() if v is not None}
    out["bayes_rmse"] = data["bayes_rmse"]
    return out


def finite_or_none(x):
    """A float for JSON: NaN and infinities become null."""
    return float(x) if np.isfinite(x) else None


RUNTIME_KEYS = ("path", "threads", "device")  # how a task runs, not what it computes


def task_settings(task):
    """The settings that determine a task's result: the task without its runtime keys."""
    return {k: v for k, v in task.items() if k not in RUNTIME_KEYS}


def settings_differences(there, here):
    """'key: A there, B here' for every key whose value differs between two settings dicts."""
    return [f"{k}: {there.get(k)!r} there, {here.get(k)!r} here" for k in sorted(set(there) | set(here))
            if there.get(k) != here.get(k)]


def summarise(task, chunks, wall_time):
    """The plain-JSON result of a task from its chunks' outputs: its settings, mean and std (ddof 0)
    over networks of each statistic, per-network best valid/test RMSEs, diverged count, wall time,
    device and, for 1-D data, the best-validation function and training data of the median network."""
    per_net = {k: np.concatenate([c[k] for c in chunks]) for k in STATISTICS + ("diverged",)}
    with np.errstate(invalid="ignore"):  # non-finite RMSEs of diverged networks give NaN, then null
        means, stds = ({k: finite_or_none(reduce(per_net[k])) for k in STATISTICS} for reduce in (np.mean, np.std))
    summary = dict(format=RESULT_FORMAT, task=task_settings(task), device=str(task["device"]),
                   runs=len(per_net["diverged"]), diverged=int(per_net["diverged"].sum()), wall_time_s=wall_time,
                   bayes_rmse=chunks[0]["bayes_rmse"], mean=means, std=stds,
                   per_network={k: [finite_or_none(v) for v in per_net[k]] for k in ("best_valid", "best_test")})
    best_test = per_net["best_test"]
    if "best_curve" in chunks[0] and np.isfinite(best_test).any():
        finite = np.flatnonzero(np.isfinite(best_test))
        median = int(finite[np.argsort(best_test[finite])[len(finite) // 2]])
        stacked = {k: np.concatenate([c[k] for c in chunks]) for k in ("best_curve", "train_x", "train_y")}
        summary["curve"] = dict(network=median, x=np.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS).tolist(),
                                f=[finite_or_none(v) for v in stacked["best_curve"][median]],
                                train_x=stacked["train_x"][median].tolist(), train_y=stacked["train_y"][median].tolist())
    return summary


def execute(task, progress=False):
    """Train all chunks of ``task`` and return its summary (see ``summarise``)."""
    start = time.perf_counter()
    chunks = [train_chunk(task, chunk, progress) for chunk in range(task["n_chunks"])]
    return summarise(task, chunks, time.perf_counter() - start)


# ============================================================================= result files
class ResultError(Exception):
    """A result file that is unreadable, truncated, corrupt or of another format."""


def read_result(path):
    """A result file's contents, validated: JSON of format RESULT_FORMAT with the task settings,
    runs, diverged, mean/std of every statistic (finite or null) and one per-network best valid
    and best test RMSE per run. Raises ResultError naming the file and what is wrong."""
    try:
        result = load_json(path)
    except (OSError, ValueError) as error:
        raise ResultError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
        raise ResultError(f"{path}: not a result file of format {RESULT_FORMAT}")
    missing = {"task", "runs", "diverged", "mean", "std", "per_network"} - set(result)
    if missing:
        raise ResultError(f"{path}: missing fields {sorted(missing)}")
    stats_ok = all(isinstance(result[k], dict) and set(STATISTICS) <= set(result[k]) for k in ("mean", "std"))
    if not stats_ok or not all(v is None or (isinstance(v, (int, float)) and math.isfinite(v))
                               for k in ("mean", "std") for v in result[k].values()):
        raise ResultError(f"{path}: mean/std must hold a finite number or null for each of {', '.join(STATISTICS)}")
    per_network = result["per_network"]
    if not (isinstance(per_network, dict) and all(isinstance(per_network.get(k), list) and
                                                  len(per_network[k]) == result["runs"]
                                                  for k in ("best_valid", "best_test"))):
        raise ResultError(f"{path}: per_network must list best_valid and best_test for each of the {result['runs']} runs")
    return result


def run_task(task):
    """The sweep's unit of work: train the task's networks and write its JSON result to
    task['path'] atomically. An existing file with the task's settings is kept; one with other
    settings, or a corrupt one, is named on stderr and recomputed. Returns (path, 'done'|'skipped')."""
    path = Path(task["path"])
    if path.exists():
        try:
            there = read_result(path)["task"]
            if there == task_settings(task):
                return str(path), "skipped"
            print(f"warning: {path} holds other settings ({'; '.join(settings_differences(there, task_settings(task)))});"
                  f" recomputing it", file=sys.stderr)
        except ResultError as error:
            print(f"warning: {error}; recomputing it", file=sys.stderr)
    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    save_json(path, execute(task))
    return str(path), "done"


def choose_step(results):
    """The result with the smallest mean best-validation RMSE among those where no network
    diverged; None if there is none."""
    ok = [r for r in results if r["diverged"] == 0 and r["mean"]["best_valid"] is not None]
    return min(ok, key=lambda r: r["mean"]["best_valid"]) if ok else None


def bracketed(chosen, results):
    """Whether the chosen step is bracketed: some step of the same configuration was tried on
    either side of it (a diverged larger step counts), so the minimum is not at an edge."""
    exponents = [r["task"]["step_exponent"] for r in results]
    e = chosen["task"]["step_exponent"]
    return min(exponents) < e < max(exponents)


# ============================================================================= tasks and grids
def config_label(task):
    """Folder name of a configuration: <param>_<optimizer>_<bias>, with x<gain> unless gain 1."""
    gain = "" if task["bias_gain"] == 1 else f"x{task['bias_gain']:g}"
    return f"{task['param']}_{task['optimizer']}_{task['bias']}{gain}"


def make_task(dataset="ex", param="he", optimizer="adam", bias="zero", bias_gain=1.0, step_exponent=0, lr=None,
              runs=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
              train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", path=None):
    """A validated plain-dict task. The step is lr, or else base step * 2^(step_exponent / 8);
    n_train = train_per_dim * d, n_epochs = epoch_budget / d, validation every valid_budget / d
    epochs (each rounded, at least 1)."""
    _, d = parse_dataset(dataset)
    check_choice("param", param, PARAMETERISATIONS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    bias, bias_gain = check_bias(bias, bias_gain)
    step_exponent = check_int("step_exponent", step_exponent, minimum=-10 ** 6)
    lr = BASE_STEPS[optimizer, param] * 2 ** (step_exponent / 8) if lr is None else lr
    sizes = {name: check_int(name, value) for name, value in dict(
        runs=runs, n_chunks=n_chunks, width=width, epoch_budget=epoch_budget, valid_budget=valid_budget,
        batch_size=batch_size, train_per_dim=train_per_dim, n_valid=n_valid, n_test=n_test).items()}
    require(runs % n_chunks == 0, f"--n_chunks must divide --runs {runs}; got {n_chunks}")
    n_train = train_per_dim * d
    require(n_train % batch_size == 0,
                  f"--batch_size must divide n_train = train_per_dim * d = {n_train}; got {batch_size}")
    torch_dtype(dtype)
    require(isinstance(device, str), f"--device must be auto, cpu, cuda or cuda:K; got {device!r}")
    return dict(dataset=dataset, param=param, optimizer=optimizer, bias=bias, bias_gain=bias_gain,
                step_exponent=step_exponent, lr=check_float("lr", lr, 0, strict=True), **sizes,
                n_train=n_train, n_epochs=max(1, round(epoch_budget / d)), valid_every=max(1, round(valid_budget / d)),
                seed=check_int("seed", seed, minimum=0), device=device, dtype=dtype,
                path=None if path is None else str(path))


PAPER_DATASETS = ("ex",) + tuple(f"radial_{d}" for d in (1, 2, 4, 8, 16, 32, 64))
GRIDS = {
    "paper": dict(params=PARAMETERISATIONS, optimizers=OPTIMIZERS, datasets=PAPER_DATASETS,
                  biases=("zero", "pytorch", "unif", "unif-pos", "unif-neg", "kink-neg-unif", "kink-neg-point"),
                  coarse=tuple(4 * k for k in range(-12, 11)), fine=(-3, -2, -1, 1, 2, 3), extend=4,
                  runs=100, width=512, epoch_budget=8192, valid_budget=64, max_chunk_points=50 * 256 * 64),
    "quick": dict(params=PARAMETERISATIONS, optimizers=OPTIMIZERS, datasets=("ex", "radial_1", "radial_4", "radial_16"),
                  biases=("zero", "unif-neg", "kink-neg-unif"),
                  coarse=tuple(8 * k for k in range(-3, 3)), fine=(-4, 4), extend=2,
                  runs=8, width=64, epoch_budget=512, valid_budget=32, max_chunk_points=50 * 256 * 64),
}
# The settings every result of one sweep folder shares (the rest name the configuration and step).
SHARED_SETTINGS = ("bias_gain", "runs", "width", "epoch_budget", "valid_budget", "batch_size", "train_per_dim",
                   "n_valid", "n_test", "seed", "dtype")


def n_chunks_for(runs, n_train, max_chunk_points):
    """The fewest chunks dividing P with at most max_chunk_points training points per chunk."""
    least = math.ceil(runs * n_train / max_chunk_points)
    return next(c for c in range(least, runs + 1) if runs % c == 0)


def grid_settings(grid, **overrides):
    """The grid's settings with the non-None overrides; list options parsed and validated."""
    settings = dict(GRIDS[check_choice("grid", grid, tuple(GRIDS))])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("params", "optimizers", "datasets", "biases"):
        settings[key] = as_list(key, settings[key], lambda option, item: str(item))
    for key in ("runs", "width", "epoch_budget", "valid_budget"):
        settings[key] = check_int(key, settings[key])
    return settings


def step_limits(settings):
    """The smallest and largest step exponent a search may try: the coarse range widened by
    ``extend`` coarse spacings on either side."""
    coarse = sorted(settings["coarse"])
    reach = settings["extend"] * (coarse[1] - coarse[0])
    return coarse[0] - reach, coarse[-1] + reach


def next_exponents(results, settings):
    """The step exponents a configuration tries next, given its results so far: the fine offsets
    around the best step (by validation, never a diverged one), and one coarse spacing beyond the
    best step while it sits at the edge of the tried steps (within ``step_limits``). Empty when the
    search is done (or every step diverged)."""
    best = choose_step(results)
    if best is None:
        return []
    tried = {r["task"]["step_exponent"] for r in results}
    e, low, high = best["task"]["step_exponent"], *step_limits(settings)
    spacing = settings["coarse"][1] - settings["coarse"][0]
    candidates = [e + o for o in settings["fine"]]
    candidates += [e + spacing] if e == max(tried) else []
    candidates += [e - spacing] if e == min(tried) else []
    return sorted({c for c in candidates if low <= c <= high} - tried)


def configuration_tasks(settings, folder, **common):
    """The tasks of every (dataset, param, optimizer, bias) of the grid, without step: a dict
    {key: task} with key = (dataset, config_label); their result files are
    folder/<dataset>/<config_label>/step_e<exponent>.json."""
    tasks = {}
    for dataset, param, optimizer, bias in itertools.product(
            settings["datasets"], settings["params"], settings["optimizers"], settings["biases"]):
        n_train = common["train_per_dim"] * parse_dataset(dataset)[1]
        task = make_task(dataset=dataset, param=param, optimizer=optimizer, bias=bias, runs=settings["runs"],
                         n_chunks=n_chunks_for(settings["runs"], n_train, settings["max_chunk_points"]),
                         width=settings["width"], epoch_budget=settings["epoch_budget"],
                         valid_budget=settings["valid_budget"], **common)
        tasks[dataset, config_label(task)] = task
    return tasks


def at_step(task, folder, key, exponent):
    """``task`` at step base * 2^(exponent/8), with its result path."""
    lr = BASE_STEPS[task["optimizer"], task["param"]] * 2 ** (exponent / 8)
    return {**task, "step_exponent": exponent, "lr": lr, "path": str(Path(folder, *key, f"step_e{exponent:+04d}.json"))}


def run_tasks(tasks, jobs, desc, backend="loky", client=None):
    """Run the tasks with parallel_map; returns how many were trained and skipped."""
    outcomes = [status for _, status in parallel_map(run_task, tasks, jobs, desc, backend, client)]
    return outcomes.count("done"), outcomes.count("skipped")


SWEEP_FORMAT = "kinks-nn-sweep/1"


def folder_settings(settings, common):
    """What every result of a sweep folder shares: SHARED_SETTINGS and the step search."""
    shared = {**common, **{k: settings[k] for k in ("runs", "width", "epoch_budget", "valid_budget")}}
    return {**{k: shared[k] for k in SHARED_SETTINGS},
            **{k: list(settings[k]) if k != "extend" else settings[k] for k in ("coarse", "fine", "extend")}}


def prepare_sweep_folder(folder, wanted):
    """Check that ``folder`` holds no sweep of other settings, then record ``wanted`` in its
    sweep.json. The folder's settings come from sweep.json or, in a folder without one, from its
    first result file; a difference is refused with one line naming it, before anything is written."""
    manifest = folder / "sweep.json"
    there = None
    if manifest.exists():
        try:
            there = load_json(manifest)["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"{manifest} is unreadable; remove it or choose another --out") from None
    elif folder.exists() and (existing := next(folder.rglob("step_e*.json"), None)) is not None:
        task = (read_or_none(existing) or {}).get("task", {})
        there = {k: task.get(k) for k in SHARED_SETTINGS}
    if there is not None:
        diff = settings_differences(there, {k: wanted.get(k) for k in there})
        require(not diff, f"--out {folder} holds a sweep with other settings ({'; '.join(diff)}); "
                                f"use another --out or the same options")
    if not manifest.exists():
        save_json(manifest, {"format": SWEEP_FORMAT, "settings": wanted})


def read_or_none(path):
    """read_result, or None for a missing or corrupt file (the sweep recomputes those)."""
    try:
        return read_result(path)
    except ResultError:
        return None


def search_steps(configs, folder, settings, jobs, backend, client, threads):
    """The step search of every configuration, in rounds: first the coarse steps, then, until no
    configuration asks for more, the steps ``next_exponents`` asks for given the steps of the
    rounds before. Each round's tasks run in parallel; finished files are kept, so an interrupted
    search resumes and ends with the same steps. Returns (done, skipped)."""
    todo = {key: list(settings["coarse"]) for key in configs}
    tried = {key: set() for key in configs}
    done = skipped = 0
    for round_number in itertools.count():
        tasks = [{**at_step(configs[key], folder, key, e), **threads} for key, es in todo.items() for e in es]
        if not tasks:
            return done, skipped
        counts = run_tasks(tasks, jobs, "coarse steps" if round_number == 0 else f"search round {round_number}",
                           backend, client)
        done, skipped = done + counts[0], skipped + counts[1]
        for key, exponents in todo.items():
            tried[key].update(exponents)
        todo = {key: next_exponents([read_result(at_step(task, folder, key, e)["path"]) for e in sorted(tried[key])],
                                    settings) for key, task in configs.items()}


# ============================================================================= commands
def sweep(grid="quick", out=None, datasets=None, params=None, optimizers=None, biases=None, bias_gain=1.0,
          runs=None, width=None, epoch_budget=None, valid_budget=None, batch_size=256, train_per_dim=256,
          n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", jobs=None, backend="loky",
          scheduler=None):
    """Step-size search for every configuration of a grid; resumable, one JSON file per
    configuration and step.

    Coarse steps base * 2^(e/8) for the grid's exponents e; then, per configuration, the grid's
    fine offsets around the best step (smallest mean best-validation RMSE, never a diverged step),
    and one coarse spacing further while the best step sits at the edge of the tried steps, up to
    `extend` coarse spacings beyond the coarse range. Existing result files with the same settings
    are kept (corrupt ones or ones with other settings are recomputed), so an interrupted sweep
    resumes; a folder holding a sweep with other shared settings is refused. Prints how many tasks
    were trained and kept.

    Args:
        grid: quick (default) or paper; see the README's grid table.
        out: folder written to (default <results>/nn_setups/<grid>).
        datasets: comma list of ex, radial_<d>, rbf_<d> (default the grid's: quick ex,radial_1,radial_4,radial_16;
            paper ex,radial_1,...,radial_64).
        params: comma list of he, ntk (default both).
        optimizers: comma list of sgd, sgd-momentum, adam (default all three).
        biases: comma list of hidden-bias modes (see `fit`; default quick zero,unif-neg,kink-neg-unif; paper
            zero,pytorch,unif,unif-pos,unif-neg,kink-neg-unif,kink-neg-point).
        bias_gain: number multiplying the bias (default 1; must be 1 for the data-dependent modes).
        runs: networks per configuration and step, integer >= 1 (default quick 8, paper 100).
        width: hidden units, integer >= 1 (default quick 64, paper 512).
        epoch_budget: epochs * d, integer >= 1 (default quick 512, paper 8192).
        valid_budget: epochs * d between validation checks, integer >= 1 (default quick 32, paper 64).
        batch_size: integer >= 1 dividing 256 * d (default 256).
        train_per_dim: training points per input dimension, integer >= 1 (default 256).
        n_valid: validation points, integer >= 1 (default 1024).
        n_test: test points, integer >= 1 (default 1024).
        seed: integer >= 0 (default 0).
        device: auto (default), cpu, cuda or cuda:K.
        dtype: float32 (default) or float64.
        jobs: worker processes, -1 = all cores (default: all cores on CPU with 1 torch thread each, 1 on CUDA).
        backend: loky (default) or dask.
        scheduler: tcp://HOST:PORT of a Dask scheduler (with --backend dask; default a local cluster); its
            workers must see --out at the same absolute path.
    """
    settings = grid_settings(grid, datasets=datasets, params=params, optimizers=optimizers, biases=biases,
                             runs=runs, width=width, epoch_budget=epoch_budget, valid_budget=valid_budget)
    folder = (Path(out) if out is not None else results_root() / "nn_setups" / grid).absolute()
    common = dict(bias_gain=bias_gain, batch_size=batch_size, train_per_dim=train_per_dim, n_valid=n_valid,
                  n_test=n_test, seed=seed, device=device, dtype=dtype)
    configs = configuration_tasks(settings, folder, **common)
    on_cpu = torch_device(device).type == "cpu"
    jobs = (-1 if on_cpu else 1) if jobs is None else check_int("jobs", jobs, minimum=-1)
    require(jobs != 0, "--jobs must be -1 (all cores) or an integer >= 1; got 0")
    threads = dict(threads=1) if jobs != 1 and on_cpu else {}
    start = time.perf_counter()
    prepare_sweep_folder(folder, folder_settings(settings, common))
    with backend_client(backend, scheduler, jobs) as client:
        done, skipped = search_steps(configs, folder, settings, jobs, backend, client, threads)
    return dict(done=done, skipped=skipped, seconds=round(time.perf_counter() - start, 1), folder=str(folder))


def fit_path(task):
    """Default file of a fit: its configuration, step and sizes in the name."""
    name = (f"{task['dataset']}_{config_label(task)}_lr{task['lr']:.4g}_runs{task['runs']}_width{task['width']}"
            f"_epochs{task['epoch_budget']}_valid{task['valid_budget']}_batch{task['batch_size']}"
            f"_train{task['train_per_dim']}_seed{task['seed']}_{task['dtype']}.json")
    return results_root() / "nn_setups" / "fit" / name


def fit(dataset="ex", param="he", optimizer="adam", bias="zero", bias_gain=1.0, lr=None, step_exponent=0,
        runs=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
        train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", out=None):
    """Train P networks of one configuration at one step size, show progress, print the RMSEs and
    save the result JSON. An existing file there with other settings is refused, never overwritten.

    Args:
        dataset: ex (default), radial_<d> or rbf_<d> with an integer d >= 1.
        param: he (default) or ntk.
        optimizer: sgd, sgd-momentum or adam (default).
        bias: hidden-bias mode (default zero): zero, normal, uniform, pos-unif, neg-unif, unif, unif-pos,
            unif-neg, kink-unif, kink-neg-unif, pytorch, or the data-dependent kink-point-<k> (k >= 1),
            kink-range, kink-neg-point, mean (drawn from the whole training set).
        bias_gain: number multiplying the bias (default 1; must be 1 for the data-dependent modes).
        lr: step size > 0 (default: base step * 2^(step_exponent/8); base adam 1e-2 He / 8e-2 NTK, sgd and
            sgd-momentum 8e-3 He / 8e-1 NTK).
        step_exponent: integer (default 0).
        runs: networks, integer >= 1 (default 100).
        n_chunks: chunks trained one after the other, integer >= 1 dividing --runs (default 1).
        width: hidden units, integer >= 1 (default 512).
        epoch_budget: epochs * d, integer >= 1 (default 8192).
        valid_budget: epochs * d between validation checks, integer >= 1 (default 64).
        batch_size: integer >= 1 dividing train_per_dim * d (default 256).
        train_per_dim: training points per input dimension, integer >= 1 (default 256).
        n_valid: validation points, integer >= 1 (default 1024).
        n_test: test points, integer >= 1 (default 1024).
        seed: integer >= 0 (default 0).
        device: auto (default), cpu, cuda or cuda:K.
        dtype: float32 (default) or float64.
        out: file written (default <results>/nn_setups/fit/<dataset>_<configuration>_lr<lr>_runs<P>_width<m>
            _epochs<E>_valid<V>_batch<B>_train<T>_seed<S>_<dtype>.json).
    """
    task = make_task(dataset, param, optimizer, bias, bias_gain, step_exponent, lr, runs, n_chunks, width,
                     epoch_budget, valid_budget, batch_size, train_per_dim, n_valid, n_test, seed, device, dtype)
    path = Path(out) if out is not None else fit_path(task)
    if path.exists():
        try:
            there = read_result(path)["task"]
        except ResultError as error:
            raise UsageError(f"--out {error}; remove it or choose another --out") from None
        diff = settings_differences(there, task_settings(task))
        require(not diff, f"--out {path} holds a fit with other settings ({'; '.join(diff)}); "
                                f"choose another --out")
    torch_device(device)
    print(f"{dataset} {config_label(task)}: lr {task['lr']:.4g}, {runs} networks, width {width}, "
          f"{task['n_epochs']} epochs of {task['n_train'] // batch_size} steps, validation every {task['valid_every']}")
    result = execute({**task, "path": str(path)}, progress=True)
    save_json(path, result)
    for name in STATISTICS:
        mean, std = result["mean"][name], result["std"][name]
        print(f"  {name:11s} RMSE  {mean if mean is None else f'{mean:.4f}'} +- {std if std is None else f'{std:.4f}'}")
    print(f"  diverged {result['diverged']}/{result['runs']}, Bayes RMSE {result['bayes_rmse']:.4f}, "
          f"{result['wall_time_s']:.1f} s; saved {path}")


def seconds_per_step(runs, d, width, steps, optimizer, device, dtype):
    """Wall seconds per minibatch step (256 points) of training ``runs`` networks at once on
    1,024 points of radial_d."""
    task = dict(dataset=f"radial_{d}", param="he", bias="zero", bias_gain=1.0, runs=runs, n_chunks=1, width=width,
                n_train=4 * 256, n_valid=256, n_test=256, seed=0, device=str(device), dtype=dtype)

    def run(epochs):
        data, params, mults, orders = chunk_start(task, 0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_networks(params, mults, data, optimizer, 1e-3, epochs, epochs, 256, orders)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    run(1)  # warm-up
    epochs = max(1, steps // 4)
    return run(epochs) / (4 * epochs)


def benchmark(runs=100, width=512, dims="1,16,64", steps=64, optimizer="adam", device="auto",
              dtype="float32", threads=None, out=None):
    """Time training steps of ``runs`` networks batched against one network (a Python loop over
    networks costs P times that); prints ms per step, network-steps per second and the speed-up,
    and saves them.

    Args:
        runs: networks trained at once, integer >= 1 (default 100).
        width: hidden units, integer >= 1 (default 512).
        dims: comma list of input dimensions, integers >= 1 (default 1,16,64).
        steps: minibatch steps timed, integer >= 1 (default 64).
        optimizer: sgd, sgd-momentum or adam (default).
        device: auto (default), cpu, cuda or cuda:K.
        dtype: float32 (default) or float64.
        threads: torch CPU threads, integer >= 1 (default: torch's choice).
        out: file written (default <results>/nn_setups/benchmark_<cpu|cuda>.json).
    """
    runs, width, steps = (check_int(k, v) for k, v in (("runs", runs), ("width", width), ("steps", steps)))
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads))
    dims = as_list("dims", dims, check_int)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    device = torch_device(device)
    torch_dtype(dtype)
    rows = []
    for d in dims:
        batched = seconds_per_step(runs, d, width, steps, optimizer, device, dtype)
        single = seconds_per_step(1, d, width, steps, optimizer, device, dtype)
        rows.append(dict(d=d, ms_per_step_batched=1e3 * batched, ms_per_step_single=1e3 * single,
                         network_steps_per_s=runs / batched, speedup_vs_loop=runs * single / batched,
                         full_run_minutes=8192 * batched / 60))
        print(f"d={d:3d}: {rows[-1]['ms_per_step_batched']:8.2f} ms/step for {runs} networks, "
              f"{rows[-1]['ms_per_step_single']:6.2f} ms/step for one; {rows[-1]['network_steps_per_s']:9.0f} "
              f"network-steps/s; x{rows[-1]['speedup_vs_loop']:.1f} vs a loop; 8192 steps: "
              f"{rows[-1]['full_run_minutes']:.1f} min")
    path = Path(out) if out is not None else results_root() / "nn_setups" / f"benchmark_{device.type}.json"
    save_json(path, dict(device=str(device), threads=torch.get_num_threads(), runs=runs,
                               width=width, steps=steps, optimizer=optimizer, dtype=dtype, rows=rows))
    print(f"saved {path}")


COMMANDS = {"fit": fit, "sweep": sweep, "benchmark": benchmark}
RENAMED = {"optimiser": "optimizer", "optimisers": "optimizers", "n_networks": "runs"}  # old: new, for one release

if __name__ == "__main__":
    utils.run_cli(COMMANDS, aliases=RENAMED)
