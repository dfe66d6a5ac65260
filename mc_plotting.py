"""Report of the Monte Carlo study of ``mc_training.py``: tables, CSV and the paper's figure, and
illustrations of training one network.

report: every run directory (a folder holding run.json) below a results folder, or the ones
named, is read chunk by chunk; a corrupt, truncated or foreign file is named in a warning and
skipped. Per run, offset Delta and width n it counts the statuses and estimates the crossing
probability

    p_hat = 1 - (LOCALLY_CONVERGED + EARLY_STOPPED) / total,

(every network not shown to stay put counts as possibly crossed) with a 95 % Clopper-Pearson
interval, and per (run, Delta) fits log p_hat = alpha log n + beta by weighted least squares
(weights from the binomial variances). The figure (log-log, p_hat with its interval against n,
series dodged horizontally, the paper's guide line 2 / sqrt(n), a note stating the interval, the
runs per point and the epoch budget) is written as standalone pgfplots LaTeX, compiled with
pdflatex where available, and as PNG with matplotlib, both in the style of SERIES_STYLES.

report --against reference: per (run, Delta, n) the run's estimate beside the one shipped under
reference/ (or another folder of such CSVs) for the same experiment, with the two-proportion
z-score. reference: writes such a reference CSV (counts, seed, command) from a finished run.

examples: two networks of width 16 trained by gd for 20,000 epochs on the same data weights, one
that stays put and one whose kink crosses a data point: each function with its kinks and the
side-wise least-squares lines, the kinks against epochs, and the loss and gradient norm at every
epoch.

Layout: loading and aggregation; statistics; text and CSV; figures (pgfplots, matplotlib,
examples); CLI.
"""
import csv
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

import custom_paths
import mc_minima as mm
import mc_training as mc
from kinks.checks import UsageError, as_list, check_choice, check_int, require
from kinks.figures import (
    GUIDE_COLOR, LINE_WIDTH_PT, MARK_RADIUS_PT, compile_tex, new_figure, save_figure,
    save_png_and_pdf, series_style, standalone_tex, tex_escape)
from kinks.files import load_json, save_csv, save_text
from kinks.stats import clopper_pearson
import utils

STAYED = ("LOCALLY_CONVERGED", "EARLY_STOPPED")  # the statuses that count as "not crossed"
GUIDE_FACTOR = 2.0  # the paper's guide line 2 n^(-1/2)
DODGE = 1.05  # neighbouring series at one width are drawn at n / DODGE, n, n DODGE, ... (log axis)
FIGURE_NAME = "crossing_probability"
CHUNK_NAME = re.compile(r"chunk_\d+\.(npz|json)")
EXAMPLE_WIDTH, EXAMPLE_EPOCHS, EXAMPLE_SNAPSHOTS, EXAMPLE_CANDIDATES = 16, 20_000, (0, 20_000), 16


# ============================================================================ loading and aggregation
def runs_folder(results=None):
    """The folder holding the run directories: <results root>/mc."""
    return Path(results if results is not None else custom_paths.results_root()) / "mc"


def find_run_dirs(results):
    """Every folder holding a run.json below ``results`` (itself included), sorted."""
    return sorted(path.parent for path in Path(results).rglob("run.json"))


def named_run_dir(results, name):
    """The run directory ``name``: a path, or a folder name below ``results``; it must hold run.json."""
    for candidate in (Path(str(name)), Path(results) / str(name)):
        if (candidate / "run.json").is_file():
            return candidate
    raise UsageError(f"--input {name}: no run directory (a folder with run.json) there or in {results}")


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
    """(offset, width, status counts) of the chunk at ``path``, validated by ``mc.load_chunk``
    against the run's ``config`` and against the task ``expected`` maps its path to; raises
    ``mc.ChunkError`` naming the file otherwise."""
    task = expected.get(path)
    if task is None:
        raise mc.ChunkError(f"{path}: not a chunk of this run's configuration")
    meta, arrays = mc.load_chunk(path, config)
    if any(meta.get(key) != task[key] for key in ("offset", "width", "chunk", "runs")):
        raise mc.ChunkError(f"{path}: its .json describes another chunk than its place in the run")
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
    """A run directory as a dict: ``name``, label, config, and ``counts`` {(offset, width):
    Counter of statuses} summed over its valid chunks; every skipped file gets a warning line.
    None (with a warning) when its run.json is unreadable."""
    run_dir = Path(run_dir)
    try:
        manifest = load_json(run_dir / "run.json")
        config = manifest["config"]
        label = mc.run_label(config)
        expected = {mc.chunk_path(run_dir, t["offset"], t["width"], t["chunk"]): t
                    for t in mc.chunk_tasks(run_dir, config)}
    except Exception as error:  # unreadable JSON, another format, a config missing keys
        print(f"warning: {run_dir / 'run.json'}: unreadable ({type(error).__name__}: {error}); run skipped")
        return None
    chunks, others = chunk_files(run_dir)
    for path in others:
        print(f"warning: {path}: not a chunk file; skipped")
    counts = {}
    for path in chunks:
        try:
            offset, width, found = read_chunk(path, expected, config)
        except mc.ChunkError as error:
            print(f"warning: {error}; skipped")
            continue
        counts.setdefault((offset, width), Counter()).update(found)
    return dict(name=name, label=label, config=config, counts=dict(sorted(counts.items())))


def load_runs(folder, names=None):
    """The runs to report: those in ``names`` (paths or folder names below ``folder``), else every
    run directory below ``folder``; runs without any valid chunk are left out with a note."""
    folder = Path(folder)
    if names is None:
        run_dirs = find_run_dirs(folder) if folder.is_dir() else []
        hint = ("--results is the results root, the folder holding mc/" if folder.parent.is_dir()
                and find_run_dirs(folder.parent) else "run python mc_training.py run first")
        require(run_dirs, f"no run directory (a folder with run.json) below {folder}; {hint}")
    else:
        run_dirs = as_list("input", names, lambda option, name: named_run_dir(folder, name))
    loaded = [load_run(run_dir, run_name(run_dir, folder)) for run_dir in run_dirs]
    for run_dir, run in zip(run_dirs, loaded):
        if run is not None and not run["counts"]:
            print(f"note: {run_dir}: no finished chunk yet; left out")
    loaded = [run for run in loaded if run is not None and run["counts"]]
    require(loaded, "no finished chunk in any run directory; nothing to report")
    return loaded


# ============================================================================ statistics
def crossing_estimate(counts):
    """(k, total, p_hat, lower, upper): k = total - LOCALLY_CONVERGED - EARLY_STOPPED networks
    possibly crossed, p_hat = k / total, and the 95 % Clopper-Pearson interval
    [Beta^{-1}(0.025; k, total - k + 1), Beta^{-1}(0.975; k + 1, total - k)]."""
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
                             planned=run["config"]["runs"], **{s: counts.get(s, 0) for s in mc.STATUSES},
                             crossed=k, p_hat=p_hat, ci_low=lower, ci_high=upper))
    return rows


def log_variance(p_hat, runs):
    """Var(log p_hat) by the delta method for a binomial proportion of ``runs`` networks:
    Var(log p_hat) ~ Var(p_hat) / p^2 = (1 - p) / (runs p). At p_hat = 1 this would be 0 (an
    infinite weight); p_hat is then taken as 1 - 1/(2 runs), half a network short of all."""
    p = np.minimum(np.asarray(p_hat, float), 1 - 0.5 / np.asarray(runs, float))
    return (1 - p) / (np.asarray(runs, float) * p)


def fit_power_law(widths, p_hats, runs):
    """Weighted least-squares fit of log p_hat = alpha log n + beta over the points with p_hat > 0,
    weights v_i = 1 / Var(log p_hat_i) from ``log_variance``:

        alpha = S_xy / S_xx,  S_xy = sum v_i (x_i - x_v)(y_i - y_v),  S_xx = sum v_i (x_i - x_v)^2,

    x = log n, y = log p_hat, x_v and y_v the weighted means. Standard error, for m >= 3 points:
    se(alpha) = sqrt(max(1, chi^2 / (m - 2)) / S_xx) with chi^2 = sum v_i r_i^2: the binomial
    error, inflated when the points scatter more about the line than it explains. Returns (alpha,
    se, widths used, widths skipped because p_hat = 0); alpha is NaN below 2 points, se below 3."""
    widths, p_hats, runs = (np.asarray(v, float) for v in (widths, p_hats, runs))
    used = p_hats > 0
    x, y, v = np.log(widths[used]), np.log(p_hats[used]), 1 / log_variance(p_hats[used], runs[used])
    skipped = widths[~used].astype(int).tolist()
    if len(x) < 2:
        return np.nan, np.nan, widths[used].astype(int).tolist(), skipped
    dx, dy = x - np.average(x, weights=v), y - np.average(y, weights=v)
    s_xx = np.sum(v * dx**2)
    alpha = np.sum(v * dx * dy) / s_xx
    chi2 = np.sum(v * (dy - alpha * dx) ** 2)
    se = np.sqrt(max(1.0, chi2 / (len(x) - 2)) / s_xx) if len(x) > 2 else np.nan
    return alpha, se, widths[used].astype(int).tolist(), skipped


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
        alpha, se, used, skipped = fit_power_law(*([r[key] for r in group] for key in ("width", "p_hat", "runs")))
        fits.append(dict(run=run, label=group[0]["label"], offset=offset, exponent=alpha, stderr=se,
                         widths=" ".join(map(str, used)), skipped=" ".join(map(str, skipped))))
    return fits


def two_proportion_z(k1, n1, k2, n2):
    """z = (k1/n1 - k2/n2) / sqrt(pbar (1 - pbar) (1/n1 + 1/n2)), pbar = (k1 + k2) / (n1 + n2):
    about N(0, 1) when both counts estimate the same probability; 0 when pbar is 0 or 1 (the
    estimates agree exactly)."""
    pbar = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else float((k1 / n1 - k2 / n2) / se)


# ============================================================================ shipped reference
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
EXPERIMENT_KEYS = ("optimizer", "batch_size", "step", "init", "stopping", "epochs_per_check",
                   "max_checks", "leak", "data", "probs")
REFERENCE_COLUMNS = ["preset", "offset", "width", "runs", "crossed", "p_hat", "ci_low", "ci_high", "seed",
                     "experiment", "command"]


def experiment_of(config):
    """The settings that define what a run estimates (not how many runs or how it is computed),
    as compact JSON text: runs with equal text estimate the same probabilities. The paper's data
    appear as data 'paper', probs 'uniform'."""
    config = mc.complete_config(config)
    settings = {key: config[key] for key in EXPERIMENT_KEYS}
    if mc.DataSet.from_config(config).is_paper():
        settings["data"], settings["probs"] = "paper", "uniform"
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def reference_rows(run, preset):
    """The reference CSV rows of a loaded run: per (offset, width) the counts and estimate, the
    seed, the experiment (see ``experiment_of``) and the command that reproduces them."""
    config, defaults = run["config"], mc.PRESETS[preset]
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
    """Every row of the reference CSVs in ``folder``, counts as ints."""
    folder = Path(folder)
    require(folder.is_dir(), f"--against {folder}: no such folder of reference CSVs")
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
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


# ============================================================================ text and CSV
def present_statuses(rows):
    """The statuses that occur in ``rows``, in the order of ``mc.STATUSES``."""
    return [s for s in mc.STATUSES if any(row[s] for row in rows)]


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
    """One line per (run, offset): p_hat ~ n^(alpha +- se), with the widths used and skipped."""
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


# ============================================================================ figures
LABEL_SKIPS = ("runs", "widths", "offsets", "chunk_sizes", "engine", "save_params")


def run_labels(runs):
    """A readable label per run name: its configuration's label (``mc.run_label``: optimizer, batch,
    init, step, leak, data), plus the settings in which runs of equal label differ ('stopping
    crossing,early'), and the folder name when even these agree."""
    labels = {}
    for run in runs:
        twins = [other for other in runs if other["label"] == run["label"]]
        if len(twins) == 1:
            labels[run["name"]] = run["label"]
            continue
        configs = [mc.complete_config(other["config"]) for other in twins]
        own = mc.complete_config(run["config"])
        differing = [key for key in sorted(own) if key not in LABEL_SKIPS
                     and any(config.get(key) != own[key] for config in configs)]
        extra = [f"{key} {','.join(map(str, own[key])) if isinstance(own[key], list) else own[key]}"
                 for key in differing] or [run["name"]]
        labels[run["name"]] = ", ".join([run["label"], *extra])
    return labels


def series_labels(runs, rows):
    """Legend text per (run, offset): the run's label (see ``run_labels``) when several runs are
    compared, and 'Delta = offset' when the series differ in offset."""
    keys = list(series(rows))
    several_runs = len({run for run, _ in keys}) > 1
    several_offsets = len({offset for _, offset in keys}) > 1
    names = run_labels(runs)
    text = {}
    for run, offset in keys:
        parts = [names[run]] if several_runs else []
        if several_offsets or not several_runs:
            parts.append(f"Delta = {offset:g}")
        text[(run, offset)] = ", ".join(parts)
    return text


def plotted_points(group):
    """(widths, p_hat, lower, upper) arrays of the rows with p_hat > 0 (a log axis cannot show 0)."""
    shown = [row for row in group if row["p_hat"] > 0]
    return tuple(np.array([row[key] for row in shown]) for key in ("width", "p_hat", "ci_low", "ci_high"))


def dodge_factors(count):
    """Multiplicative x offsets DODGE^(i - (count - 1)/2), i = 0 ... count - 1: on a log axis the
    series at one width sit side by side, equally spaced and centred on the width."""
    return DODGE ** (np.arange(count) - (count - 1) / 2)


def count_text(values, unit):
    """'500 runs' for one value, '20-500 runs' for several (en dash)."""
    low, high = min(values), max(values)
    return f"{low:,} {unit}" if low == high else f"{low:,}–{high:,} {unit}"


def figure_note(runs, rows):
    """The two lines stating what the figure shows: the estimate and its interval, the networks
    per point and the epoch budget (epochs per check x checks) of the runs shown."""
    budgets = [run["config"]["epochs_per_check"] * run["config"]["max_checks"] for run in runs]
    return [r"$\hat p$ with 95 % Clopper–Pearson intervals, " + count_text([row["runs"] for row in rows], "runs")
            + " per point",
            "at most " + count_text(budgets, "epochs") + " per network; series offset horizontally"]


def log_ticks(low, high):
    """Tick values m 10^e within [low, high], m from (1, 2, 3, 5) over at most two decades, from
    (1, 2, 5) over at most four, else 1; at least the powers of ten around the range."""
    span = np.log10(high / low)
    mantissas = (1, 2, 3, 5) if span <= 2 else (1, 2, 5) if span <= 4 else (1,)
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    ticks = [m * 10.0**e for e in decades for m in mantissas if low <= m * 10.0**e <= high]
    return ticks if len(ticks) >= 2 else [10.0 ** np.floor(np.log10(low)), 10.0 ** np.ceil(np.log10(high))]


def figure_ranges(rows):
    """(widths shown, y ticks, (y_min, y_max)): the y range holds every interval shown and the guide line."""
    widths = sorted({row["width"] for row in rows})
    guide = GUIDE_FACTOR / np.sqrt(np.array(widths, float))  # (widths,)
    shown = [row for row in rows if row["p_hat"] > 0]
    low = min([row["ci_low"] for row in shown] + [guide.min()])
    high = max([row["ci_high"] for row in shown] + [guide.max()])
    y_range = (low / 1.25, high * 1.25)
    return widths, log_ticks(*y_range), y_range


def tex_note(lines):
    """The figure note as LaTeX text (math kept, % escaped, en dashes as --), lines broken by \\\\."""
    return r" \\ ".join(line.replace("%", r"\%").replace("–", "--") for line in lines)


def tex_number(value):
    return f"{value:.6g}"


def pgfplots_body(runs, rows):
    """The pgfplots picture: a log-log axis, one series with asymmetric error bars (the 95 %
    interval) per (run, offset) in the style of SERIES_STYLES, dodged by ``dodge_factors``,
    the guide line 2 / sqrt(n), a legend and the note of ``figure_note`` as the title."""
    widths, y_ticks, (y_min, y_max) = figure_ranges(rows)
    labels = series_labels(runs, rows)
    groups = series(rows)
    styles = [series_style(i) for i in range(len(groups))]
    lines = [f"\\definecolor{{series{i}}}{{HTML}}{{{style.color}}}" for i, style in enumerate(styles)]
    lines += [f"\\definecolor{{guide}}{{HTML}}{{{GUIDE_COLOR}}}",
              r"\begin{tikzpicture}",
              r"\begin{axis}[xmode=log, ymode=log, width=9cm, height=7cm,",
              f"  xtick={{{','.join(map(str, widths))}}}, xticklabels={{{','.join(map(str, widths))}}},",
              f"  ytick={{{','.join(map(tex_number, y_ticks))}}}, yticklabels={{{','.join(map(tex_number, y_ticks))}}},",
              f"  xmin={tex_number(widths[0] / 1.25)}, xmax={tex_number(widths[-1] * 1.25)},"
              f" ymin={tex_number(y_min)}, ymax={tex_number(y_max)},",
              r"  xlabel={width $n$}, ylabel={estimated crossing probability $\hat p$},",
              f"  title={{{tex_note(figure_note(runs, rows))}}}, title style={{font=\\footnotesize, align=center}},",
              r"  grid=major, grid style={gray!25}, legend pos=outer north east, legend cell align=left,",
              r"  legend style={draw=none}]"]
    for i, ((key, group), factor) in enumerate(zip(groups.items(), dodge_factors(len(groups)))):
        n, p, lower, upper = plotted_points(group)
        points = " ".join(f"({tex_number(w * factor)}, {tex_number(y)}) += (0, {tex_number(u - y)}) "
                          f"-= (0, {tex_number(y - l)})" for w, y, l, u in zip(n, p, lower, upper))
        lines += [f"\\addplot[color=series{i}, mark={styles[i].mark}, mark size={MARK_RADIUS_PT}pt, "
                  f"line width={LINE_WIDTH_PT}pt, error bars/.cd, y dir=both, y explicit,",
                  f"  error bar style={{line width={LINE_WIDTH_PT}pt}}]",
                  f"  coordinates {{{points}}};",
                  f"\\addlegendentry{{{tex_escape(labels[key])}}}"]
    lines += [f"\\addplot[guide, dashed, line width={LINE_WIDTH_PT}pt, domain={widths[0]}:{widths[-1]}, "
              f"samples=2] {{{GUIDE_FACTOR:g}/sqrt(x)}};",
              r"\addlegendentry{$2/\sqrt{n}$}",
              r"\end{axis}", r"\end{tikzpicture}"]
    return "\n".join(lines)


def crossing_png(runs, rows, path):
    """The figure of ``pgfplots_body`` drawn with matplotlib in the same style, saved at ``path``."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    widths, y_ticks, y_range = figure_ranges(rows)
    labels = series_labels(runs, rows)
    groups = series(rows)
    figure, ax = new_figure(7.5, 4.6)
    handles = []
    for i, ((key, group), factor) in enumerate(zip(groups.items(), dodge_factors(len(groups)))):
        n, p, lower, upper = plotted_points(group)
        style = series_style(i)
        handles.append(ax.errorbar(n * factor, p, yerr=[p - lower, upper - p], color=f"#{style.color}",
                                   marker=style.marker, markersize=2 * MARK_RADIUS_PT,
                                   linewidth=LINE_WIDTH_PT, elinewidth=LINE_WIDTH_PT, capsize=3,
                                   label=labels[key].replace("Delta", r"$\Delta$")))
    grid = np.array([widths[0], widths[-1]], float)
    handles += ax.plot(grid, GUIDE_FACTOR / np.sqrt(grid), "--", color=f"#{GUIDE_COLOR}",
                       linewidth=LINE_WIDTH_PT, label=r"$2/\sqrt{n}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(widths[0] / 1.25, widths[-1] * 1.25)
    ax.set_ylim(*y_range)
    for axis, ticks in ((ax.xaxis, widths), (ax.yaxis, y_ticks)):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_ticklabels([f"{t:g}" for t in ticks])
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
    ax.grid(True, color="0.9")
    ax.set_xlabel("width $n$")
    ax.set_ylabel(r"estimated crossing probability $\hat p$")
    ax.set_title("\n".join(figure_note(runs, rows)), fontsize=9)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return save_figure(figure, path)


# ---------------------------------------------------------------------------- examples
def example_pair(seed=0, width=EXAMPLE_WIDTH, epochs=EXAMPLE_EPOCHS, candidates=EXAMPLE_CANDIDATES):
    """One problem's data weights p and two initialisations of width n for it: the first of
    ``candidates`` He initialisations (seed) whose gd run for ``epochs`` epochs never moves a kink
    onto a data point, and the first whose run does (see mc_minima.train_to_stationarity).
    Returns (p (m,), [(a, b, c, w) of each, a, b, w (n,)], [status, first crossing epoch]) or
    raises UsageError when the candidates do not hold both kinds."""
    x, y, p, a, b, c, w, h = mm.diagnose_problems(seed, width, 1, candidates, 0.0)
    p, a, b, c, w, h = (q[1:] for q in (p, a, b, c, w, h))
    out = mm.train_to_stationarity(x, y, p, a, b, c, w, h, 1e-12, 1000, epochs)
    crossed = out["status"] == "CROSSED"
    require(crossed.any() and (~crossed).any(), f"--seed {seed}: among {candidates} networks of width {width} "
            f"none {'crossed' if (~crossed).all() else 'stayed put'}; try another seed")
    chosen = [np.flatnonzero(~crossed)[0], np.flatnonzero(crossed)[0]]
    return p[0], [tuple(q[k] for q in (a, b, c, w)) for k in chosen], \
        [(out["status"][k], out["first_cross_epoch"][k]) for k in chosen]


def train_example(p, init, epochs=EXAMPLE_EPOCHS, snapshots=EXAMPLE_SNAPSHOTS):
    """Train one network from ``init`` = (a, b, c, w) (a, b, w (n,)) by gd with the theory step on
    the six points with data weights p (m,) for ``epochs`` epochs: theta <- theta - h grad L(theta).
    Returns a dict with kinks (-b_i / a_i per epoch, (epochs + 1, n)), loss (L per epoch) and
    grad_norm (||grad L|| per epoch), (epochs + 1,) each, sign_a (signs of a_i(0)) and
    params {epoch: (a, b, c, w)} at ``snapshots``."""
    x, y = mc.X_DATA, mc.Y_DATA
    a, b, c, w = (np.array(q, dtype=float)[None] for q in init)
    p = p[None]
    h = mc.theory_step_size(a, b, w, x, p)
    patterns = mc.ActivityPatterns(x)
    width = a.shape[1]
    kinks, loss, grad_norm, params = np.empty((epochs + 1, width)), np.empty(epochs + 1), np.empty(epochs + 1), {}
    for epoch in range(epochs + 1):
        ga, gb, gc, gw, current = mc.loss_gradient(a, b, c, w, x, y, p, patterns)
        loss[epoch] = current[0]
        grad_norm[epoch] = np.sqrt(np.sum(ga**2) + np.sum(gb**2) + np.sum(gw**2) + gc[0] ** 2)
        kinks[epoch] = -b[0] / a[0]
        if epoch in snapshots:
            params[epoch] = (a[0], b[0], c[0], w[0])
        a, b, c, w = a - h[:, None] * ga, b - h[:, None] * gb, c - h * gc, w - h[:, None] * gw
    return dict(kinks=kinks, loss=loss, grad_norm=grad_norm, sign_a=np.sign(init[0]), params=params)


def kind_color(status):
    """Series 0 (stayed put) or 1 (crossed) of the shared palette, as in mc_minima's figures."""
    return f"#{series_style(int(status == 'CROSSED')).color}"


def example_title(figure, examples, shows):
    """The figure's title: what it shows and how the two networks were trained."""
    width, epochs = examples[0]["kinks"].shape[1], len(examples[0]["loss"]) - 1
    figure.suptitle(f"{shows}\ntwo networks of width n = {width} on the same data weights p (the paper's six "
                    f"points, Δ = 0), gd with the theory step for {epochs:,} epochs", fontsize=9)


def panel_title(status, first_cross):
    if status == "CROSSED":
        return f"crossed: a kink reached a data point at epoch {first_cross:,}"
    return "stayed put: no kink reached a data point" + (" (certified)" if status == "LOCALLY_CONVERGED" else "")


def example_networks_figure(p, examples, outcomes):
    """Side by side, the network that stayed put and the one that crossed, on the same data
    (marker area proportional to p_j): the function at initialisation and at the last epoch, its
    kinks -b_i / a_i in [-4, 4] (ticks at the top) and the side-wise least-squares lines of p."""
    figure, _ = new_figure(11, 4.2)
    figure.clear()
    axes = figure.subplots(1, 2, sharey=True)
    grid = np.linspace(-4, 4, 801)
    slopes, intercepts, floor = mm.side_fits(mc.X_DATA, mc.Y_DATA, p[None])
    for ax, example, (status, first_cross) in zip(axes, examples, outcomes):
        last = max(example["params"])
        for epoch, style in ((0, dict(color=f"#{GUIDE_COLOR}", linewidth=1)),
                             (last, dict(color=kind_color(status), linewidth=2))):
            a, b, c, w = example["params"][epoch]
            kind = "crossed" if status == "CROSSED" else "stayed put"
            name = "initialisation" if epoch == 0 else f"after {epoch:,} epochs ({kind})"
            ax.plot(grid, mc.network_output(a[None], b[None], np.array([c]), w[None], grid)[0], label=name, **style)
        for s, side in enumerate((grid > 0, grid < 0)):
            ax.plot(grid[side], slopes[0, s] * grid[side] + intercepts[0, s], color="black", linestyle="--",
                    linewidth=1, label=f"least-squares line per side ($L_{{lin}}$ = {floor[0]:.3f})" if s == 0 else None)
        a, b, _, _ = example["params"][last]
        kinks = -b / a
        kinks = kinks[np.abs(kinks) <= 4]
        ax.plot(kinks, np.full(len(kinks), 1.0), "|", color=kind_color(status), markersize=14,
                transform=ax.get_xaxis_transform(), clip_on=False, label="kinks $-b_i/a_i$ (top)")
        ax.scatter(mc.X_DATA, mc.Y_DATA, s=300 * p, color="black", zorder=3, label="data (area ∝ $p_j$)")
        ax.set_title(panel_title(status, first_cross), fontsize=9, pad=12)
        ax.set_xlabel("input $x$")
        ax.grid(True, color="0.9")
    axes[0].set_ylabel("output $f(x)$")
    entries = {}  # both panels' legend entries, each label once
    for ax in axes:
        entries.update({label: handle for handle, label in zip(*ax.get_legend_handles_labels()) if label not in entries})
    axes[1].legend(entries.values(), entries.keys(), loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False,
                   fontsize=8)
    example_title(figure, examples, "the trained function, its kinks and the least-squares line on each side of 0")
    return figure


def example_kink_figure(examples, outcomes):
    """Per network, the kink -b_i / a_i of every unit against epochs (log axis from epoch 1),
    coloured by the sign of a_i(0); dotted lines at the data points."""
    figure, _ = new_figure(11, 4.2)
    figure.clear()
    axes = figure.subplots(1, 2, sharey=True)
    for ax, example, outcome in zip(axes, examples, outcomes):
        epochs = np.arange(1, len(example["kinks"]))
        for sign, color, name in ((1, f"#{series_style(2).color}", "$a_i(0) > 0$"),
                                  (-1, f"#{series_style(3).color}", "$a_i(0) < 0$")):
            units = example["kinks"][1:, example["sign_a"] == sign]
            ax.plot(epochs, units, color=color, linewidth=1)
            ax.plot([], [], color=color, label=name)
        for x in mc.X_DATA:
            ax.axhline(x, color="0.5", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_ylim(-4, 4)
        ax.set_xlabel("epoch")
        ax.set_title(panel_title(*outcome), fontsize=9)
    axes[0].set_ylabel("kink position $-b_i/a_i$")
    axes[0].legend(loc="lower left", fontsize=8)
    example_title(figure, examples, "the kink of every unit against the epoch; dotted: the data points")
    return figure


def example_loss_figure(p, examples, outcomes):
    """Every epoch of both runs: L(theta_t) (log axis; L > 0 always, so nothing is left out) with
    the floor L_lin of p, and ||grad L(theta_t)|| (log axis)."""
    figure, _ = new_figure(11, 4.0)
    figure.clear()
    left, right = figure.subplots(1, 2)
    floor = mm.side_fits(mc.X_DATA, mc.Y_DATA, p[None])[2][0]
    for example, (status, _) in zip(examples, outcomes):
        name = "crossed" if status == "CROSSED" else "stayed put"
        epochs = np.arange(len(example["loss"]))
        style = dict(color=kind_color(status), marker=series_style(int(status == "CROSSED")).marker,
                     markevery=len(epochs) // 8, markersize=4, label=name)
        left.plot(epochs, example["loss"], **style)
        right.plot(epochs, example["grad_norm"], **style)
    left.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"$L_{{lin}}$ = {floor:.4f}")
    left.set_ylabel(r"loss $L(\theta_t)$")
    right.set_ylabel(r"$\|\nabla L(\theta_t)\|$")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel(f"epoch $t$ (all {len(examples[0]['loss']) - 1:,})")
        ax.grid(True, color="0.9")
        ax.legend(fontsize=8, frameon=False)
    example_title(figure, examples, "loss and gradient norm at every epoch")
    return figure


# ============================================================================ CLI
ROW_COLUMNS = ["run", "label", "offset", "width", "runs", "planned", *mc.STATUSES, "crossed", "p_hat",
               "ci_low", "ci_high"]
FIT_COLUMNS = ["run", "label", "offset", "exponent", "stderr", "widths", "skipped"]


def report_folder(folder, names, loaded):
    """Where a report goes by default: <folder>/report for every run, <folder>/report-<a>+<b>...
    (named after the runs, '/' written as '_') for the runs named in --input."""
    if names is None:
        return folder / "report"
    return folder / ("report-" + "+".join(run["name"].replace("/", "_") for run in loaded))


AGAINST_COLUMNS = ["run", "reference", "offset", "width", "runs", "p_hat", "ref_runs", "ref_p_hat", "z",
                   "same_seed"]


def report(results=None, input=None, out=None, compile="auto", against=None):
    """Tables, CSV and the crossing-probability figure of Monte Carlo runs.

    Args:
        results: the results root; run directories are searched below <results>/mc; default
            results (or $KINKS_RESULTS).
        input: comma list of run directories to report or compare (paths, or names below
            <results>/mc, e.g. quick,quick-sgd); default every run directory below <results>/mc.
        out: the folder to write; default <results>/mc/report for every run, and
            <results>/mc/report-<run>+<run>... for the runs named in --input.
        compile: auto (pdflatex when installed) | yes (an error without pdflatex) | no.
        against: reference (the results shipped under reference/) or a folder of such CSVs: print
            each cell's estimate beside the reference's for the same experiment, with the
            two-proportion z-score, and write against_reference.csv.
    """
    check_choice("compile", compile, ("auto", "yes", "no"))
    require(compile != "yes" or shutil.which("pdflatex"), "--compile yes needs pdflatex, which is not "
            "installed (install TeX Live: bash install.sh --tex)")
    references = None
    if against is not None:
        references = load_references(REFERENCE_DIR if str(against) == "reference" else against)
    folder = runs_folder(results)
    loaded = load_runs(folder, input)
    out = Path(out) if out is not None else report_folder(folder, input, loaded)
    rows = table_rows(loaded)
    fits = fit_rows(rows)
    print(format_table(rows))
    print(format_fits(fits))
    save_csv(out / f"{FIGURE_NAME}.csv", rows, ROW_COLUMNS)
    save_csv(out / f"{FIGURE_NAME}_fits.csv", fits, FIT_COLUMNS)
    tex = out / f"{FIGURE_NAME}.tex"
    save_text(tex, standalone_tex(pgfplots_body(loaded, rows)))
    png = crossing_png(loaded, rows, out / f"{FIGURE_NAME}.png")
    pdf = compile_tex(tex, compile)
    print(f"tables: {out / FIGURE_NAME}.csv, {out / FIGURE_NAME}_fits.csv; LaTeX: {tex}; PNG: {png}")
    print(f"figure: {pdf or png}")
    if references is not None:
        compared = against_rows(rows, loaded, references)
        require(compared, "--against: no cell of these runs has a reference of the same experiment "
                          "(optimizer, batch size, init, step, stopping, epochs, leak, data)")
        print(format_against(compared))
        save_csv(out / "against_reference.csv", compared, AGAINST_COLUMNS)
        print(f"comparison: {out / 'against_reference.csv'}")


def reference(input, preset, out=None):
    """Write the reference CSV of a finished run directory: its counts per (offset, width), the
    seed, the experiment and the command that reproduces them. The run must be the preset's (at
    most with other widths, runs, offsets and seed), so that the command reproduces the counts.

    Args:
        input: the run directory (a path, or a name below <results>/mc).
        preset: the preset the run was made with (quick, paper, paper_sgd, ...).
        out: the folder to write <preset>.csv to; default reference/ of this repository.
    """
    check_choice("preset", preset, tuple(mc.PRESETS))
    run_dir = named_run_dir(runs_folder(), input)
    run = load_run(run_dir, run_name(run_dir, runs_folder()))
    require(run is not None and run["counts"], f"--input {input}: no finished chunk to ship")
    config = {**mc.complete_config(run["config"]), "save_params": False}
    expected = mc.make_config(preset, widths=config["widths"], runs=config["runs"], offsets=config["offsets"],
                              seed=config["seed"])
    differing = sorted(key for key in set(config) | set(expected) if config.get(key) != expected.get(key))
    require(not differing, f"--input {input} is not a run of --preset {preset}: it differs in "
                           f"{', '.join(differing)}")
    rows = reference_rows(run, preset)
    require(rows, f"--input {input}: no (offset, width) cell is complete")
    path = Path(out) if out is not None else REFERENCE_DIR
    save_csv(path / f"{preset}.csv", rows, REFERENCE_COLUMNS)
    print(f"{len(rows)} cells: {path / f'{preset}.csv'}")


def examples(out=None, seed=0):
    """Side by side on the same data, a network of width 16 that stays put and one that crosses,
    both trained by gd for 20,000 epochs (PNG and PDF each): example_networks, example_kinks,
    example_loss.

    Args:
        out: the folder to write; default <results root>/examples.
        seed: the problem's seed, an integer >= 0.
    """
    seed = check_int("seed", seed, 0)
    out = Path(out) if out is not None else custom_paths.results_root() / "examples"
    p, inits, outcomes = example_pair(seed, epochs=EXAMPLE_EPOCHS)
    examples = [train_example(p, init, EXAMPLE_EPOCHS, (0, EXAMPLE_EPOCHS)) for init in inits]
    figures = {"example_networks": lambda: example_networks_figure(p, examples, outcomes),
               "example_kinks": lambda: example_kink_figure(examples, outcomes),
               "example_loss": lambda: example_loss_figure(p, examples, outcomes)}
    for name, draw in figures.items():
        figure = draw()
        for saved in save_png_and_pdf(figure, out / name):
            print(saved)


if __name__ == "__main__":
    utils.run_cli({"report": report, "reference": reference, "examples": examples}, aliases={"runs": "input"})
