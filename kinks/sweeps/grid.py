"""The sweeps: a grid of configurations (data set, parameterisation, optimizer, hidden-bias mode),
each trained at the steps of a step-size search, one result file per configuration and step.

Owns: the task (``Task``: one configuration at one step size; its settings, which decide its result
and are stored with it, kept apart from how it runs: device, path, threads), a task's chunks of
networks and their summary, the result files (format RESULT_FORMAT; files of older versions, with
the optimizer ``sgd-momentum``, read as ``momentum``), the grids, the step search (coarse steps, then
fine ones around the best until it is bracketed) and the sweep folder (sweep.json). The networks and
their training are ``kinks.sweeps.nets``, the data ``kinks.sweeps.data``.
"""
import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch

from kinks.checks import (
    UsageError, as_list, check_choice, check_float, check_int, checked_as, renamed_value, require, warn)
from kinks.files import file_problem, load_json, save_json
from kinks.nets import moved, synchronize, torch_device, torch_dtype
from kinks.parallel import parallel_map
from kinks.paths import results_root
from kinks.sweeps.data import parse_dataset, make_datasets
from kinks.sweeps.nets import (BASE_STEPS, OLD_OPTIMIZERS, OPTIMIZERS, PARAMETERISATIONS, check_bias, epoch_orders,
                              init_networks, train_networks)

STATISTICS = ("last_train", "last_valid", "last_test", "best_valid", "best_test")
CURVE_POINTS = 256
CURVE_RANGE = 1.8  # the 1-D curve is recorded on [-1.8, 1.8], beyond both sqrt(3) and 1/EX_SCALE
RESULT_FORMAT = "kinks-nn-result/2"
SWEEP_FORMAT = "kinks-nn-sweep/1"


# ============================================================================= tasks
def config_label(param, optimizer, bias, bias_gain=1.0):
    """Folder name of a configuration: <param>_<optimizer>_<bias>, with x<gain> unless gain 1."""
    gain = "" if bias_gain == 1 else f"x{bias_gain:g}"
    return f"{param}_{optimizer}_{bias}{gain}"


class Task:
    """P networks of one configuration trained at one step size, validated (a bad value is a
    UsageError naming its option). The step is lr, or else base step * 2^(step_exponent / 8)
    (``BASE_STEPS``); n_train = train_per_dim * d, n_epochs = epoch_budget / d, validation every
    valid_budget / d epochs (each rounded, at least 1); the networks are trained in n_chunks chunks
    of P / n_chunks, one after the other.

    ``settings()`` is what decides the result, stored in the result file as 'task'; device, path
    (the result file) and threads (torch's CPU threads in a worker) only say how it runs."""

    SETTINGS = ("dataset", "param", "optimizer", "bias", "bias_gain", "step_exponent", "lr", "runs", "n_chunks",
                "width", "epoch_budget", "valid_budget", "batch_size", "train_per_dim", "n_valid", "n_test",
                "n_train", "n_epochs", "valid_every", "seed", "dtype")
    DERIVED = ("n_train", "n_epochs", "valid_every")
    RUNTIME = ("device", "path", "threads")

    def __init__(self, dataset="ex", param="he", optimizer="adam", bias="zero", bias_gain=1.0, step_exponent=0,
                 lr=None, runs=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
                 train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", path=None,
                 threads=None):
        _, d = parse_dataset(dataset)
        self.dataset, self.param = dataset, check_choice("param", param, PARAMETERISATIONS)
        self.optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
        self.bias, self.bias_gain = check_bias(bias, bias_gain)
        self.step_exponent = check_int("step_exponent", step_exponent, minimum=-400, maximum=400)
        lr = BASE_STEPS[optimizer, param] * 2 ** (self.step_exponent / 8) if lr is None else lr
        self.lr = check_float("lr", lr, 0, strict=True, maximum=1e12)
        for name, value in dict(runs=runs, n_chunks=n_chunks, width=width, epoch_budget=epoch_budget,
                                valid_budget=valid_budget, batch_size=batch_size, train_per_dim=train_per_dim,
                                n_valid=n_valid, n_test=n_test).items():
            setattr(self, name, check_int(name, value))
        require(runs % n_chunks == 0, f"--n_chunks must divide --runs {runs}; got {n_chunks}")
        self.n_train = train_per_dim * d
        require(self.n_train % batch_size == 0,
                f"--batch_size must divide n_train = train_per_dim * d = {self.n_train}; got {batch_size}")
        self.n_epochs, self.valid_every = max(1, round(epoch_budget / d)), max(1, round(valid_budget / d))
        self.seed, self.dtype = check_int("seed", seed, minimum=0), dtype
        torch_dtype(dtype)
        require(isinstance(device, str), f"--device must be auto, cpu, cuda or cuda:K; got {device!r}")
        self.device, self.path, self.threads = device, None if path is None else str(path), threads

    def arguments(self):
        """The keyword arguments that rebuild this task."""
        return {key: getattr(self, key) for key in self.SETTINGS + self.RUNTIME if key not in self.DERIVED}

    def settings(self):
        """What decides the result: every setting, derived ones included, without the runtime fields."""
        return {key: getattr(self, key) for key in self.SETTINGS}

    @classmethod
    def from_settings(cls, settings, **runtime):
        """The task of a result file's settings ('task'), with the given runtime fields."""
        return cls(**{k: v for k, v in settings.items() if k not in cls.DERIVED}, **runtime)

    def replace(self, **changes):
        return Task(**{**self.arguments(), **changes})

    def label(self, optimizer=None):
        """Folder name of the configuration (``optimizer``: another name of its optimizer)."""
        return config_label(self.param, optimizer or self.optimizer, self.bias, self.bias_gain)


# ============================================================================= one task
def chunk_seed(seed, chunk):
    """An independent 63-bit seed for network chunk ``chunk`` of a task with seed ``seed``."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def drawn_start(task, runs, seed, n_train=None):
    """Data and initial networks of ``runs`` networks of ``task``'s configuration (``n_train``
    training points, default the task's), drawn on the CPU in float64 from ``seed`` (data with NumPy,
    parameters with a CPU torch.Generator, which then draws the batch orders), then cast to the
    task's dtype and moved to its device: (data, params, mults, orders)."""
    device, dtype = torch_device(task.device), torch_dtype(task.dtype)
    n_train = task.n_train if n_train is None else n_train
    data = make_datasets(task.dataset, runs, n_train, task.n_valid, task.n_test, seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    params, mults = init_networks(task.param, task.bias, task.bias_gain, data["X_train"], task.width, generator)
    return (moved(data, device, dtype, keep=("bayes_rmse",)), moved(params, device, dtype), mults,
            epoch_orders(runs, n_train, generator, device))


def chunk_start(task, chunk):
    """Data, initial networks and batch orders of chunk ``chunk`` of ``task``, on the task's device.

    All of it is drawn on the CPU in float64 from the chunk's seed and only then cast to the run
    dtype and moved (``drawn_start``), so every device and thread count starts from identical
    tensors. Returns (data, params, mults, orders)."""
    return drawn_start(task, task.runs // task.n_chunks, chunk_seed(task.seed, chunk))


def train_chunk(task, chunk, progress=False):
    """Train chunk ``chunk`` of P / n_chunks networks of ``task`` (see ``chunk_start``).
    Returns train_networks' dict as numpy arrays, plus the 1-D training data in original units."""
    data, params, mults, orders = chunk_start(task, chunk)
    one_d = data["X_train"].shape[2] == 1
    grid = torch.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS, device=data["X_train"].device,
                          dtype=data["X_train"].dtype)
    curve_X = (grid[None, :, None] - data["x_mean"]) / data["x_std"] if one_d else None
    out = train_networks(params, mults, data, task.optimizer, task.lr, task.n_epochs, task.valid_every,
                         task.batch_size, orders, curve_X, progress)
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


def median_curve(chunks, best_test):
    """The best-validation function and training data of the median network (by best test RMSE
    among the finite ones) of a 1-D task: the 'curve' of its result."""
    finite = np.flatnonzero(np.isfinite(best_test))
    median = int(finite[np.argsort(best_test[finite])[len(finite) // 2]])
    stacked = {k: np.concatenate([c[k] for c in chunks]) for k in ("best_curve", "train_x", "train_y")}
    return dict(network=median, x=np.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS).tolist(),
                f=[finite_or_none(v) for v in stacked["best_curve"][median]],
                train_x=stacked["train_x"][median].tolist(), train_y=stacked["train_y"][median].tolist())


def summarise(task, chunks, wall_time):
    """The plain-JSON result of a task from its chunks' outputs: its settings, mean and std (ddof 0)
    over networks of each statistic, per-network best valid/test RMSEs, diverged count, wall time,
    device and, for 1-D data, the best-validation function and training data of the median network."""
    per_net = {k: np.concatenate([c[k] for c in chunks]) for k in STATISTICS + ("diverged",)}
    with np.errstate(invalid="ignore"):  # non-finite RMSEs of diverged networks give NaN, then null
        means, stds = ({k: finite_or_none(reduce(per_net[k])) for k in STATISTICS} for reduce in (np.mean, np.std))
    summary = dict(format=RESULT_FORMAT, task=task.settings(), device=str(task.device),
                   runs=len(per_net["diverged"]), diverged=int(per_net["diverged"].sum()), wall_time_s=wall_time,
                   bayes_rmse=chunks[0]["bayes_rmse"], mean=means, std=stds,
                   per_network={k: [finite_or_none(v) for v in per_net[k]] for k in ("best_valid", "best_test")})
    if "best_curve" in chunks[0] and np.isfinite(per_net["best_test"]).any():
        summary["curve"] = median_curve(chunks, per_net["best_test"])
    return summary


def execute(task, progress=False):
    """Train all chunks of ``task`` and return its summary (see ``summarise``)."""
    start = time.perf_counter()
    chunks = [train_chunk(task, chunk, progress) for chunk in range(task.n_chunks)]
    return summarise(task, chunks, time.perf_counter() - start)


# ============================================================================= result files
class ResultError(Exception):
    """A result file that is unreadable, truncated, corrupt or of another format."""


def settings_differences(there, here):
    """'key: A there, B here' for every key whose value differs between two settings dicts."""
    return [f"{k}: {there.get(k)!r} there, {here.get(k)!r} here" for k in sorted(set(there) | set(here))
            if there.get(k) != here.get(k)]


def checked_result(result, path):
    """``result`` (a file's JSON) if it is a result of format RESULT_FORMAT with the task settings,
    runs, diverged, mean/std of every statistic (finite or null) and one per-network best valid and
    best test RMSE per run; else a ResultError naming the file and what is wrong."""
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
        raise ResultError(f"{path}: per_network must list best_valid and best_test for each of the "
                          f"{result['runs']} runs")
    return result


def read_result(path):
    """A result file's contents, validated (see ``checked_result``), with the optimizer names of
    older versions read as today's (sgd-momentum: momentum). Raises ResultError."""
    try:
        result = load_json(path)
    except (OSError, ValueError) as error:
        raise ResultError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    result = checked_result(result, path)
    task = result["task"]
    if isinstance(task, dict) and task.get("optimizer") in OLD_OPTIMIZERS:
        task["optimizer"] = OLD_OPTIMIZERS[task["optimizer"]]
    return result


def read_or_none(path):
    """read_result, or None for a missing or corrupt file (the sweep recomputes those)."""
    try:
        return read_result(path)
    except ResultError:
        return None


def run_task(task):
    """The sweep's unit of work: train the task's networks and write its JSON result to task.path
    atomically. An existing file with the task's settings is kept; one with other settings, or a
    corrupt one, is named in a warning and recomputed. Returns (path, 'done'|'skipped')."""
    path = Path(task.path)
    if path.exists():
        try:
            there = read_result(path)["task"]
            if there == task.settings():
                return str(path), "skipped"
            warn(f"{path} holds other settings ({'; '.join(settings_differences(there, task.settings()))}); "
                 "recomputing it")
        except ResultError as error:
            warn(f"{error}; recomputing it")
    if task.threads:
        torch.set_num_threads(task.threads)
    save_json(path, execute(task))
    return str(path), "done"


# ============================================================================= step search
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
# The defaults of the shared settings that no grid sets (the options of ``run_nn_setups.py sweep``).
SWEEP_DEFAULTS = dict(bias_gain=1.0, batch_size=256, train_per_dim=256, n_valid=1024, n_test=1024, seed=0,
                      dtype="float32")


def n_chunks_for(runs, n_train, max_chunk_points):
    """The fewest chunks dividing P with at most max_chunk_points training points per chunk."""
    least = math.ceil(runs * n_train / max_chunk_points)
    return next(c for c in range(least, runs + 1) if runs % c == 0)


def grid_settings(grid, **overrides):
    """The grid's settings with the non-None overrides; list options parsed and validated (old
    optimizer names accepted with a warning)."""
    settings = dict(GRIDS[check_choice("grid", grid, tuple(GRIDS))])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("params", "optimizers", "datasets", "biases"):
        settings[key] = as_list(key, settings[key], lambda option, item: str(item))
    settings["optimizers"] = [renamed_value("optimizers", name, OLD_OPTIMIZERS) for name in settings["optimizers"]]
    for key, check in (("params", lambda v: check_choice("param", v, PARAMETERISATIONS)),
                       ("optimizers", lambda v: check_choice("optimizer", v, OPTIMIZERS)),
                       ("datasets", parse_dataset), ("biases", lambda v: check_bias(v, 1.0))):
        for value in settings[key]:
            checked_as(key, check, value)
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


def configuration_tasks(settings, **common):
    """The tasks of every (dataset, param, optimizer, bias) of the grid, without step: a dict
    {key: task} with key = (dataset, label)."""
    tasks = {}
    for dataset, param, optimizer, bias in itertools.product(
            settings["datasets"], settings["params"], settings["optimizers"], settings["biases"]):
        n_train = check_int("train_per_dim", common["train_per_dim"]) * parse_dataset(dataset)[1]
        task = Task(dataset=dataset, param=param, optimizer=optimizer, bias=bias, runs=settings["runs"],
                    n_chunks=n_chunks_for(settings["runs"], n_train, settings["max_chunk_points"]),
                    width=settings["width"], epoch_budget=settings["epoch_budget"],
                    valid_budget=settings["valid_budget"], **common)
        tasks[dataset, task.label()] = task
    return tasks


def configuration_folder(folder, task):
    """folder/<dataset>/<label>/, where the configuration's result files lie. A folder written before
    its optimizer was renamed (he_sgd-momentum_zero for he_momentum_zero) is used where it exists and
    the new one does not, so that a resumed sweep keeps its results."""
    new = Path(folder, task.dataset, task.label())
    old = [Path(folder, task.dataset, task.label(name))
           for name, now in OLD_OPTIMIZERS.items() if now == task.optimizer]
    return next((path for path in old if path.exists() and not new.exists()), new)


def at_step(task, folder, exponent, **runtime):
    """``task`` at step base * 2^(exponent/8), with its result path (and the given runtime fields)."""
    path = configuration_folder(folder, task) / f"step_e{exponent:+04d}.json"
    return task.replace(step_exponent=exponent, lr=None, path=path, **runtime)


def run_tasks(tasks, jobs, desc, backend="loky", client=None):
    """Run the tasks with parallel_map; returns how many were trained and skipped."""
    outcomes = [status for _, status in parallel_map(run_task, tasks, jobs, desc, backend, client)]
    return outcomes.count("done"), outcomes.count("skipped")


def search_steps(configs, folder, settings, jobs, backend, client, threads=None):
    """The step search of every configuration, in rounds: first the coarse steps, then, until no
    configuration asks for more, the steps ``next_exponents`` asks for given the steps of the
    rounds before. Each round's tasks run in parallel (``threads``: torch threads per worker);
    finished files are kept, so an interrupted search resumes and ends with the same steps.
    Returns (done, skipped)."""
    todo = {key: list(settings["coarse"]) for key in configs}
    tried = {key: set() for key in configs}
    done = skipped = 0
    for round_number in itertools.count():
        tasks = [at_step(configs[key], folder, e, threads=threads) for key, es in todo.items() for e in es]
        if not tasks:
            return done, skipped
        counts = run_tasks(tasks, jobs, "coarse steps" if round_number == 0 else f"search round {round_number}",
                           backend, client)
        done, skipped = done + counts[0], skipped + counts[1]
        for key, exponents in todo.items():
            tried[key].update(exponents)
        todo = {key: next_exponents([read_result(at_step(task, folder, e).path) for e in sorted(tried[key])],
                                    settings) for key, task in configs.items()}


# ============================================================================= sweep folders
def folder_settings(settings, common):
    """What every result of a sweep folder shares: SHARED_SETTINGS and the step search."""
    shared = {**common, **{k: settings[k] for k in ("runs", "width", "epoch_budget", "valid_budget")}}
    return {**{k: shared[k] for k in SHARED_SETTINGS},
            **{k: list(settings[k]) if k != "extend" else settings[k] for k in ("coarse", "fine", "extend")}}


def sweep_folder_name(grid, task):
    """The default sweep folder's name: the grid, then one part per shared setting of ``task`` (a
    task of the sweep) that differs from the grid's, e.g. quick, quick-width16, quick-runs4-seed1,
    paper-float64. A sweep of other shared settings would be refused in the grid's folder; one of
    fewer data sets, parameterisations, optimizers or biases shares it (its results are the grid's)."""
    default = {**SWEEP_DEFAULTS, **{key: GRIDS[grid][key] for key in ("runs", "width", "epoch_budget", "valid_budget")}}
    differing = [key for key in SHARED_SETTINGS if getattr(task, key) != default[key]]
    return "-".join([grid] + [task.dtype if key == "dtype" else f"{key}{getattr(task, key):g}" for key in differing])


def prepare_sweep_folder(folder, wanted):
    """Check that ``folder`` holds no sweep of other settings, then record ``wanted`` in its
    sweep.json. The folder's settings come from sweep.json or, in a folder without one, from its
    first result file; a difference is refused with one line naming it, before anything is written."""
    manifest = folder / "sweep.json"
    there = None
    if manifest.exists():
        try:
            there = load_json(manifest)["settings"]
            require(isinstance(there, dict), "its settings are not a table of settings")
        except (OSError, ValueError, KeyError, TypeError, UsageError) as error:
            raise UsageError(f"{manifest} is not a sweep record ({file_problem(error)}); remove it or choose "
                             f"another --out") from None
    elif folder.exists() and (existing := next(folder.rglob("step_e*.json"), None)) is not None:
        task = (read_or_none(existing) or {}).get("task", {})
        there = {k: task.get(k) for k in SHARED_SETTINGS}
    if there is not None:
        diff = settings_differences(there, {k: wanted.get(k) for k in there})
        require(not diff, f"--out {folder} holds a sweep with other settings ({'; '.join(diff)}); "
                          f"use another --out or the same options")
    if not manifest.exists():
        save_json(manifest, {"format": SWEEP_FORMAT, "settings": wanted})


# ============================================================================= fits and benchmark
def fit_path(task, results=None):
    """Default file of a fit, below <results root>/nn_setups/fit: its configuration, step and sizes in the name."""
    name = (f"{task.dataset}_{task.label()}_lr{task.lr:.4g}_runs{task.runs}_width{task.width}"
            f"_epochs{task.epoch_budget}_valid{task.valid_budget}_batch{task.batch_size}"
            f"_train{task.train_per_dim}_seed{task.seed}_{task.dtype}.json")
    return results_root(results) / "nn_setups" / "fit" / name


def seconds_per_step(runs, d, width, steps, optimizer, device, dtype):
    """Wall seconds per minibatch step (256 points) of training ``runs`` networks at once on
    1,024 points of radial_d."""
    task = Task(f"radial_{d}", "he", optimizer, "zero", runs=runs, width=width, n_valid=256, n_test=256,
                device=str(device), dtype=dtype)

    def timed(epochs):
        data, params, mults, orders = drawn_start(task, runs, chunk_seed(0, 0), n_train=4 * 256)
        synchronize(device)
        start = time.perf_counter()
        train_networks(params, mults, data, optimizer, 1e-3, epochs, epochs, 256, orders)
        synchronize(device)
        return time.perf_counter() - start

    timed(1)  # warm-up
    epochs = max(1, steps // 4)
    return timed(epochs) / (4 * epochs)
