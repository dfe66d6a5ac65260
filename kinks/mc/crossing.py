"""The crossing probability from stored runs (the ``report`` of ``mc_plotting.py``): finding and
loading run folders chunk by chunk (a bad file is named and skipped), the estimate p_hat with its
Clopper-Pearson interval per (run, Delta, n), the power-law fits, the shipped reference results
and the z-score against them, the text tables and the legend labels of runs, and the theorem's
event probability beside the stuck fraction 1 - p_hat of the runs it speaks about."""
import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from kinks.checks import UsageError, as_list, require, warn
from kinks.files import file_slug
from kinks.mc.data import DataSet
from kinks.mc.runner import ChunkError, chunk_path, load_chunk, read_manifest
from kinks.mc.study import PRESETS, chunk_tasks, complete_config, run_label
from kinks.mc.theory import event_rows
from kinks.mc.training import STATUSES
from kinks.paths import data_path, named_folder, results_root
from kinks.samples import SampleRule
from kinks.stats import clopper_pearson, fit_power_law, two_proportion_z

STAYED = ("LOCALLY_CONVERGED", "EARLY_STOPPED")  # the statuses that count as "not crossed"
CHUNK_NAME = re.compile(r"chunk_\d+\.(npz|json)")


# ============================================================================ loading
def runs_folder(results=None):
    """The folder holding the run folders: <results root>/mc."""
    return results_root(results) / "mc"


def find_run_dirs(results):
    """Every folder holding a run.json below ``results`` (itself included), sorted."""
    return sorted(path.parent for path in Path(results).rglob("run.json"))


def named_run_dir(results, name, option="--input"):
    """The run folder ``name``: a path, or a folder name below ``results``; it must hold run.json."""
    return named_folder(name, results, option, ("run.json", "run folder"))


def chunk_files(run_dir):
    """The chunk paths (.npz) of every chunk file (.npz or .json twin) found on disk below
    ``run_dir``/delta_*/n_*/, and the other files found there (hidden ones, the temporaries of
    atomic writes still in progress, are left out)."""
    chunks, others = set(), []
    for path in sorted(Path(run_dir).glob("delta_*/n_*/*")):
        if path.name.startswith("."):
            continue
        if CHUNK_NAME.fullmatch(path.name):
            chunks.add(path.with_suffix(".npz"))
        else:
            others.append(path)
    return sorted(chunks), others


def read_chunk(path, expected, config):
    """(offset, width, status counts) of the chunk at ``path``, validated by ``load_chunk``
    against the run's ``config`` and against the task ``expected`` maps its path to; raises
    ``ChunkError`` naming the file otherwise."""
    task = expected.get(path)
    if task is None:
        raise ChunkError(f"{path}: not a chunk of this run's configuration")
    meta, arrays = load_chunk(path, config)
    if any(meta.get(key) != task[key] for key in ("offset", "width", "chunk", "runs")):
        raise ChunkError(f"{path}: its .json describes another chunk than its place in the run")
    names, counts = np.unique(arrays["status"], return_counts=True)
    return task["offset"], task["width"], Counter(dict(zip(names.tolist(), counts.tolist())))


def run_name(run_dir, results):
    """The run's short name in tables, legends and folder names: its path below ``results``,
    else (a run kept elsewhere, or ``results`` itself) its folder name; never an absolute path."""
    run_dir, results = Path(run_dir).absolute(), Path(results).absolute()
    if run_dir != results and run_dir.is_relative_to(results):
        return run_dir.relative_to(results).as_posix()
    return run_dir.name


def load_run(run_dir, name):
    """Load a run folder's status counts, chunk by chunk, as the report reads it.

    Every chunk file is validated (``load_chunk``, and its place in the run); a truncated, corrupt
    or foreign file, and any other file among the chunks, is named in a warning on stderr and
    skipped, so that a run can be reported while it is still being computed. Old run folders load
    as they are (fields added later get their old meaning, see ``complete_config``).

    Args:
        run_dir: the run folder (holding run.json).
        name: the run's short name in tables and legends (see ``run_name``).
    Returns:
        A dict with name, label (``run_label``), config (as stored) and counts {(offset, width):
        Counter of statuses} summed over the valid chunks, sorted by (offset, width); None (with a
        warning) when run.json is unreadable.
    Example:
        >>> run = load_run("results/mc/small", "small")  # made as in the example of ``run_chunks``
        >>> k, total, p_hat, lower, upper = crossing_estimate(run["counts"][(0.0, 16)])
        >>> total, 0 <= lower <= p_hat <= upper <= 1
        (100, True)
    """
    run_dir = Path(run_dir)
    try:
        config = read_manifest(run_dir / "run.json")["config"]
    except UsageError as error:
        warn(f"{error}; run skipped".replace("; remove the folder or choose another", ""))
        return None
    try:
        label = run_label(config)
        expected = {chunk_path(run_dir, t["offset"], t["width"], t["chunk"]): t
                    for t in chunk_tasks(run_dir, config)}
    except Exception as error:  # unreadable JSON, another format, a config missing keys
        warn(f"{run_dir / 'run.json'}: its configuration is not one this version reads (at {error}); run skipped")
        return None
    chunks, others = chunk_files(run_dir)
    for path in others:
        warn(f"{path}: not a chunk file; skipped")
    counts = {}
    for path in chunks:
        try:
            offset, width, found = read_chunk(path, expected, config)
        except ChunkError as error:
            warn(f"{error}; skipped")
            continue
        counts.setdefault((offset, width), Counter()).update(found)
    return dict(name=name, label=label, config=config, counts=dict(sorted(counts.items())))


def load_runs(folder, names=None):
    """The runs to report: those in ``names`` (paths or folder names below ``folder``), else every
    run folder below ``folder``; runs without any valid chunk are left out with a note."""
    folder = Path(folder)
    if names is None:
        run_dirs = find_run_dirs(folder) if folder.is_dir() else []
        hint = ("--results is the results root, the folder holding mc/" if folder.parent.is_dir()
                and find_run_dirs(folder.parent) else "run python mc_training.py run first")
        require(run_dirs, f"--results: no run folder (a folder with run.json) below {folder}; {hint}")
    else:
        run_dirs = as_list("input", names, lambda option, name: named_run_dir(folder, name))
    loaded = [load_run(run_dir, run_name(run_dir, folder)) for run_dir in run_dirs]
    for run_dir, run in zip(run_dirs, loaded):
        if run is not None and not run["counts"]:
            warn(f"{run_dir}: no finished chunk yet; left out")
    loaded = [run for run in loaded if run is not None and run["counts"]]
    require(loaded, "no finished chunk in any run folder; nothing to report")
    return loaded


# ============================================================================ estimates and fits
def crossing_estimate(counts):
    """The estimated crossing probability of one cell, with its 95 % Clopper-Pearson interval.

    Every network not shown to stay put counts as possibly crossed:
    k = total - LOCALLY_CONVERGED - EARLY_STOPPED, p_hat = k / total, interval
    [Beta^{-1}(0.025; k, total - k + 1), Beta^{-1}(0.975; k + 1, total - k)].

    Args:
        counts: {status: count} of the cell's networks (a Counter of ``load_run``).
    Returns:
        (k, total, p_hat, lower, upper).
    Example:
        >>> crossing_estimate({"CROSSED": 30, "LOCALLY_CONVERGED": 70})[:3]
        (30, 100, 0.3)
    """
    total = sum(counts.values())
    k = total - sum(counts.get(name, 0) for name in STAYED)
    lower, upper = clopper_pearson(k, total)
    return k, total, k / total, float(lower), float(upper)


def table_rows(runs):
    """One dict per (run, offset, width): run, label, offset, width, runs, planned (networks the
    run's configuration asks for), each status's count, crossed (k), p_hat, ci_low, ci_high."""
    rows = []
    for run in runs:
        for (offset, width), counts in run["counts"].items():
            k, total, p_hat, lower, upper = crossing_estimate(counts)
            rows.append(dict(run=run["name"], label=run["label"], offset=offset, width=width, runs=total,
                             planned=run["config"]["runs"], **{s: counts.get(s, 0) for s in STATUSES},
                             crossed=k, p_hat=p_hat, ci_low=lower, ci_high=upper))
    return rows


def series(rows):
    """The rows grouped per (run, offset), in order: {(run, offset): [rows sorted by width]}."""
    groups = {}
    for row in rows:
        groups.setdefault((row["run"], row["offset"]), []).append(row)
    return {key: sorted(group, key=lambda row: row["width"]) for key, group in groups.items()}


def fit_rows(rows):
    """One dict per (run, offset): run, label, offset, exponent, stderr, widths used, widths skipped."""
    fits = []
    for (run, offset), group in series(rows).items():
        exponent, se, used, skipped = fit_power_law(*([r[key] for r in group] for key in ("width", "p_hat", "runs")))
        fits.append(dict(run=run, label=group[0]["label"], offset=offset, exponent=exponent, stderr=se,
                         widths=" ".join(map(str, used)), skipped=" ".join(map(str, skipped))))
    return fits


# ============================================================================ shipped reference
REFERENCE_DIR = data_path("reference")  # the shipped references, reference/ of the repository
EXPERIMENT_KEYS = ("optimizer", "batch_size", "step", "init", "stopping", "epochs_per_check",
                   "max_checks", "leak", "data", "probs")
REFERENCE_COLUMNS = ["preset", "offset", "width", "runs", "crossed", "p_hat", "ci_low", "ci_high", "seed",
                     "experiment", "command"]


def experiment_of(config):
    """The settings that define what a run estimates (not how many runs or how it is computed),
    as compact JSON text: runs with equal text estimate the same probabilities. The paper's data
    appear as data 'paper', probs 'uniform'; the samples rule only where it is not n^2 (so the
    shipped references, written before it, keep their text)."""
    config = complete_config(config)
    settings = {key: config[key] for key in EXPERIMENT_KEYS}
    if config["samples"] != SampleRule.DEFAULT:
        settings["samples"] = config["samples"]
    if DataSet.from_config(config).is_paper():
        settings["data"], settings["probs"] = "paper", "uniform"
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def reference_rows(run, preset):
    """The reference CSV rows of a loaded run: per (offset, width) the counts and estimate, the
    seed, the experiment (see ``experiment_of``) and the command that reproduces them."""
    config, defaults = run["config"], PRESETS[preset]
    command = f"python mc_training.py run --preset {preset} --seed {config['seed']}"
    for option, text in (("widths", ",".join(map(str, config["widths"]))), ("runs", str(config["runs"])),
                         ("offsets", ",".join(f"{o:g}" for o in config["offsets"]))):
        if config[option] != defaults[option]:
            command += f" --{option} {text}"
    return [dict(preset=preset, **{key: row[key] for key in REFERENCE_COLUMNS[1:5]},
                 **{key: f"{row[key]:.6g}" for key in REFERENCE_COLUMNS[5:8]}, seed=config["seed"],
                 experiment=experiment_of(config), command=command)
            for row in table_rows([run]) if row["runs"] == row["planned"]]


def load_references(folder):
    """Every row of the 1-D reference CSVs in ``folder`` (header REFERENCE_COLUMNS; the star
    study's, beside them, are left alone), counts as ints."""
    folder = Path(folder)
    require(folder.is_dir(), f"--against {folder}: no such folder of reference CSVs")
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames != REFERENCE_COLUMNS:
                continue
            for row in reader:
                rows.append(dict(row, offset=float(row["offset"]), width=int(row["width"]),
                                 runs=int(row["runs"]), crossed=int(row["crossed"])))
    require(rows, f"--against {folder}: holds no reference CSV")
    return rows


def against_rows(rows, runs, references):
    """Per row of the user's table whose run has the experiment of a reference row at the same
    (offset, width): both estimates and the two-proportion z-score."""
    experiments = {run["name"]: experiment_of(run["config"]) for run in runs}
    seeds = {run["name"]: run["config"]["seed"] for run in runs}
    shipped = {(ref["experiment"], ref["offset"], ref["width"]): ref for ref in references}
    out = []
    for row in rows:
        ref = shipped.get((experiments[row["run"]], row["offset"], row["width"]))
        if ref is not None:
            out.append(dict(run=row["run"], reference=ref["preset"], offset=row["offset"], width=row["width"],
                            runs=row["runs"], p_hat=row["p_hat"], ref_runs=ref["runs"],
                            ref_p_hat=ref["crossed"] / ref["runs"],
                            same_seed=int(ref["seed"]) == seeds[row["run"]],
                            z=two_proportion_z(row["crossed"], row["runs"], ref["crossed"], ref["runs"])))
    return out


def format_against(compared):
    """The comparison as text, one line per cell; |z| > 3 is marked."""
    lines = ["your estimates beside the shipped reference (z: two-proportion z-score; |z| > 3 is marked)",
             f"{'run':<24} {'reference':<14} {'offset':>7} {'n':>6} {'runs':>7} {'p_hat':>7}"
             f" {'ref runs':>9} {'ref p_hat':>9} {'z':>7}"]
    for row in compared:
        flag = "  <-- differs" if abs(row["z"]) > 3 else ""
        lines.append(f"{row['run']:<24} {row['reference']:<14} {row['offset']:>7g} {row['width']:>6} "
                     f"{row['runs']:>7} {row['p_hat']:>7.4f} {row['ref_runs']:>9} {row['ref_p_hat']:>9.4f} "
                     f"{row['z']:>7.2f}{flag}")
    if any(row["same_seed"] for row in compared):
        lines.append("note: some runs use the reference's seed, so their first chunks are the reference's "
                     "own networks; use another --seed for an independent check")
    return "\n".join(lines)


# ============================================================================ tables and labels
ROW_COLUMNS = ["run", "label", "offset", "width", "runs", "planned", *STATUSES, "crossed", "p_hat",
               "ci_low", "ci_high"]
FIT_COLUMNS = ["run", "label", "offset", "exponent", "stderr", "widths", "skipped"]
AGAINST_COLUMNS = ["run", "reference", "offset", "width", "runs", "p_hat", "ref_runs", "ref_p_hat", "z",
                   "same_seed"]


def present_statuses(rows):
    """The statuses that occur in ``rows``, in the order of ``STATUSES``."""
    return [s for s in STATUSES if any(row[s] for row in rows)]


def format_table(rows):
    """The table as text: per run a header line, then a row per (offset, width) with the count
    of every status that occurs, p_hat and its 95 % interval; unfinished rows are marked."""
    names = present_statuses(rows)
    head = f"{'offset':>8} {'n':>6} {'runs':>7} " + " ".join(f"{s:>17}" for s in names)
    lines = []
    for run in dict.fromkeys(row["run"] for row in rows):
        own = [row for row in rows if row["run"] == run]
        lines += [f"run {run} ({own[0]['label']})", head + f" {'p_hat':>7}   95% interval"]
        for row in own:
            partial = f"   ({row['runs']} of {row['planned']} finished)" if row["runs"] < row["planned"] else ""
            lines.append(f"{row['offset']:>8g} {row['width']:>6} {row['runs']:>7} "
                         + " ".join(f"{row[s]:>17}" for s in names)
                         + f" {row['p_hat']:>7.4f}   [{row['ci_low']:.4f}, {row['ci_high']:.4f}]{partial}")
    return "\n".join(lines)


def format_fits(fits):
    """One line per (run, offset): p_hat ~ n^(e +- se), with the widths used and skipped."""
    lines = ["weighted least-squares fit of log p_hat on log n, weights 1/Var(log p_hat) = runs p/(1 - p) "
             "(the paper's guide line: exponent -0.5)"]
    for fit in fits:
        if np.isnan(fit["exponent"]):
            result = f"no fit: needs two widths with p_hat > 0, has n = {fit['widths'] or 'none'}"
        else:
            se = " (no error below 3 points)" if np.isnan(fit["stderr"]) else f" +- {fit['stderr']:.3f}"
            result = f"exponent {fit['exponent']:.3f}{se} over n = {fit['widths']}"
        skipped = f"; skipped n = {fit['skipped']} (p_hat = 0)" if fit["skipped"] else ""
        lines.append(f"  {fit['run']}, offset {fit['offset']:g}: {result}{skipped}")
    return "\n".join(lines)


def report_folder(folder, names, loaded):
    """Where a report goes by default: <folder>/report for every run, <folder>/report-<a>+<b>...
    (named after the runs, '/' written as '_') for the runs named in --input."""
    if names is None:
        return folder / "report"
    return folder / ("report-" + "+".join(run["name"].replace("/", "_") for run in loaded))


LABEL_SKIPS = ("offsets", "chunk_sizes", "engine", "save_params")  # never in a label: Delta is in each series'


def setting_text(key, value):
    """A setting in a label: 'seed = 1', 'widths = 16,32,64' (a list joined by commas; a legend
    line never breaks inside it, see ``figures.glued``)."""
    return f"{key} = {','.join(map(str, value)) if isinstance(value, list) else value}"


def run_labels(runs):
    """A label per run name: its configuration's label (``run_label``: optimizer, batch, init, step,
    leak, data), and among runs of equal label every setting in which they differ ('runs = 200',
    'seed = 1'; offsets are left to the series' Delta); runs of N = n^2 say so when the runs
    compared differ in their samples rule."""
    labels = {}
    rules = {complete_config(run["config"])["samples"] for run in runs}
    for run in runs:
        twins = [complete_config(other["config"]) for other in runs if other["label"] == run["label"]]
        own = complete_config(run["config"])
        if len(twins) == 1:
            default = len(rules) > 1 and own["samples"] == SampleRule.DEFAULT
            labels[run["name"]] = run["label"] + (f", {SampleRule().label()}" if default else "")
            continue
        differing = [key for key in sorted(own) if key not in LABEL_SKIPS
                     and len({repr(config.get(key)) for config in twins}) > 1]
        labels[run["name"]] = ", ".join([run["label"], *(setting_text(key, own[key]) for key in differing)])
    return labels


def shared_parts(runs):
    """The parts of the runs' labels (``run_labels``, split at ', ') that every run shares, in the
    order of the first label, when several runs are compared (else none): the figure states them
    once, in its title, instead of in every legend entry."""
    labels = [label.split(", ") for label in run_labels(runs).values()]
    if len(labels) < 2:
        return []
    return [part for part in labels[0] if all(part in label for label in labels[1:])]


def run_names(runs):
    """The legend name of each run: its label (``run_labels``) without the parts every run shares
    (``shared_parts``), or the folder name where nothing else is left."""
    shared = shared_parts(runs)
    return {run: ", ".join(part for part in label.split(", ") if part not in shared) or run
            for run, label in run_labels(runs).items()}


def told_apart(texts, folders):
    """``texts`` {key: legend text} with the run folder's name ``folders[key]`` added to every text
    that another key shares (runs that differ in no setting a label shows)."""
    counts = Counter(texts.values())
    return {key: text if counts[text] == 1 else f"{text}, {folders[key]}" for key, text in texts.items()}


def series_labels(runs, rows):
    """Distinct legend text per (run, offset): the run's name (``run_names``) when several runs
    are compared, and '$\\Delta$ = offset' when the series differ in offset (``told_apart``)."""
    keys = list(series(rows))
    several_runs = len({run for run, _ in keys}) > 1
    several_offsets = len({offset for _, offset in keys}) > 1
    names = run_names(runs)
    text = {}
    for run, offset in keys:
        parts = [names[run]] if several_runs else []
        if several_offsets or not several_runs:
            parts.append(f"$\\Delta$ = {offset:g}")
        text[(run, offset)] = ", ".join(parts)
    return told_apart(text, {key: key[0] for key in text})


def theory_names(runs, theory):
    """The distinct legend name of each run of ``theory`` (``theory_rows``): its ``run_names``
    name (``told_apart``)."""
    names = run_names(runs)
    return told_apart({row["run"]: names[row["run"]] for row in theory}, {row["run"]: row["run"] for row in theory})


MOST_SERIES = 10  # the series one figure shows at most; a report of more draws a figure per experiment


def experiment_groups(runs):
    """The runs per experiment (``experiment_of``: runs that estimate the same probabilities), in
    the order of their first run: {name: runs}, named by the runs' label (``run_label``) and, where
    experiments share one, the settings of EXPERIMENT_KEYS in which they differ."""
    groups = {}
    for run in runs:
        groups.setdefault(experiment_of(run["config"]), []).append(run)
    named = {}
    for group in groups.values():
        own = complete_config(group[0]["config"])
        twins = [complete_config(other[0]["config"]) for other in groups.values()
                 if other[0]["label"] == group[0]["label"]]
        differing = [key for key in EXPERIMENT_KEYS if len({repr(config[key]) for config in twins}) > 1]
        named[", ".join([group[0]["label"], *(setting_text(key, own[key]) for key in differing)])] = group
    return named


def figure_suffix(name):
    """What a figure's file stem gets for its group ``name`` (``figure_groups``): '' for the one
    figure, else '-' and the name as a file name ('-sgd__he_init__theory_step')."""
    return f"-{file_slug(name)}" if name else ""


def rows_of(runs, rows):
    """The ``rows`` of the runs ``runs``."""
    names = {run["name"] for run in runs}
    return [row for row in rows if row["run"] in names]


def figure_groups(runs, rows):
    """The figures of a report, [(name, runs, their rows)]: all runs in one (name '') while their
    series (``series`` of ``rows``) number at most MOST_SERIES, else one per experiment
    (``experiment_groups``), and one per experiment and offset where an experiment alone has more."""
    if len(series(rows)) <= MOST_SERIES:
        return [("", runs, rows)]
    groups = []
    for name, members in experiment_groups(runs).items():
        own = rows_of(members, rows)
        if len(series(own)) <= MOST_SERIES:
            groups.append((name, members, own))
            continue
        for offset in sorted({row["offset"] for row in own}):
            chosen = [row for row in own if row["offset"] == offset]
            shown = {row["run"] for row in chosen}
            groups.append((f"{name}, offset {offset:g}", [run for run in members if run["name"] in shown], chosen))
    return groups


# ============================================================================ theory against experiment
THEORY_FACTORS = (1.0, 10.0)  # the theorem's r of the event curves
THEORY_COLUMNS = ["run", "label", "samples", "width", "runs", "stuck", "stuck_low", "stuck_high", "event_runs",
                  *(f"event_r{r:g}{suffix}" for r in THEORY_FACTORS for suffix in ("", "_low", "_high"))]


def theorem_setting(config):
    """Whether a run is in the theorem's setting: full-batch gd with the theory step, He
    initialisation, relu, the paper's data (its event is computed for these only)."""
    config = complete_config(config)
    return (config["optimizer"], config["batch_size"], config["step"], config["init"], config["leak"]) == \
        ("gd", "full", "theory", "he", 0.0) and DataSet.from_config(config).is_paper()


def theory_rows(runs, rows, event_runs, epsilon, gamma, seed=0, drawn=()):
    """Per (run in the theorem's setting, width) at Delta = 0: the stuck fraction 1 - p_hat with its
    95 % Clopper-Pearson interval (1 - upper, 1 - lower) and the event probability of
    ``theory.event_rows`` for r = 1 and r = 10, drawn with the run's own samples rule N (so theory
    and experiment share epsilon, gamma and N) from ``event_runs`` draws per width. ``drawn``: rows
    of ``event_rows`` already drawn with these settings and N = n^2, each with its factor r, which
    are used instead of drawing them again."""
    out = []
    for run in runs:
        if not theorem_setting(run["config"]):
            continue
        own = sorted((row for row in rows if row["run"] == run["name"] and row["offset"] == 0.0),
                     key=lambda row: row["width"])
        if not own:
            continue
        rule = SampleRule(complete_config(run["config"])["samples"])
        widths = [row["width"] for row in own]
        known = {(row["factor"], row["n"]): row for row in drawn} if rule.text == SampleRule.DEFAULT else {}
        events = {r: [known.get((r, n)) or event_rows([n], event_runs, epsilon, gamma, r, seed, rule)[0]
                      for n in widths] for r in THEORY_FACTORS}
        for k, row in enumerate(own):
            line = dict(run=run["name"], label=run["label"], samples=rule.text, width=row["width"], runs=row["runs"],
                        stuck=1 - row["p_hat"], stuck_low=1 - row["ci_high"], stuck_high=1 - row["ci_low"],
                        event_runs=event_runs)
            for r in THEORY_FACTORS:
                event = events[r][k]
                line.update({f"event_r{r:g}": event["joint_frac"], f"event_r{r:g}_low": event["joint_low"],
                             f"event_r{r:g}_high": event["joint_high"]})
            out.append(line)
    return out
