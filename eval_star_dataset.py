"""Report of the star-data-set runs of ``train_star_dataset.py``: crossed fractions per data set
and width, and the function of a median network.

Every run folder (config.json and result.json) below <results>/star/ is read; a corrupt or
incomplete one is named in a warning and skipped. Runs of one series (data set, depth,
activation, bias, lr factor, dtype) and width are pooled over seeds. At epoch E (--epochs, else the
fewest epochs any pooled run has reached) a network counts as

    kink crossed  if some hidden unit's on/off pattern changed at an epoch t < E,
    loss crossed  if its loss fell below 0.999999 x its linear-regression threshold at a t < E,

and each fraction comes with a 95 % Clopper-Pearson interval. Written: a printed table, CSV, the
figure of both fractions against the width (PNG; standalone pgfplots LaTeX, compiled by pdflatex
where available) and, per series, a figure of the data with the function of the network whose
final loss / threshold is the median of the largest width.

Layout: loading; fractions; table and CSV; figures; CLI.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import train_star_dataset as ts
import utils
from custom_paths import results_root
from utils import new_figure, save_csv, save_figure
from utils import require

SERIES_KEYS = ("dataset", "layers", "activation", "random_bias", "lr_factor", "dtype")
FIGURE_NAME = "crossed_fractions"
MEASURES = (("kink", "kink crossed"), ("loss", "loss crossed"))


# ============================================================================= loading
def read_run(folder):
    """The result.json of a run folder with its folder added, or None (named on stderr) when it is
    unreadable or does not match the folder's config.json."""
    if not (folder / "result.json").exists():
        print(f"skipping run {folder}: no result.json yet (not trained, or its first checkpoint is pending)",
              file=sys.stderr)
        return None
    try:
        result = utils.load_json(folder / "result.json")
        assert result["config"] == utils.load_json(folder / "config.json"), "config.json and result.json differ"
        assert len(result["kink_epoch"]) == len(result["loss_epoch"]) == result["n_networks"] > 0
        return {**result, "folder": folder}
    except Exception as error:  # noqa: BLE001 - any fault in a run folder means: skip it
        print(f"skipping run {folder}: {type(error).__name__} {error}", file=sys.stderr)
        return None


def load_runs(results):
    """Every readable run below <results>/star/: a list of result dicts, sorted by folder."""
    folders = sorted(path.parent for path in (Path(results) / "star").rglob("config.json"))
    runs = [run for run in map(read_run, folders) if run is not None]
    require(runs, f"no star-data-set runs (folders with config.json and result.json) below {Path(results) / 'star'}")
    return runs


def series_key(config):
    return tuple(config[key] for key in SERIES_KEYS)


def series_label(key):
    """Legend text of a series: the data set, then what differs from the defaults."""
    config = dict(zip(SERIES_KEYS, key))
    parts = [config["dataset"]]
    parts += [f"L = {config['layers']}"] if config["layers"] != 1 else []
    parts += [config["activation"]] if config["activation"] != "relu" else []
    parts += ["random bias"] if config["random_bias"] else []
    parts += [f"lr x{config['lr_factor']:g}"] if config["lr_factor"] != 1 else []
    parts += [config["dtype"]] if config["dtype"] != "float32" else []
    return ", ".join(parts)


def cells(runs):
    """The runs grouped by (series key, width): {(key, width): [runs]}, sorted."""
    grouped = {}
    for run in runs:
        grouped.setdefault((series_key(run["config"]), run["config"]["width"]), []).append(run)
    return dict(sorted(grouped.items(), key=lambda item: (str(item[0][0]), item[0][1])))


# ============================================================================= fractions
def crossed_by(first_epochs, epoch):
    """How many of the first epochs (-1: never) lie before ``epoch``."""
    first = np.asarray(first_epochs)
    return int(((first >= 0) & (first < epoch)).sum())


def cell_row(key, width, group, epochs=None):
    """One table row: pooled counts and fractions with 95 % intervals at ``epochs`` (default the
    fewest epochs reached by the group's runs; it must not exceed them)."""
    reached = min(run["epoch"] for run in group)
    epoch = reached if epochs is None else epochs
    require(epoch <= reached, f"--epochs {epochs} exceeds the {reached} epochs reached by "
                              f"{series_label(key)}, n = {width}")
    row = dict(zip(SERIES_KEYS, key), width=width, seeds=len(group), networks=sum(r["n_networks"] for r in group),
               epochs=epoch, non_finite=sum(crossed_by(r["nan_epoch"], epoch) for r in group))
    for measure, _ in MEASURES:
        count = sum(crossed_by(r[f"{measure}_epoch"], epoch) for r in group)
        low, high = utils.clopper_pearson(count, row["networks"])
        row.update({f"{measure}_crossed": count, f"{measure}_fraction": count / row["networks"],
                    f"{measure}_low": float(low), f"{measure}_high": float(high)})
    return row


def table_rows(runs, epochs=None):
    return [cell_row(key, width, group, epochs) for (key, width), group in cells(runs).items()]


# ============================================================================= table and CSV
COLUMNS = [*SERIES_KEYS, "width", "seeds", "networks", "epochs", "non_finite",
           *(f"{m}_{k}" for m, _ in MEASURES for k in ("crossed", "fraction", "low", "high"))]


def format_table(rows):
    """Aligned text: one line per series and width, fractions with their 95 % intervals."""
    lines = [f"{'series':32s} {'width':>6s} {'nets':>6s} {'epochs':>8s}  {'kink crossed [95% CI]':26s}"
             f"  {'loss crossed [95% CI]':26s} {'NaN':>4s}"]
    for row in rows:
        cols = [f"{row[f'{m}_fraction']:.3f} [{row[f'{m}_low']:.3f}, {row[f'{m}_high']:.3f}]" for m, _ in MEASURES]
        lines.append(f"{series_label(series_key(row)):32s} {row['width']:6d} {row['networks']:6d} {row['epochs']:8d}"
                     f"  {cols[0]:26s}  {cols[1]:26s} {row['non_finite']:4d}")
    return "\n".join(lines)


# ============================================================================= figures
def by_series(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(series_key(row), []).append(row)
    return grouped


def figure_widths(rows):
    return sorted({row["width"] for row in rows})


def tex_text(text):
    return str(text).replace("_", r"\_")


def pgfplots_body(rows):
    """Both crossed fractions against the width (log2 axis) with their 95 % intervals: per series one
    colour (as in the PNG), kink crossed solid with circles, loss crossed dashed with squares."""
    widths = figure_widths(rows)
    ticks = ",".join(map(str, widths))
    lines = [f"\\definecolor{{series{i}}}{{HTML}}{{{colour[1:].upper()}}}"
             for i, colour in enumerate(series_colours(rows))]
    lines += [r"\begin{tikzpicture}",
              r"\begin{axis}[xmode=log, log basis x=2, width=9cm, height=7cm,",
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
                      f"\\addlegendentry{{{tex_text(series_label(key))}: {name}}}"]
    lines += [r"\end{axis}", r"\end{tikzpicture}"]
    return "\n".join(lines)


def series_colours(rows):
    """One hex colour per series (matplotlib's tab10)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(colormaps["tab10"](i % 10)) for i in range(len(by_series(rows)))]


def fractions_png(rows, path):
    """The figure of ``pgfplots_body`` drawn with matplotlib, saved as PNG at ``path``."""
    from matplotlib.ticker import FixedLocator, NullLocator

    widths = figure_widths(rows)
    figure, ax = new_figure(8.0, 4.4)
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
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
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


def median_title(run, index):
    config = run["config"]
    kink, loss = (run[f"{m}_epoch"][index] for m in ("kink", "loss"))
    return (f"{series_label(series_key(config))}, n = {config['width']}: median network (seed {config['seed']}, "
            f"#{index}) after {run['epoch']:,} epochs\nloss / threshold {run['final_ratio'][index]:.4f}; "
            f"kink crossed {'never' if kink < 0 else f'at epoch {kink:,}'}; "
            f"loss crossed {'never' if loss < 0 else f'at epoch {loss:,}'}")


def plane_figure(f, X, y, title):
    """Two inputs: f over the plane as a colour map, the data points in the same colours."""
    radius = 1.15 * np.abs(X).max()
    grid = np.linspace(-radius, radius, 241)
    u, v = np.meshgrid(grid, grid)
    values = f(np.stack([u.ravel(), v.ravel()], 1)).reshape(u.shape)
    limit = 1.1 * np.abs(y).max()
    figure, ax = new_figure(6.4, 5.6)
    image = ax.imshow(values, extent=(-radius, radius, -radius, radius), origin="lower", cmap="RdBu_r",
                      vmin=-limit, vmax=limit)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", vmin=-limit, vmax=limit, edgecolors="black", s=40, zorder=3)
    figure.colorbar(image, ax=ax, label="network output $f(x)$ (points: labels $y$)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title, fontsize=9)
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
    ax.set_title(title, fontsize=9)
    return figure


def median_figure(group, path):
    """The data set of ``group`` with the function of its median network, saved as PNG at ``path``;
    None when every network's loss is non-finite."""
    chosen = median_network(group)
    if chosen is None:
        return None
    run, index = chosen
    X, y = ts.make_data(run["config"]["dataset"])
    draw = plane_figure if X.shape[1] == 2 else axes_figure
    return save_figure(draw(network_function(run, index), X, y, median_title(run, index)), path)


def file_slug(text):
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


# ============================================================================= CLI
def report(results=None, out=None, epochs=None, compile="auto"):
    """Crossed fractions of every run below <results>/star/ (default results root): printed,
    saved as CSV, drawn as PNG and pgfplots LaTeX (compiled: auto | yes | no), plus the median
    network's function for each series at its largest width. --epochs E counts crossings before
    epoch E (default: the fewest epochs reached by the pooled runs). --out: default <results>/star/eval."""
    utils.check_choice("compile", compile, ("auto", "yes", "no"))
    require(compile != "yes" or shutil.which("pdflatex"), "--compile yes needs pdflatex, which is not "
            "installed (install TeX Live: bash install.sh --tex)")
    epochs = None if epochs is None else utils.check_int("epochs", epochs)
    results = Path(results) if results is not None else results_root()
    out = Path(out) if out is not None else results / "star" / "eval"
    runs = load_runs(results)
    rows = table_rows(runs, epochs)
    print(format_table(rows))
    save_csv(out / f"{FIGURE_NAME}.csv", rows, COLUMNS)
    tex = out / f"{FIGURE_NAME}.tex"
    utils.save_text(tex, utils.standalone_tex(pgfplots_body(rows)))
    png = fractions_png(rows, out / f"{FIGURE_NAME}.png")
    pdf = utils.compile_tex(tex, compile)
    print(f"table: {out / FIGURE_NAME}.csv; figure: {png}, {tex}" + (f", {pdf}" if pdf else ""))
    largest = {}
    for (key, width), group in cells(runs).items():
        largest[key] = (width, group)
    for key, (width, group) in largest.items():
        path = median_figure(group, out / f"median_{file_slug(series_label(key))}_n{width}.png")
        print(f"median network: {path}" if path else f"median network of {series_label(key)}: all losses non-finite")


if __name__ == "__main__":
    utils.run_cli({"report": report})
