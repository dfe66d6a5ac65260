"""Tables and figures from the results of ``run_nn_setups.py sweep``.

For every configuration (parameterisation, optimiser, hidden-bias mode) and data set the step size
with the smallest mean best-validation RMSE (no network diverged) is chosen among all coarse and
fine steps; reported is the mean over networks of the test RMSE at each network's best validation
check, +- its standard error std / sqrt(P - 1).

Commands: ``table`` (printed, CSV, LaTeX/PDF), ``figures`` (PNG and PDF) and ``report`` (both).
"""
import csv
import io
import math
import shutil
from pathlib import Path

import numpy as np

import run_nn_setups as rn
import utils
from custom_paths import results_root


# ============================================================================= loading and choosing
def results_folder(grid, out):
    """--out, else results/nn_setups/<grid>."""
    return Path(out) if out is not None else results_root() / "nn_setups" / grid


def load_results(folder):
    """Every readable result under folder (corrupt files are named on stderr and skipped)."""
    results = [rn.read_result(path) for path in sorted(Path(folder).rglob("step_e*.json"))]
    results = [r for r in results if r is not None]
    utils.require(results, f"no results under {folder}: run `python run_nn_setups.py sweep` first")
    return results


def dataset_order(dataset):
    """Sort key: ex first, then each family by input dimension."""
    family, d = rn.parse_dataset(dataset)
    return rn.FAMILIES.index(family), d


def config_order(config):
    """Sort key of a (param, optimiser, bias label) configuration."""
    param, optimiser, bias = config
    return rn.PARAMETERISATIONS.index(param), rn.OPTIMISERS.index(optimiser), bias


def configuration(task):
    """(param, optimiser, bias label) of a task; the bias label carries a gain other than 1."""
    return task["param"], task["optimiser"], rn.config_label(task).split("_", 2)[2]


def chosen_results(results):
    """{(config, dataset): the chosen result, or None where every step diverged}."""
    groups = {}
    for result in results:
        groups.setdefault((configuration(result["task"]), result["task"]["dataset"]), []).append(result)
    return {key: rn.choose_step(group) for key, group in groups.items()}


def mean_and_se(result):
    """Mean best-test RMSE over networks and its standard error std / sqrt(P - 1)."""
    return result["mean"]["best_test"], result["std"]["best_test"] / math.sqrt(max(result["n_networks"] - 1, 1))


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


def text_table(chosen):
    """A fixed-width text table of mean +- SE per configuration x data set."""
    configs, datasets = table_layout(chosen)
    width = max(len("configuration"), *(len("/".join(c)) for c in configs)) + 2
    lines = ["configuration".ljust(width) + "".join(d.rjust(18) for d in datasets)]
    for config in configs:
        cells = [chosen.get((config, d)) for d in datasets]
        lines.append("/".join(config).ljust(width) + "".join(
            ("diverged" if c is None else "{:.4f} ± {:.4f}".format(*mean_and_se(c))).rjust(18) for c in cells))
    return "\n".join(lines) + "\n"


def csv_table(chosen):
    """CSV, one row per configuration and data set, with the chosen step."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["param", "optimiser", "bias", "dataset", "best_test_rmse", "se", "best_valid_rmse",
                     "lr", "step_exponent", "n_networks", "bayes_rmse"])
    configs, datasets = table_layout(chosen)
    for config in configs:
        for dataset in datasets:
            result = chosen.get((config, dataset), False)
            if result is False:
                continue
            stats = ["", "", "", "", "", "", ""] if result is None else [
                *mean_and_se(result), result["mean"]["best_valid"], result["task"]["lr"],
                result["task"]["step_exponent"], result["n_networks"], result["bayes_rmse"]]
            writer.writerow([*config, dataset, *stats])
    return buffer.getvalue()


def latex_table(chosen):
    """A standalone LaTeX table; each cell shaded from green (the column's best) to red (its
    worst) by its log RMSE."""
    configs, datasets = table_layout(chosen)
    columns = {d: [chosen[c, d]["mean"]["best_test"] if chosen.get((c, d)) else np.nan for c in configs]
               for d in datasets}
    shades = {d: shade(v) for d, v in columns.items()}
    rows = [" & ".join(["param", "optimiser", "bias"] + [r"\texttt{%s}" % d.replace("_", r"\_") for d in datasets])
            + r" \\ \hline"]
    for i, config in enumerate(configs):
        cells = []
        for dataset in datasets:
            result, t = chosen.get((config, dataset)), shades[dataset][i]
            if result is None:
                cells.append("--" if (config, dataset) not in chosen else "div.")
                continue
            red, green = 0.55 + 0.45 * min(1.0, 2 * t), 0.55 + 0.45 * min(1.0, 2 * (1 - t))
            cells.append(r"\colorbox[rgb]{%.3f,%.3f,0.55}{$%.4f \pm %.4f$}" % (red, green, *mean_and_se(result)))
        rows.append(" & ".join([config[0], config[1], config[2]] + cells) + r" \\")
    tabular = ("\\setlength{\\fboxsep}{1.5pt}\n\\begin{tikzpicture}\\node{\\begin{tabular}{lll" + "r" * len(datasets)
               + "}\n" + "\n".join(rows) + "\n\\end{tabular}};\\end{tikzpicture}\n")
    return utils.standalone_tex(tabular)


def table(grid="quick", out=None, compile="auto"):
    """Print the table of best-test RMSE +- SE and write table.txt, table.csv, table.tex (and
    table.pdf where pdflatex exists, --compile auto|yes|no) into the results folder."""
    folder = results_folder(utils.check_choice("grid", grid, tuple(rn.GRIDS)), out)
    utils.check_choice("compile", compile, ("auto", "yes", "no"))
    chosen = chosen_results(load_results(folder))
    text = text_table(chosen)
    print(text, end="")
    utils.save_text(folder / "table.txt", text)
    utils.save_text(folder / "table.csv", csv_table(chosen))
    utils.save_text(folder / "table.tex", latex_table(chosen))
    pdf = utils.compile_tex(folder / "table.tex", compile)
    print(f"wrote {folder / 'table.txt'}, table.csv, table.tex" + (", table.pdf" if pdf else ""))


# ============================================================================= figures
def setup_matplotlib(usetex):
    """Agg backend; LaTeX text when --usetex yes, or auto and latex and dvipng are installed."""
    import matplotlib

    matplotlib.use("Agg")
    utils.check_choice("usetex", usetex, ("auto", "yes", "no"))
    available = shutil.which("latex") is not None and shutil.which("dvipng") is not None
    utils.require(usetex != "yes" or available, "--usetex yes needs latex and dvipng, which are not installed")
    matplotlib.rcParams.update({"text.usetex": usetex == "yes" or (usetex == "auto" and available),
                                "font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7})


def save_figure(fig, path):
    """Write the figure as path.png and path.pdf, atomically."""
    import matplotlib.pyplot as plt

    for suffix in (".png", ".pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], dpi=150, bbox_inches="tight")
        utils.atomic_write(Path(path).with_suffix(suffix), lambda f: f.write(buffer.getvalue()))
    plt.close(fig)


def relative_curves(chosen, family, configs):
    """For each config: (d values, mean / best, SE / best), where 'best' is the smallest mean
    best-test RMSE among ``configs`` on each radial data set of ``family``."""
    datasets = sorted({d for _, d in chosen if rn.parse_dataset(d)[0] == family}, key=dataset_order)
    best = {d: min((chosen[c, d]["mean"]["best_test"] for c in configs if chosen.get((c, d))), default=np.nan)
            for d in datasets}
    curves = {}
    for config in configs:
        points = [(rn.parse_dataset(d)[1], *np.divide(mean_and_se(chosen[config, d]), best[d]))
                  for d in datasets if chosen.get((config, d))]
        if points:
            curves[config] = tuple(np.array(column) for column in zip(*points))
    return curves


def plot_band(ax, curve, label, **style):
    """A curve with a +-2 SE band against d, both axes logarithmic."""
    from matplotlib.ticker import NullLocator

    d, rel, se = curve
    line, = ax.plot(d, rel, marker="o", markersize=3, label=label, **style)
    ax.fill_between(d, rel - 2 * se, rel + 2 * se, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(d, [str(int(v)) for v in d])
    ax.xaxis.set_minor_locator(NullLocator())


def figure_rmse_vs_d(chosen, family, bias, path):
    """Relative mean RMSE against d, one curve per parameterisation and optimiser, for one bias."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen if c[2] == bias}, key=config_order)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    colours = dict(zip(rn.OPTIMISERS, ("tab:blue", "tab:orange", "tab:green")))
    for config, curve in relative_curves(chosen, family, configs).items():
        plot_band(ax, curve, f"{config[0]}, {config[1]}", color=colours[config[1]],
                  linestyle="-" if config[0] == "he" else "--")
    ax.set(xlabel="input dimension $d$", ylabel="mean RMSE / best mean RMSE",
           title=f"{family} data, hidden bias {bias} (bands: $\\pm 2$ SE)")
    ax.legend(ncol=2, handlelength=3)
    save_figure(fig, path)


def figure_bias_grid(chosen, family, path):
    """2 x 3 panels (He/NTK x optimisers), one curve per bias mode, RMSE relative to the best
    configuration of all on each data set."""
    import matplotlib.pyplot as plt

    configs = sorted({c for c, _ in chosen}, key=config_order)
    curves = relative_curves(chosen, family, configs)
    fig, axes = plt.subplots(2, 3, figsize=(9, 5), sharex=True, sharey=True, squeeze=False)
    biases = sorted({c[2] for c in configs})
    for row, param in enumerate(rn.PARAMETERISATIONS):
        for col, optimiser in enumerate(rn.OPTIMISERS):
            ax = axes[row, col]
            for i, bias in enumerate(biases):
                if (param, optimiser, bias) in curves:
                    plot_band(ax, curves[param, optimiser, bias], bias, color=f"C{i}")
            ax.set_title(f"{param.upper() if param == 'ntk' else 'He'}, {optimiser}")
            ax.set_xlabel("$d$" if row == 1 else "")
            ax.set_ylabel("mean RMSE / best" if col == 0 else "")
    handles, labels = next((ax.get_legend_handles_labels() for ax in axes.flat if ax.lines), ([], []))
    fig.legend(handles, labels, loc="lower center", ncol=len(biases), title="hidden-bias initialisation",
               bbox_to_anchor=(0.5, -0.08), handlelength=3)
    fig.suptitle(f"{family} data: best-test RMSE relative to the best configuration ($\\pm 2$ SE bands)")
    fig.tight_layout()
    save_figure(fig, path)


def figure_ex_fits(chosen, configs, path):
    """The ex training data of the median network and its function at the best validation
    check, one panel per configuration."""
    import matplotlib.pyplot as plt

    shown = [c for c in configs if chosen.get((c, "ex")) and "curve" in chosen[c, "ex"]]
    utils.require(shown, "--ex_configs: none of them has ex results")
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.6 * rows), squeeze=False)
    grid = np.linspace(-rn.CURVE_RANGE, rn.CURVE_RANGE, rn.CURVE_POINTS)
    for ax, config in zip(axes.flat, shown):
        result = chosen[config, "ex"]
        curve = result["curve"]
        ax.scatter(curve["train_x"], curve["train_y"], s=3, color="0.6", label="training data")
        ax.plot(grid, rn.ex_regression_function(grid), "k--", linewidth=0.8, label="$E[y|x]$")
        ax.plot(curve["x"], np.array(curve["f"], dtype=float), color="tab:red", linewidth=1.2, label="median network")
        ax.set_title("{}/{}/{}: RMSE {:.3f} $\\pm$ {:.3f}".format(*config, *mean_and_se(result)))
        ax.set(xlim=(-1.45, 1.45), xticks=(-1, 0, 1), xlabel="$x$",
               ylim=(min(curve["train_y"]) - 0.7, max(curve["train_y"]) + 0.7))
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper center")
    fig.tight_layout()
    save_figure(fig, path)


def figure_kink_cdf(path, dims=(1, 2, 4, 8, 16, 32, 64), n_networks=20, width=512, seed=0):
    """CDF of the kink distance |b| / ||w|| of He networks with unif-neg biases for each d,
    against the U(0, sqrt 3) law of kink-neg-unif (which does not depend on d)."""
    import matplotlib.pyplot as plt
    import torch

    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(dims)))
    for d, colour in zip(dims, colours):
        X = torch.zeros(n_networks, 1, d, dtype=torch.float64)
        params, mults = rn.init_networks("he", "unif-neg", 1.0, X, width, torch.Generator().manual_seed(seed + d))
        distances = np.sort(rn.kink_distances(params, mults).flatten().numpy())
        ax.plot(distances, np.arange(1, distances.size + 1) / distances.size, color=colour, label=f"unif-neg, $d={d}$")
    ax.plot([0, math.sqrt(3), 4], [0, 1, 1], "k--", label="kink-neg-unif (all $d$)")
    ax.set(xlim=(0, 4), ylim=(0, 1.01), xlabel="kink distance to the origin $|b_i| / \\|w_i\\|$",
           ylabel="CDF", title="He initialisation: distribution of kink distances")
    ax.legend(loc="lower right")
    save_figure(fig, path)


def parse_configs(option, value):
    """Configurations written param/optimiser/bias, comma-separated."""
    configs = utils.as_list(option, value, lambda o, item: tuple(str(item).split("/")))
    utils.require(all(len(c) == 3 for c in configs), f"--{option} must be param/optimiser/bias items; got {value!r}")
    return configs


def figures(grid="quick", out=None, family="radial", bias=None, ex_configs=None, usetex="auto"):
    """Write the figures (PNG and PDF) into <results folder>/figures: rmse_vs_d (--bias, default
    the first of zero or any present), bias_grid, ex_fits (--ex_configs param/optimiser/bias,...,
    default all with that bias) and kink_cdf. --family: radial or rbf."""
    folder = results_folder(utils.check_choice("grid", grid, tuple(rn.GRIDS)), out)
    utils.check_choice("family", family, ("radial", "rbf"))
    setup_matplotlib(usetex)
    chosen = chosen_results(load_results(folder))
    configs = sorted({c for c, _ in chosen}, key=config_order)
    present = sorted({c[2] for c in configs})
    bias = bias if bias is not None else ("zero" if "zero" in present else present[0])
    utils.check_choice("bias", bias, present)
    ex_configs = [c for c in configs if c[2] == bias] if ex_configs is None else parse_configs("ex_configs", ex_configs)
    target = folder / "figures"
    if any(rn.parse_dataset(d)[0] == family for _, d in chosen):
        figure_rmse_vs_d(chosen, family, bias, target / "rmse_vs_d")
        figure_bias_grid(chosen, family, target / "bias_grid")
    if any(d == "ex" for _, d in chosen):
        figure_ex_fits(chosen, ex_configs, target / "ex_fits")
    figure_kink_cdf(target / "kink_cdf")
    print(f"wrote figures to {target}")


def report(grid="quick", out=None, compile="auto", family="radial", bias=None, ex_configs=None, usetex="auto"):
    """The table and all figures."""
    table(grid, out, compile)
    figures(grid, out, family, bias, ex_configs, usetex)


if __name__ == "__main__":
    utils.run_cli({"table": table, "figures": figures, "report": report})
