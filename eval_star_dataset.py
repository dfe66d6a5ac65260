"""Report of the star-data-set runs of ``train_star_dataset.py``: crossed fractions per data set
and width, and the function of a median network.

Every run folder (config.json and result.json) below the --input folders is read; a corrupt or
incomplete one is named in a warning and skipped; --select keeps the runs with the given settings.
A series is a set of runs equal in every setting apart from the width, the network count P and
the seed; the runs of one series and width are pooled over seeds, and only when they agree in P
(else the report refuses, naming the runs). All runs are evaluated at one epoch count E (--epochs,
else the epoch count every run has reached; runs at different counts without --epochs are
refused). A network counts as

    kink crossed  if some hidden unit's on/off pattern changed at an epoch t < E,
    loss crossed  if its loss fell below 0.999999 x its linear-regression threshold at a t < E,

and each fraction comes with a 95 % Clopper-Pearson interval. Written: a printed table, CSV, the
figure of both fractions against the width (PNG; standalone pgfplots LaTeX, compiled by pdflatex
where available), each stating E, P and the interval level, and, per series, a figure of the data
with the function of the network whose final loss / threshold is the median at the largest width
(PNG and PDF).

Layout: loading and selection; pooling and fractions; table and CSV; figures; CLI.
"""
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import train_star_dataset as ts
from kinks.checks import as_list, check_choice, check_int, require
from kinks.figures import (
    compile_tex, new_figure, save_figure, save_png_and_pdf, standalone_tex, tex_escape)
from kinks.files import load_json, save_csv, save_text
from kinks.stats import clopper_pearson
import utils
from custom_paths import results_root

POOLED_KEYS = ("width", "runs", "seed")   # the settings a series may vary; every other one defines it
SETTINGS = tuple(ts.make_config())        # the settings of a run, which --select may name
SERIES_SETTINGS = tuple(key for key in SETTINGS if key not in POOLED_KEYS)
FIGURE_NAME = "crossed_fractions"
MEASURES = (("kink", "kink crossed"), ("loss", "loss crossed"))
LEVEL = 0.95
PER_NETWORK = ("kink_epoch", "loss_epoch", "nan_epoch", "final_ratio")


# ============================================================================= loading and selection
def current_config(config):
    """A config as written today from one written before the step rules (no 'step': the NTK rule,
    the only one then) and the --runs rename ('n_networks')."""
    config = dict(config)
    if "n_networks" in config:
        config["runs"] = config.pop("n_networks")
    config.setdefault("step", "ntk")
    return config


def checked_run(folder):
    """The result.json of a run folder, its config brought up to date and its folder added; a
    ValueError when it is incomplete or disagrees with the folder's config.json."""
    result = load_json(folder / "result.json")
    if result.get("config") != load_json(folder / "config.json"):
        raise ValueError("config.json and result.json differ")
    config = current_config(result["config"])
    if set(config) != set(SETTINGS):
        raise ValueError(f"its settings {sorted(config)} are not those of this version ({', '.join(SETTINGS)})")
    count = result.get("n_networks")
    if not (isinstance(count, int) and count > 0 and all(len(result.get(key, ())) == count for key in PER_NETWORK)):
        raise ValueError(f"the per-network lists {', '.join(PER_NETWORK)} do not all hold n_networks entries")
    return {**result, "config": config, "folder": folder}


def read_run(folder):
    """``checked_run(folder)``, or None (named on stderr) when it is missing, unreadable or wrong."""
    if not (folder / "result.json").exists():
        print(f"skipping run {folder}: no result.json yet (not trained, or its first checkpoint is pending)",
              file=sys.stderr)
        return None
    try:
        return checked_run(folder)
    except (OSError, ValueError, KeyError, TypeError) as error:   # JSON errors are ValueErrors
        print(f"skipping run {folder}: {type(error).__name__}: {error}", file=sys.stderr)
        return None


def load_runs(inputs):
    """Every readable run below the folders ``inputs``: a list of result dicts, sorted by folder."""
    folders = sorted({path.parent.resolve() for folder in inputs for path in Path(folder).rglob("config.json")})
    runs = [run for run in map(read_run, folders) if run is not None]
    require(runs, f"--input: no star-data-set runs (folders with config.json and result.json) below "
                  f"{', '.join(map(str, inputs))}")
    return runs


def parse_select(select):
    """--select 'key=value,key=value,...' -> {key: [values]}; a key given twice matches either value."""
    items = select if isinstance(select, (list, tuple)) else str(select).split(",")
    selection = {}
    for item in map(str.strip, map(str, items)):
        key, _, value = item.partition("=")
        require(key in SETTINGS and value, f"--select takes key=value pairs with keys {', '.join(SETTINGS)}; "
                                           f"got {item!r}")
        selection.setdefault(key, []).append(value)
    return selection


def setting_equals(setting, text):
    """Whether a config value equals a --select value given as text (booleans, numbers, names)."""
    if isinstance(setting, bool):
        return text.lower() in (("true", "yes", "1") if setting else ("false", "no", "0"))
    if isinstance(setting, (int, float)):
        try:
            return float(text) == setting
        except ValueError:
            return False
    return text == setting


def select_runs(runs, select):
    """The runs whose settings match every key of --select (text, or parsed by ``parse_select``;
    None: all)."""
    if select is None:
        return runs
    selection = select if isinstance(select, dict) else parse_select(select)
    chosen = [run for run in runs if all(any(setting_equals(run["config"][key], value) for value in values)
                                         for key, values in selection.items())]
    text = ",".join(f"{key}={value}" for key, values in selection.items() for value in values)
    require(chosen, f"--select {text}: no run has these settings")
    return chosen


# ============================================================================= pooling and fractions
def series_key(settings):
    """The settings that define a series, all but the width, P and the seed: ((key, value), ...)
    from a config or a table row."""
    return tuple((key, settings[key]) for key in SERIES_SETTINGS)


def series_label(key):
    """Legend text of a series: the data set, the step rule, then what differs from the defaults."""
    config, default = dict(key), ts.make_config()
    step = f"{config['step']} step" + (f" x{config['lr_factor']:g}"
                                       if config["lr_factor"] != ts.DEFAULT_LR_FACTOR[config["step"]] else "")
    parts = [config["dataset"], step]
    parts += [f"L = {config['layers']}"] if config["layers"] != 1 else []
    parts += [config["activation"]] if config["activation"] != default["activation"] else []
    parts += ["random bias"] if config["random_bias"] else []
    parts += [config["dtype"]] if config["dtype"] != default["dtype"] else []
    return ", ".join(parts)


def cells(runs):
    """The runs grouped by (series key, width): {(key, width): [runs]}, sorted. Runs of one cell
    must agree in P and differ in the seed, else pooling them is refused."""
    grouped = {}
    for run in runs:
        grouped.setdefault((series_key(run["config"]), run["config"]["width"]), []).append(run)
    for (key, width), group in grouped.items():
        sizes = sorted({run["config"]["runs"] for run in group})
        require(len(sizes) == 1, f"refusing to pool runs of {series_label(key)}, n = {width} with different P "
                                 f"({', '.join(map(str, sizes))}); choose one with --select runs=P")
        seed, count = Counter(run["config"]["seed"] for run in group).most_common(1)[0]
        twice = [str(run["folder"]) for run in group if run["config"]["seed"] == seed]
        require(count == 1, f"refusing to pool: one run ({series_label(key)}, n = {width}, seed {seed}) appears "
                            f"{count} times, in {', '.join(twice)}")
    return dict(sorted(grouped.items(), key=lambda item: (str(item[0][0]), item[0][1])))


def evaluation_epochs(runs, epochs=None):
    """The one epoch count E at which all runs are evaluated: --epochs (every run must have reached
    it) or, by default, the epoch count the runs share (runs at different counts are refused)."""
    reached = Counter(run["epoch"] for run in runs)
    counts = ", ".join(f"{epoch:,} epochs in {count} run{'s' if count > 1 else ''}"
                       for epoch, count in sorted(reached.items()))
    if epochs is None:
        require(len(reached) == 1, f"the runs have reached different epoch counts ({counts}); pass --epochs E "
                                   f"with E <= {min(reached):,} to evaluate all at E, or choose runs with --select")
        return next(iter(reached))
    epochs = check_int("epochs", epochs)
    require(epochs <= min(reached), f"--epochs {epochs} exceeds the epochs reached by some runs ({counts}); "
                                    f"pass at most {min(reached)} or choose runs with --select")
    return epochs


def crossed_by(first_epochs, epoch):
    """How many of the first epochs (-1: never) lie before ``epoch``."""
    first = np.asarray(first_epochs)
    return int(((first >= 0) & (first < epoch)).sum())


def cell_row(key, width, group, epoch):
    """One table row: counts and fractions with 95 % intervals at ``epoch``, pooled over the seeds."""
    row = dict(key, width=width, runs=group[0]["config"]["runs"], seeds=len(group),
               networks=sum(r["n_networks"] for r in group), epochs=epoch,
               non_finite=sum(crossed_by(r["nan_epoch"], epoch) for r in group))
    for measure, _ in MEASURES:
        count = sum(crossed_by(r[f"{measure}_epoch"], epoch) for r in group)
        low, high = clopper_pearson(count, row["networks"], LEVEL)
        row.update({f"{measure}_crossed": count, f"{measure}_fraction": count / row["networks"],
                    f"{measure}_low": float(low), f"{measure}_high": float(high)})
    return row


def table_rows(runs, epochs=None):
    """The rows of every (series, width), all at one epoch count (see ``evaluation_epochs``)."""
    grouped = cells(runs)
    epoch = evaluation_epochs(runs, epochs)
    return [cell_row(key, width, group, epoch) for (key, width), group in grouped.items()]


# ============================================================================= table and CSV
COLUMNS = [*SERIES_SETTINGS, "width", "runs", "seeds", "networks", "epochs", "non_finite",
           *(f"{m}_{k}" for m, _ in MEASURES for k in ("crossed", "fraction", "low", "high"))]


def pooling_note(rows):
    """What every point of a table or figure is: the epoch count, the networks per point with their
    seeds and P, and the interval level; one line."""
    kinds = {}
    for row in rows:
        kinds.setdefault((row["networks"], row["seeds"], row["runs"]), set()).add(row["width"])
    parts = [f"{networks} networks per point ({seeds} seed{'s' if seeds > 1 else ''} of P = {runs}"
             + (f", n = {', '.join(map(str, sorted(widths)))})" if len(kinds) > 1 else ")")
             for (networks, seeds, runs), widths in sorted(kinds.items(), key=lambda kind: min(kind[1]))]
    return f"after {rows[0]['epochs']:,} epochs; {'; '.join(parts)}; {LEVEL:.0%} Clopper-Pearson intervals"


def format_table(rows):
    """Aligned text: a line stating the pooling, then one line per series and width with the
    fractions and their 95 % intervals."""
    lines = [f"crossed fractions {pooling_note(rows)}",
             f"{'series':40s} {'width':>6s} {'P':>5s} {'seeds':>5s} {'nets':>6s}  {'kink crossed [95% CI]':26s}"
             f"  {'loss crossed [95% CI]':26s} {'NaN':>4s}"]
    for row in rows:
        cols = [f"{row[f'{m}_fraction']:.3f} [{row[f'{m}_low']:.3f}, {row[f'{m}_high']:.3f}]" for m, _ in MEASURES]
        lines.append(f"{series_label(series_key(row)):40s} {row['width']:6d} {row['runs']:5d} {row['seeds']:5d} "
                     f"{row['networks']:6d}  {cols[0]:26s}  {cols[1]:26s} {row['non_finite']:4d}")
    return "\n".join(lines)


# ============================================================================= figures
def by_series(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(series_key(row), []).append(row)
    return grouped


def figure_widths(rows):
    return sorted({row["width"] for row in rows})


def series_colours(rows):
    """One hex colour per series (matplotlib's tab10)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(colormaps["tab10"](i % 10)) for i in range(len(by_series(rows)))]


def pgfplots_body(rows):
    """Both crossed fractions against the width (log2 axis) with their 95 % intervals: per series one
    colour (as in the PNG), kink crossed solid with circles, loss crossed dashed with squares; the
    title states the epoch count, the networks per point and the interval level."""
    widths = figure_widths(rows)
    ticks = ",".join(map(str, widths))
    lines = [f"\\definecolor{{series{i}}}{{HTML}}{{{colour[1:].upper()}}}"
             for i, colour in enumerate(series_colours(rows))]
    lines += [r"\begin{tikzpicture}",
              r"\begin{axis}[xmode=log, log basis x=2, width=9cm, height=7cm,",
              f"  title={{\\footnotesize {tex_escape('Crossed fractions ' + pooling_note(rows))}}},",
              "  title style={text width=14cm, align=left},",
              f"  xtick={{{ticks}}}, xticklabels={{{ticks}}}, xmin={widths[0] / 1.3:.6g}, xmax={widths[-1] * 1.3:.6g},",
              r"  ymin=-0.02, ymax=1.02, xlabel={width $n$}, ylabel={fraction of networks},",
              r"  grid=major, grid style={gray!25}, legend pos=outer north east, legend cell align=left]"]
    for index, (key, group) in enumerate(by_series(rows).items()):
        for measure, name in MEASURES:
            style = "solid, mark=*" if measure == "kink" else "dashed, mark=square*"
            points = " ".join(f"({row['width']}, {row[f'{measure}_fraction']:.6g}) += (0, "
                              f"{row[f'{measure}_high'] - row[f'{measure}_fraction']:.6g}) -= (0, "
                              f"{row[f'{measure}_fraction'] - row[f'{measure}_low']:.6g})" for row in group)
            lines += [f"\\addplot[thick, {style}, color=series{index}, error bars/.cd, y dir=both, y explicit]",
                      f"  coordinates {{{points}}};",
                      f"\\addlegendentry{{{tex_escape(series_label(key))}: {name}}}"]
    lines += [r"\end{axis}", r"\end{tikzpicture}"]
    return "\n".join(lines)


def fractions_png(rows, path):
    """The figure of ``pgfplots_body`` drawn with matplotlib, saved as PNG at ``path``."""
    from matplotlib.ticker import FixedLocator, NullLocator

    widths = figure_widths(rows)
    figure, ax = new_figure(8.4, 4.6)
    for colour, (key, group) in zip(series_colours(rows), by_series(rows).items()):
        for (measure, name), (line, marker) in zip(MEASURES, (("-", "o"), ("--", "s"))):
            x = np.array([row["width"] for row in group])
            y = np.array([row[f"{measure}_fraction"] for row in group])
            errors = [y - [row[f"{measure}_low"] for row in group], [row[f"{measure}_high"] for row in group] - y]
            ax.errorbar(x, y, yerr=errors, color=colour, linestyle=line, marker=marker, capsize=3,
                        label=f"{series_label(key)}: {name}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(widths))
    ax.xaxis.set_ticklabels([str(w) for w in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(widths[0] / 1.3, widths[-1] * 1.3)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, color="0.9")
    ax.set_xlabel("width $n$")
    ax.set_ylabel("fraction of networks")
    ax.set_title(f"Crossed fractions {pooling_note(rows)}", fontsize=8, loc="left", wrap=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    return save_figure(figure, path)


# ----------------------------------------------------------------------------- median network
def median_network(group):
    """(run, index) of the network whose final loss / threshold is the median among the finite
    ones of the pooled runs (the lower middle one for an even count); None if none is finite."""
    ratios = [(ratio, run_index, k) for run_index, run in enumerate(group)
              for k, ratio in enumerate(run["final_ratio"]) if ratio is not None]
    if not ratios:
        return None
    _, run_index, k = sorted(ratios)[(len(ratios) - 1) // 2]
    return group[run_index], k


def network_function(run, index):
    """x (G, d) -> f(x) (G,) of network ``index`` of ``run`` at its saved epoch, in float64."""
    state = ts.load_state(run["folder"], torch.device("cpu"))
    params = [A[index:index + 1].double() for A in state["params"]]
    activation = run["config"]["activation"]
    return lambda x: ts.forward(params, torch.as_tensor(x, dtype=torch.float64), activation)[0][0].numpy()


def median_title(run, index, group):
    """Two lines: which network, of how many, after how many epochs; its ratio and crossings."""
    config = run["config"]
    finite = sum(ratio is not None for r in group for ratio in r["final_ratio"])
    kink, loss = (run[f"{m}_epoch"][index] for m in ("kink", "loss"))
    return (f"{series_label(series_key(config))}, n = {config['width']}: median of {finite} networks "
            f"({len(group)} seed{'s' if len(group) > 1 else ''} of P = {config['runs']}; seed {config['seed']}, "
            f"#{index}) after {run['epoch']:,} epochs\nloss / threshold {run['final_ratio'][index]:.4f}; "
            f"kink crossed {'never' if kink < 0 else f'at epoch {kink:,}'}; "
            f"loss crossed {'never' if loss < 0 else f'at epoch {loss:,}'}")


def data_markers(ax, X, y):
    """The data points over a plane: upward triangles for y > 0 (white), downward for y <= 0
    (black), area proportional to |y|, so they read on any colour of the map."""
    size = 60 * np.abs(y) / max(np.abs(y).max(), 1e-12) + 8
    for above, marker, face in ((True, "^", "white"), (False, "v", "black")):
        chosen = (y > 0) == above
        ax.scatter(X[chosen, 0], X[chosen, 1], s=size[chosen], marker=marker, c=face, edgecolors="black",
                   linewidths=0.8, zorder=3, label=f"data, y {'>' if above else '<='} 0 (area ~ |y|)")


def plane_figure(f, X, y, title):
    """Two inputs: f over the plane on a diverging colour-blind-safe map symmetric about 0 and
    scaled to the function's range on the plot, with the data points drawn on top."""
    radius = 1.15 * np.abs(X).max()
    grid = np.linspace(-radius, radius, 241)
    u, v = np.meshgrid(grid, grid)
    values = f(np.stack([u.ravel(), v.ravel()], 1)).reshape(u.shape)
    limit = max(np.abs(values).max(), 1e-12)
    figure, ax = new_figure(6.6, 6.0)
    image = ax.imshow(values, extent=(-radius, radius, -radius, radius), origin="lower", cmap="RdBu_r",
                      vmin=-limit, vmax=limit)
    data_markers(ax, X, y)
    figure.colorbar(image, ax=ax, label=f"network output $f(x)$ (scale $\\pm${limit:.3g}, its largest |f| here)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, frameon=False, fontsize=8)
    figure.suptitle(title, fontsize=8)
    return figure


def axes_figure(f, X, y, title):
    """Other input dimensions: f along each coordinate axis through its data points."""
    d = X.shape[1]
    radius = 1.15 * np.abs(X).max()
    t = np.linspace(-radius, radius, 801)
    figure, ax = new_figure(7.5, 4.6)
    for axis in range(d):
        on_axis = (X[:, axis] != 0) & (np.count_nonzero(X, axis=1) == 1)
        line, = ax.plot(t, f(t[:, None] * np.eye(d)[axis]), label=f"$f(t e_{{{axis + 1}}})$" if d > 1 else "$f(t)$")
        ax.scatter(X[on_axis, axis], y[on_axis], color=line.get_color(), edgecolors="black", zorder=3)
    ax.set_xlabel("$t$")
    ax.set_ylabel("network output (points: data)")
    ax.grid(True, color="0.9")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    figure.suptitle(title, fontsize=8)
    return figure


def median_unavailable(group):
    """Why the median network of ``group`` cannot be drawn (text), or None when it can."""
    chosen = median_network(group)
    if chosen is None:
        return "every network's loss is non-finite"
    if not (chosen[0]["folder"] / "state.pt").exists():
        return f"no state.pt in {chosen[0]['folder']}"
    return None


def median_figure(group, stem):
    """The data set of ``group`` with the function of its median network (which must be available,
    see ``median_unavailable``), saved as <stem>.png and <stem>.pdf; the paths."""
    run, index = median_network(group)
    X, y = ts.make_data(run["config"]["dataset"])
    draw = plane_figure if X.shape[1] == 2 else axes_figure
    return save_png_and_pdf(draw(network_function(run, index), X, y, median_title(run, index, group)), stem)


def file_slug(text):
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


# ============================================================================= CLI
def report(results=None, input=None, out=None, epochs=None, select=None, compile="auto"):  # noqa: A002
    """Crossed fractions of the star-data-set runs: printed, saved as CSV, drawn as PNG and pgfplots
    LaTeX, plus the median network's function for each series at its largest width (PNG and PDF).
    Runs of one series (equal settings apart from width, P and seed) and width are pooled over seeds;
    runs with different P in one such cell, or at different epoch counts without --epochs, are refused.

    Args:
        results: the results root; default $KINKS_RESULTS or ./results.
        input: the folder, or comma-separated folders, searched for runs; default <results>/star.
        out: the folder the report is written to; default <results>/star/eval.
        epochs: count crossings before epoch E, an integer >= 1 that every selected run has reached; default the
            epoch count all selected runs share (refused when they differ).
        select: keep only runs with these settings, key=value pairs separated by commas (a key given twice
            matches either value), keys dataset, width, layers, runs, activation, random_bias, step, lr_factor,
            seed, dtype; e.g. step=published,width=64; default all runs.
        compile: compile the pgfplots figure with pdflatex: auto (when installed), yes or no; default auto.
    """
    check_choice("compile", compile, ("auto", "yes", "no"))
    require(compile != "yes" or shutil.which("pdflatex"), "--compile yes needs pdflatex, which is not "
            "installed (install TeX Live: bash install.sh --tex)")
    epochs = None if epochs is None else check_int("epochs", epochs)
    selection = None if select is None else parse_select(select)
    results = Path(results) if results is not None else results_root()
    inputs = as_list("input", input, lambda option, item: Path(str(item))) if input is not None \
        else [results / "star"]
    out = Path(out) if out is not None else results / "star" / "eval"
    runs = select_runs(load_runs(inputs), selection)
    rows = table_rows(runs, epochs)
    print(format_table(rows))
    save_csv(out / f"{FIGURE_NAME}.csv", rows, COLUMNS)
    tex = out / f"{FIGURE_NAME}.tex"
    save_text(tex, standalone_tex(pgfplots_body(rows)))
    png = fractions_png(rows, out / f"{FIGURE_NAME}.png")
    pdf = compile_tex(tex, compile)
    print(f"table: {out / FIGURE_NAME}.csv; figure: {png}, {tex}" + (f", {pdf}" if pdf else ""))
    largest = {key: (width, group) for (key, width), group in cells(runs).items()}
    for key, (width, group) in largest.items():
        reason = median_unavailable(group)
        if reason is None:
            paths = median_figure(group, out / f"median_{file_slug(series_label(key))}_n{width}")
            print(f"median network: {', '.join(map(str, paths))}")
        else:
            print(f"median network of {series_label(key)}, n = {width}: not drawn ({reason})")


if __name__ == "__main__":
    utils.run_cli({"report": report})
