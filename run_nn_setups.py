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
    utils.require(name == "ex" or (match is not None and int(match[2]) >= 1),
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
    utils.check_choice("param", param, PARAMETERISATIONS)
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
    utils.require(mode in BIAS_MODES or (match is not None and int(match[1]) >= 1),
                  f"--bias must be one of {', '.join(BIAS_MODES)} (k >= 1); got {mode!r}")
    gain = utils.check_float("bias_gain", gain)
    data_dependent = match is not None or mode in DATA_BIASES
    utils.require(not data_dependent or gain == 1.0, f"--bias_gain must be 1 for the data-dependent bias {mode}")
    return mode, gain


def hidden_biases(mode, gain, W_eff, first_batch, generator):
    """Hidden biases b (P, 1, m) and sign flips s (P, 1, m) for the units' incoming weights.

    W_eff (P, d, m): effective first-layer weights m1 W; first_batch (P, B, d): each network's
    first training minibatch, used by the data-dependent modes (pre-activations Z = x^T W_eff)."""
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
    return data_biases(mode, torch.bmm(first_batch, W_eff), generator)


def data_biases(mode, Z, generator):
    """Data-dependent biases from first-batch pre-activations Z (P, B, m); returns (b, s) as above.

    kink-point-k:   b = -sum_j lambda_j Z_j over k distinct random batch points, lambda ~ Dirichlet(1..1)
    kink-range:     b ~ U(-max_j Z_j, -min_j Z_j)
    kink-neg-point: random point j; s = sign(Z_j); b = -|Z_j| (the kink passes through x_j)
    mean:           b = -mean_j Z_j"""
    P, B, m = Z.shape
    no_flip = torch.ones((P, 1, m), device=Z.device, dtype=Z.dtype)
    rand = lambda *shape: torch.rand(shape, generator=generator, device=Z.device, dtype=Z.dtype)  # noqa: E731
    if mode == "mean":
        return -Z.mean(1, keepdim=True), no_flip
    if mode == "kink-range":
        low, high = Z.min(1, keepdim=True).values, Z.max(1, keepdim=True).values
        return -(low + rand(P, 1, m) * (high - low)), no_flip
    if mode == "kink-neg-point":
        z = Z.gather(1, torch.randint(B, (P, 1, m), generator=generator, device=Z.device))
        return -z.abs(), torch.where(z < 0, -1.0, 1.0).to(Z.dtype)
    k = int(mode.rsplit("-", 1)[1])
    utils.require(k <= B, f"--bias {mode} needs k <= the batch size {B}")
    chosen = torch.argsort(rand(P, B, m), dim=1)[:, :k]                 # (P, k, m) distinct points
    weights = -torch.log1p(-rand(P, k, m))                              # Exp(1); normalised: Dirichlet
    weights = weights / weights.sum(1, keepdim=True)
    return -(weights * Z.gather(1, chosen)).sum(1, keepdim=True), no_flip


def init_networks(param, bias, bias_gain, first_batch, width, generator):
    """P two-layer ReLU networks of ``width`` units for inputs first_batch (P, B, d).

    The standard normal draws are the same for He and NTK (only their scaling differs), so both
    parameterisations give the same function from the same generator state. Output bias 0.
    Returns (params, mults) as used by ``forward``."""
    P, _, d = first_batch.shape
    like = dict(device=first_batch.device, dtype=first_batch.dtype)
    (std1, m1), (std2, m2) = layer_scales(param, d), layer_scales(param, width)
    W = std1 * torch.randn((P, d, width), generator=generator, **like)
    a = std2 * torch.randn((P, width, 1), generator=generator, **like)
    b, flip = hidden_biases(bias, bias_gain, m1 * W, first_batch, generator)
    params = dict(W=W * flip, b=b, a=a, c=torch.zeros((P, 1, 1), **like))
    return params, (m1, m2)


# ============================================================================= training
OPTIMISERS = ("sgd", "sgd-momentum", "adam")
BASE_STEPS = {("adam", "he"): 1e-2, ("adam", "ntk"): 8e-2, ("sgd", "he"): 8e-3, ("sgd", "ntk"): 8e-1,
              ("sgd-momentum", "he"): 8e-3, ("sgd-momentum", "ntk"): 8e-1}


def make_optimiser(name, tensors, lr):
    """Plain SGD, SGD with momentum 0.9 or Adam (PyTorch defaults); all act elementwise, so
    networks stay independent."""
    if name == "adam":
        return torch.optim.Adam(tensors, lr=lr)
    return torch.optim.SGD(tensors, lr=lr, momentum=0.9 if name == "sgd-momentum" else 0.0)


def epoch_orders(n_networks, n_train, generator, device):
    """An endless stream of per-epoch orders (P, n_train): an independent shuffle per network."""
    while True:
        yield torch.argsort(torch.rand((n_networks, n_train), generator=generator, device=device), dim=1)


def rmse(params, mults, X, y, y_std, slice_size=4096):
    """Per-network RMSE in original units, sqrt(mean_i (f(x_i) - y_i)^2) * y_std, shape (P,);
    the points are taken in slices to bound the memory of the hidden layer."""
    with torch.no_grad():
        sq = sum(((forward(params, mults, X[:, i:i + slice_size]) - y[:, i:i + slice_size]) ** 2).sum((1, 2))
                 for i in range(0, X.shape[1], slice_size))
    return (sq / X.shape[1]).sqrt() * y_std[:, 0, 0]


def train_networks(params, mults, data, optimiser, lr, n_epochs, valid_every, batch_size, orders,
                   curve_X=None, progress=False):
    """Train all P networks at once by minibatch steps on sum_p (1/B) sum_{i in batch_p} (f_p(x_i) - y_i)^2.

    orders: iterable of (P, n_train) index tensors, one per epoch; network p takes its batches from
    row p. After every ``valid_every`` epochs (and the last) the valid and test RMSEs are measured;
    per network the best valid RMSE and the test RMSE at that same moment are kept (and, with
    curve_X (P, G, 1), the function on curve_X at that moment). A network whose minibatch loss is
    ever non-finite is flagged as diverged; training stops early once all have diverged.

    Returns a dict of tensors: last_train, last_valid, last_test, best_valid, best_test (P,),
    diverged (P,) bool, history_valid and history_test (checks, P), best_curve (P, G) or None."""
    X, y = data["X_train"], data["y_train"]
    P, n_train, _ = X.shape
    tensors = [params[k].requires_grad_() for k in PARAM_NAMES]
    opt = make_optimiser(optimiser, tensors, lr)
    rows = torch.arange(P, device=X.device)[:, None]
    diverged = torch.zeros(P, dtype=torch.bool, device=X.device)
    best_valid = torch.full((P,), math.inf, dtype=X.dtype, device=X.device)
    best_test = torch.full((P,), math.nan, dtype=X.dtype, device=X.device)
    best_curve, history = None, {"valid": [], "test": []}
    bar = tqdm(total=n_epochs, desc="epochs", disable=not progress)
    for epoch, order in zip(range(n_epochs), orders):
        for start in range(0, n_train, batch_size):
            batch = order[:, start:start + batch_size]
            losses = ((forward(params, mults, X[rows, batch]) - y[rows, batch]) ** 2).mean((1, 2))
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            diverged |= ~torch.isfinite(losses.detach())
        bar.update()
        if (epoch + 1) % valid_every and epoch + 1 < n_epochs:
            continue
        valid = rmse(params, mults, data["X_valid"], data["y_valid"], data["y_std"])
        test = rmse(params, mults, data["X_test"], data["y_test"], data["y_std"])
        improved = valid < best_valid  # False for NaN
        best_valid, best_test = torch.where(improved, valid, best_valid), torch.where(improved, test, best_test)
        if curve_X is not None:
            with torch.no_grad():
                curve = forward(params, mults, curve_X)[..., 0]
            best_curve = torch.where(improved[:, None], curve, curve if best_curve is None else best_curve)
        history["valid"].append(valid)
        history["test"].append(test)
        bar.set_postfix(valid=f"{valid.nanmean().item():.4f}", diverged=int(diverged.sum()))
        if diverged.all():
            break
    bar.close()
    return dict(last_train=rmse(params, mults, X, y, data["y_std"]), last_valid=valid, last_test=test,
                best_valid=best_valid, best_test=best_test, diverged=diverged,
                history_valid=torch.stack(history["valid"]), history_test=torch.stack(history["test"]),
                best_curve=best_curve)


# ============================================================================= one task
STATISTICS = ("last_train", "last_valid", "last_test", "best_valid", "best_test")
CURVE_POINTS = 256
CURVE_RANGE = 1.8  # the 1-D curve is recorded on [-1.8, 1.8], beyond both sqrt(3) and 1/EX_SCALE


def chunk_seed(seed, chunk):
    """An independent 63-bit seed for network chunk ``chunk`` of a task with seed ``seed``."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def train_chunk(task, chunk, progress=False):
    """Data, initialisation and training of one chunk of P / n_chunks networks of ``task``.
    Returns train_networks' dict as numpy arrays, plus the 1-D training data in original units."""
    device, dtype = utils.torch_device(task["device"]), utils.torch_dtype(task["dtype"])
    P = task["n_networks"] // task["n_chunks"]
    seed = chunk_seed(task["seed"], chunk)
    data = make_datasets(task["dataset"], P, task["n_train"], task["n_valid"], task["n_test"], seed, device, dtype)
    generator = torch.Generator(device=device).manual_seed(seed)
    orders = epoch_orders(P, task["n_train"], generator, device)
    first = next(orders)
    rows = torch.arange(P, device=device)[:, None]
    params, mults = init_networks(task["param"], task["bias"], task["bias_gain"],
                                  data["X_train"][rows, first[:, :task["batch_size"]]], task["width"], generator)
    one_d = data["X_train"].shape[2] == 1
    grid = torch.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS, device=device, dtype=dtype)
    curve_X = (grid[None, :, None] - data["x_mean"]) / data["x_std"] if one_d else None
    out = train_networks(params, mults, data, task["optimiser"], task["lr"], task["n_epochs"],
                         task["valid_every"], task["batch_size"], itertools.chain([first], orders), curve_X, progress)
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


def summarise(task, chunks, wall_time):
    """The plain-JSON result of a task from its chunks' outputs: mean and std (ddof 0) over
    networks of each statistic, per-network best valid/test RMSEs, diverged count, wall time and,
    for 1-D data, the best-validation function and training data of the median network."""
    per_net = {k: np.concatenate([c[k] for c in chunks]) for k in STATISTICS + ("diverged",)}
    with np.errstate(invalid="ignore"):  # non-finite RMSEs of diverged networks give NaN, then null
        means, stds = ({k: finite_or_none(reduce(per_net[k])) for k in STATISTICS} for reduce in (np.mean, np.std))
    summary = dict(task={k: v for k, v in task.items() if k != "path"}, n_networks=len(per_net["diverged"]),
                   diverged=int(per_net["diverged"].sum()), wall_time_s=wall_time, bayes_rmse=chunks[0]["bayes_rmse"],
                   mean=means, std=stds,
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


def run_task(task):
    """The sweep's unit of work: train the task's networks and write its JSON result to
    task['path'] atomically; an existing file is left as it is. Returns (path, 'done'|'skipped')."""
    path = Path(task["path"])
    if path.exists():
        return str(path), "skipped"
    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    utils.save_json(path, execute(task))
    return str(path), "done"


def read_result(path):
    """A result file's contents, or None (the file named on stderr) if it is unreadable or lacks
    the task, mean, diverged and per_network fields."""
    try:
        result = utils.load_json(path)
        assert isinstance(result, dict) and {"task", "mean", "diverged", "per_network"} <= set(result)
        assert result["mean"]["best_valid"] is None or math.isfinite(result["mean"]["best_valid"])
        return result
    except Exception as error:  # noqa: BLE001 - any fault in a result file means: skip it
        print(f"skipping corrupt result file {path}: {type(error).__name__} {error}", file=sys.stderr)
        return None


def choose_step(results):
    """The result with the smallest mean best-validation RMSE among those where no network
    diverged; None if there is none."""
    ok = [r for r in results if r["diverged"] == 0 and r["mean"]["best_valid"] is not None]
    return min(ok, key=lambda r: r["mean"]["best_valid"]) if ok else None


# ============================================================================= tasks and grids
def config_label(task):
    """Folder name of a configuration: <param>_<optimiser>_<bias>, with x<gain> unless gain 1."""
    gain = "" if task["bias_gain"] == 1 else f"x{task['bias_gain']:g}"
    return f"{task['param']}_{task['optimiser']}_{task['bias']}{gain}"


def make_task(dataset="ex", param="he", optimiser="adam", bias="zero", bias_gain=1.0, step_exponent=0, lr=None,
              n_networks=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
              train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", path=None):
    """A validated plain-dict task. The step is lr, or else base step * 2^(step_exponent / 8);
    n_train = train_per_dim * d, n_epochs = epoch_budget / d, validation every valid_budget / d
    epochs (each rounded, at least 1)."""
    _, d = parse_dataset(dataset)
    utils.check_choice("param", param, PARAMETERISATIONS)
    utils.check_choice("optimiser", optimiser, OPTIMISERS)
    bias, bias_gain = check_bias(bias, bias_gain)
    step_exponent = utils.check_int("step_exponent", step_exponent, minimum=-10 ** 6)
    lr = BASE_STEPS[optimiser, param] * 2 ** (step_exponent / 8) if lr is None else lr
    sizes = {name: utils.check_int(name, value) for name, value in dict(
        n_networks=n_networks, n_chunks=n_chunks, width=width, epoch_budget=epoch_budget, valid_budget=valid_budget,
        batch_size=batch_size, train_per_dim=train_per_dim, n_valid=n_valid, n_test=n_test).items()}
    utils.require(n_networks % n_chunks == 0, f"--n_chunks must divide --n_networks {n_networks}; got {n_chunks}")
    n_train = train_per_dim * d
    utils.require(n_train % batch_size == 0,
                  f"--batch_size must divide n_train = train_per_dim * d = {n_train}; got {batch_size}")
    utils.torch_dtype(dtype)
    utils.require(isinstance(device, str), f"--device must be auto, cpu, cuda or cuda:K; got {device!r}")
    return dict(dataset=dataset, param=param, optimiser=optimiser, bias=bias, bias_gain=bias_gain,
                step_exponent=step_exponent, lr=utils.check_float("lr", lr, 0, strict=True), **sizes,
                n_train=n_train, n_epochs=max(1, round(epoch_budget / d)), valid_every=max(1, round(valid_budget / d)),
                seed=utils.check_int("seed", seed, minimum=0), device=device, dtype=dtype,
                path=None if path is None else str(path))


PAPER_DATASETS = ("ex",) + tuple(f"radial_{d}" for d in (1, 2, 4, 8, 16, 32, 64))
GRIDS = {
    "paper": dict(params=PARAMETERISATIONS, optimisers=OPTIMISERS, datasets=PAPER_DATASETS,
                  biases=("zero", "pytorch", "unif", "unif-pos", "unif-neg", "kink-neg-unif", "kink-neg-point"),
                  coarse=tuple(4 * k for k in range(-12, 11)), fine=(-3, -2, -1, 1, 2, 3),
                  n_networks=100, width=512, epoch_budget=8192, valid_budget=64, max_chunk_points=50 * 256 * 64),
    "quick": dict(params=PARAMETERISATIONS, optimisers=OPTIMISERS, datasets=("ex", "radial_1", "radial_4", "radial_16"),
                  biases=("zero", "unif-neg", "kink-neg-unif"),
                  coarse=tuple(8 * k for k in range(-3, 3)), fine=(-4, 4),
                  n_networks=8, width=64, epoch_budget=512, valid_budget=32, max_chunk_points=50 * 256 * 64),
}


def n_chunks_for(n_networks, n_train, max_chunk_points):
    """The fewest chunks dividing P with at most max_chunk_points training points per chunk."""
    least = math.ceil(n_networks * n_train / max_chunk_points)
    return next(c for c in range(least, n_networks + 1) if n_networks % c == 0)


def grid_settings(grid, **overrides):
    """The grid's settings with the non-None overrides; list options parsed and validated."""
    settings = dict(GRIDS[utils.check_choice("grid", grid, tuple(GRIDS))])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("params", "optimisers", "datasets", "biases"):
        settings[key] = utils.as_list(key, settings[key], lambda option, item: str(item))
    return settings


def configuration_tasks(settings, folder, step_exponents, **common):
    """Tasks of every (dataset, param, optimiser, bias) of the grid at the step exponents
    step_exponents(key): a dict {key: [tasks]} with key = (dataset, config_label); the result
    files are folder/<dataset>/<config_label>/step_e<exponent>.json."""
    tasks = {}
    for dataset, param, optimiser, bias in itertools.product(
            settings["datasets"], settings["params"], settings["optimisers"], settings["biases"]):
        n_train = common["train_per_dim"] * parse_dataset(dataset)[1]
        args = dict(dataset=dataset, param=param, optimiser=optimiser, bias=bias, n_networks=settings["n_networks"],
                    n_chunks=n_chunks_for(settings["n_networks"], n_train, settings["max_chunk_points"]),
                    width=settings["width"], epoch_budget=settings["epoch_budget"],
                    valid_budget=settings["valid_budget"], **common)
        key = (dataset, config_label(make_task(**args)))
        tasks[key] = [make_task(**args, step_exponent=e, path=Path(folder, *key, f"step_e{e:+04d}.json"))
                      for e in step_exponents(key)]
    return tasks


def fine_exponents(tasks, offsets):
    """The fine step exponents around the coarse step chosen by validation (none if every coarse
    step diverged)."""
    best = choose_step([r for r in map(read_result, (t["path"] for t in tasks)) if r is not None])
    return [] if best is None else [best["task"]["step_exponent"] + o for o in offsets]


def run_tasks(tasks, jobs, desc, backend="loky", client=None):
    """Run the tasks with utils.parallel_map; returns how many were trained and skipped."""
    outcomes = [status for _, status in utils.parallel_map(run_task, tasks, jobs, desc, backend, client)]
    return outcomes.count("done"), outcomes.count("skipped")


# ============================================================================= commands
def sweep(grid="quick", out=None, datasets=None, params=None, optimisers=None, biases=None, bias_gain=1.0,
          n_networks=None, width=None, epoch_budget=None, valid_budget=None, batch_size=256, train_per_dim=256,
          n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", jobs=None, backend="loky",
          scheduler=None):
    """Coarse then fine step-size search for every configuration of a grid ('quick' or 'paper').

    Coarse steps: base * 2^(e/8) for the grid's exponents e; fine: the best coarse e (by mean best
    valid RMSE, never a diverged step) plus the grid's offsets. One JSON file per configuration and
    step under --out (default results/nn_setups/<grid>); existing files are skipped, so an
    interrupted sweep resumes; prints how many tasks were trained and skipped. The list options (comma-separated) and sizes override the grid's.
    --jobs: worker processes (default: all cores on CPU, 1 on CUDA). --backend loky|dask and
    --scheduler tcp://HOST:PORT as for mc_training.py run: dask runs the fits on a cluster whose
    workers see --out at the same absolute path."""
    settings = grid_settings(grid, datasets=datasets, params=params, optimisers=optimisers, biases=biases,
                             n_networks=n_networks, width=width, epoch_budget=epoch_budget, valid_budget=valid_budget)
    folder = (Path(out) if out is not None else results_root() / "nn_setups" / grid).absolute()
    common = dict(bias_gain=bias_gain, batch_size=batch_size, train_per_dim=train_per_dim, n_valid=n_valid,
                  n_test=n_test, seed=seed, device=device, dtype=dtype)
    on_cpu = utils.torch_device(device).type == "cpu"
    jobs = (-1 if on_cpu else 1) if jobs is None else utils.check_int("jobs", jobs, minimum=-1)
    threads = dict(threads=1) if jobs != 1 and on_cpu else {}
    start, counts = time.perf_counter(), []
    with utils.backend_client(backend, scheduler, jobs) as client:
        coarse = configuration_tasks(settings, folder, lambda key: settings["coarse"], **common)
        tasks = [{**t, **threads} for ts in coarse.values() for t in ts]
        counts.append(run_tasks(tasks, jobs, "coarse steps", backend, client))
        fine = configuration_tasks(settings, folder, lambda key: fine_exponents(coarse[key], settings["fine"]),
                                   **common)
        tasks = [{**t, **threads} for ts in fine.values() for t in ts]
        counts.append(run_tasks(tasks, jobs, "fine steps", backend, client))
    done, skipped = map(sum, zip(*counts))
    return dict(done=done, skipped=skipped, seconds=round(time.perf_counter() - start, 1), folder=str(folder))


def fit(dataset="ex", param="he", optimiser="adam", bias="zero", bias_gain=1.0, lr=None, step_exponent=0,
        n_networks=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
        train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", out=None):
    """Train P networks of one configuration at one step size (--lr, else base step *
    2^(step_exponent/8)), show progress, print the RMSEs and save the result JSON to --out
    (default results/nn_setups/fit/<dataset>_<configuration>_lr<lr>.json)."""
    task = make_task(dataset, param, optimiser, bias, bias_gain, step_exponent, lr, n_networks, n_chunks, width,
                     epoch_budget, valid_budget, batch_size, train_per_dim, n_valid, n_test, seed, device, dtype)
    path = Path(out) if out is not None else (
        results_root() / "nn_setups" / "fit" / f"{dataset}_{config_label(task)}_lr{task['lr']:.4g}.json")
    print(f"{dataset} {config_label(task)}: lr {task['lr']:.4g}, {n_networks} networks, width {width}, "
          f"{task['n_epochs']} epochs of {task['n_train'] // batch_size} steps, validation every {task['valid_every']}")
    result = execute({**task, "path": str(path)}, progress=True)
    utils.save_json(path, result)
    for name in STATISTICS:
        mean, std = result["mean"][name], result["std"][name]
        print(f"  {name:11s} RMSE  {mean if mean is None else f'{mean:.4f}'} +- {std if std is None else f'{std:.4f}'}")
    print(f"  diverged {result['diverged']}/{result['n_networks']}, Bayes RMSE {result['bayes_rmse']:.4f}, "
          f"{result['wall_time_s']:.1f} s; saved {path}")


def seconds_per_step(n_networks, d, width, steps, optimiser, device, dtype):
    """Wall seconds per minibatch step (256 points) of training n_networks networks at once."""
    data = make_datasets(f"radial_{d}", n_networks, 4 * 256, 256, 256, 0, device, dtype)
    generator = torch.Generator(device=device).manual_seed(0)
    run = lambda epochs: train_networks(*init_networks("he", "zero", 1.0, data["X_train"][:, :256], width, generator),  # noqa: E731
                                        data, optimiser, 1e-3, epochs, epochs, 256,
                                        epoch_orders(n_networks, 4 * 256, generator, device))
    run(1)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run(max(1, steps // 4))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / (4 * max(1, steps // 4))


def benchmark(n_networks=100, width=512, dims="1,16,64", steps=64, optimiser="adam", device="auto",
              dtype="float32", threads=None, out=None):
    """Time training steps of n_networks networks batched against one network (a Python loop over
    networks costs P times that); prints ms per step, network-steps per second and the speed-up,
    and saves them to --out (default results/nn_setups/benchmark_<device>.json). --threads sets
    torch's CPU threads (default: torch's choice)."""
    n_networks, width, steps = (utils.check_int(k, v) for k, v in
                                (("n_networks", n_networks), ("width", width), ("steps", steps)))
    if threads is not None:
        torch.set_num_threads(utils.check_int("threads", threads))
    dims = utils.as_list("dims", dims, utils.check_int)
    utils.check_choice("optimiser", optimiser, OPTIMISERS)
    device, torch_dtype = utils.torch_device(device), utils.torch_dtype(dtype)
    rows = []
    for d in dims:
        batched = seconds_per_step(n_networks, d, width, steps, optimiser, device, torch_dtype)
        single = seconds_per_step(1, d, width, steps, optimiser, device, torch_dtype)
        rows.append(dict(d=d, ms_per_step_batched=1e3 * batched, ms_per_step_single=1e3 * single,
                         network_steps_per_s=n_networks / batched, speedup_vs_loop=n_networks * single / batched,
                         full_run_minutes=8192 * batched / 60))
        print(f"d={d:3d}: {rows[-1]['ms_per_step_batched']:8.2f} ms/step for {n_networks} networks, "
              f"{rows[-1]['ms_per_step_single']:6.2f} ms/step for one; {rows[-1]['network_steps_per_s']:9.0f} "
              f"network-steps/s; x{rows[-1]['speedup_vs_loop']:.1f} vs a loop; 8192 steps: "
              f"{rows[-1]['full_run_minutes']:.1f} min")
    path = Path(out) if out is not None else results_root() / "nn_setups" / f"benchmark_{device.type}.json"
    utils.save_json(path, dict(device=str(device), threads=torch.get_num_threads(), n_networks=n_networks,
                               width=width, steps=steps, optimiser=optimiser, dtype=dtype, rows=rows))
    print(f"saved {path}")


if __name__ == "__main__":
    utils.run_cli({"fit": fit, "sweep": sweep, "benchmark": benchmark})
