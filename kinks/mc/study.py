"""A study's configuration: the presets, the validated configuration of a study from its options
(``make_config``), old configurations completed, the label and default folder name of a study,
the differences between two studies and whether one extends the other; and the chunks of a
study: their plan, their seeds and the function that trains one (``simulate_chunk``)."""
import hashlib

import numpy as np

from kinks.checks import as_list, check_choice, check_int, check_leak, check_offset, require
from kinks.mc.data import DataSet, parse_data
from kinks.mc.engines import ENGINES, make_trainer, resolve_engine
from kinks.mc.optimizers import LARGEST_BATCH, OPTIMIZERS, SGD_BATCH, batch_of
from kinks.mc.theory import certificate_applies
from kinks.mc.training import CRITERIA, default_stopping, draw_problems, train
from kinks.samples import X_DATA, Y_DATA, SampleRule

INITS = ("he", "swapped")
STEPS = ("theory", "small")
PAPER = dict(offsets=[0.0, 0.01, 0.1], widths=[2**k for k in range(4, 12)], runs=10_000)
PRESETS = {
    "quick": dict(offsets=[0.0, 0.1], widths=[16, 32, 64], runs=500),
    "paper": PAPER,
    "paper_sgd": dict(PAPER, optimizer="sgd", step="small"),
    "paper_adam": dict(PAPER, optimizer="adam", batch_size=16, step="small"),  # dense: about 50 min on 2 cores
    "paper_swapped": dict(PAPER, init="swapped", epochs_per_check=100, max_checks=10_000),
    "leaky": dict(offsets=[0.0], widths=[16, 32, 64, 128, 256], runs=2000, leak=0.1),
}
PRESET_DEFAULTS = dict(optimizer="gd", step="theory", init="he", seed=0, epochs_per_check=None,
                       max_checks=None, engine="auto", chunk_size=None, save_params=False,
                       batch_size=None, leak=0.0, data=None, probs=None, samples=SampleRule.DEFAULT)


def complete_config(config):
    """A run configuration with the fields added after its format was fixed, given their old
    meaning where missing (run folders written before them): batch_size 16 for sgd, else
    'full'; leak 0; the paper's data with uniform probabilities; samples n^2."""
    old = {"batch_size": SGD_BATCH if config.get("optimizer") == "sgd" else "full", "leak": 0.0,
           "data": np.stack([X_DATA, Y_DATA], 1).tolist(), "probs": DataSet().probs.tolist(),
           "samples": SampleRule.DEFAULT}
    return {**old, **config}


def cell_settings(offsets, widths, runs, seed, chunk_size, data=None, probs=None, leak=0.0,
                  samples=SampleRule.DEFAULT):
    """The checked settings that name a study's cells and their problems, as run.json records
    them: offsets, widths (n >= 2), runs, seed, one chunk size per width, the data and its
    probabilities, the leak and the samples rule (N drawable at every width). Shared by the
    configurations of ``mc_minima.py risk`` and ``trace``."""
    offsets = as_list("offsets", offsets, check_offset)
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, seed = check_int("runs", runs), check_int("seed", seed, 0)
    chunk_size = check_int("chunk_size", chunk_size)
    dataset, leak, samples = parse_data(data, probs), check_leak(leak), SampleRule(samples)
    samples.count(max(widths))  # N must be drawable at every width
    return dict(offsets=offsets, widths=widths, runs=runs, seed=seed, chunk_sizes=[chunk_size] * len(widths),
                leak=leak, samples=samples.text, data=np.stack([dataset.x, dataset.y], 1).tolist(),
                probs=dataset.probs.tolist())


def check_batch_size(optimizer, batch_size):
    """'full' or an integer 1 <= B <= LARGEST_BATCH; sgd is gd with B = 16 and takes no other batch size."""
    if optimizer == "sgd":
        require(batch_size in (None, SGD_BATCH), f"--batch_size: sgd is gd with batch size {SGD_BATCH}; "
                f"for batch size {batch_size} use --optimizer gd --batch_size {batch_size}")
        return SGD_BATCH
    if batch_size is None or batch_size == "full":
        return "full"
    return check_int("batch_size", batch_size, 1, LARGEST_BATCH)


def default_chunk_size(width, engine):
    """Networks per chunk: dense holds O(P n) floats per epoch, so P n ~ 2^16; the reduced trainer
    costs O(P) per epoch and needs many networks per chunk to amortise the per-epoch overhead."""
    target = 2**16 // width if engine == "dense" else 4096
    return int(min(4096, max(16, target)))


EXTENT = ("offsets", "widths", "runs", "chunk_sizes")  # what an extension of a run folder may grow
USER_OPTIONS = ("optimizer", "init", "step", "stopping", "engine", "offsets", "widths", "runs", "seed",
                "epochs_per_check", "max_checks", "chunk_sizes", "save_params", "batch_size", "leak",
                "data", "probs", "samples")  # config keys set by options


def study_settings(config):
    """The settings every chunk of a run folder shares: the configuration without its extent
    (offsets, widths, runs, chunk sizes), which an extension may grow."""
    return {key: value for key, value in complete_config(config).items() if key not in EXTENT}


def chunk_size_of(config, width):
    """The networks per chunk at ``width``."""
    return dict(zip(config["widths"], config["chunk_sizes"]))[width]


def number_text(value):
    """A number written one way in labels and folder names: 0 and 0.1 (not 0.0), exactly
    (repr where %g would round); anything else as str."""
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def option_text(key, value):
    """How a configuration value is typed on the command line: ('--chunk_size', '4096') for the
    chunk sizes, ('--widths', '16,32') for lists, ('--save_params', 'true') for booleans."""
    if key == "chunk_sizes":
        key, value = "chunk_size", value[0] if len(set(value)) == 1 else value
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, (list, tuple)):
        value = ",".join(number_text(v) for v in value)
    else:
        value = number_text(value)
    return f"--{key}", str(value)


def run_label(config):
    """'optimizer[, batch B], init, step[, leak alpha][, N rule][, data ...]': the parts that
    differ from the published gd runs on the paper's data (N = n^2 is left out)."""
    config = complete_config(config)
    parts = [config["optimizer"]]
    if config["batch_size"] != batch_of(config["optimizer"]) and config["batch_size"] != "full":
        parts.append(f"batch {config['batch_size']}")
    parts += [f"{config['init']} init", f"{config['step']} step"]
    if config["leak"]:
        parts.append(f"leak {config['leak']:g}")
    if config["samples"] != SampleRule.DEFAULT:
        parts.append(SampleRule(config["samples"]).label())
    dataset = DataSet.from_config(config)
    if not dataset.is_paper():
        parts.append(f"data {dataset.label()}")
    return ", ".join(parts)


def make_config(preset="quick", optimizer=None, step=None, init=None, stopping=None, offsets=None,
                widths=None, runs=None, seed=None, epochs_per_check=None, max_checks=None,
                engine=None, chunk_size=None, save_params=None, batch_size=None, leak=None,
                data=None, probs=None, samples=None):
    """The validated configuration of a study: the preset's values, overridden by the options given.

    Args:
        preset: quick | paper | paper_sgd | paper_adam | paper_swapped | leaky (see ``PRESETS``).
        optimizer, step, init, stopping, offsets, widths, runs, seed, epochs_per_check, max_checks,
            engine, chunk_size, save_params, batch_size, leak, data, probs, samples: the options of
            ``mc_training.py run`` (its --help says what each means and allows); None takes the
            preset's value.
    Returns:
        A plain dict, as recorded in run.json: every option checked and completed (stopping always
        with crossing; engine 'auto' resolved to reduced or dense; batch_size 'full' or B;
        chunk_sizes, one per width, instead of chunk_size; data [[x, y], ...] sorted by x, probs;
        samples as text, e.g. 'n^2').
    Raises:
        UsageError: a bad value, in one line naming its option (nothing has been written).
    Example:
        >>> config = make_config("quick", widths=[16, 32], runs=100)
        >>> config["engine"], config["stopping"], config["chunk_sizes"]
        ('reduced', ['crossing', 'sufficient'], [4096, 4096])
    """
    check_choice("preset", preset, tuple(PRESETS))
    given = {k: v for k, v in locals().items() if k != "preset" and v is not None}
    config = {**PRESET_DEFAULTS, **PRESETS[preset], **given}
    check_choice("optimizer", config["optimizer"], OPTIMIZERS)
    check_choice("step", config["step"], STEPS)
    check_choice("init", config["init"], INITS)
    check_choice("engine", config["engine"], ENGINES)
    config["batch_size"] = check_batch_size(config["optimizer"], config["batch_size"])
    config["leak"] = check_leak(config["leak"])
    config["samples"] = SampleRule(config["samples"]).text
    dataset = parse_data(config.pop("data"), config.pop("probs"))
    config["data"], config["probs"] = np.stack([dataset.x, dataset.y], 1).tolist(), dataset.probs.tolist()
    swapped = config["init"] == "swapped" and config["epochs_per_check"] is None \
        and config["max_checks"] is None
    for option, usual, for_swapped in (("epochs_per_check", 1000, 100), ("max_checks", 1000, 10_000)):
        config[option] = config[option] if config[option] is not None else (for_swapped if swapped else usual)
    training = (config["optimizer"], config["batch_size"], config["leak"])
    stopping = config.get("stopping")
    criteria = as_list("stopping", default_stopping(*training) if stopping is None else stopping,
                       lambda o, v: check_choice(o, v, CRITERIA))
    require("sufficient" not in criteria or certificate_applies(*training),
            f"--stopping sufficient needs --optimizer gd, --batch_size full and --leak 0: the "
            f"certificate is proved for full-batch gradient descent on relu networks only, not for "
            f"{run_label(config)} (use crossing,early)")
    config["stopping"] = sorted(set(criteria) | {"crossing"}, key=CRITERIA.index)
    config["offsets"] = as_list("offsets", config["offsets"], check_offset)
    config["widths"] = as_list("widths", config["widths"], lambda o, v: check_int(o, v, 2))
    SampleRule(config["samples"]).count(max(config["widths"]))  # N must be drawable at every width
    for option in ("runs", "epochs_per_check", "max_checks"):
        config[option] = check_int(option, config[option], 1)
    config["seed"] = check_int("seed", config["seed"], 0)
    config["save_params"] = bool(config["save_params"])
    config["engine"] = resolve_engine(config["engine"], config["optimizer"])
    if config["chunk_size"] is not None:
        config["chunk_size"] = check_int("chunk_size", config["chunk_size"], 1)
    config["chunk_sizes"] = [config["chunk_size"] or default_chunk_size(n, config["engine"])
                             for n in config["widths"]]
    del config["chunk_size"]
    return config


def run_dir_name(preset, config, given):
    """The default run folder's name: the preset, then one part per option in ``given`` (the
    options typed) whose value differs from the preset's, e.g. 'quick', 'quick-sgd-runs100',
    'paper-swapped-widths16_64'. Choices appear as their value, numbers and lists (joined by _)
    after the option's name."""
    base = make_config(preset)
    parts = [preset]
    for key in USER_OPTIONS:
        option = "chunk_size" if key == "chunk_sizes" else key
        if option not in given or config[key] == base[key]:
            continue
        if key in ("optimizer", "init", "step", "engine"):
            parts.append(config[key])
        elif key == "save_params":
            parts.append("params")
        elif key in ("data", "probs"):  # a short digest of the points or probabilities
            parts.append(key + hashlib.sha1(repr(config[key]).encode()).hexdigest()[:8])
        elif key == "samples":
            parts.append(SampleRule(config[key]).folder_part())
        else:
            parts.append(option + option_text(key, config[key])[1].replace(",", "_"))
    return "-".join(parts)


def configuration_differences(old, new):
    """'--option OLD there, NEW now' for every user-facing setting in which ``old`` and ``new``
    differ as typed (chunk sizes [4096] and [4096, 4096] are both '--chunk_size 4096'), then for
    any other key of either (the settings of other studies run by ``run_chunks``)."""
    others = sorted((set(old) | set(new)) - set(USER_OPTIONS))
    texts = [(option_text(key, old.get(key)), option_text(key, new.get(key)))
             for key in (*USER_OPTIONS, *others) if key in old or key in new]
    return [f"{was[0]} {was[1]} there, {now[1]} now" for was, now in texts if was != now]


def extension_problems(old, new):
    """Why ``new`` is not ``old`` or an extension of it (empty if it is). An extension has the same
    study settings and contains the old study: every old offset and width, at least as many runs,
    the same chunk size at every old width; its chunks then hold exactly the numbers a run made at
    the larger size from the start would hold (chunk seeds depend on offset, width and chunk index
    only)."""
    problems = configuration_differences(study_settings(old), study_settings(new))
    for key in ("offsets", "widths"):
        missing = [value for value in old[key] if value not in new[key]]
        if missing:
            problems.append(f"--{key} lacks {option_text(key, missing)[1]} (there: {option_text(key, old[key])[1]})")
    if new["runs"] < old["runs"]:
        problems.append(f"--runs {new['runs']} is below the {old['runs']} there")
    if any(chunk_size_of(old, n) != chunk_size_of(new, n) for n in old["widths"] if n in new["widths"]):
        problems.append(f"--chunk_size {option_text('chunk_sizes', old['chunk_sizes'])[1]} there, "
                        f"{option_text('chunk_sizes', new['chunk_sizes'])[1]} now")
    return problems


def chunk_tasks(run_dir, config):
    """One task per (offset, width, chunk): plain dicts, in a fixed order. Chunk k of a width
    with chunk size s holds the runs k s ... min((k + 1) s, runs) - 1, so more runs add chunks
    after the existing ones and only a partial last chunk changes (it grows)."""
    tasks = []
    for offset in config["offsets"]:
        for width, size in zip(config["widths"], config["chunk_sizes"]):
            for chunk, start in enumerate(range(0, config["runs"], size)):
                tasks.append(dict(run_dir=str(run_dir), config=config, offset=offset, width=width,
                                  chunk=chunk, runs=min(size, config["runs"] - start)))
    return tasks


def chunk_seed(config, offset, width, chunk):
    """The chunk's SeedSequence: master seed, spawn key (bits of the offset, width, chunk index),
    so every chunk's numbers are fixed whatever the number of workers or the order of work."""
    offset_key = int(np.float64(offset).view(np.uint64))
    return np.random.SeedSequence(config["seed"], spawn_key=(offset_key, width, chunk))


def simulate_chunk(config, offset, width, chunk, runs, reference=False):
    """Train one chunk of networks (with the NumPy reference engine when ``reference``, see
    ``benchmark``); returns the dict of result arrays (see ``train``)."""
    config = complete_config(config)
    rng = np.random.default_rng(chunk_seed(config, offset, width, chunk))
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, runs, width, offset, config["init"], config["step"],
                                                DataSet.from_config(config), config["leak"],
                                                SampleRule(config["samples"]))
    return train(make_trainer(config, a, b, c, w, x, y, h, reference), x, y, p, q, h, config["optimizer"],
                 config["stopping"], config["epochs_per_check"], config["max_checks"], rng,
                 config["save_params"], batch_size=config["batch_size"])
