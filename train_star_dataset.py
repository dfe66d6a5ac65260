"""Thousands of small ReLU networks trained at once by gradient descent on two-dimensional data.

The question (Holzmüller & Steinwart, Section 7): does a network trained by gradient descent
from He initialisation ever move a kink across a data point, and does its loss ever fall below the
best piecewise-linear-regression fit, which is all it can reach while its kinks stay put?

P independent networks of L hidden layers of width n are held as batched tensors with a leading
network axis. Network p has its own sample weights p = Multinomial(n^2, uniform)/n^2 over the m
training points, loss L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2, and its own step size
h = lr_factor / lambda_max(P^(1/2) K P^(1/2)) at initialisation (K the neural-tangent Gram matrix,
P = diag(p)) -- or, with the step rule of the published runs, h = lr_factor / |theta|^2 (see
``published_step_sizes``). Full-batch gradient descent; per network the first epoch with a changed on/off
pattern of some hidden unit ("kink crossed") and the first epoch with a loss below
0.999999 x the linear-regression threshold ("loss crossed") are recorded.

Device policy: the whole start (data, weights p, He initialisation, thresholds, step sizes) is
drawn and computed on the CPU in float64 from the seed, then cast to --dtype and moved to the
device, so a run on any device and with any thread count starts from identical tensors.

Layout: data sets; thresholds; networks (initialisation, forward, NTK Gram matrix, step sizes);
training (epochs, tracking, resumable runs); presets and CLI (train, experiments, benchmark).

A layer is stored as one augmented matrix A (P, fan_in + 1, fan_out): its weights, then its
bias as the last row, so z = [h, 1] A.
"""
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinks.checks import check_choice, check_float, check_int, require
from kinks.files import atomic_write, load_json, save_json
from kinks.nets import torch_device, torch_dtype
import utils
from custom_paths import results_root
from kinks.data import X_DATA, Y_DATA, sample_weights

STATE_FORMAT = "kinks-star-state/1"
LOSS_MARGIN = 0.999999  # "loss crossed": loss < LOSS_MARGIN * threshold
STAR_OFFSET, STAR_LABELS = 0.1, np.array([1.0, -2.0, 1.0])
DATA_SEED = 1
ACTIVATIONS = ("relu", "tanh")
DTYPES = ("float32", "float64")
STEP_RULES = ("ntk", "published")
DEFAULT_LR_FACTOR = {"ntk": 1.0, "published": 2.0}   # published: the effective step 2 / |theta|^2
RAY_TOLERANCE = 1e-5   # two points lie on one ray when their directions differ by at most this


# ============================================================================= data sets
def standard_data():
    """The paper's six 1-D points: X (6, 1), y (6,)."""
    return X_DATA[:, None], Y_DATA.copy()


def on_lines(directions):
    """The six standard points placed along each direction u (rows of ``directions``, (k, 2)):
    points x u, in the order of the directions; labels repeated. X (6k, 2), y (6k,)."""
    directions = np.asarray(directions, float)
    X = (directions[:, None, :] * X_DATA[None, :, None]).reshape(-1, 2)
    return X, np.tile(Y_DATA, len(directions))


def star_data(k):
    """k rays at angles 2 pi i / k, points at radii 1 - d, 1, 1 + d (d = 0.1) with labels (1, -2, 1):
    X (3k, 2) ordered ray by ray, y (3k,)."""
    angles = 2 * np.pi * np.arange(k) / k
    radii = 1 + STAR_OFFSET * np.array([-1.0, 0.0, 1.0])
    rays = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return (rays[:, None, :] * radii[None, :, None]).reshape(-1, 2), np.tile(STAR_LABELS, k)


def random_with_line_data():
    """The six standard points on the second axis, then six standard-normal points with
    standard-normal labels (numpy seed 1): X (12, 2), y (12,)."""
    rng = np.random.default_rng(DATA_SEED)
    X_line, y_line = on_lines([[0.0, 1.0]])
    X_random = rng.standard_normal((6, 2))
    return np.concatenate([X_line, X_random]), np.concatenate([y_line, rng.standard_normal(6)])


def multi_axis_data(d):
    """On each of the d axes of R^d five points x e_i, x ~ U(1, 2), labels y ~ U(-1, 1) minus that
    axis's (unweighted) least-squares intercept beta_i of y ~ alpha_i x + beta_i (numpy seed 1).
    X (5d, d) ordered axis by axis, y (5d,)."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.uniform(1.0, 2.0, (d, 5))
    y = rng.uniform(-1.0, 1.0, (d, 5))
    slope = ((x - x.mean(1, keepdims=True)) * (y - y.mean(1, keepdims=True))).sum(1) / \
        ((x - x.mean(1, keepdims=True)) ** 2).sum(1)
    intercept = y.mean(1) - slope * x.mean(1)
    X = (np.eye(d)[:, None, :] * x[:, :, None]).reshape(-1, d)
    return X, (y - intercept[:, None]).reshape(-1)


FIXED_DATASETS = {
    "standard": standard_data,
    "cross": lambda: on_lines([[0.0, 1.0], [1.0, 0.0]]),
    "double_cross": lambda: on_lines([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, -1.0]]),
    "random_with_line": random_with_line_data,
}
DATASET_NAMES = tuple(FIXED_DATASETS) + ("star_<k>", "multi_axis_<d>")


def make_data(name):
    """Training inputs X (m, d) and labels y (m,) of data set ``name`` (float64 numpy arrays):
    standard, cross, double_cross, random_with_line, star_<k> (k >= 1) or multi_axis_<d> (d >= 1)."""
    match = re.fullmatch(r"(star|multi_axis)_([1-9]\d*)", name) if isinstance(name, str) else None
    require(name in FIXED_DATASETS or match is not None,
                  f"--dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
    if match is None:
        return FIXED_DATASETS[name]()
    return (star_data if match[1] == "star" else multi_axis_data)(int(match[2]))


# ============================================================================= thresholds
def ray_groups(X, tolerance=RAY_TOLERANCE):
    """The training points grouped by direction u_j = x_j / |x_j| (points on one ray from the
    origin; the published rule: directions equal within 1e-5): point j joins the first group whose
    leading point l has |u_j - u_l| <= tolerance, else it leads a new group. A list of index arrays in order of first
    appearance; the origin (u = 0) forms its own group. X (m, d)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    directions = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    leaders, group_of = [], np.empty(len(X), dtype=int)
    for j, u in enumerate(directions):
        near = np.flatnonzero(np.linalg.norm(directions[leaders] - u, axis=1) <= tolerance) if leaders else []
        if len(near) == 0:
            leaders.append(j)
        group_of[j] = near[0] if len(near) else len(leaders) - 1
    return [np.flatnonzero(group_of == g) for g in range(len(leaders))]


def regression_thresholds(X, y, p, min_points=3):
    """The linear-regression threshold of every network, (P,):

        T = 1/2 sum_{rays g, |g| >= 3} min_{alpha, beta} sum_{j in g} p_j (y_j - alpha |x_j| - beta)^2,

    with the weighted least-squares residual in closed form, RSS = S_yy - S_ry^2 / S_rr, where
    S_ab = sum_j p_j (a_j - a_bar)(b_j - b_bar) and a_bar = sum_j p_j a_j / sum_j p_j (RSS = S_yy
    when all weight sits at one radius, 0 without weight). X (m, d), y (m,), p (P, m)."""
    radius = np.linalg.norm(X, axis=1)
    total = np.zeros(p.shape[0])
    for group in ray_groups(X):
        if len(group) < min_points:
            continue
        w, r, t = p[:, group], radius[group], y[group]
        mass = w.sum(1, keepdims=True)
        safe = np.where(mass > 0, mass, 1.0)
        r_c, t_c = r - (w * r).sum(1, keepdims=True) / safe, t - (w * t).sum(1, keepdims=True) / safe
        s_rr, s_ry, s_yy = ((w * r_c * r_c).sum(1), (w * r_c * t_c).sum(1), (w * t_c * t_c).sum(1))
        explained = np.divide(s_ry ** 2, s_rr, out=np.zeros_like(s_rr), where=s_rr > 1e-14 * (1 + s_yy))
        total += np.maximum(s_yy - explained, 0.0)
    return 0.5 * total


# ============================================================================= networks
def layer_sizes(d, width, layers):
    """(fan_in, fan_out) of every layer, the output layer last."""
    widths = [d] + [width] * layers + [1]
    return list(zip(widths[:-1], widths[1:]))


def init_params(n_networks, d, width, layers, random_bias, generator):
    """He initialisation of P networks: every weight ~ N(0, 2 / fan_in); biases 0, or
    ~ N(0, 2 / fan_in) with ``random_bias``. A list of float64 CPU tensors (P, fan_in + 1, fan_out)."""
    params = []
    for fan_in, fan_out in layer_sizes(d, width, layers):
        A = torch.randn((n_networks, fan_in + 1, fan_out), generator=generator, dtype=torch.float64)
        if not random_bias:
            A[:, fan_in] = 0.0
        params.append(A * math.sqrt(2.0 / fan_in))
    return params


def affine(H, A):
    """z = h W + b for a layer A = [W; b]: H (P, m, fan_in) or (m, fan_in), A (P, fan_in + 1, k)
    -> (P, m, k)."""
    return torch.baddbmm(A[:, -1:], H.expand(A.shape[0], *H.shape[-2:]), A[:, :-1])


def activation_function(name):
    return torch.relu if name == "relu" else torch.tanh


def forward(params, X, activation):
    """Network outputs f (P, m) on inputs X (m, d) and the hidden pre-activations, a list of
    (P, m, n) per hidden layer."""
    sigma, H, pre = activation_function(activation), X, []
    for A in params[:-1]:
        pre.append(affine(H, A))
        H = sigma(pre[-1])
    return affine(H, params[-1])[..., 0], pre


def on_off_pattern(pre):
    """Which hidden units are on (z > 0) at which training points: bool (P, m, L n)."""
    return torch.cat([Z > 0 for Z in pre], dim=-1)


def loss_per_network(f, y, p):
    """L = 1/2 sum_j p_j (f(x_j) - y_j)^2 per network: f, p (P, m), y (m,) -> (P,)."""
    return 0.5 * (p * (f - y) ** 2).sum(1)


def ntk_gram_one_layer(params, X, activation):
    """The neural-tangent Gram matrix K_jk = grad_theta f(x_j) . grad_theta f(x_k) of networks
    f(x) = c + sum_i w_i sigma(z_i(x)), z_i(x) = a_i . x + b_i, in closed form:

        K_jk = sum_i w_i^2 sigma'(z_ij) sigma'(z_ik) (x_j . x_k + 1) + sum_i sigma(z_ij) sigma(z_ik) + 1

    (for ReLU, sigma' = 1[z > 0]). params = [A1 (P, d+1, n), A2 (P, n+1, 1)], X (m, d) -> (P, m, m)."""
    A1, A2 = params
    Z = affine(X, A1)
    if activation == "relu":
        slope, value = (Z > 0).to(Z.dtype), torch.relu(Z)
    else:
        value = torch.tanh(Z)
        slope = 1 - value ** 2
    G = slope * A2[:, None, :-1, 0]                                   # (P, m, n): w_i sigma'(z_ij)
    X1 = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)             # (m, d + 1)
    return G @ G.transpose(1, 2) * (X1 @ X1.T) + value @ value.transpose(1, 2) + 1


def ntk_gram_autograd(params, X, activation, max_elements=2 ** 24):
    """K = J J^T with the Jacobian J (m, #parameters) of every network by torch.func (vmap of
    jacrev over networks, in chunks of at most ``max_elements`` Jacobian entries): (P, m, m)."""
    from torch.func import jacrev, vmap

    def outputs(single, X):
        return forward([A[None] for A in single], X, activation)[0][0]

    jacobian = vmap(jacrev(outputs), in_dims=(0, None))
    n_params = sum(A[0].numel() for A in params)
    chunk = max(1, max_elements // (X.shape[0] * n_params))
    grams = []
    for start in range(0, params[0].shape[0], chunk):
        J = torch.cat([j.flatten(2) for j in jacobian([A[start:start + chunk] for A in params], X)], dim=2)
        grams.append(J @ J.transpose(1, 2))
    return torch.cat(grams)


def ntk_gram(params, X, activation):
    """K (P, m, m): closed form for one hidden layer, torch.func for deeper networks."""
    return (ntk_gram_one_layer if len(params) == 2 else ntk_gram_autograd)(params, X, activation)


def ntk_step_sizes(K, p, lr_factor):
    """The paper's rule h = lr_factor / lambda_max(P^(1/2) K P^(1/2)) per network:
    K (P, m, m), p (P, m) -> (P,)."""
    root = p.sqrt()
    return lr_factor / torch.linalg.eigvalsh(root[:, :, None] * K * root[:, None, :])[:, -1]


def published_step_sizes(params, lr_factor):
    """The step the published runs took, h = lr_factor / |theta|^2 per network, |theta|^2 the sum
    of squares of all its parameters: their "kernel" stacked the parameter values where the
    per-sample gradients belong, K = |theta|^2 (1 1^T), so lambda_max(P^(1/2) K P^(1/2)) =
    |theta|^2 sum_j p_j = |theta|^2; every update was then applied twice (lr_factor 2 reproduces
    them). params: list of (P, fan_in + 1, fan_out) -> (P,)."""
    return lr_factor / sum((A ** 2).sum((1, 2)) for A in params)


def initial_step_sizes(config, params, X, p):
    """h (P,) of the configuration's step rule (``ntk_step_sizes`` or ``published_step_sizes``)
    at the initial parameters; params, X (m, d) and p (P, m) on one device in one dtype."""
    if config["step"] == "published":
        return published_step_sizes(params, config["lr_factor"])
    return ntk_step_sizes(ntk_gram(params, X, config["activation"]), p, config["lr_factor"])


# ============================================================================= training epochs
def autograd_epoch(params, data):
    """One gradient-descent epoch by autograd (any depth and activation; also the benchmark's
    baseline): at theta_t returns (theta_{t+1} = theta_t - h grad L(theta_t) as new tensors,
    L(theta_t) (P,), whether the on/off pattern at theta_t differs from the initial one (P,)
    bool). Like ``relu_epoch``, it leaves ``params`` untouched."""
    leaves = [A.detach().requires_grad_() for A in params]
    f, pre = forward(leaves, data["X"], data["activation"])
    loss = loss_per_network(f, data["y"], data["p"])
    grads = torch.autograd.grad(loss.sum(), leaves)
    changed = (on_off_pattern(pre) != data["initial_pattern"]).flatten(1).any(1)
    step = data["h"][:, None, None]
    return [torch.addcmul(A, step, g, value=-1) for A, g in zip(params, grads)], loss.detach(), changed


BITS_PER_CODE = 23  # sums of distinct powers 2^0 ... 2^22 are exact integers in float32


def bit_weights(m, dtype, device=None):
    """B (m, k), k = ceil(m / 23): B_jc = 2^(j - 23 c) for the points j of block c, else 0, so that
    the code B^T M (k, n) of a 0/1 pattern M (m, n) holds each unit's pattern exactly as integers."""
    j = torch.arange(m, device=device)
    B = torch.zeros((m, -(-m // BITS_PER_CODE)), dtype=dtype, device=device)
    B[j, j // BITS_PER_CODE] = 2.0 ** (j % BITS_PER_CODE).to(dtype)
    return B


def pattern_codes(pattern, bits):
    """Codes of the on/off patterns (P, m, n), 0/1 or bool: B^T M, (P, k, n) (see ``bit_weights``)."""
    return bits.T @ pattern.to(bits.dtype)


def relu_epoch(params, data):
    """One gradient-descent epoch of one-hidden-layer ReLU networks by the homogeneity of ReLU,
    relu(z) = 1[z > 0] z, so that the on/off matrix M (P, m, n), held in the preallocated
    data['buffer'], is the only (P, m, n) tensor:

        f(x_j) = c + x~_j . (M V)_j,       V_i = w_i a~_i         (x~ = (x, 1), a~_i = (a_i, b_i))
        [S; C] = [r x~, B]^T M,            r_j = p_j (f(x_j) - y_j)
        dL/da~_i = w_i S_i,   dL/dw_i = a~_i . S_i,   dL/dc = sum_j r_j,

    (S (P, d+1, n), column i for unit i), and the pattern has changed where the codes C (P, k, n)
    differ from the initial codes (``pattern_codes``). Same inputs and outputs as ``autograd_epoch``
    (``params`` untouched, theta_{t+1} as new tensors)."""
    A1, A2 = params
    X1, h = data["X1"], data["h"]
    M = torch.baddbmm(A1[:, -1:], data["X_batch"], A1[:, :-1], out=data["buffer"]).gt_(0)
    w, c = A2[:, :-1, 0], A2[:, -1, 0]                                # (P, n), (P,)
    U = torch.bmm(M, w[:, :, None] * A1.transpose(1, 2))              # (P, m, d + 1)
    error = (U * X1).sum(2) + c[:, None] - data["y"]                  # (P, m)
    r = data["p"] * error
    SC = torch.bmm(torch.cat([r[:, :, None] * X1, data["bits"]], dim=2).transpose(1, 2), M)
    S, C = SC[:, :X1.shape[1]], SC[:, X1.shape[1]:]                   # (P, d + 1, n), (P, k, n)
    grad_A1 = w[:, None, :] * S
    grad_A2 = torch.cat([(A1 * S).sum(1), r.sum(1, keepdim=True)], dim=1)[:, :, None]
    step = h[:, None, None]
    changed = (C != data["initial_code"]).flatten(1).any(1)
    return [A1 - step * grad_A1, A2 - step * grad_A2], 0.5 * (r * error).sum(1), changed


def uses_relu_epoch(config):
    """The fast ReLU epoch serves one hidden layer of ReLU units; autograd everything else."""
    return config["activation"] == "relu" and config["layers"] == 1


def first_epochs(state, epoch, loss, changed):
    """Record epoch t as the first kink-crossed, loss-crossed and non-finite epoch where due."""
    never = lambda key: state[key] < 0  # noqa: E731
    state["kink_epoch"] = torch.where(never("kink_epoch") & changed, epoch, state["kink_epoch"])
    below = loss.double() < LOSS_MARGIN * state["threshold"]
    state["loss_epoch"] = torch.where(never("loss_epoch") & below, epoch, state["loss_epoch"])
    state["nan_epoch"] = torch.where(never("nan_epoch") & ~torch.isfinite(loss), epoch, state["nan_epoch"])


LOG_COLUMNS = ("epoch", "mean_loss") + tuple(f"ratio_d{k}" for k in range(1, 10)) + (
    "kink_crossed", "loss_crossed", "non_finite")


def log_row(state, epoch, loss):
    """The log at epoch t: mean loss over finite losses, the deciles of loss / threshold, both
    crossed fractions and the count of non-finite losses; a float64 tensor (len(LOG_COLUMNS),)."""
    loss = loss.double()
    finite = torch.isfinite(loss)
    ratio = torch.where(finite, loss / state["threshold"], math.nan)
    deciles = torch.nanquantile(ratio, torch.linspace(0.1, 0.9, 9, dtype=torch.float64, device=loss.device))
    fractions = torch.stack([(state[k] >= 0).double().mean() for k in ("kink_epoch", "loss_epoch")])
    mean = loss[finite].mean() if finite.any() else torch.tensor(math.nan, device=loss.device)
    return torch.cat([torch.tensor([epoch], dtype=torch.float64, device=loss.device), mean[None], deciles,
                      fractions, (~finite).sum()[None].double()]).cpu()


# ============================================================================= runs
def make_config(dataset="star_11", width=256, layers=1, runs=1000, activation="relu", random_bias=False,
                step="ntk", lr_factor=None, seed=0, dtype="float32"):
    """A validated configuration (a plain dict): everything that decides the result except the
    epoch count and the device. lr_factor None: the step rule's default (``DEFAULT_LR_FACTOR``)."""
    make_data(dataset)
    require(isinstance(random_bias, bool), f"--random_bias must be true or false; got {random_bias!r}")
    check_choice("dtype", dtype, DTYPES)
    check_choice("step", step, STEP_RULES)
    lr_factor = DEFAULT_LR_FACTOR[step] if lr_factor is None else lr_factor
    return dict(dataset=dataset, width=check_int("width", width), layers=check_int("layers", layers),
                runs=check_int("runs", runs),
                activation=check_choice("activation", activation, ACTIVATIONS), random_bias=random_bias,
                step=step, lr_factor=check_float("lr_factor", lr_factor, 0, strict=True),
                seed=check_int("seed", seed, minimum=0), dtype=dtype)


def config_label(config):
    """Folder name of a configuration, e.g. L1_n256_P1000_relu_zerobias_ntk-lr1_seed0_float32."""
    bias = "randbias" if config["random_bias"] else "zerobias"
    return (f"L{config['layers']}_n{config['width']}_P{config['runs']}_{config['activation']}_{bias}_"
            f"{config['step']}-lr{config['lr_factor']:g}_seed{config['seed']}_{config['dtype']}")


def run_dir(config, results=None):
    """<results>/star/<dataset>/<config label>/ (results: default the results root)."""
    return Path(results if results is not None else results_root()) / "star" / config["dataset"] / config_label(config)


def initial_state(config, device):
    """The state at epoch 0: parameters, data weights p, thresholds, step sizes h, the initial
    on/off pattern and the first-epoch trackers (-1 = not yet). Draws: numpy SeedSequence(seed)
    for p, torch's CPU generator seeded with ``seed`` for the parameters. Parameters, p, h and
    thresholds are computed on the CPU in float64 and only then cast to the dtype and moved to
    ``device``, so the start does not depend on the device or the thread count; the initial
    pattern is that of the cast parameters, as the epochs see them."""
    X, y = make_data(config["dataset"])
    P, n, dtype = config["runs"], config["width"], torch_dtype(config["dtype"])
    p = torch.as_tensor(sample_weights(np.random.default_rng(np.random.SeedSequence(config["seed"])), P, n * n,
                                       len(y)))
    params = init_params(P, X.shape[1], n, config["layers"], config["random_bias"],
                         torch.Generator().manual_seed(config["seed"]))
    h = initial_step_sizes(config, params, torch.as_tensor(X), p)
    params = [A.to(device, dtype) for A in params]
    never = torch.full((P,), -1, dtype=torch.int64, device=device)
    X_t = torch.as_tensor(X, device=device, dtype=dtype)
    return dict(format=STATE_FORMAT, config=json.dumps(config, sort_keys=True), epoch=0, params=params,
                weights=p.to(device, dtype), threshold=torch.as_tensor(regression_thresholds(X, y, p.numpy()),
                                                                       device=device),
                step=h.to(device, dtype), initial_pattern=on_off_pattern(forward(params, X_t, config["activation"])[1]),
                kink_epoch=never, loss_epoch=never.clone(), nan_epoch=never.clone(),
                loss=torch.full((P,), math.nan, dtype=dtype, device=device),
                log=torch.zeros((0, len(LOG_COLUMNS)), dtype=torch.float64))


def training_data(config, state, device):
    """The tensors an epoch needs: X (m, d), X1 = [X, 1] (m, d+1), y (m,), p (P, m), h (P,), the
    initial pattern; for the fast ReLU epoch also X expanded to (P, m, d), the bit weights B
    expanded to (P, m, k), the initial codes (P, k, n) and the (P, m, n) buffer."""
    X, y = make_data(config["dataset"])
    dtype = torch_dtype(config["dtype"])
    X = torch.as_tensor(X, device=device, dtype=dtype)
    data = dict(X=X, X1=torch.cat([X, torch.ones_like(X[:, :1])], dim=1),
                y=torch.as_tensor(y, device=device, dtype=dtype), p=state["weights"], h=state["step"],
                activation=config["activation"], initial_pattern=state["initial_pattern"])
    if uses_relu_epoch(config):
        P, m, n = state["initial_pattern"].shape
        bits = bit_weights(m, dtype, device)
        data.update(X_batch=X.expand(P, m, X.shape[1]), bits=bits.expand(P, *bits.shape),
                    initial_code=pattern_codes(state["initial_pattern"], bits),
                    buffer=torch.empty((P, m, n), dtype=dtype, device=device))
    return data


def train_state(state, data, epochs, log_every=1000, checkpoint=None, checkpoint_every=10_000, progress=False):
    """Continue gradient descent from state['epoch'] to ``epochs``; epoch t evaluates theta_t (loss,
    pattern, trackers, log when t % log_every == 0) and steps to theta_{t+1}. ``checkpoint(state)``
    is called every ``checkpoint_every`` epochs and at the end. Returns the state (updated in place)."""
    epoch_step = relu_epoch if uses_relu_epoch(json.loads(state["config"])) else autograd_epoch
    bar = tqdm(total=epochs, initial=state["epoch"], desc="epochs", disable=not progress, mininterval=1.0)
    for t in range(state["epoch"], epochs):
        state["params"], loss, changed = epoch_step(state["params"], data)
        first_epochs(state, t, loss, changed)
        state["loss"], state["epoch"] = loss, t + 1
        if t % log_every == 0:
            state["log"] = torch.cat([state["log"], log_row(state, t, loss)[None]])
            row = dict(zip(LOG_COLUMNS, state["log"][-1].tolist()))
            bar.set_postfix(kink=f"{row['kink_crossed']:.3f}", loss=f"{row['loss_crossed']:.3f}",
                            nan=int(row["non_finite"]))
        bar.update()
        if checkpoint is not None and (state["epoch"] % checkpoint_every == 0 or state["epoch"] == epochs):
            checkpoint(state)
    bar.close()
    return state


def save_state(folder, state):
    """Write state.pt (plain tensors, ints and strings) and then result.json (the per-network
    first epochs, final loss / threshold and the log), each atomically."""
    cpu = {k: ([A.cpu() for A in v] if k == "params" else v.cpu() if torch.is_tensor(v) else v)
           for k, v in state.items()}
    atomic_write(Path(folder) / "state.pt", lambda file: torch.save(cpu, file))
    ratio = (cpu["loss"].double() / cpu["threshold"]).tolist()
    save_json(Path(folder) / "result.json", dict(
        config=json.loads(state["config"]), epoch=state["epoch"], n_networks=len(ratio),
        kink_epoch=cpu["kink_epoch"].tolist(), loss_epoch=cpu["loss_epoch"].tolist(),
        nan_epoch=cpu["nan_epoch"].tolist(), final_ratio=[v if math.isfinite(v) else None for v in ratio],
        log_columns=list(LOG_COLUMNS), log=cpu["log"].tolist()))


def load_state(folder, device):
    """state.pt loaded with weights_only=True onto ``device`` (the log stays on the CPU)."""
    state = torch.load(Path(folder) / "state.pt", map_location=device, weights_only=True)
    require(state.get("format") == STATE_FORMAT, f"{folder}/state.pt is not a star-data-set state")
    state["log"] = state["log"].cpu()
    return state


def open_run(config, folder, device):
    """The saved state of the run in ``folder`` (after checking that it holds ``config``), or a
    fresh one with config.json written. A different configuration there is refused."""
    folder = Path(folder)
    if (folder / "config.json").exists():
        saved = load_json(folder / "config.json")
        require(saved == config, f"{folder} holds a different configuration ({saved}); refusing to "
                      "overwrite it (choose another --results folder or remove it)")
        if (folder / "state.pt").exists():
            state = load_state(folder, device)
            require(json.loads(state["config"]) == config, f"{folder}/state.pt belongs to another configuration")
            return state
    save_json(folder / "config.json", config)
    return initial_state(config, device)


def run(config, epochs, device, results=None, log_every=1000, checkpoint_every=10_000, progress=True):
    """Train the run of ``config`` to ``epochs`` epochs, resuming from its checkpoint; returns
    (folder, state)."""
    folder = run_dir(config, results)
    state = open_run(config, folder, device)
    if state["epoch"] >= epochs:
        return folder, state
    data = training_data(config, state, device)
    train_state(state, data, epochs, log_every, lambda s: save_state(folder, s), checkpoint_every, progress)
    return folder, state


def crossed_summary(state):
    """One line: epoch, kink-crossed and loss-crossed fractions, non-finite count."""
    P = len(state["kink_epoch"])
    kink, loss = ((state[k] >= 0).sum().item() for k in ("kink_epoch", "loss_epoch"))
    return (f"epoch {state['epoch']}: kink crossed {kink}/{P} ({kink / P:.3f}), loss crossed {loss}/{P} "
            f"({loss / P:.3f}), non-finite loss {(state['nan_epoch'] >= 0).sum().item()}")


# ============================================================================= presets
def widths_of(low, high):
    return [2 ** k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)]


STAR_GROUPS = [dict(dataset="star_11", widths=widths_of(128, 4096), runs=1000, seeds=[0]),
               dict(dataset="star_11", widths=[8192], runs=500, seeds=[0, 1])]
DEEP_GROUPS = [dict(dataset="standard", widths=widths_of(16, 256), runs=1000, seeds=[0])]
STAR_STAGES = list(range(100_000, 1_000_001, 100_000))
DEEP_STAGES = list(range(10_000, 100_001, 10_000))
PRESETS = {
    "paper_star": dict(groups=STAR_GROUPS, layers=1, stages=STAR_STAGES, step="published"),
    "paper_star_ntk": dict(groups=STAR_GROUPS, layers=1, stages=STAR_STAGES, step="ntk"),
    "paper_deep": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="published"),
    "paper_deep_ntk": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="ntk"),
    "quick": dict(groups=[dict(dataset="star_11", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0]),
                          dict(dataset="cross", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0])],
                  layers=1, stages=[5_000, 10_000], step="ntk"),
}


def preset_configs(preset, step=None, **common):
    """Every configuration of a preset (step None: the preset's rule): a list of config dicts."""
    spec = PRESETS[check_choice("preset", preset, tuple(PRESETS))]
    step = spec["step"] if step is None else step
    return [make_config(dataset=group["dataset"], width=width, layers=spec["layers"], runs=group["runs"],
                        step=step, seed=seed, **common)
            for group in spec["groups"] for width in group["widths"] for seed in group["seeds"]]


# ============================================================================= commands
def train(dataset="star_11", width=256, layers=1, runs=1000, epochs=10_000, activation="relu",
          random_bias=False, step="ntk", lr_factor=None, seed=0, dtype="float32", device="auto", results=None,
          log_every=1000, checkpoint_every=10_000):
    """Train one configuration for --epochs epochs in all (resuming from its checkpoint under
    <results>/star/<dataset>/<config>/) and print the crossed fractions.

    Args:
        dataset: standard, cross, double_cross, random_with_line, star_<k> (k >= 1) or multi_axis_<d> (d >= 1); default star_11.
        width: hidden width n, an integer >= 1; default 256.
        layers: number of hidden layers L, an integer >= 1; default 1.
        runs: number of networks P trained at once, an integer >= 1; default 1000.
        epochs: total epoch count (a larger count than saved resumes the run), an integer >= 1; default 10000.
        activation: relu or tanh; default relu.
        random_bias: true (biases ~ N(0, 2/fan_in)) or false (biases 0); default false.
        step: ntk (h = lr_factor / lambda_max(P^1/2 K P^1/2), the paper's rule) or published (h = lr_factor / |theta|^2, the step the published runs took); default ntk.
        lr_factor: a number > 0; default 1 for --step ntk, 2 for --step published.
        seed: an integer >= 0; default 0.
        dtype: float32 or float64; default float32.
        device: auto (CUDA when available), cpu, cuda or cuda:K; default auto.
        results: the results root; default $KINKS_RESULTS or ./results.
        log_every: epochs between log rows, an integer >= 1; default 1000.
        checkpoint_every: epochs between checkpoints, an integer >= 1; default 10000.
    """
    config = make_config(dataset, width, layers, runs, activation, random_bias, step, lr_factor, seed, dtype)
    epochs = check_int("epochs", epochs)
    log_every, checkpoint_every = check_int("log_every", log_every), check_int("checkpoint_every",
                                                                                          checkpoint_every)
    folder, state = run(config, epochs, torch_device(device), results, log_every, checkpoint_every)
    print(f"{folder}: {crossed_summary(state)}")


def experiments(preset="quick", step=None, lr_factor=None, activation="relu", random_bias=False, dtype="float32",
                device="auto", results=None, max_epochs=None):
    """Run a preset's grid stage by stage: every configuration to the first epoch count, then all
    to the next, ... (resumable: finished stages are skipped).

    Args:
        preset: quick (star_11 and cross, n = 16, 64, 256, 1024, P = 200, 5k then 10k epochs, step ntk),
            paper_star (star_11, n = 128 ... 4096 with P = 1000 and n = 8192 as two seeds of P = 500, stages of 100k
            to 1M epochs, step published, which reproduces the published figure), paper_star_ntk (the same with step
            ntk), paper_deep (standard data, L = 3, n = 16 ... 256, P = 1000, stages of 10k to 100k epochs, step
            published) or paper_deep_ntk (the same with step ntk); default quick.
        step: ntk or published; default the preset's rule (named above).
        lr_factor: a number > 0; default 1 for step ntk, 2 for step published.
        activation: relu or tanh; default relu.
        random_bias: true or false; default false.
        dtype: float32 or float64; default float32.
        device: auto, cpu, cuda or cuda:K; default auto.
        results: the results root; default $KINKS_RESULTS or ./results.
        max_epochs: caps the preset's epoch counts, an integer >= 1; default none (the preset's stages).
    """
    configs = preset_configs(preset, step=step, activation=activation, random_bias=random_bias,
                             lr_factor=lr_factor, dtype=dtype)
    stages = PRESETS[preset]["stages"]
    if max_epochs is not None:
        stages = sorted({min(stage, check_int("max_epochs", max_epochs)) for stage in stages})
    device = torch_device(device)
    for stage in stages:
        for config in configs:
            folder, state = run(config, stage, device, results)
            print(f"{config['dataset']} n={config['width']} seed={config['seed']} {config['step']} step: "
                  f"{crossed_summary(state)}")


def timed_epochs(epoch_step, state, data, seconds, device):
    """Epochs per second of ``epoch_step`` with crossing tracking, run for about ``seconds``
    (after two warm-up epochs)."""
    params, done = state["params"], 0

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    for _ in range(2):
        params = epoch_step(params, data)[0]
    sync()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        params, loss, changed = epoch_step(params, data)
        first_epochs(state, done, loss, changed)
        done += 1
        if done % 8 == 0:
            sync()
    sync()
    return done / (time.perf_counter() - start)


BENCHMARK_CASES = ((256, 1000), (4096, 100))


def benchmark(device="auto", dtype="float32", seconds=5.0, threads=None, results=None):
    """Epochs per second on star_11 at (n = 256, P = 1000) and (n = 4096, P = 100): the fast ReLU
    epoch against a comparison baseline, the straightforward autograd epoch on the same tensors
    (``autograd_epoch``: forward, autograd backward, step, pattern compared directly); both track
    the crossings. Saved to <results>/star/benchmark_<device>.json.

    Args:
        device: auto, cpu, cuda or cuda:K; default auto.
        dtype: float32 or float64; default float32.
        seconds: time per measurement, a number > 0; default 5.
        threads: torch CPU threads, an integer >= 1; default torch's choice (all cores).
        results: the results root; default $KINKS_RESULTS or ./results.
    """
    device = torch_device(device)
    seconds = check_float("seconds", seconds, 0, strict=True)
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads))
    rows = []
    for width, P in BENCHMARK_CASES:
        config = make_config("star_11", width, runs=P, dtype=dtype)
        state = initial_state(config, device)
        data = training_data(config, state, device)
        fast = timed_epochs(relu_epoch, dict(state), data, seconds, device)
        slow = timed_epochs(autograd_epoch, dict(state), data, seconds, device)
        rows.append(dict(dataset="star_11", width=width, runs=P, epochs_per_s=fast,
                         autograd_epochs_per_s=slow, speedup=fast / slow))
        print(f"star_11 n={width} P={P}: {fast:8.1f} epochs/s (autograd baseline {slow:7.1f}; x{fast / slow:.2f})")
    path = Path(results if results is not None else results_root()) / "star" / f"benchmark_{device.type}.json"
    save_json(path, dict(device=str(device), threads=torch.get_num_threads(), dtype=dtype, rows=rows))
    print(f"saved {path}")


if __name__ == "__main__":
    utils.run_cli({"train": train, "experiments": experiments, "benchmark": benchmark}, aliases={"n_networks": "runs"})
