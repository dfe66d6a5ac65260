"""The data of the sweeps: the distributions ex (1-D, noisy), radial_<d> and rbf_<d> (noise-free, in
R^d) of the published sweeps, and an independent training, validation and test set for each of P
networks, standardised per network with its own training statistics (``make_datasets``). NumPy
draws, handed over as torch tensors; m points per set, d inputs."""
import math
import re

import numpy as np
import torch

from kinks.checks import require

SQRT3 = math.sqrt(3.0)
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


def make_datasets(dataset, runs, n_train, n_valid, n_test, seed, device="cpu", dtype=torch.float32):
    """Independent train/valid/test sets for each of P networks, standardised per network and
    feature with that network's training mean and std (targets likewise).

    Returns a dict of tensors: X_<split> (P, m, d), y_<split> (P, m, 1) standardised (m the split's
    n_train, n_valid or n_test points), x_mean and x_std (P, 1, d), y_mean and y_std (P, 1, 1), and
    the float bayes_rmse (original units)."""
    rng = np.random.default_rng(seed)
    raw = {split: sample_distribution(dataset, (runs, m), rng)
           for split, m in (("train", n_train), ("valid", n_valid), ("test", n_test))}
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
