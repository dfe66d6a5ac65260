"""Tables and figures from the results of ``run_nn_setups.py sweep``.

For every configuration (parameterisation, optimizer, hidden-bias mode) and data set the step size
with the smallest mean best-validation RMSE (no network diverged) is chosen among all steps tried;
reported is the mean over the P networks of the test RMSE at each network's best validation check,
+- its standard error s / sqrt(P) (s the sample standard deviation, ddof 1). A chosen step with no
tried step on one side of it is marked as unbracketed.

Commands: ``table`` (printed, CSV, LaTeX/PDF), ``figures`` (PNG and PDF) and ``report`` (both).
"""
import math
import shutil
import sys
from pathlib import Path

import numpy as np

import run_nn_setups as rn
from kinks.checks import as_list, check_choice, require
from kinks.figures import compile_tex, save_png_and_pdf, standalone_tex, tex_escape
from kinks.files import save_csv, save_text
from kinks.nets import torch_dtype
import utils
from custom_paths import results_root


# ============================================================================= loading and choosing
def input_folder(grid, input, results):
    """--input, else <results root>/nn_setups/<grid>."""
    root = Path(results) if results is not None else results_root()
    return Path(input) if input is not None else root / "nn_setups" / grid


def load_results(folder):
    """Every readable result under folder (corrupt files are named on stderr and skipped); results
    of different shared settings (run_nn_setups.SHARED_SETTINGS) are refused, naming the difference."""
    results = []
    for path in sorted(Path(folder).rglob("step_e*.json")):
        try:
            results.append(rn.read_result(path))
        except rn.ResultError as error:
            print(f"skipping corrupt result file {error}", file=sys.stderr)
    require(results, f"--input {folder}: no results there; run `python run_nn_setups.py sweep` first")
    first = {k: results[0]["task"].get(k) for k in rn.SHARED_SETTINGS}
    for result in results[1:]:
        diff = rn.settings_differences(first, {k: result["task"].get(k) for k in rn.SHARED_SETTINGS})
        require(not diff, f"--input {folder} mixes results of different settings ({'; '.join(diff)}); "
                                f"evaluate each sweep folder on its own")
    return results


def dataset_order(dataset):
    """Sort key: ex first, then each family by input dimension."""
    family, d = rn.parse_dataset(dataset)
    return rn.FAMILIES.index(family), d


def config_order(config):
    """Sort key of a (param, optimizer, bias label) configuration."""
    param, optimizer, bias = config
    return rn.PARAMETERISATIONS.index(param), rn.OPTIMIZERS.index(optimizer), bias


def configuration(task):
    """(param, optimizer, bias label) of a task; the bias label carries a gain other than 1."""
    return task["param"], task["optimizer"], rn.config_label(task).split("_", 2)[2]


class Choice:
    """The chosen step of one configuration on one data set: ``result`` (None where every step
    diverged) and whether it is ``bracketed`` by tried steps on both sides."""

    def __init__(self, results):
        self.result = rn.choose_step(results)
        self.bracketed = self.result is not None and rn.bracketed(self.result, results)


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


def runs_of(chosen):
    """The number of networks per configuration and step (the same for all, by load_results)."""
    return next(c.result["runs"] for c in chosen.values() if c.result is not None)


def quantity(chosen):
    """What a table cell shows, in words."""
    return (f"test RMSE at the best validation check, mean ± SE over {runs_of(chosen)} runs "
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
    n_columns = 3 + len(datasets)
    tabular = ("\\setlength{\\fboxsep}{1.5pt}\n\\begin{tikzpicture}\\node{\\begin{tabular}{lll" + "r" * len(datasets)
               + "}\n\\multicolumn{%d}{p{%dem}}{%s} \\\\[2pt]\n" % (n_columns, 9 * n_columns, caption)
               + "\n".join(rows) + "\n\\end{tabular}};\\end{tikzpicture}\n")
    return standalone_tex(tabular)


def table(grid="quick", input=None, results=None, out=None, compile="auto"):
    """Print the table of test RMSE at the best validation check (mean ± SE) and write table.txt,
    table.csv, table.tex and, where pdflatex exists, table.pdf.

    Args:
        grid: quick (default) or paper: the default --input.
        input: sweep folder read (default <results>/nn_setups/<grid>).
        results: results root (default $KINKS_RESULTS or ./results).
        out: folder written (default --input).
        compile: auto (default: compile where pdflatex exists), yes or no.
    """
    folder = input_folder(check_choice("grid", grid, tuple(rn.GRIDS)), input, results)
    check_choice("compile", compile, ("auto", "yes", "no"))
    chosen = chosen_results(load_results(folder))
    target = Path(out) if out is not None else folder
    text = text_table(chosen)
    print(text, end="")
    save_text(target / "table.txt", text)
    save_csv(target / "table.csv", csv_records(chosen), CSV_COLUMNS)
    save_text(target / "table.tex", latex_table(chosen))
    pdf = compile_tex(target / "table.tex", compile)
    print(f"wrote {target / 'table.txt'}, table.csv, table.tex" + (", table.pdf" if pdf else ""))


# ============================================================================= figures
def setup_matplotlib(usetex):
    """Agg backend; LaTeX text when --usetex yes, or auto and latex and dvipng are installed."""
    import matplotlib

    matplotlib.use("Agg")
    check_choice("usetex", usetex, ("auto", "yes", "no"))
    available = shutil.which("latex") is not None and shutil.which("dvipng") is not None
    require(usetex != "yes" or available, "--usetex yes needs latex and dvipng, which are not installed")
    matplotlib.rcParams.update({"text.usetex": usetex == "yes" or (usetex == "auto" and available),
                                "font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7, "pdf.fonttype": 42})


def save_figure(fig, path):
    """Write the figure as path.png and path.pdf (cropped to its content), atomically."""
    import matplotlib.pyplot as plt

    save_png_and_pdf(fig, path, tight=True)
    plt.close(fig)


def family_datasets(chosen, family):
    """The data sets of ``family`` present, by dimension."""
    return sorted({d for _, d in chosen if rn.parse_dataset(d)[0] == family}, key=dataset_order)


def reference_means(chosen, datasets, configs):
    """Per data set, the smallest mean best-test RMSE among ``configs`` (NaN where none has one)."""
    return {d: min((chosen[c, d].result["mean"]["best_test"] for c in configs
                    if (c, d) in chosen and chosen[c, d].result), default=np.nan) for d in datasets}


def curve(chosen, config, datasets, reference):
    """(d values, mean / reference, SE / reference) of one configuration, over the data sets where
    it and its reference have a result; None if there are none. reference: {dataset: RMSE}."""
    points = [(rn.parse_dataset(d)[1], *np.divide(mean_and_se(chosen[config, d].result), reference[d]))
              for d in datasets if (config, d) in chosen and chosen[config, d].result and np.isfinite(reference[d])]
    return tuple(np.array(column) for column in zip(*points)) if points else None


def relative_curves(chosen, family, configs, relative_to):
    """{config: curve} of ``configs`` on the family's data sets, each relative to
    'zero': the zero-bias configuration of the same parameterisation and optimizer,
    'best': the best of ``configs`` on each data set,
    'none': absolute RMSE."""
    datasets = family_datasets(chosen, family)
    curves = {}
    for config in configs:
        if relative_to == "zero":
            reference = reference_means(chosen, datasets, [(config[0], config[1], "zero")])
        elif relative_to == "best":
            reference = reference_means(chosen, datasets, configs)
        else:
            reference = dict.fromkeys(datasets, 1.0)
        curves[config] = curve(chosen, config, datasets, reference)
    return {c: v for c, v in curves.items() if v is not None}


def plot_band(ax, points, label, **style):
    """A curve with a +-2 SE band against d, both axes logarithmic."""
    from matplotlib.ticker import NullLocator

    d, rel, se = points
    line, = ax.plot(d, rel, marker="o", markersize=3, label=label, **style)
    ax.fill_between(d, rel - 2 * se, rel + 2 * se, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(d, [str(int(v)) for v in d])
    ax.xaxis.set_minor_locator(NullLocator())


OPTIMIZER_COLOURS = dict(zip(rn.OPTIMIZERS, ("#0072B2", "#E69F00", "#009E73")))  # Okabe-Ito, colour-blind safe
RELATIVE_LABELS = {"zero": "mean RMSE / zero-bias RMSE", "best": "mean RMSE / best mean RMSE", "none": "mean RMSE"}


def note(chosen):
    """The figure note: what is shown and over how many runs."""
    return f"test RMSE at the best validation check; mean over {runs_of(chosen)} runs, bands ±2 SE"


def figure_rmse_vs_d(chosen, family, bias, relative_to, path):
    """Mean RMSE against d, one curve per parameterisation and optimizer, for one bias."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen if c[2] == bias}, key=config_order)
    relative_to = "none" if relative_to == "zero" and bias == "zero" else relative_to
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for config, points in relative_curves(chosen, family, configs, relative_to).items():
        plot_band(ax, points, f"{config[0]}, {config[1]}", color=OPTIMIZER_COLOURS[config[1]],
                  linestyle="-" if config[0] == "he" else "--")
    ax.set(xlabel="input dimension $d$", ylabel=RELATIVE_LABELS[relative_to],
           title=f"{family} data, hidden bias {bias}\n{note(chosen)}")
    ax.legend(ncol=2, handlelength=3)
    save_figure(fig, path)


def figure_bias_grid(chosen, family, relative_to, path):
    """2 x 3 panels (He/NTK x optimizers), one curve per bias mode."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen}, key=config_order)
    curves = relative_curves(chosen, family, configs, relative_to)
    fig, axes = plt.subplots(2, 3, figsize=(9, 5), sharex=True, sharey=True, squeeze=False)
    biases = sorted({c[2] for c in configs})
    for row, param in enumerate(rn.PARAMETERISATIONS):
        for col, optimizer in enumerate(rn.OPTIMIZERS):
            ax = axes[row, col]
            for i, bias in enumerate(biases):
                if (param, optimizer, bias) in curves:
                    plot_band(ax, curves[param, optimizer, bias], bias, color=f"C{i}")
            ax.set_title(f"{param.upper() if param == 'ntk' else 'He'}, {optimizer}")
            ax.set_xlabel("$d$" if row == 1 else "")
            ax.set_ylabel(RELATIVE_LABELS[relative_to] if col == 0 else "")
    handles, labels = next((ax.get_legend_handles_labels() for ax in axes.flat if ax.lines), ([], []))
    fig.legend(handles, labels, loc="lower center", ncol=len(biases), title="hidden-bias initialisation",
               bbox_to_anchor=(0.5, -0.08), handlelength=3)
    fig.suptitle(f"{family} data: {RELATIVE_LABELS[relative_to]} ({note(chosen)})")
    fig.tight_layout()
    save_figure(fig, path)


def figure_param_optimizer(chosen, family, param, optimizer, relative_to, path):
    """The published per-(parameterisation, optimizer) figure: one curve per bias mode against d,
    relative to this pair's zero-bias curve (relative_to 'zero') or to the best configuration."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen if c[:2] == (param, optimizer)}, key=config_order)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for i, (config, points) in enumerate(relative_curves(chosen, family, configs, relative_to).items()):
        plot_band(ax, points, config[2], color=f"C{i}")
    ax.set(xlabel="input dimension $d$", ylabel=RELATIVE_LABELS[relative_to],
           title=f"{family} data, {param}, {optimizer}\n{note(chosen)}")
    ax.legend(title="hidden bias", ncol=2)
    save_figure(fig, path)


def figure_bias(chosen, family, relative_to, path):
    """The published bias figure: per bias mode, its best parameterisation and optimizer on each
    data set, relative to the best zero-bias configuration there (relative_to 'zero') or to the
    best configuration of all ('best')."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen}, key=config_order)
    datasets = family_datasets(chosen, family)
    zero = [c for c in configs if c[2] == "zero"]
    reference = reference_means(chosen, datasets, zero if relative_to == "zero" else configs)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for i, bias in enumerate(sorted({c[2] for c in configs})):
        best = {d: min((c for c in configs if c[2] == bias and (c, d) in chosen and chosen[c, d].result),
                       key=lambda c: chosen[c, d].result["mean"]["best_test"], default=None) for d in datasets}
        points = [(rn.parse_dataset(d)[1], *np.divide(mean_and_se(chosen[c, d].result), reference[d]))
                  for d, c in best.items() if c is not None and np.isfinite(reference[d])]
        if points:
            plot_band(ax, tuple(np.array(column) for column in zip(*points)), bias, color=f"C{i}")
    ylabel = "best mean RMSE / best zero-bias" if relative_to == "zero" else "best mean RMSE / best of all"
    ax.set(xlabel="input dimension $d$", ylabel=ylabel,
           title=f"{family} data: best parameterisation and optimizer per bias\n{note(chosen)}")
    ax.legend(title="hidden bias", ncol=2)
    save_figure(fig, path)


def ex_panel(ax, x, f, train_x, train_y, title):
    """One ex panel: training data, E[y|x] and a network's function."""
    grid = np.linspace(-rn.CURVE_RANGE, rn.CURVE_RANGE, rn.CURVE_POINTS)
    ax.scatter(train_x, train_y, s=3, color="0.6", label="training data")
    ax.plot(grid, rn.ex_regression_function(grid), "k--", linewidth=0.8, label="$E[y|x]$")
    ax.plot(x, np.array(f, dtype=float), color="#D55E00", linewidth=1.2, label="median network")
    ax.set_title(title)
    ax.set(xlim=(-1.45, 1.45), xticks=(-1, 0, 1), xlabel="$x$", ylim=(min(train_y) - 0.7, max(train_y) + 0.7))


def panel_figure(n_panels):
    """A figure with up to 3 panels per row; returns (fig, axes) with unused axes switched off."""
    import matplotlib.pyplot as plt

    cols = min(3, n_panels)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return fig, axes.flat[:n_panels]


def figure_ex_fits(chosen, configs, path):
    """The ex training data of the sweep's median network and its function at the best validation
    check, one panel per configuration."""
    shown = [c for c in configs if (c, "ex") in chosen and chosen[c, "ex"].result and "curve" in chosen[c, "ex"].result]
    require(shown, "--ex_configs: none of them has ex results")
    fig, axes = panel_figure(len(shown))
    for ax, config in zip(axes, shown):
        result = chosen[config, "ex"].result
        c = result["curve"]
        ex_panel(ax, c["x"], c["f"], c["train_x"], c["train_y"],
                 "{}/{}/{}: RMSE {:.3f} $\\pm$ {:.3f}".format(*config, *mean_and_se(result)))
    axes[0].legend(loc="upper center")
    fig.suptitle(f"median of {runs_of(chosen)} networks (own data each), function at the best validation check")
    fig.tight_layout()
    save_figure(fig, path)


PUBLISHED_EX_RUNS = 11


def retrain_on_shared_data(result, runs=PUBLISHED_EX_RUNS, seed=0):
    """As published: ``runs`` networks of the result's configuration and chosen step, trained on ONE
    shared ex training set (own initialisations and batch orders, drawn from ``seed``); returns
    (x grid, the final function of the network with the median final test RMSE, the shared
    training data x and y, that RMSE)."""
    import torch

    task = result["task"]
    dtype = torch_dtype(task["dtype"])
    one = rn.make_datasets("ex", 1, task["n_train"], task["n_valid"], task["n_test"], seed, dtype=torch.float64)
    shared = {k: v if k == "bayes_rmse" else v.expand(runs, *v.shape[1:]).contiguous() for k, v in one.items()}
    generator = torch.Generator().manual_seed(seed)
    params, mults = rn.init_networks(task["param"], task["bias"], task["bias_gain"], shared["X_train"],
                                     task["width"], generator)
    shared = {k: v if k == "bayes_rmse" else v.to(dtype) for k, v in shared.items()}
    params = {k: v.to(dtype) for k, v in params.items()}
    out = rn.train_networks(params, mults, shared, task["optimizer"], task["lr"], task["n_epochs"],
                            task["valid_every"], task["batch_size"],
                            rn.epoch_orders(runs, task["n_train"], generator, "cpu"))
    median = int(torch.argsort(out["last_test"])[runs // 2])
    grid = torch.linspace(-rn.CURVE_RANGE, rn.CURVE_RANGE, rn.CURVE_POINTS, dtype=dtype)
    with torch.no_grad():
        X = (grid[None, :, None] - shared["x_mean"][:1]) / shared["x_std"][:1]
        network = {k: v[median:median + 1] for k, v in params.items()}
        f = (rn.forward(network, mults, X) * shared["y_std"][:1] + shared["y_mean"][:1])[0, :, 0]
    train_x = (shared["X_train"][0] * shared["x_std"][0] + shared["x_mean"][0])[:, 0]
    train_y = (shared["y_train"][0] * shared["y_std"][0] + shared["y_mean"][0])[:, 0]
    return grid.numpy(), f.numpy(), train_x.numpy(), train_y.numpy(), float(out["last_test"][median])


def figure_ex_fits_published(chosen, configs, path):
    """The published ex-fit figure: per configuration, 11 networks retrained at its chosen step on
    one shared data set, and the final function of the median one."""
    shown = [c for c in configs if (c, "ex") in chosen and chosen[c, "ex"].result]
    require(shown, "--ex_configs: none of them has ex results")
    fig, axes = panel_figure(len(shown))
    for ax, config in zip(axes, shown):
        x, f, train_x, train_y, test = retrain_on_shared_data(chosen[config, "ex"].result)
        ex_panel(ax, x, f, train_x, train_y, "{}/{}/{}: test RMSE {:.3f}".format(*config, test))
    axes[0].legend(loc="upper center")
    fig.suptitle(f"median of {PUBLISHED_EX_RUNS} networks trained on one shared data set, final function")
    fig.tight_layout()
    save_figure(fig, path)


def figure_kink_cdf(path, dims=(1, 2, 4, 8, 16, 32, 64), runs=20, width=512, seed=0):
    """CDF of the kink distance |b| / ||w|| of He networks with unif-neg biases for each d,
    against the U(0, sqrt 3) law of kink-neg-unif (which does not depend on d)."""
    import matplotlib.pyplot as plt
    import torch

    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(dims)))
    for d, colour in zip(dims, colours):
        X = torch.zeros(runs, 1, d, dtype=torch.float64)
        params, mults = rn.init_networks("he", "unif-neg", 1.0, X, width, torch.Generator().manual_seed(seed + d))
        distances = np.sort(rn.kink_distances(params, mults).flatten().numpy())
        ax.plot(distances, np.arange(1, distances.size + 1) / distances.size, color=colour, label=f"unif-neg, $d={d}$")
    ax.plot([0, math.sqrt(3), 4], [0, 1, 1], "k--", label="kink-neg-unif (all $d$)")
    ax.set(xlim=(0, 4), ylim=(0, 1.01), xlabel="kink distance to the origin $|b_i| / \\|w_i\\|$",
           ylabel="CDF", title=f"He initialisation: distribution of kink distances ({runs} × {width} units)")
    ax.legend(loc="lower right")
    save_figure(fig, path)


def parse_configs(option, value):
    """Configurations written param/optimizer/bias, comma-separated."""
    configs = as_list(option, value, lambda o, item: tuple(str(item).split("/")))
    require(all(len(c) == 3 for c in configs), f"--{option} must be param/optimizer/bias items; got {value!r}")
    return configs


def figures(grid="quick", input=None, results=None, out=None, family="radial", bias=None, ex_configs=None,
            relative_to="zero", published=False, usetex="auto"):
    """Write the figures (PNG and PDF) into <out>/figures.

    The published set: nn_plot_zero (the zero-bias configurations, absolute RMSE), one
    nn_plot_<param>_<optimizer> per parameterisation and optimizer (a curve per bias mode) and
    nn_plot_bias (the best configuration per bias mode), each relative to --relative_to. Also
    rmse_vs_d (the configurations with --bias), bias_grid (all in 2 x 3 panels), ex_fits (the
    sweep's median network per --ex_configs, at its best validation check; with --published the
    published version, 11 networks retrained on one shared data set) and kink_cdf.

    Args:
        grid: quick (default) or paper: the default --input.
        input: sweep folder read (default <results>/nn_setups/<grid>).
        results: results root (default $KINKS_RESULTS or ./results).
        out: folder written (default --input).
        family: radial (default) or rbf: the data sets plotted against d.
        bias: bias mode of rmse_vs_d and of the default --ex_configs (default zero if present, else the first).
        ex_configs: comma list of param/optimizer/bias (default all with --bias).
        relative_to: zero (default, as published: each curve relative to the zero-bias curve of its
            parameterisation and optimizer) or best (relative to the best configuration on each data set).
        published: ex_fits as published (retrains 11 networks per configuration): yes or no (default).
        usetex: auto (default: LaTeX text where latex and dvipng are installed), yes or no.
    """
    folder = input_folder(check_choice("grid", grid, tuple(rn.GRIDS)), input, results)
    check_choice("family", family, ("radial", "rbf"))
    check_choice("relative_to", relative_to, ("zero", "best"))
    published = check_choice("published", published, (True, False, "yes", "no")) in (True, "yes")
    setup_matplotlib(usetex)
    chosen = chosen_results(load_results(folder))
    configs = sorted({c for c, _ in chosen}, key=config_order)
    present = sorted({c[2] for c in configs})
    bias = bias if bias is not None else ("zero" if "zero" in present else present[0])
    check_choice("bias", bias, present)
    require(relative_to != "zero" or "zero" in present, "--relative_to zero needs zero-bias results; "
                  "sweep --biases with zero, or use --relative_to best")
    ex_configs = [c for c in configs if c[2] == bias] if ex_configs is None else parse_configs("ex_configs", ex_configs)
    target = (Path(out) if out is not None else folder) / "figures"
    if family_datasets(chosen, family):
        if "zero" in present:
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
    print(f"wrote figures to {target}")


def report(grid="quick", input=None, results=None, out=None, compile="auto", family="radial", bias=None,
           ex_configs=None, relative_to="zero", published=False, usetex="auto"):
    """The table and all figures; the options are those of `table` and `figures`.

    Args:
        grid: quick (default) or paper: the default --input.
        input: sweep folder read (default <results>/nn_setups/<grid>).
        results: results root (default $KINKS_RESULTS or ./results).
        out: folder written (default --input).
        compile: auto (default), yes or no: compile table.tex with pdflatex.
        family: radial (default) or rbf.
        bias: bias mode of rmse_vs_d and the default --ex_configs (default zero if present).
        ex_configs: comma list of param/optimizer/bias (default all with --bias).
        relative_to: zero (default) or best.
        published: ex_fits as published: yes or no (default).
        usetex: auto (default), yes or no.
    """
    table(grid, input, results, out, compile)
    figures(grid, input, results, out, family, bias, ex_configs, relative_to, published, usetex)


if __name__ == "__main__":
    utils.run_cli({"table": table, "figures": figures, "report": report})
