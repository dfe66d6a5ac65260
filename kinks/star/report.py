"""The report of the star study: what ``kinks.star.training.train`` wrote, read back and summarised, never
training.

Every configuration folder (config.json and result.json) below the input folders is read (a corrupt
or incomplete one is named in a warning and skipped; folders of older versions, with the step rule
``ntk``, read as ``gram``), and --select keeps those with the given settings. A series is a set of
configurations equal in every setting apart from the width n, the network count P and the seed; its
folders of one width form a cell and are pooled over seeds, only when they agree in P. All are
evaluated at one epoch count E. A network counts as

    kink crossed  if some hidden unit's on/off pattern changed at an epoch t < E,
    loss crossed  if its loss fell below 0.999999 x its linear-regression threshold at a t < E,

and each fraction comes with a 95 % Clopper-Pearson interval. Owns: reading and selecting
(``StarResult``), pooling and fractions (``table_rows``), the table, the figure of both fractions
against the width (an ``ErrorBarPlot``) and the figure of a median network's function.
"""
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from kinks.checks import UsageError, check_int, require, warn
from kinks.figures import ErrorBarPlot, Series, new_figure, place_legend, save_png_and_pdf, series_style
from kinks.files import file_problem, load_json
from kinks.star.config import DEFAULT_LR_FACTOR, OLD_STEP_RULES, StarConfig
from kinks.star.networks import forward
from kinks.star.state import TrainingState
from kinks.stats import clopper_pearson

POOLED_KEYS = ("width", "runs", "seed")   # the settings a series may vary; every other one defines it
SETTINGS = StarConfig.SETTINGS            # the settings of a configuration, which --select may name
SERIES_SETTINGS = tuple(key for key in SETTINGS if key not in POOLED_KEYS)
MEASURES = (("kink", "kink crossed"), ("loss", "loss crossed"))
LEVEL = 0.95
NOTE_WIDTH = 84  # characters per title line of a figure (90 overflowed the PNG by a letter)


# ============================================================================= reading and selecting
class StarResult:
    """The result.json of one configuration folder, checked against its config.json: the
    configuration, the epoch reached and, per network (lists of ``networks`` entries), the first
    kink-crossed, loss-crossed and non-finite epochs (-1: never), the final loss / threshold
    (None where non-finite) and the engine that trained them (torch for folders older than the
    engines)."""

    PER_NETWORK = ("kink_epoch", "loss_epoch", "nan_epoch", "final_ratio")

    def __init__(self, folder, config, epoch, kink_epoch, loss_epoch, nan_epoch, final_ratio, engine="torch"):
        self.folder, self.config, self.epoch, self.engine = folder, config, epoch, engine
        self.kink_epoch, self.loss_epoch = kink_epoch, loss_epoch
        self.nan_epoch, self.final_ratio = nan_epoch, final_ratio
        self.networks = len(kink_epoch)

    @classmethod
    def read(cls, folder):
        """The result of ``folder``; a ValueError (or a UsageError for a bad setting) where it is
        incomplete or disagrees with the folder's config.json."""
        result = load_json(folder / "result.json")
        config = StarConfig.from_dict(result.get("config", {}))
        if config != StarConfig.from_dict(load_json(folder / "config.json")):
            raise ValueError("config.json and result.json differ")
        count = result.get("n_networks")
        if not (isinstance(count, int) and count > 0
                and all(len(result.get(key, ())) == count for key in cls.PER_NETWORK)):
            raise ValueError(f"the per-network lists {', '.join(cls.PER_NETWORK)} do not all hold n_networks entries")
        return cls(folder, config, result["epoch"], *(result[key] for key in cls.PER_NETWORK),
                   engine=result.get("engine", "torch"))

    def first_epochs(self, measure):
        """The first epochs of ``measure`` (kink, loss or nan), (networks,)."""
        return getattr(self, f"{measure}_epoch")


def read_or_skip(folder):
    """``StarResult.read(folder)``, or None (named in a warning) when it is missing, unreadable or wrong."""
    if not (folder / "result.json").exists():
        warn(f"skipping folder {folder}: no result.json yet (not trained, or its first checkpoint is pending)")
        return None
    try:
        return StarResult.read(folder)
    except (OSError, ValueError, KeyError, TypeError, UsageError) as error:   # JSON errors are ValueErrors
        warn(f"skipping folder {folder}: {file_problem(error)}")
        return None


def load_results(inputs):
    """Every readable result below the folders ``inputs``: a list of StarResult, sorted by folder."""
    folders = sorted({path.parent.resolve() for folder in inputs for path in Path(folder).rglob("config.json")})
    results = [result for result in map(read_or_skip, folders) if result is not None]
    require(results, f"--input: no star-data-set results (folders with config.json and result.json) below "
                     f"{', '.join(map(str, inputs))}")
    return results


def parse_select(select):
    """--select 'key=value,key=value,...' -> {key: [values]}; a key given twice matches either value.
    The old step rule name ntk is read as gram, with a warning."""
    items = select if isinstance(select, (list, tuple)) else str(select).split(",")
    selection = {}
    for item in map(str.strip, map(str, items)):
        key, _, value = item.partition("=")
        require(key in SETTINGS and value, f"--select takes key=value pairs with keys {', '.join(SETTINGS)}; "
                                           f"got {item!r}")
        if key == "step" and value in OLD_STEP_RULES:
            warn(f"--select step={value} is deprecated; use step={OLD_STEP_RULES[value]}")
            value = OLD_STEP_RULES[value]
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


def select_results(results, select):
    """The results whose settings match every key of --select (text, or parsed by ``parse_select``;
    None: all)."""
    if select is None:
        return results
    selection = select if isinstance(select, dict) else parse_select(select)
    chosen = [result for result in results
              if all(any(setting_equals(getattr(result.config, key), value) for value in values)
                     for key, values in selection.items())]
    text = ",".join(f"{key}={value}" for key, values in selection.items() for value in values)
    require(chosen, f"--select {text}: no configuration has these settings")
    return chosen


# ============================================================================= pooling and fractions
def series_key(settings):
    """The settings that define a series, all but the width, P and the seed: ((key, value), ...)
    from a StarConfig or a table row."""
    settings = settings.as_dict() if isinstance(settings, StarConfig) else settings
    return tuple((key, settings[key]) for key in SERIES_SETTINGS)


def series_label(key):
    """Legend text of a series: the data set (one's own: its identity 'file.csv#hash'), the step rule,
    then what differs from the defaults (the samples N as 'N = n^1.5', 'N = 100' or 'p = pi')."""
    config, default = dict(key), StarConfig()
    step = f"{config['step']} step" + (f" x{config['lr_factor']:g}"
                                       if config["lr_factor"] != DEFAULT_LR_FACTOR[config["step"]] else "")
    samples = config["samples"]
    parts = [config["data"] or config["dataset"], step]
    parts += [] if samples == default.samples else ["p = pi" if samples == "population" else f"N = {samples}"]
    parts += [f"L = {config['layers']}"] if config["layers"] != 1 else []
    parts += [config["activation"]] if config["activation"] != default.activation else []
    parts += ["random bias"] if config["random_bias"] else []
    parts += [config["dtype"]] if config["dtype"] != default.dtype else []
    return ", ".join(parts)


def cells(results):
    """The results grouped by (series key, width): {(key, width): [results]}, sorted. Results of one
    cell must agree in P and differ in the seed, else pooling them is refused."""
    grouped = {}
    for result in results:
        grouped.setdefault((series_key(result.config), result.config.width), []).append(result)
    for (key, width), group in grouped.items():
        sizes = sorted({result.config.runs for result in group})
        require(len(sizes) == 1, f"refusing to pool the networks of {series_label(key)}, n = {width} with different "
                                 f"P ({', '.join(map(str, sizes))}); choose one with --select runs=P")
        seed, count = Counter(result.config.seed for result in group).most_common(1)[0]
        twice = [str(result.folder) for result in group if result.config.seed == seed]
        require(count == 1, f"refusing to pool: one configuration ({series_label(key)}, n = {width}, seed {seed}) "
                            f"appears {count} times, in {', '.join(twice)}")
    return dict(sorted(grouped.items(), key=lambda item: (str(item[0][0]), item[0][1])))


def evaluation_epochs(results, epochs=None):
    """The one epoch count E at which all results are evaluated: --epochs (every folder must have
    reached it) or, by default, the epoch count they share (different counts are refused)."""
    reached = Counter(result.epoch for result in results)
    counts = ", ".join(f"{epoch:,} epochs in {count} folder{'s' if count > 1 else ''}"
                       for epoch, count in sorted(reached.items()))
    if epochs is None:
        require(len(reached) == 1, f"the configurations have reached different epoch counts ({counts}); pass "
                                   f"--epochs E with E <= {min(reached):,} to evaluate all at E, "
                                   "or choose with --select")
        return next(iter(reached))
    epochs = check_int("epochs", epochs)
    require(epochs <= min(reached), f"--epochs {epochs} exceeds the epochs reached by some configurations ({counts}); "
                                    f"pass at most {min(reached)} or choose with --select")
    return epochs


def crossed_by(first_epochs, epoch):
    """How many of the first epochs (-1: never) lie before ``epoch``."""
    first = np.asarray(first_epochs)
    return int(((first >= 0) & (first < epoch)).sum())


def cell_row(key, width, group, epoch):
    """One table row: counts and fractions with 95 % intervals at ``epoch``, pooled over the seeds."""
    row = dict(key, width=width, runs=group[0].config.runs, seeds=len(group),
               networks=sum(result.networks for result in group), epochs=epoch,
               non_finite=sum(crossed_by(result.nan_epoch, epoch) for result in group))
    for measure, _ in MEASURES:
        count = sum(crossed_by(result.first_epochs(measure), epoch) for result in group)
        low, high = clopper_pearson(count, row["networks"], LEVEL)
        row.update({f"{measure}_crossed": count, f"{measure}_fraction": count / row["networks"],
                    f"{measure}_low": float(low), f"{measure}_high": float(high)})
    return row


def table_rows(results, epochs=None):
    """The rows of every (series, width), all at one epoch count (see ``evaluation_epochs``)."""
    grouped = cells(results)
    epoch = evaluation_epochs(results, epochs)
    return [cell_row(key, width, group, epoch) for (key, width), group in grouped.items()]


# ============================================================================= table
COLUMNS = [*SERIES_SETTINGS, "width", "runs", "seeds", "networks", "epochs", "non_finite",
           *(f"{m}_{k}" for m, _ in MEASURES for k in ("crossed", "fraction", "low", "high"))]


def pooling_notes(rows):
    """What every point of a table or figure is, in three parts: the epoch count; the networks per
    point with their seeds and P; the interval level."""
    kinds = {}
    for row in rows:
        kinds.setdefault((row["networks"], row["seeds"], row["runs"]), set()).add(row["width"])
    parts = [f"{networks} networks per point ({seeds} seed{'s' if seeds > 1 else ''} of P = {runs}"
             + (f", n = {', '.join(map(str, sorted(widths)))})" if len(kinds) > 1 else ")")
             for (networks, seeds, runs), widths in sorted(kinds.items(), key=lambda kind: min(kind[1]))]
    return [f"after {rows[0]['epochs']:,} epochs", "; ".join(parts), f"{LEVEL:.0%} Clopper-Pearson intervals"]


def format_table(rows):
    """Aligned text: a line stating the pooling, then one line per series and width with the
    fractions and their 95 % intervals."""
    lines = [f"crossed fractions {'; '.join(pooling_notes(rows))}",
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


def fractions_plot(rows):
    """Both crossed fractions against the width (log axis) with their 95 % intervals: per series a
    style of the shared palette (one legend entry), kink crossed solid, loss crossed dashed in the
    same style (two black keys); the title states the epoch count, the networks per point and the
    interval level."""
    series = []
    for key, group in by_series(rows).items():
        for measure, _ in MEASURES:
            series.append(Series(series_label(key), [row["width"] for row in group],
                                 [row[f"{measure}_fraction"] for row in group],
                                 [row[f"{measure}_low"] for row in group], [row[f"{measure}_high"] for row in group],
                                 dashed=measure == "loss"))
    epochs, networks, level = pooling_notes(rows)
    notes = [f"Crossed fractions {epochs}; {level}",
             "solid: a kink crossed a data point; dashed: the loss fell below the regression threshold",
             *textwrap.wrap(networks, NOTE_WIDTH)]
    return ErrorBarPlot(series, "width $n$", "fraction of networks", notes, y_range=(-0.02, 1.02), dodge=1.06,
                        pair_labels=[name for _, name in MEASURES])


# ----------------------------------------------------------------------------- median network
def median_network(group):
    """(result, index) of the network whose final loss / threshold is the median among the finite
    ones of the pooled results (the lower middle one for an even count); None if none is finite."""
    ratios = [(ratio, position, k) for position, result in enumerate(group)
              for k, ratio in enumerate(result.final_ratio) if ratio is not None]
    if not ratios:
        return None
    _, position, k = sorted(ratios)[(len(ratios) - 1) // 2]
    return group[position], k


def network_function(result, index):
    """x (G, d) -> f(x) (G,) of network ``index`` of ``result`` at its saved epoch, in float64."""
    state = TrainingState.load(result.folder, torch.device("cpu"))
    params = [A[index:index + 1].double() for A in state.params]
    activation = result.config.activation
    return lambda x: forward(params, torch.as_tensor(x, dtype=torch.float64), activation)[0][0].numpy()


def median_title(result, index, group):
    """Three lines: which network, of how many, after how many epochs; its ratio and crossings."""
    config = result.config
    finite = sum(ratio is not None for r in group for ratio in r.final_ratio)
    kink, loss = (result.first_epochs(m)[index] for m in ("kink", "loss"))
    return (f"{series_label(series_key(config))}, n = {config.width}: median of {finite} networks\n"
            f"({len(group)} seed{'s' if len(group) > 1 else ''} of P = {config.runs}; seed {config.seed}, "
            f"#{index}) after {result.epoch:,} epochs\nloss / threshold {result.final_ratio[index]:.4f}; "
            f"kink crossed {'never' if kink < 0 else f'at epoch {kink:,}'}; "
            f"loss crossed {'never' if loss < 0 else f'at epoch {loss:,}'}")


def data_markers(ax, X, y):
    """The data points over a plane: upward triangles for y > 0 (white), downward for y <= 0
    (black), area proportional to |y|, so they read on any colour of the map; the legend handles."""
    size = 60 * np.abs(y) / max(np.abs(y).max(), 1e-12) + 8
    handles = []
    for above, marker, face in ((True, "^", "white"), (False, "v", "black")):
        chosen = (y > 0) == above
        handles.append(ax.scatter(X[chosen, 0], X[chosen, 1], s=size[chosen], marker=marker, c=face,
                                  edgecolors="black", linewidths=0.8, zorder=3,
                                  label=f"data, y {'>' if above else '<='} 0 (area ~ |y|)"))
    return handles


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
    handles = data_markers(ax, X, y)
    figure.colorbar(image, ax=ax, label=f"network output $f(x)$ (scale $\\pm${limit:.3g}, its largest |f| here)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    figure.suptitle(title, fontsize=8)
    place_legend(figure, handles)
    return figure


def axes_figure(f, X, y, title):
    """Other input dimensions: f along each coordinate axis through its data points, axis k in
    series style k (its data points as that style's marker)."""
    d = X.shape[1]
    radius = 1.15 * np.abs(X).max()
    t = np.linspace(-radius, radius, 801)
    figure, ax = new_figure(7.5, 4.6)
    handles = []
    for axis in range(d):
        style = series_style(axis)
        on_axis = (X[:, axis] != 0) & (np.count_nonzero(X, axis=1) == 1)
        handles += ax.plot(t, f(t[:, None] * np.eye(d)[axis]), color=f"#{style.color}",
                           label=f"$f(t e_{{{axis + 1}}})$" if d > 1 else "$f(t)$")
        label = "data" + (f" on axis {axis + 1}" if d > 1 else "")
        handles.append(ax.scatter(X[on_axis, axis], y[on_axis], color=f"#{style.color}", marker=style.marker,
                                  edgecolors="black", zorder=3, label=label))
    ax.set_xlabel("$t$")
    ax.set_ylabel("network output")
    ax.grid(True, color="0.9")
    figure.suptitle(title, fontsize=8)
    place_legend(figure, handles)
    return figure


def median_unavailable(group):
    """Why the median network of ``group`` cannot be drawn (text), or None when it can."""
    chosen = median_network(group)
    if chosen is None:
        return "every network's loss is non-finite"
    if not (chosen[0].folder / "state.pt").exists():
        return f"no state.pt in {chosen[0].folder}"
    return None


def median_figure(group, stem):
    """The data set of ``group`` with the function of its median network (which must be available,
    see ``median_unavailable``), saved as <stem>.png and <stem>.pdf; the paths."""
    result, index = median_network(group)
    X, y, _ = result.config.training_data()
    draw = plane_figure if X.shape[1] == 2 else axes_figure
    return save_png_and_pdf(draw(network_function(result, index), X, y, median_title(result, index, group)), stem)
