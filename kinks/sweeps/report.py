"""The report of the sweeps: what ``run_nn_setups.py sweep`` wrote, read back, never training (apart
from the published ex-fit figure, which retrains 11 networks per configuration).

For every configuration (parameterisation, optimizer, hidden-bias mode) and data set the step size
with the smallest mean best-validation RMSE (no network diverged) is chosen among all steps tried
(``Choice``); reported is the mean over the P networks of the test RMSE at each network's best
validation check, +- its standard error s / sqrt(P) (s the sample standard deviation, ddof 1). A
chosen step with no tried step on one side of it is marked as unbracketed. Owns: loading and
choosing, the table (text, CSV, LaTeX) and the figures (error-bar plots of the shared stack, the
bias grid, the ex fits and the kink-distance CDF), all without pyplot's global state.
"""
import math
import shutil
from pathlib import Path

import numpy as np

from kinks.checks import as_list, check_choice, require, warn
from kinks.figures import (GUIDE_COLOR, LINE_WIDTH_PT, MARK_RADIUS_PT, ErrorBarPlot, Series, place_legend,
                           plain_log_ticks, save_png_and_pdf, series_style, standalone_tex, tex_escape)
from kinks.nets import torch_dtype
from kinks.paths import named_folder, results_root
from kinks.sweeps.data import FAMILIES, ex_regression_function, make_datasets, parse_dataset
from kinks.sweeps.grid import (CURVE_POINTS, CURVE_RANGE, SHARED_SETTINGS, ResultError, bracketed, choose_step,
                          config_label, read_result, settings_differences)
from kinks.sweeps.nets import (OLD_OPTIMIZERS, OPTIMIZERS, PARAMETERISATIONS, epoch_orders, forward, init_networks,
                              kink_distances, train_networks)


# ============================================================================= loading and choosing
def input_folder(grid, input, results):  # noqa: A002
    """The sweep folder read: --input (a path, or a name below <results root>/nn_setups, e.g.
    quick-width16), else <results root>/nn_setups/<grid>."""
    root = results_root(results)
    require(input is not None or results is None or root.is_dir(), f"--results {results} is not a folder")
    return named_folder(input, root / "nn_setups") if input is not None else root / "nn_setups" / grid


def load_results(folder):
    """Every readable result under folder (corrupt files are named in a warning and skipped);
    results of different shared settings (SHARED_SETTINGS) are refused, naming the difference."""
    results = []
    for path in sorted(Path(folder).rglob("step_e*.json")):
        try:
            results.append(read_result(path))
        except ResultError as error:
            warn(f"skipping corrupt result file {error}")
    require(results, f"--input {folder}: no results there; run `python run_nn_setups.py sweep` first")
    first = {k: results[0]["task"].get(k) for k in SHARED_SETTINGS}
    for result in results[1:]:
        diff = settings_differences(first, {k: result["task"].get(k) for k in SHARED_SETTINGS})
        require(not diff, f"--input {folder} mixes results of different settings ({'; '.join(diff)}); "
                          f"evaluate each sweep folder on its own")
    return results


def dataset_order(dataset):
    """Sort key: ex first, then each family by input dimension."""
    family, d = parse_dataset(dataset)
    return FAMILIES.index(family), d


def config_order(config):
    """Sort key of a (param, optimizer, bias label) configuration."""
    param, optimizer, bias = config
    return PARAMETERISATIONS.index(param), OPTIMIZERS.index(optimizer), bias


def configuration(task):
    """(param, optimizer, bias label) of a task's settings; the bias label carries a gain other than 1."""
    return task["param"], task["optimizer"], config_label(task["param"], task["optimizer"], task["bias"],
                                                          task["bias_gain"]).split("_", 2)[2]


class Choice:
    """The chosen step of one configuration on one data set: ``result`` (None where every step
    diverged) and whether it is ``bracketed`` by tried steps on both sides."""

    def __init__(self, results):
        self.result = choose_step(results)
        self.bracketed = self.result is not None and bracketed(self.result, results)


def chosen_results(results):
    """{(config, dataset): Choice} over all steps tried."""
    groups = {}
    for result in results:
        groups.setdefault((configuration(result["task"]), result["task"]["dataset"]), []).append(result)
    return {key: Choice(group) for key, group in groups.items()}


def mean_and_se(result):
    """Mean best-test RMSE over the P networks and its standard error s / sqrt(P), with s the
    sample standard deviation (the result's ddof-0 std times sqrt(P / (P - 1)))."""
    P = result["runs"]
    return result["mean"]["best_test"], result["std"]["best_test"] / math.sqrt(max(P - 1, 1))


def shared_task(chosen):
    """The settings of a chosen result (those in SHARED_SETTINGS are the same for all, by load_results)."""
    return next(c.result["task"] for c in chosen.values() if c.result is not None)


def quantity(chosen):
    """What a table cell shows, in words."""
    return (f"test RMSE at the best validation check, mean ± SE over {shared_task(chosen)['runs']} runs "
            f"(networks with their own data), at the step chosen by validation")


# ============================================================================= table
def table_layout(chosen):
    """Sorted configurations (rows) and data sets (columns) of the chosen results."""
    configs = sorted({c for c, _ in chosen}, key=config_order)
    datasets = sorted({d for _, d in chosen}, key=dataset_order)
    return configs, datasets


def shade(values):
    """Per-column shading in [0, 1]: (log v - log best) / (log worst - log best); 0 when all equal."""
    logs = np.log(np.asarray(values, dtype=float))
    span = np.nanmax(logs) - np.nanmin(logs)
    return (logs - np.nanmin(logs)) / span if span > 0 else np.zeros_like(logs)


def cell_text(choice):
    """'mean ± SE', with a dagger for an unbracketed step; 'diverged' where every step did."""
    if choice.result is None:
        return "diverged"
    return "{:.4f} ± {:.4f}".format(*mean_and_se(choice.result)) + ("" if choice.bracketed else " †")


def text_table(chosen):
    """A fixed-width text table of mean +- SE per configuration x data set, with its header."""
    configs, datasets = table_layout(chosen)
    width = max(len("configuration"), *(len("/".join(c)) for c in configs)) + 2
    lines = [quantity(chosen) + "; † = best step at the edge of the steps tried (not bracketed)",
             "configuration".ljust(width) + "".join(d.rjust(20) for d in datasets)]
    for config in configs:
        lines.append("/".join(config).ljust(width) + "".join(
            (cell_text(chosen[config, d]) if (config, d) in chosen else "--").rjust(20) for d in datasets))
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("param", "optimizer", "bias", "dataset", "best_test_rmse", "se", "best_valid_rmse", "lr",
               "step_exponent", "bracketed", "runs", "bayes_rmse")


def csv_records(chosen):
    """One record per configuration and data set, with the chosen step (empty where all diverged)."""
    records = []
    configs, datasets = table_layout(chosen)
    for config in configs:
        for dataset in (d for d in datasets if (config, d) in chosen):
            record = dict(zip(("param", "optimizer", "bias"), config), dataset=dataset)
            result = chosen[config, dataset].result
            if result is not None:
                mean, se = mean_and_se(result)
                record.update(best_test_rmse=mean, se=se, best_valid_rmse=result["mean"]["best_valid"],
                              lr=result["task"]["lr"], step_exponent=result["task"]["step_exponent"],
                              bracketed=chosen[config, dataset].bracketed, runs=result["runs"],
                              bayes_rmse=result["bayes_rmse"])
            records.append(record)
    return records


LIGHTEST, DARKEST = np.array([1.0, 1.0, 1.0]), np.array([0.42, 0.60, 0.82])  # one blue hue, light to dark


def shade_colour(t):
    """The cell colour for shade t in [0, 1]: white (the column's best) to a mid blue (its worst);
    one hue of varying lightness reads the same for every kind of colour vision, with black text."""
    return LIGHTEST + t * (DARKEST - LIGHTEST)


def latex_table(chosen):
    """A standalone LaTeX table with a caption stating the quantity; each cell shaded from white
    (the column's best) to blue (its worst) by its log RMSE; unbracketed steps marked with a dagger."""
    configs, datasets = table_layout(chosen)
    columns = {d: [chosen[c, d].result["mean"]["best_test"] if (c, d) in chosen and chosen[c, d].result else np.nan
                   for c in configs] for d in datasets}
    shades = {d: shade(v) for d, v in columns.items()}
    rows = [" & ".join(["param", "optimizer", "bias"] + [r"\texttt{%s}" % tex_escape(d) for d in datasets])
            + r" \\ \hline"]
    for i, config in enumerate(configs):
        cells = []
        for dataset in datasets:
            choice = chosen.get((config, dataset))
            if choice is None or choice.result is None:
                cells.append("--" if choice is None else "div.")
                continue
            dagger = "" if choice.bracketed else r"$^\dagger$"
            cells.append(r"\colorbox[rgb]{%.3f,%.3f,%.3f}{$%.4f \pm %.4f$%s}"
                         % (*shade_colour(shades[dataset][i]), *mean_and_se(choice.result), dagger))
        rows.append(" & ".join(tex_escape(part) for part in config) + " & " + " & ".join(cells) + r" \\")
    caption = (tex_escape(quantity(chosen)).replace("±", r"$\pm$")
               + r". Shading: log RMSE within each column, white = best, blue = worst. "
               r"$^\dagger$: best step at the edge of the steps tried (not bracketed).")
    tabular = "\\begin{tabular}{lll" + "r" * len(datasets) + "}\n" + "\n".join(rows) + "\n\\end{tabular}"
    # the caption is set as wide as the table: the table in a box first, then its width
    return standalone_tex("\\setlength{\\fboxsep}{1.5pt}\n\\newsavebox{\\tablebox}\n"
                          "\\sbox{\\tablebox}{" + tabular + "}\n"
                          "\\begin{tikzpicture}\\node{\\begin{minipage}{\\wd\\tablebox}\\raggedright " + caption
                          + "\\par\\vspace{2pt}\\usebox{\\tablebox}\\end{minipage}};\\end{tikzpicture}\n")


# ============================================================================= figures
TEXT_RC = {"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7}
RELATIVE_LABELS = {"zero": "mean RMSE / zero-bias RMSE", "best": "mean RMSE / best mean RMSE", "none": "mean RMSE"}
DODGE = 1.05  # neighbouring curves at one d drawn at d / 1.05, d, d * 1.05, ...


def figure_rc(usetex):
    """The matplotlib settings of the figures, for a local ``matplotlib.rc_context``: LaTeX text with
    --usetex yes, or auto where latex and dvipng are installed."""
    check_choice("usetex", usetex, ("auto", "yes", "no"))
    available = shutil.which("latex") is not None and shutil.which("dvipng") is not None
    require(usetex != "yes" or available, "--usetex yes needs latex and dvipng, which are not installed")
    return {**TEXT_RC, "text.usetex": usetex == "yes" or (usetex == "auto" and available)}


def figure_notes(chosen, what):
    """The title lines of a figure: what it shows, the quantity with the runs per point and the
    interval, and the step, width, epochs and batch size."""
    task = shared_task(chosen)
    return [what, f"test RMSE at the best validation check, mean over {task['runs']} runs per point, bars $\\pm$2 SE",
            f"step chosen by validation; width n = {task['width']}, {task['epoch_budget']:,}/d epochs, batch size "
            f"{task['batch_size']}; own data per run"]


def family_datasets(chosen, family):
    """The data sets of ``family`` present, by dimension."""
    return sorted({d for _, d in chosen if parse_dataset(d)[0] == family}, key=dataset_order)


def reference_means(chosen, datasets, configs):
    """Per data set, the smallest mean best-test RMSE among ``configs`` (NaN where none has one)."""
    return {d: min((chosen[c, d].result["mean"]["best_test"] for c in configs
                    if (c, d) in chosen and chosen[c, d].result), default=np.nan) for d in datasets}


def relative_points(chosen, pairs, reference):
    """(d values, mean / reference, SE / reference) over the (config, dataset) ``pairs`` that have a
    result and a finite reference; None if there are none. reference: {dataset: RMSE}."""
    points = [(parse_dataset(d)[1], *np.divide(mean_and_se(chosen[c, d].result), reference[d]))
              for c, d in pairs if (c, d) in chosen and chosen[c, d].result and np.isfinite(reference[d])]
    return tuple(np.array(column) for column in zip(*points)) if points else None


def relative_curves(chosen, family, configs, relative_to):
    """{config: (d, mean / reference, SE / reference)} of ``configs`` on the family's data sets,
    each relative to 'zero': the zero-bias configuration of the same parameterisation and
    optimizer, 'best': the best of ``configs`` on each data set, 'none': absolute RMSE."""
    datasets = family_datasets(chosen, family)
    curves = {}
    for config in configs:
        if relative_to == "zero":
            reference = reference_means(chosen, datasets, [(config[0], config[1], "zero")])
        elif relative_to == "best":
            reference = reference_means(chosen, datasets, configs)
        else:
            reference = dict.fromkeys(datasets, 1.0)
        curves[config] = relative_points(chosen, [(config, d) for d in datasets], reference)
    return {c: v for c, v in curves.items() if v is not None}


def curve_series(label, points):
    """The Series of a curve (d, value, SE): the value with a bar of +-2 SE."""
    d, value, se = points
    return Series(label, d, value, value - 2 * se, value + 2 * se)


def relative_plot(series, y_label, notes):
    """The error-bar plot of curves against d, both axes logarithmic (a note added where a bar reaches
    0 or below, which the log axis cannot show)."""
    cut = any((s.low <= 0).any() for s in series)
    notes = notes + (["a bar running off the bottom edge reaches 0 or below"] if cut else [])
    return ErrorBarPlot(series, "input dimension $d$", y_label, notes, log_y=True, dodge=DODGE)


def figure_rmse_vs_d(chosen, family, bias, relative_to, stem):
    """Mean RMSE against d, one curve per parameterisation and optimizer, for one bias."""
    configs = sorted({c for c, _ in chosen if c[2] == bias}, key=config_order)
    relative_to = "none" if relative_to == "zero" and bias == "zero" else relative_to
    series = [curve_series(f"{config[0]}, {config[1]}", points)
              for config, points in relative_curves(chosen, family, configs, relative_to).items()]
    notes = figure_notes(chosen, f"{family} data, hidden bias {bias}")
    save_png_and_pdf(relative_plot(series, RELATIVE_LABELS[relative_to], notes).figure(), stem)


def figure_param_optimizer(chosen, family, param, optimizer, relative_to, stem):
    """The published per-(parameterisation, optimizer) figure: one curve per bias mode against d,
    relative to this pair's zero-bias curve (relative_to 'zero') or to the best configuration."""
    configs = sorted({c for c, _ in chosen if c[:2] == (param, optimizer)}, key=config_order)
    series = [curve_series(f"hidden bias {config[2]}", points)
              for config, points in relative_curves(chosen, family, configs, relative_to).items()]
    notes = figure_notes(chosen, f"{family} data, {param}, {optimizer}")
    save_png_and_pdf(relative_plot(series, RELATIVE_LABELS[relative_to], notes).figure(), stem)


def figure_bias(chosen, family, relative_to, stem):
    """The published bias figure: per bias mode, its best parameterisation and optimizer on each
    data set, relative to the best zero-bias configuration there (relative_to 'zero') or to the
    best configuration of all ('best')."""
    configs = sorted({c for c, _ in chosen}, key=config_order)
    datasets = family_datasets(chosen, family)
    zero = [c for c in configs if c[2] == "zero"]
    reference = reference_means(chosen, datasets, zero if relative_to == "zero" else configs)
    series = []
    for bias in sorted({c[2] for c in configs}):
        best = [(min(candidates, key=lambda c: chosen[c, d].result["mean"]["best_test"]), d) for d in datasets
                if (candidates := [c for c in configs if c[2] == bias and (c, d) in chosen and chosen[c, d].result])]
        points = relative_points(chosen, best, reference)
        series += [curve_series(f"hidden bias {bias}", points)] if points is not None else []
    y_label = "best mean RMSE / best zero-bias" if relative_to == "zero" else "best mean RMSE / best of all"
    notes = figure_notes(chosen, f"{family} data: best parameterisation and optimizer per bias")
    save_png_and_pdf(relative_plot(series, y_label, notes).figure(), stem)


def panel_figure(rows, cols, width, height, **subplots):
    """A matplotlib Figure of rows x cols axes without pyplot (constrained layout, as ``new_figure``):
    (figure, axes (rows, cols))."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(rows, cols, squeeze=False, **subplots)


def draw_curve(ax, points, style, label, shift=1.0):
    """A curve (d, value, SE) with +-2 SE bars in ``style`` on a log-log axes, drawn at d * shift;
    its legend handle."""
    d, value, se = points
    return ax.errorbar(d * shift, value, yerr=[2 * se, 2 * se], color=f"#{style.color}", marker=style.marker,
                       markersize=2 * MARK_RADIUS_PT, linewidth=LINE_WIDTH_PT, capsize=3, label=label)


def bias_grid_figure(chosen, family, relative_to):
    """2 x 3 panels (he/ntk x optimizers), one curve per bias mode, each bias in one style
    throughout; a panel without a curve says so (its configurations were not swept, or every step
    diverged)."""
    configs = sorted({c for c, _ in chosen}, key=config_order)
    curves = relative_curves(chosen, family, configs, relative_to)
    biases = sorted({c[2] for c in configs})
    figure, axes = panel_figure(2, 3, 9.6, 5.6, sharex=True, sharey=True)
    handles = {}
    for row, param in enumerate(PARAMETERISATIONS):
        for col, optimizer in enumerate(OPTIMIZERS):
            ax = axes[row, col]
            for k, bias in enumerate(biases):
                if (param, optimizer, bias) in curves:
                    handles[bias] = draw_curve(ax, curves[param, optimizer, bias], series_style(k),
                                               f"hidden bias {bias}", DODGE ** (k - (len(biases) - 1) / 2))
            if not any((param, optimizer, bias) in curves for bias in biases):
                ax.text(0.5, 0.5, "no data\n(not swept, or every step diverged)", transform=ax.transAxes,
                        ha="center", va="center", color="0.4")
            ax.set(xscale="log", yscale="log", title=f"{param}, {optimizer}")
            ax.set_xlabel("$d$" if row == 1 else "")
            ax.set_ylabel(RELATIVE_LABELS[relative_to] if col == 0 else "")
            ax.grid(True, color="0.9")
    d_values = sorted({parse_dataset(d)[1] for d in family_datasets(chosen, family)})
    plain_log_ticks(axes[0, 0].xaxis, d_values)
    plain_log_ticks(axes[0, 0].yaxis)
    figure.suptitle("\n".join(figure_notes(chosen, f"{family} data: {RELATIVE_LABELS[relative_to]}")), fontsize=9)
    place_legend(figure, [handles[bias] for bias in biases if bias in handles])
    return figure


def figure_bias_grid(chosen, family, relative_to, stem):
    """The bias grid (``bias_grid_figure``) as <stem>.png and <stem>.pdf."""
    save_png_and_pdf(bias_grid_figure(chosen, family, relative_to), stem)


def ex_panel(ax, x, f, train_x, train_y, title):
    """One ex panel: training data, E[y|x] and a network's function; the legend handles."""
    grid = np.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS)
    handles = [ax.scatter(train_x, train_y, s=3, color="0.6", label="training data")]
    handles += ax.plot(grid, ex_regression_function(grid), "k--", linewidth=0.8, label="$E[y|x]$")
    handles += ax.plot(x, np.array(f, dtype=float), color=f"#{series_style(0).color}", linewidth=1.2,
                       label="median network")
    ax.set_title(title)
    ax.set(xlim=(-1.45, 1.45), xticks=(-1, 0, 1), xlabel="$x$", ylim=(min(train_y) - 0.7, max(train_y) + 0.7))
    return handles


def ex_figure(count):
    """A figure of ``count`` ex panels, up to 3 per row; returns (figure, axes) with unused axes off."""
    cols = min(3, count)
    rows = math.ceil(count / cols)
    figure, axes = panel_figure(rows, cols, 3.2 * cols, 2.7 * rows)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return figure, axes.flat[:count]


def ex_results(chosen, configs):
    """The configurations of ``configs`` with ex results (refused when there are none)."""
    shown = [c for c in configs if (c, "ex") in chosen and chosen[c, "ex"].result]
    require(shown, "--ex_configs: none of them has ex results")
    return shown


def figure_ex_fits(chosen, configs, stem):
    """The ex training data of the sweep's median network and its function at the best validation
    check, one panel per configuration."""
    shown = [c for c in ex_results(chosen, configs) if "curve" in chosen[c, "ex"].result]
    figure, axes = ex_figure(len(shown))
    for ax, config in zip(axes, shown):
        result = chosen[config, "ex"].result
        c = result["curve"]
        handles = ex_panel(ax, c["x"], c["f"], c["train_x"], c["train_y"],
                           "{}/{}/{}: RMSE {:.3f} $\\pm$ {:.3f}".format(*config, *mean_and_se(result)))
    task = shared_task(chosen)
    figure.suptitle(f"ex data: the median of {task['runs']} networks (own data each), function at the best "
                    f"validation check\nwidth n = {task['width']}, {task['epoch_budget']:,} epochs; "
                    "panel titles: test RMSE, mean $\\pm$ SE", fontsize=9)
    place_legend(figure, handles)
    save_png_and_pdf(figure, stem)


PUBLISHED_EX_RUNS = 11


def retrain_on_shared_data(result, runs=PUBLISHED_EX_RUNS, seed=0):
    """As published: ``runs`` networks of the result's configuration and chosen step, trained on ONE
    shared ex training set (own initialisations and batch orders, drawn from ``seed``); returns
    (x grid, the final function of the network with the median final test RMSE, the shared
    training data x and y, that RMSE)."""
    import torch

    task = result["task"]
    dtype = torch_dtype(task["dtype"])
    one = make_datasets("ex", 1, task["n_train"], task["n_valid"], task["n_test"], seed, dtype=torch.float64)
    shared = {k: v if k == "bayes_rmse" else v.expand(runs, *v.shape[1:]).contiguous() for k, v in one.items()}
    generator = torch.Generator().manual_seed(seed)
    params, mults = init_networks(task["param"], task["bias"], task["bias_gain"], shared["X_train"], task["width"],
                                  generator)
    shared = {k: v if k == "bayes_rmse" else v.to(dtype) for k, v in shared.items()}
    params = {k: v.to(dtype) for k, v in params.items()}
    out = train_networks(params, mults, shared, task["optimizer"], task["lr"], task["n_epochs"], task["valid_every"],
                         task["batch_size"], epoch_orders(runs, task["n_train"], generator, "cpu"))
    median = int(torch.argsort(out["last_test"])[runs // 2])
    grid = torch.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_POINTS, dtype=dtype)
    with torch.no_grad():
        X = (grid[None, :, None] - shared["x_mean"][:1]) / shared["x_std"][:1]
        network = {k: v[median:median + 1] for k, v in params.items()}
        f = (forward(network, mults, X) * shared["y_std"][:1] + shared["y_mean"][:1])[0, :, 0]
    train_x = (shared["X_train"][0] * shared["x_std"][0] + shared["x_mean"][0])[:, 0]
    train_y = (shared["y_train"][0] * shared["y_std"][0] + shared["y_mean"][0])[:, 0]
    return grid.numpy(), f.numpy(), train_x.numpy(), train_y.numpy(), float(out["last_test"][median])


def figure_ex_fits_published(chosen, configs, stem):
    """The published ex-fit figure: per configuration, 11 networks retrained at its chosen step on
    one shared data set, and the final function of the median one."""
    shown = ex_results(chosen, configs)
    figure, axes = ex_figure(len(shown))
    for ax, config in zip(axes, shown):
        x, f, train_x, train_y, test = retrain_on_shared_data(chosen[config, "ex"].result)
        handles = ex_panel(ax, x, f, train_x, train_y, "{}/{}/{}: test RMSE {:.3f}".format(*config, test))
    figure.suptitle(f"ex data: the median of {PUBLISHED_EX_RUNS} networks trained on one shared data set, "
                    f"final function after {shared_task(chosen)['epoch_budget']:,} epochs", fontsize=9)
    place_legend(figure, handles)
    save_png_and_pdf(figure, stem)


def figure_kink_cdf(stem, dims=(1, 2, 4, 8, 16, 32, 64), runs=20, width=512, seed=0):
    """CDF of the kink distance |b_i| / ||a_i|| of He networks with unif-neg biases for each d,
    against the U(0, sqrt 3) law of kink-neg-unif (which does not depend on d)."""
    import torch

    figure, axes = panel_figure(1, 1, 6.4, 4.0)
    ax, handles = axes[0, 0], []
    for k, d in enumerate(dims):
        X = torch.zeros(runs, 1, d, dtype=torch.float64)
        params, mults = init_networks("he", "unif-neg", 1.0, X, width, torch.Generator().manual_seed(seed + d))
        distances = np.sort(kink_distances(params, mults).flatten().numpy())
        style = series_style(k)
        handles += ax.plot(distances, np.arange(1, distances.size + 1) / distances.size, color=f"#{style.color}",
                           marker=style.marker, markevery=(k * distances.size // (4 * len(dims)), distances.size // 4),
                           linewidth=LINE_WIDTH_PT, label=f"unif-neg, $d = {d}$")
    handles += ax.plot([0, math.sqrt(3), 4], [0, 1, 1], "--", color=f"#{GUIDE_COLOR}", linewidth=LINE_WIDTH_PT,
                       label="kink-neg-unif (all $d$)")
    ax.set(xlim=(0, 4), ylim=(0, 1.01), xlabel="kink distance to the origin $|b_i| / \\|a_i\\|$", ylabel="CDF")
    ax.grid(True, color="0.9")
    ax.set_title(f"He initialisation: the distribution of the kink distances\n{runs} networks x {width} units "
                 "per d, hidden bias unif-neg or kink-neg-unif", fontsize=9)
    place_legend(figure, handles)
    save_png_and_pdf(figure, stem)


def parse_configs(option, value):
    """Configurations written param/optimizer/bias, comma-separated (the old optimizer name
    sgd-momentum accepted with a warning)."""
    configs = as_list(option, value, lambda o, item: tuple(str(item).split("/")))
    require(all(len(c) == 3 for c in configs), f"--{option} must be param/optimizer/bias items; got {value!r}")
    for old in sorted({c[1] for c in configs} & set(OLD_OPTIMIZERS)):
        warn(f"--{option}: the optimizer {old} is deprecated; use {OLD_OPTIMIZERS[old]}")
    return [(param, OLD_OPTIMIZERS.get(optimizer, optimizer), bias) for param, optimizer, bias in configs]


def write_figures(chosen, target, family, bias, ex_configs, relative_to, published):
    """Every figure of the chosen results into ``target`` (see ``eval_nn_setups.py figures``)."""
    configs = sorted({c for c, _ in chosen}, key=config_order)
    if family_datasets(chosen, family):
        if "zero" in {c[2] for c in configs}:
            figure_rmse_vs_d(chosen, family, "zero", relative_to, target / "nn_plot_zero")
        for param, optimizer in sorted({c[:2] for c in configs}, key=lambda c: config_order((*c, ""))):
            figure_param_optimizer(chosen, family, param, optimizer, relative_to,
                                   target / f"nn_plot_{param}_{optimizer}")
        figure_bias(chosen, family, relative_to, target / "nn_plot_bias")
        figure_rmse_vs_d(chosen, family, bias, "best", target / "rmse_vs_d")
        figure_bias_grid(chosen, family, relative_to, target / "bias_grid")
    if any(d == "ex" for _, d in chosen):
        (figure_ex_fits_published if published else figure_ex_fits)(chosen, ex_configs, target / "ex_fits")
    figure_kink_cdf(target / "kink_cdf")
