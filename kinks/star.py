"""The star study's training (Holzmüller & Steinwart, Section 7): P networks of L hidden layers of
width n trained at once by full-batch gradient descent (``gd``) on the data of ``kinks.star_data``,
with a leading network axis on every tensor.

Network p has its own data weights p = Multinomial(n^2, uniform)/n^2 over the m points, loss
L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2 and its own step size h from a step rule: ``gram``
(h = lr_factor / lambda_max(P^(1/2) K P^(1/2)) at initialisation, K the neural-tangent Gram matrix,
P = diag(p); formerly called ``ntk``) or ``published`` (h = lr_factor / |theta|^2, the step the
published runs took). Per network the first epoch with a changed on/off pattern of some hidden unit
("kink crossed") and the first epoch with a loss below 0.999999 x the linear-regression threshold
("loss crossed") are recorded.

Owns: the configuration (``StarConfig``: every setting that decides a result, parsed once), the
networks (initialisation, forward pass, NTK Gram matrix, step sizes), the epochs (autograd and the
fast ReLU epoch), the training state and its files (``TrainingState``: state.pt, result.json),
``train`` (one configuration into its folder, resumable), the presets and the benchmark's timing.

Device policy: the whole start (weights p, He initialisation, thresholds, step sizes) is drawn and
computed on the CPU in float64 from the seed, then cast to the dtype and moved to the device, so a
run on any device and with any thread count starts from identical tensors. A layer is stored as one
augmented matrix A (P, fan_in + 1, fan_out): its weights, then its bias as the last row, so
z = [H, 1] A; with one hidden layer, A1 = [a; b] holds the input weights a_i (columns) and biases
b_i, and A2 = [w; c] the output weights w_i and the output bias c.
"""
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from custom_paths import results_root
from kinks.checks import UsageError, check_choice, check_float, check_int, require
from kinks.data import sample_weights
from kinks.files import atomic_write, file_problem, load_json, save_json
from kinks.locks import output_lock
from kinks.nets import synchronize, torch_dtype
from kinks.star_data import make_data, regression_thresholds

STATE_FORMAT = "kinks-star-state/1"
LOSS_MARGIN = 0.999999  # "loss crossed": loss < LOSS_MARGIN * threshold
ACTIVATIONS = ("relu", "tanh")
DTYPES = ("float32", "float64")
STEP_RULES = ("gram", "published")
OLD_STEP_RULES = {"ntk": "gram"}                      # old name: new name (read from files silently)
DEFAULT_LR_FACTOR = {"gram": 1.0, "published": 2.0}   # published: the effective step 2 / |theta|^2


# ============================================================================= configuration
class StarConfig:
    """Every setting that decides a result of the star study, validated (a bad value is a
    UsageError naming its option), except the epoch count and the device. lr_factor None: the
    step rule's default (``DEFAULT_LR_FACTOR``). The old step rule name ``ntk`` is read as ``gram``
    without a word (the command line warns where a user types it)."""

    SETTINGS = ("dataset", "width", "layers", "runs", "activation", "random_bias", "step", "lr_factor", "seed",
                "dtype")

    def __init__(self, dataset="star_11", width=256, layers=1, runs=1000, activation="relu", random_bias=False,
                 step="gram", lr_factor=None, seed=0, dtype="float32"):
        make_data(dataset)
        require(isinstance(random_bias, bool), f"--random_bias must be true or false; got {random_bias!r}")
        step = check_choice("step", OLD_STEP_RULES.get(step, step), STEP_RULES)
        self.dataset, self.width, self.layers = dataset, check_int("width", width), check_int("layers", layers)
        self.runs = check_int("runs", runs)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.random_bias, self.step = random_bias, step
        self.lr_factor = check_float("lr_factor", DEFAULT_LR_FACTOR[step] if lr_factor is None else lr_factor, 0,
                                     strict=True, maximum=100)
        self.seed, self.dtype = check_int("seed", seed, minimum=0), check_choice("dtype", dtype, DTYPES)

    @classmethod
    def from_dict(cls, saved):
        """The configuration of a config.json (or a state's or result's ``config``), also as written by
        older versions: 'n_networks' for 'runs', no 'step' (the Gram rule, the only one then), or
        step 'ntk'. A ValueError where its settings are not those of this version."""
        saved = dict(saved)
        if "n_networks" in saved:
            saved["runs"] = saved.pop("n_networks")
        saved.setdefault("step", "gram")
        if set(saved) != set(cls.SETTINGS):
            raise ValueError(f"its settings {sorted(saved)} are not those of this version ({', '.join(cls.SETTINGS)})")
        return cls(**saved)

    def as_dict(self):
        return {key: getattr(self, key) for key in self.SETTINGS}

    def __eq__(self, other):
        return isinstance(other, StarConfig) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"StarConfig({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"

    def replace(self, **changes):
        """The configuration with ``changes`` (a step rule changed without lr_factor takes its default)."""
        settings = self.as_dict()
        if "step" in changes and "lr_factor" not in changes:
            settings["lr_factor"] = None
        return StarConfig(**{**settings, **changes})

    def label(self, step=None):
        """Folder name, e.g. L1_n256_P1000_relu_zerobias_gram-lr1_seed0_float32 (``step``: another name
        of the step rule, for the folders of older versions)."""
        bias = "randbias" if self.random_bias else "zerobias"
        return (f"L{self.layers}_n{self.width}_P{self.runs}_{self.activation}_{bias}_"
                f"{step or self.step}-lr{self.lr_factor:g}_seed{self.seed}_{self.dtype}")

    def folder(self, results=None):
        """<results>/star/<dataset>/<label>/ (results: default the results root). A folder written before
        the step rule ``ntk`` became ``gram`` (named ..._ntk-lr...) is used where it exists and the new
        one does not, so that its training resumes there."""
        parent = Path(results if results is not None else results_root()) / "star" / self.dataset
        new = parent / self.label()
        old = [parent / self.label(name) for name, rule in OLD_STEP_RULES.items() if rule == self.step]
        return next((folder for folder in old if folder.exists() and not new.exists()), new)

    def uses_relu_epoch(self):
        """The fast ReLU epoch serves one hidden layer of ReLU units; autograd everything else."""
        return self.activation == "relu" and self.layers == 1


# ============================================================================= networks
def layer_sizes(d, width, layers):
    """(fan_in, fan_out) of every layer, the output layer last."""
    widths = [d] + [width] * layers + [1]
    return list(zip(widths[:-1], widths[1:]))


def init_params(runs, d, width, layers, random_bias, generator):
    """He initialisation of P networks: every weight ~ N(0, 2 / fan_in); biases 0, or
    ~ N(0, 2 / fan_in) with ``random_bias``. A list of float64 CPU tensors (P, fan_in + 1, fan_out)."""
    params = []
    for fan_in, fan_out in layer_sizes(d, width, layers):
        A = torch.randn((runs, fan_in + 1, fan_out), generator=generator, dtype=torch.float64)
        if not random_bias:
            A[:, fan_in] = 0.0
        params.append(A * math.sqrt(2.0 / fan_in))
    return params


def affine(H, A):
    """z = H W + b for a layer A = [W; b]: H (P, m, fan_in) or (m, fan_in), A (P, fan_in + 1, k)
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


def gram_step_sizes(K, p, lr_factor):
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
    """h (P,) of the configuration's step rule (``gram_step_sizes`` or ``published_step_sizes``) at
    the initial parameters; params, X (m, d) and p (P, m) on one device in one dtype."""
    if config.step == "published":
        return published_step_sizes(params, config.lr_factor)
    return gram_step_sizes(ntk_gram(params, X, config.activation), p, config.lr_factor)


# ============================================================================= epochs
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


# ============================================================================= training state
LOG_COLUMNS = ("epoch", "mean_loss") + tuple(f"ratio_d{k}" for k in range(1, 10)) + (
    "kink_crossed", "loss_crossed", "non_finite")
FIRST_EPOCHS = ("kink_epoch", "loss_epoch", "nan_epoch")


class TrainingState:
    """The networks of one configuration in training and what is tracked per network, at epoch
    ``epoch`` (theta_epoch, before its step):

        params          the layers [A (P, fan_in + 1, fan_out), ...]
        p, step_size    the data weights (P, m) and step sizes h (P,)
        threshold       the linear-regression thresholds (P,), float64
        initial_pattern the on/off pattern at initialisation, bool (P, m, L n)
        kink_epoch, loss_epoch, nan_epoch
                        the first kink-crossed, loss-crossed and non-finite epochs (P,), -1 = not yet
        loss            L(theta_{epoch - 1}) (P,), NaN before the first epoch
        log             a row of LOG_COLUMNS per logged epoch (rows, 17), float64 on the CPU

    state.pt holds the plain dict of ``to_dict`` (format STATE_FORMAT; the configuration as JSON
    text, data weights as 'weights', step sizes as 'step'), loaded with weights_only=True."""

    def __init__(self, config, epoch, params, p, step_size, threshold, initial_pattern, kink_epoch, loss_epoch,
                 nan_epoch, loss, log):
        self.config, self.epoch, self.params = config, epoch, params
        self.p, self.step_size, self.threshold, self.initial_pattern = p, step_size, threshold, initial_pattern
        self.kink_epoch, self.loss_epoch, self.nan_epoch = kink_epoch, loss_epoch, nan_epoch
        self.loss, self.log = loss, log

    @classmethod
    def initial(cls, config, device):
        """The state at epoch 0. Draws: numpy SeedSequence(seed) for p, torch's CPU generator seeded
        with ``seed`` for the parameters. Parameters, p, h and thresholds are computed on the CPU in
        float64 and only then cast to the dtype and moved to ``device``, so the start does not depend
        on the device or the thread count; the initial pattern is that of the cast parameters, as the
        epochs see them."""
        X, y = make_data(config.dataset)
        P, n, dtype = config.runs, config.width, torch_dtype(config.dtype)
        p = torch.as_tensor(sample_weights(np.random.default_rng(np.random.SeedSequence(config.seed)), P, n * n,
                                           len(y)))
        params = init_params(P, X.shape[1], n, config.layers, config.random_bias,
                             torch.Generator().manual_seed(config.seed))
        h = initial_step_sizes(config, params, torch.as_tensor(X), p)
        params = [A.to(device, dtype) for A in params]
        never = torch.full((P,), -1, dtype=torch.int64, device=device)
        X_t = torch.as_tensor(X, device=device, dtype=dtype)
        return cls(config, 0, params, p.to(device, dtype), h.to(device, dtype),
                   torch.as_tensor(regression_thresholds(X, y, p.numpy()), device=device),
                   on_off_pattern(forward(params, X_t, config.activation)[1]), never, never.clone(), never.clone(),
                   torch.full((P,), math.nan, dtype=dtype, device=device),
                   torch.zeros((0, len(LOG_COLUMNS)), dtype=torch.float64))

    def to_dict(self):
        """The plain dict of state.pt, every tensor on the CPU."""
        cpu = lambda tensor: tensor.cpu()  # noqa: E731
        return dict(format=STATE_FORMAT, config=json.dumps(self.config.as_dict(), sort_keys=True), epoch=self.epoch,
                    params=[cpu(A) for A in self.params], weights=cpu(self.p), step=cpu(self.step_size),
                    threshold=cpu(self.threshold), initial_pattern=cpu(self.initial_pattern),
                    **{key: cpu(getattr(self, key)) for key in FIRST_EPOCHS}, loss=cpu(self.loss), log=self.log.cpu())

    @classmethod
    def from_dict(cls, saved, device):
        """The state of a state.pt dict on ``device`` (the log stays on the CPU); its configuration
        parsed once, also as older versions wrote it (see ``StarConfig.from_dict``)."""
        on = lambda key: saved[key].to(device)  # noqa: E731
        return cls(StarConfig.from_dict(json.loads(saved["config"])), saved["epoch"],
                   [A.to(device) for A in saved["params"]], on("weights"), on("step"), on("threshold"),
                   on("initial_pattern"), *(on(key) for key in FIRST_EPOCHS), on("loss"), saved["log"].cpu())

    def copy(self):
        """A shallow copy: the same tensors, which the epochs replace rather than change."""
        return copy.copy(self)

    def epoch_data(self, device):
        """The tensors an epoch needs: X (m, d), X1 = [X, 1] (m, d+1), y (m,), p (P, m), h (P,), the
        initial pattern; for the fast ReLU epoch also X expanded to (P, m, d), the bit weights B
        expanded to (P, m, k), the initial codes (P, k, n) and the (P, m, n) buffer."""
        X, y = make_data(self.config.dataset)
        dtype = torch_dtype(self.config.dtype)
        X = torch.as_tensor(X, device=device, dtype=dtype)
        data = dict(X=X, X1=torch.cat([X, torch.ones_like(X[:, :1])], dim=1),
                    y=torch.as_tensor(y, device=device, dtype=dtype), p=self.p, h=self.step_size,
                    activation=self.config.activation, initial_pattern=self.initial_pattern)
        if self.config.uses_relu_epoch():
            P, m, n = self.initial_pattern.shape
            bits = bit_weights(m, dtype, device)
            data.update(X_batch=X.expand(P, m, X.shape[1]), bits=bits.expand(P, *bits.shape),
                        initial_code=pattern_codes(self.initial_pattern, bits),
                        buffer=torch.empty((P, m, n), dtype=dtype, device=device))
        return data

    def record(self, epoch, loss, changed):
        """Record epoch t as the first kink-crossed, loss-crossed and non-finite epoch where due."""
        below = loss.double() < LOSS_MARGIN * self.threshold
        for key, event in zip(FIRST_EPOCHS, (changed, below, ~torch.isfinite(loss))):
            first = getattr(self, key)
            setattr(self, key, torch.where((first < 0) & event, epoch, first))

    def fractions(self):
        """The kink-crossed and loss-crossed fractions so far, float64 (2,)."""
        return torch.stack([(getattr(self, key) >= 0).double().mean() for key in FIRST_EPOCHS[:2]])

    def log_row(self, epoch, loss):
        """The log at epoch t: mean loss over finite losses, the deciles of loss / threshold, both
        crossed fractions and the count of non-finite losses; a float64 tensor (len(LOG_COLUMNS),)."""
        loss = loss.double()
        finite = torch.isfinite(loss)
        ratio = torch.where(finite, loss / self.threshold, math.nan)
        deciles = torch.nanquantile(ratio, torch.linspace(0.1, 0.9, 9, dtype=torch.float64, device=loss.device))
        mean = loss[finite].mean() if finite.any() else torch.tensor(math.nan, device=loss.device)
        return torch.cat([torch.tensor([epoch], dtype=torch.float64, device=loss.device), mean[None], deciles,
                          self.fractions(), (~finite).sum()[None].double()]).cpu()

    def bar_values(self, loss):
        """The progress bar's values now: the crossed fractions (as ``summary`` prints them) and the
        count of non-finite losses."""
        kink, crossed = self.fractions().tolist()
        return dict(kink=f"{kink:.3f}", loss=f"{crossed:.3f}", nan=int((~torch.isfinite(loss)).sum().item()))

    def train(self, data, epochs, log_every=1000, checkpoint=None, checkpoint_every=10_000, progress=False):
        """Continue gradient descent from ``self.epoch`` to ``epochs``; epoch t evaluates theta_t (loss,
        pattern, first epochs, log when t % log_every == 0) and steps to theta_{t+1}.
        ``checkpoint(state)`` is called every ``checkpoint_every`` epochs and at the end. Returns self."""
        epoch_step = relu_epoch if self.config.uses_relu_epoch() else autograd_epoch
        bar = tqdm(total=epochs, initial=self.epoch, desc="epochs", disable=not progress, mininterval=1.0)
        for t in range(self.epoch, epochs):
            self.params, loss, changed = epoch_step(self.params, data)
            self.record(t, loss, changed)
            self.loss, self.epoch = loss, t + 1
            if t % log_every == 0:
                self.log = torch.cat([self.log, self.log_row(t, loss)[None]])
                bar.set_postfix(self.bar_values(loss))
            bar.update()
            if checkpoint is not None and (self.epoch % checkpoint_every == 0 or self.epoch == epochs):
                checkpoint(self)
        if self.loss is not None:
            bar.set_postfix(self.bar_values(self.loss))  # the bar ends on the values the summary prints
        bar.close()
        return self

    def result(self):
        """The contents of result.json: the configuration, the epoch, per network the first epochs and
        the final loss / threshold (null where non-finite), and the log."""
        ratio = (self.loss.cpu().double() / self.threshold.cpu()).tolist()
        return dict(config=self.config.as_dict(), epoch=self.epoch, n_networks=len(ratio),
                    **{key: getattr(self, key).tolist() for key in FIRST_EPOCHS},
                    final_ratio=[v if math.isfinite(v) else None for v in ratio],
                    log_columns=list(LOG_COLUMNS), log=self.log.tolist())

    def save(self, folder):
        """Write state.pt and then result.json into ``folder``, each atomically."""
        saved = self.to_dict()
        atomic_write(Path(folder) / "state.pt", lambda file: torch.save(saved, file))
        save_json(Path(folder) / "result.json", self.result())

    @classmethod
    def load(cls, folder, device):
        """The state of ``folder``/state.pt on ``device`` (loaded with weights_only=True)."""
        saved = torch.load(Path(folder) / "state.pt", map_location=device, weights_only=True)
        require(saved.get("format") == STATE_FORMAT, f"{folder}/state.pt is not a star-data-set state")
        return cls.from_dict(saved, device)

    def summary(self):
        """One line: epoch, kink-crossed and loss-crossed fractions, non-finite count."""
        P = self.config.runs
        kink, loss = ((getattr(self, key) >= 0).sum().item() for key in FIRST_EPOCHS[:2])
        return (f"epoch {self.epoch}: kink crossed {kink}/{P} ({kink / P:.3f}), loss crossed {loss}/{P} "
                f"({loss / P:.3f}), non-finite loss {(self.nan_epoch >= 0).sum().item()}")


# ============================================================================= one configuration
def open_folder(config, folder, device):
    """The saved state of the configuration in ``folder`` (after checking that it holds ``config``), or
    a fresh one with config.json written. A different configuration there is refused."""
    folder = Path(folder)
    if (folder / "config.json").exists():
        try:
            saved = StarConfig.from_dict(load_json(folder / "config.json"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError) as error:
            raise UsageError(f"{folder}/config.json is not a star configuration ({file_problem(error)}); remove "
                             f"the folder or choose another --results") from None
        require(saved == config, f"{folder} holds a different configuration ({saved.as_dict()}); refusing to "
                                 "overwrite it (choose another --results folder or remove it)")
        if (folder / "state.pt").exists():
            state = TrainingState.load(folder, device)
            require(state.config == config, f"{folder}/state.pt belongs to another configuration")
            return state
    save_json(folder / "config.json", config.as_dict())
    return TrainingState.initial(config, device)


def train(config, epochs, device, results=None, log_every=1000, checkpoint_every=10_000, progress=True):
    """Train the networks of ``config`` to ``epochs`` epochs in its folder under ``results``, resuming
    from its checkpoint; returns (folder, state)."""
    folder = config.folder(results)
    with output_lock(folder, "--results"):
        state = open_folder(config, folder, device)
        if state.epoch < epochs:
            state.train(state.epoch_data(device), epochs, log_every, lambda s: s.save(folder), checkpoint_every,
                        progress)
    return folder, state


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
    "paper_star_gram": dict(groups=STAR_GROUPS, layers=1, stages=STAR_STAGES, step="gram"),
    "paper_deep": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="published"),
    "paper_deep_gram": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="gram"),
    "quick": dict(groups=[dict(dataset="star_11", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0]),
                          dict(dataset="cross", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0])],
                  layers=1, stages=[5_000, 10_000], step="gram"),
}
OLD_PRESETS = {"paper_star_ntk": "paper_star_gram", "paper_deep_ntk": "paper_deep_gram"}


def preset_configs(preset, step=None, **common):
    """Every configuration of a preset (step None: the preset's rule): a list of StarConfig."""
    spec = PRESETS[check_choice("preset", preset, tuple(PRESETS))]
    step = spec["step"] if step is None else step
    return [StarConfig(dataset=group["dataset"], width=width, layers=spec["layers"], runs=group["runs"],
                       step=step, seed=seed, **common)
            for group in spec["groups"] for width in group["widths"] for seed in group["seeds"]]


def preset_stages(preset, max_epochs=None):
    """The epoch counts of a preset's stages, capped at ``max_epochs`` (None: uncapped)."""
    stages = PRESETS[check_choice("preset", preset, tuple(PRESETS))]["stages"]
    if max_epochs is None:
        return list(stages)
    return sorted({min(stage, check_int("max_epochs", max_epochs)) for stage in stages})


# ============================================================================= benchmark
BENCHMARK_CASES = ((256, 1000), (4096, 100))


def timed_epochs(epoch_step, state, data, seconds, device):
    """Epochs per second of ``epoch_step`` with crossing tracking, run for about ``seconds`` (after
    two warm-up epochs) on a copy of ``state``."""
    state = state.copy()
    params, done = state.params, 0
    for _ in range(2):
        params = epoch_step(params, data)[0]
    synchronize(device)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        params, loss, changed = epoch_step(params, data)
        state.record(done, loss, changed)
        done += 1
        if done % 8 == 0:
            synchronize(device)
    synchronize(device)
    return done / (time.perf_counter() - start)


def benchmark_case(width, runs, dtype, seconds, device):
    """One benchmark row on star_11 at width n and P networks: epochs per second of the fast ReLU
    epoch and of the straightforward autograd epoch on the same tensors, and the speed-up."""
    state = TrainingState.initial(StarConfig("star_11", width, runs=runs, dtype=dtype), device)
    data = state.epoch_data(device)
    fast = timed_epochs(relu_epoch, state, data, seconds, device)
    slow = timed_epochs(autograd_epoch, state, data, seconds, device)
    return dict(dataset="star_11", width=width, runs=runs, epochs_per_s=fast, autograd_epochs_per_s=slow,
                speedup=fast / slow)
