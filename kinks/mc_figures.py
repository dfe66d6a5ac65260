"""The figures of the 1-D study, all on the shared palette and figure stack of ``kinks.figures``:
the crossing probability against n, the probability of the theorem's event and the theory against
experiment figure (``ErrorBarPlot``s, written as PNG and pgfplots by ``write_plot``), the two example networks, the risk against n and
the diagnose figures (Hessian spectra, extremes, lines, interpolation), whose legends sit inside
their axes or below them (``place_legend``), never beyond the figure's edge."""
import textwrap
from pathlib import Path

import numpy as np

from kinks.data import X_DATA, Y_DATA, DataSet, SampleRule, network_output
from kinks.figures import (
    GUIDE_COLOR, LINE_WIDTH_PT, ErrorBarPlot, Guide, Series, new_figure, place_legend, plain_log_ticks,
    save_png_and_pdf, series_style)
from kinks.minima import EXAMPLE_EPOCHS, example_pair, side_fits, train_example
from kinks.theory import EVENT_CONDITIONS

# ============================================================================ crossing probability
GUIDE_FACTOR = 2.0  # the paper's guide line 2 n^(-1/2)
DODGE = 1.05  # neighbouring series at one width are drawn at n / DODGE, n, n DODGE, ... (log axis)
FIGURE_NAME = "crossing_probability"


def plotted_points(group):
    """(widths, p_hat, lower, upper) arrays of the rows with p_hat > 0 (a log axis cannot show 0)."""
    shown = [row for row in group if row["p_hat"] > 0]
    return tuple(np.array([row[key] for row in shown]) for key in ("width", "p_hat", "ci_low", "ci_high"))


def count_text(values, unit):
    """'500 runs' for one value, '20-500 runs' for several (en dash)."""
    low, high = min(values), max(values)
    return f"{low:,} {unit}" if low == high else f"{low:,}–{high:,} {unit}"


def figure_note(runs, rows, shared=()):
    """The lines stating what the figure shows: the estimate and its interval, the networks per
    point and the epoch budget (epochs per check x checks) of the runs shown, and the settings
    ``shared`` by every run compared (``crossing.shared_parts``), which their legend entries omit."""
    budgets = [run["config"]["epochs_per_check"] * run["config"]["max_checks"] for run in runs]
    lines = [r"$\hat p$ with 95 % Clopper–Pearson intervals, " + count_text([row["runs"] for row in rows], "runs")
             + " per point",
             "at most " + count_text(budgets, "epochs") + " per network; series offset horizontally"]
    return lines + ([f"every run: {', '.join(shared)}"] if shared else [])


def y_range(rows):
    """(y_min, y_max) of the log y axis: every interval shown and the guide line, with a margin."""
    widths = np.array(sorted({row["width"] for row in rows}), float)
    guide = GUIDE_FACTOR / np.sqrt(widths)
    shown = [row for row in rows if row["p_hat"] > 0]
    low = min([row["ci_low"] for row in shown] + [guide.min()])
    high = max([row["ci_high"] for row in shown] + [guide.max()])
    return low / 1.25, high * 1.25


def crossing_plot(groups, labels, notes):
    """The crossing-probability figure: per (run, offset) the estimates p_hat > 0 with their 95 %
    intervals against n (log-log, series dodged by DODGE), and the paper's guide line 2 / sqrt(n).
    groups: {(run, offset): rows sorted by width} (``crossing.series``); labels: the legend text
    per key (``crossing.series_labels``); notes: the title lines (``figure_note``)."""
    rows = [row for group in groups.values() for row in group]
    series = [Series(labels[key], *plotted_points(group)) for key, group in groups.items()]
    guide = Guide(r"$2/\sqrt{n}$", lambda n: GUIDE_FACTOR / np.sqrt(n), f"{GUIDE_FACTOR:g}/sqrt(x)")
    return ErrorBarPlot(series, "width $n$", r"estimated crossing probability $\hat p$", notes, log_y=True,
                        x_ticks=sorted({row["width"] for row in rows}), y_range=y_range(rows), guides=[guide],
                        dodge=DODGE)


# ============================================================================ the theorem's event
def samples_axis_text(samples=None):
    """'$N = n^2$ samples' (the text the paper's figures had), or the label of another SampleRule."""
    samples = samples or SampleRule()
    return "$N = n^2$ samples" if samples.text == SampleRule.DEFAULT else f"{samples.label()} samples"


EVENT_DODGE = 1.04  # the conditions' points at one width side by side: lines that coincide stay visible


def event_plot(rows, notes, samples=None):
    """The probability of the theorem's event against n (log x): the joint fraction (series 0) and
    the fraction of each condition W2 ... D2, each with its 95 % Clopper-Pearson interval, in its own
    colour and marker, dodged so that series with equal fractions stay visible (with the paper's
    settings W5 and W6 near 1, W2, W3 and the joint near 0). rows: ``theory.event_rows``; notes: the
    title lines; samples: the SampleRule of the draws (default n^2), named on the x axis."""
    n = np.array([row["n"] for row in rows])
    series = [Series(name if name != "joint" else "joint: all conditions", n,
                     *(np.array([row[f"{name}{suffix}"] for row in rows]) for suffix in ("_frac", "_low", "_high")))
              for name in ("joint",) + EVENT_CONDITIONS]
    return ErrorBarPlot(series, f"width $n$ ({samples_axis_text(samples)})", "fraction of runs", notes,
                        y_range=(-0.03, 1.03), dodge=EVENT_DODGE)


# ============================================================================ theory against experiment
THEORY_NAME = "theory_vs_experiment"


def theory_note(rows, event_runs, epsilon, gamma):
    """The title lines of the theory-against-experiment figure of ``rows`` (``crossing.theory_rows``):
    the event's epsilon, gamma and draws per n, the Monte Carlo runs per point, the setting and the
    interval level."""
    return [rf"$\varepsilon$ = {epsilon:g}, $\gamma$ = {gamma:g}; event: {event_runs:,} draws per $n$, "
            "Monte Carlo: " + count_text([row["runs"] for row in rows], "runs") + " per point",
            "gd, theory step, $\\Delta$ = 0, the paper's data; 95 % Clopper–Pearson intervals"]


def theory_plot(rows, notes):
    """The theorem against the Monte Carlo runs, per run in the theorem's setting (its N rule named
    in the legend when several are shown): the stuck fraction 1 - p_hat (solid), the event
    probability with r = 1 (solid, the next style) and r = 10 (dashed, the same style), each with its
    95 % Clopper-Pearson interval, against n (log x, dodged). The event is a lower bound of the
    probability of staying put, so its curves lie below the stuck fraction where the theorem holds.
    rows: ``crossing.theory_rows``; notes: the title lines."""
    runs = list(dict.fromkeys(row["run"] for row in rows))
    several = len(runs) > 1
    series = []
    for run in runs:
        own = [row for row in rows if row["run"] == run]
        name = f"{SampleRule(own[0]['samples']).label()}: " if several else ""
        n = [row["width"] for row in own]
        series.append(Series(f"{name}stuck, $1-\\hat p$ (Monte Carlo)", n,
                             *([row[key] for row in own] for key in ("stuck", "stuck_low", "stuck_high"))))
        for r, dashed in ((1, False), (10, True)):
            series.append(Series(f"{name}theorem's event, $r$ = {r}", n,
                                 *([row[f"event_r{r}{suffix}"] for row in own] for suffix in ("", "_low", "_high")),
                                 dashed=dashed))
    axis = samples_axis_text(SampleRule(rows[0]["samples"])) if not several else "$N$ as in the legend"
    return ErrorBarPlot(series, f"width $n$ ({axis})", "fraction of runs", notes, y_range=(-0.03, 1.03),
                        dodge=EVENT_DODGE)


# ============================================================================ examples
def panels(width, height, rows=1, columns=2, **subplots):
    """A figure of rows x columns axes (constrained layout, no pyplot): (figure, axes array)."""
    figure, _ = new_figure(width, height)
    figure.clear()
    return figure, figure.subplots(rows, columns, squeeze=False, **subplots)


def color(k):
    """The matplotlib colour of series k of the shared palette (``series_style``)."""
    return f"#{series_style(k).color}"


def kind_color(status):
    """Series 0 (stayed put) or 1 (crossed) of the shared palette, as in the diagnose figures."""
    return color(int(status == "CROSSED"))


def example_title(figure, examples, shows):
    """The figure's title: what it shows and how the two networks were trained."""
    width, epochs = examples[0]["kinks"].shape[1], len(examples[0]["loss"]) - 1
    figure.suptitle(f"{shows}\ntwo networks of width n = {width} on the same data weights p (the paper's six "
                    f"points, Δ = 0), gd with the theory step for {epochs:,} epochs", fontsize=9)


def panel_title(status, first_cross):
    """What became of one example network, as the title of its panel."""
    if status == "CROSSED":
        return f"crossed: a kink reached a data point at epoch {first_cross:,}"
    return "stayed put: no kink reached a data point" + (" (certified)" if status == "LOCALLY_CONVERGED" else "")


def example_networks_figure(p, examples, outcomes):
    """Side by side, the network that stayed put and the one that crossed, on the same data
    (marker area proportional to p_j): the function at initialisation and at the last epoch, its
    kinks -b_i / a_i in [-4, 4] (ticks at the top) and the side-wise least-squares lines of p."""
    figure, (axes,) = panels(11, 4.2, sharey=True)
    grid = np.linspace(-4, 4, 801)
    slopes, intercepts, floor = side_fits(X_DATA, Y_DATA, p[None])
    for ax, example, (status, first_cross) in zip(axes, examples, outcomes):
        last = max(example["params"])
        for epoch, style in ((0, dict(color=f"#{GUIDE_COLOR}", linewidth=1)),
                             (last, dict(color=kind_color(status), linewidth=2))):
            a, b, c, w = example["params"][epoch]
            kind = "crossed" if status == "CROSSED" else "stayed put"
            name = "initialisation" if epoch == 0 else f"after {epoch:,} epochs ({kind})"
            ax.plot(grid, network_output(a[None], b[None], np.array([c]), w[None], grid)[0], label=name, **style)
        for s, side in enumerate((grid > 0, grid < 0)):
            label = f"least-squares line per side ($L_{{lin}}$ = {floor[0]:.3f})" if s == 0 else None
            ax.plot(grid[side], slopes[0, s] * grid[side] + intercepts[0, s], color="black", linestyle="--",
                    linewidth=1, label=label)
        a, b, _, _ = example["params"][last]
        kinks = -b / a
        kinks = kinks[np.abs(kinks) <= 4]
        ax.plot(kinks, np.full(len(kinks), 1.0), "|", color=kind_color(status), markersize=14,
                transform=ax.get_xaxis_transform(), clip_on=False, label="kinks $-b_i/a_i$ (top)")
        ax.scatter(X_DATA, Y_DATA, s=300 * p, color="black", zorder=3, label="data (area ∝ $p_j$)")
        ax.set_title(panel_title(status, first_cross), fontsize=9, pad=12)
        ax.set_xlabel("input $x$")
        ax.grid(True, color="0.9")
    axes[0].set_ylabel("output $f(x)$")
    entries = {}  # both panels' legend entries, each label once
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    place_legend(figure, list(entries.values()))
    example_title(figure, examples, "the trained function, its kinks and the least-squares line on each side of 0")
    return figure


def example_kink_figure(examples, outcomes):
    """Per network, the kink -b_i / a_i of every unit against epochs (log axis from epoch 1),
    coloured by the sign of a_i(0); dotted lines at the data points."""
    figure, (axes,) = panels(11, 4.2, sharey=True)
    for ax, example, outcome in zip(axes, examples, outcomes):
        epochs = np.arange(1, len(example["kinks"]))
        for sign, k, name in ((1, 2, "$a_i(0) > 0$"), (-1, 3, "$a_i(0) < 0$")):
            units = example["kinks"][1:, example["sign_a"] == sign]
            ax.plot(epochs, units, color=color(k), linewidth=1)
            ax.plot([], [], color=color(k), label=name)
        for x in X_DATA:
            ax.axhline(x, color="0.5", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_ylim(-4, 4)
        ax.set_xlabel("epoch")
        ax.set_title(panel_title(*outcome), fontsize=9)
    axes[0].set_ylabel("kink position $-b_i/a_i$")
    axes[0].legend(loc="lower left", fontsize=8)  # inside the axes, below the kinks (which start at 0)
    example_title(figure, examples, "the kink of every unit against the epoch; dotted: the data points")
    return figure


def example_loss_figure(p, examples, outcomes):
    """Every epoch of both runs: L(theta_t) (log axis; L > 0 always, so nothing is left out) with
    the floor L_lin of p, and ||grad L(theta_t)|| (log axis)."""
    figure, ((left, right),) = panels(11, 4.0)
    floor = side_fits(X_DATA, Y_DATA, p[None])[2][0]
    for example, (status, _) in zip(examples, outcomes):
        name = "crossed" if status == "CROSSED" else "stayed put"
        epochs = np.arange(len(example["loss"]))
        k = int(status == "CROSSED")
        style = dict(color=color(k), marker=series_style(k).marker, markevery=(k * len(epochs) // 16, len(epochs) // 8),
                     markersize=4, label=name)
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


EXAMPLE_FIGURES = ("example_networks", "example_kinks", "example_loss")


def write_examples(out, seed=0):
    """The example pair: two networks of width 16 on the same data weights p (the problem of
    ``seed``), one that stays put and one whose kink crosses a data point, trained by gd for
    EXAMPLE_EPOCHS epochs (``minima.example_pair``, ``train_example``), drawn as the figures
    EXAMPLE_FIGURES (``example_networks_figure``, ``example_kink_figure``, ``example_loss_figure``),
    each written as <out>/<name>.png and .pdf. Returns {name: [png, pdf]}."""
    p, inits, outcomes = example_pair(seed, epochs=EXAMPLE_EPOCHS)
    examples = [train_example(p, init, EXAMPLE_EPOCHS, (0, EXAMPLE_EPOCHS)) for init in inits]
    figures = (example_networks_figure(p, examples, outcomes), example_kink_figure(examples, outcomes),
               example_loss_figure(p, examples, outcomes))
    return {name: save_png_and_pdf(figure, Path(out) / name) for name, figure in zip(EXAMPLE_FIGURES, figures)}


# ============================================================================ risk
def setting_text(config):
    """The activation, sample rule and data of a risk or diagnose run (``config`` with leak, data,
    probs, and samples where recorded): 'relu' or 'leaky relu, alpha = ...', the N rule where it
    is not n^2, and the paper's points or the given ones."""
    data = DataSet.from_config(config)
    activation = f"leaky relu, α = {config['leak']:g}" if config["leak"] else "relu"
    samples = config.get("samples", SampleRule.DEFAULT)
    if samples != SampleRule.DEFAULT:
        activation += f", {SampleRule(samples).label()}"
    if data.is_paper():
        return f"{activation}; the paper's six points, π uniform"
    points = ", ".join(f"{x:g}:{y:g}" for x, y in zip(data.x, data.y))
    probs = "uniform" if np.all(data.probs == data.probs[0]) else ", ".join(f"{p:.3g}" for p in data.probs)
    return f"{activation}; data x:y {points}; π {probs}"


def training_text(settings):
    """How the networks of a risk or diagnose run were trained, for figure titles."""
    return f"gd to $\\|\\nabla L\\| <$ {settings['tol']:g} or {settings['max_epochs']:,} epochs"


def figure_title(figure, lines):
    """The figure's title: ``lines``, each wrapped to the figure's width (about 13 characters per
    inch at 9 pt)."""
    width = int(13 * figure.get_figwidth())
    figure.suptitle("\n".join(textwrap.fill(line, width) for line in lines), fontsize=9)


def dodge(widths, k, count, spread=0.06):
    """Widths shifted by a factor so that ``count`` series at the same n do not overlap (log x)."""
    return np.asarray(widths) * np.exp(spread * (k - (count - 1) / 2))


def risk_figure(rows, config, path):
    """Mean R with 95 % t intervals against n (log x), one series per offset, with the population
    linear-regression risk R_lin (dashed, the series' colour; one grey line for offsets whose R_lin
    agree to 1e-9, which would hide each other) and the Bayes risk 0 (black)."""
    figure, ax = new_figure(6.4, 4.4)
    offsets = sorted({r["offset"] for r in rows})
    linear_risks, handles = {}, []  # R_lin rounded -> the offsets sharing it; the legend's entries
    for k, offset in enumerate(offsets):
        series = [r for r in rows if r["offset"] == offset]
        widths = np.array([r["width"] for r in series])
        mean = np.array([r["mean_risk"] for r in series])
        err = np.abs(np.array([[r["ci_low"], r["ci_high"]] for r in series]).T - mean)
        handles.append(ax.errorbar(dodge(widths, k, len(offsets)), mean, yerr=err, marker=series_style(k).marker,
                                   capsize=3, color=color(k), linewidth=LINE_WIDTH_PT,
                                   label=f"mean risk $R$, $\\Delta$ = {offset:g}"))
        linear_risks.setdefault(round(series[0]["linear_risk"], 9), []).append((k, offset))
    for value, sharing in linear_risks.items():
        deltas = ", ".join(f"{offset:g}" for _, offset in sharing)
        handles.append(ax.axhline(value, color=color(sharing[0][0]) if len(sharing) == 1 else "0.45",
                                  linestyle="--", label=f"linear-regression risk $R_{{\\mathrm{{lin}}}}$ = "
                                                        f"{value:.3f}, $\\Delta$ = {deltas}"))
    handles.append(ax.axhline(0.0, color="black", linewidth=1.2, label="Bayes risk 0 ($y$ a function of $x$)"))
    ax.set_xscale("log", base=2)
    widths = sorted({r["width"] for r in rows})
    ax.set_xticks(widths, [str(n) for n in widths], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel(f"width $n$ ({samples_axis_text(SampleRule(config.get('samples', SampleRule.DEFAULT)))})")
    ax.set_ylabel(r"population risk $R = \frac{1}{2}\sum_j \pi_j (f(x_j) - y_j)^2$")
    ax.set_ylim(bottom=-0.05)
    ax.grid(True, color="0.9")
    figure_title(figure, [setting_text(config),
                          f"{training_text(config)}; {config['runs']} runs per point; 95 % t intervals"])
    place_legend(figure, handles)
    return save_png_and_pdf(figure, path)[0]


# ============================================================================ diagnose
def diagnose_title(figure, settings, shows):
    """The figure's title: what it ``shows``, the activation and data, and the training."""
    figure_title(figure, [shows, setting_text(settings), f"{training_text(settings)}, offset Δ = {settings['offset']:g}"])


KINDS = ((False, "stayed put"), (True, "crossed"))  # series 0 and 1 of every diagnose figure


def spectrum_figure(spectra, settings):
    """Per width, histograms of log10 |lambda| of the positive and the negative eigenvalues of all
    sampled networks (exact zeros counted in the title)."""
    widths = sorted({r["width"] for r in spectra})
    figure, (axes,) = panels(3.2 * len(widths) + 0.4, 3.8, 1, len(widths))
    for ax, width in zip(axes, widths):
        values = np.concatenate([r["values"] for r in spectra if r["width"] == width])
        bins = np.linspace(-20, 4, 49)
        for k, (sign, name) in enumerate(((1, "λ > 0"), (-1, "λ < 0"))):
            chosen = values[sign * values > 0]
            ax.hist(np.log10(sign * chosen), bins=bins, color=color(k), alpha=0.6, label=f"{name} ({len(chosen)})")
        ax.set_yscale("log")
        zeros = int(np.sum(values == 0))
        runs = sum(r["width"] == width for r in spectra)
        ax.set_title(f"n = {width}: {runs} networks × {3 * width + 1} eigenvalues,\n{zeros} exactly 0", fontsize=9)
        ax.set_xlabel(r"$\log_{10}|\lambda|$")
        ax.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel("eigenvalues (all sampled networks)")
    diagnose_title(figure, settings, "Hessian spectra at the points where gd stops")
    return figure


def extremes_figure(spectra, settings):
    """lambda_min / lambda_max (symlog) and the minimal ratio (log) against n, per network, with
    m / (3n + 1), the share that the rank of J^T diag(p) J (at most m) allows when D = 0, as at an
    exact stationary point where every S_g = 0."""
    figure, ((left, right),) = panels(10, 4.2)
    widths = np.array(sorted({r["width"] for r in spectra}))
    for k, (crossed, name) in enumerate(KINDS):
        chosen = [r for r in spectra if r["crossed"] == crossed]
        if not chosen:
            continue
        style = series_style(k)
        n = dodge(np.array([r["width"] for r in chosen]), k, len(KINDS))
        left.scatter(n, [r["lambda_min"] / r["lambda_max"] for r in chosen], color=color(k), marker=style.marker,
                     s=14, label=f"{name} ({len(chosen)})")
        right.scatter(n, [r["minimal_ratio"] for r in chosen], color=color(k), marker=style.marker, s=14,
                      label=f"{name} ({len(chosen)})")
    right.plot(widths, len(settings["data"]) / (3 * widths + 1), color=f"#{GUIDE_COLOR}", linestyle="--",
               label="m / (3n + 1): rank of $J^T P J$")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(n) for n in widths])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("width $n$")
        ax.grid(True, color="0.9")
        ax.legend(fontsize=7, frameon=False)
    left.set_yscale("symlog", linthresh=1e-12)
    left.set_ylabel(r"$\lambda_{min} / \lambda_{max}$")
    right.set_yscale("log")
    plain_log_ticks(right.yaxis)  # 0.02, 0.05, 0.1, ...: no crowded 2 x 10^-2 labels
    right.set_ylabel(f"minimal ratio (share of λ > {settings['rtol']:g} max|λ|)")
    diagnose_title(figure, settings, f"extreme eigenvalues and share of positive ones of the Hessian, one point per "
                                     f"network ({settings['runs']} per width)")
    return figure


def lines_figure(lines, settings):
    """One row per width, one column per network (stayed put, crossed): L(theta + alpha d) - L(theta)
    along the top eigenvectors (solid) and random directions (dashed), direction i in colour i."""
    widths = sorted({r["width"] for r in lines})
    figure, axes = panels(9.5, 2.6 * len(widths) + 1.0, len(widths), 2, sharex=True)
    for row, width in zip(axes, widths):
        for ax, network in zip(row, ("stayed", "crossed")):
            chosen = [r for r in lines if r["width"] == width and r["network"] == network]
            ax.set_title(f"n = {width}, first network that {'stayed put' if network == 'stayed' else 'crossed'}"
                         + ("" if chosen else ": none in the sample"), fontsize=9)
            for name in dict.fromkeys(r["direction"] for r in chosen):
                pts = [r for r in chosen if r["direction"] == name]
                k = int(name.split()[-1]) - 1
                eigen = name.startswith("eigen")
                ax.plot([r["alpha"] for r in pts], [r["loss_change"] for r in pts], color=color(k),
                        marker=series_style(k).marker, markevery=(k + 3 * (not eigen), 10), markersize=4,
                        linestyle="-" if eigen else "--", label=name)  # markers apart: equal lines stay visible
            ax.set_yscale("symlog", linthresh=1e-6)
            ax.grid(True, color="0.9")
        row[0].set_ylabel(r"$L(\theta + \alpha d) - L(\theta)$")
    for ax in axes[-1]:
        ax.set_xlabel(r"$\alpha$")
    entries = {}  # every panel's directions, each once
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    place_legend(figure, list(entries.values()))
    diagnose_title(figure, settings, "loss along the top Hessian eigenvectors (solid) and random directions (dashed), "
                                     "each scaled unit by unit to the unit's parameters")
    return figure


def interpolation_figure(curves, settings):
    """L((1 - t) theta_A + t theta_B) per width, theta_A stayed put, theta_B crossed, same p;
    dotted: that p's linear-regression floor L_lin."""
    figure, ax = new_figure(6.4, 4.4)
    for k, width in enumerate(sorted({r["width"] for r in curves})):
        pts = [r for r in curves if r["width"] == width]
        ax.plot([r["t"] for r in pts], [r["loss"] for r in pts], color=color(k), marker=series_style(k).marker,
                markevery=(k % 5, 5), markersize=4, linewidth=LINE_WIDTH_PT, label=f"n = {width}")
        ax.axhline(pts[0]["linear_loss"], color=color(k), linestyle=":", linewidth=1)
    ax.set_xlabel("t  (0: network that stayed put, 1: network that crossed; same data weights p)")
    ax.set_ylabel(r"$L((1-t)\,\theta_A + t\,\theta_B)$")
    ax.grid(True, color="0.9")
    ax.legend(fontsize=8, frameon=False)
    diagnose_title(figure, settings, f"loss on the segment from a network that stayed put to one that crossed, "
                                     f"among {settings['pairs']} on one p per width; dotted: the floor $L_{{lin}}$ of p")
    return figure
