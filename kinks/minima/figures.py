"""The figures of what gradient descent finds, on the shared palette and figure stack of
``kinks.figures``: the risk against n, the diagnose figures (Hessian spectra, extremes, lines,
interpolation) and the trace figures (per cell every metric against the epoch, networks that stayed
put and networks that crossed in series colours 0 and 1 with medians and interquartile bands, the
sharpness lambda_max(H) h against 2; the AUC of every metric as a classifier of 'will cross' against
the epoch). Legends sit inside their axes or below them (``place_legend``), never beyond the
figure's edge."""
import textwrap
import warnings

import numpy as np

from kinks.figures import (
    GUIDE_COLOR, LINE_WIDTH_PT, new_figure, place_legend, plain_log_ticks, save_png_and_pdf, series_style)
from kinks.mc.data import DataSet
from kinks.mc.figures import samples_axis_text
from kinks.minima.trace import AUC_METRICS, GROUPS, MIN_GROUP, cells, kinks_recorded
from kinks.samples import SampleRule


# ============================================================================ shared by the figures
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
    figure_title(figure, [shows, setting_text(settings),
                          f"{training_text(settings)}, offset Δ = {settings['offset']:g}"])


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
    exact stationary point where every S_g = 0. A network with a kink on a data point is drawn
    hollow: its spectrum is that of the side round-off chose."""
    figure, ((left, right),) = panels(10, 4.2)
    widths = np.array(sorted({r["width"] for r in spectra}))
    for k, (crossed, name) in enumerate(KINDS):
        style = series_style(k)
        for on_point, text, face in ((False, "", color(k)), (True, ", a kink on a point, one side", "none")):
            chosen = [r for r in spectra if r["crossed"] == crossed and (r["kinks_on_points"] > 0) == on_point]
            if not chosen:
                continue
            n = dodge(np.array([r["width"] for r in chosen]), k, len(KINDS))
            shared = dict(edgecolors=color(k), facecolors=face, marker=style.marker, s=14,
                          label=f"{name}{text} ({len(chosen)})")
            left.scatter(n, [r["lambda_min"] / r["lambda_max"] for r in chosen], **shared)
            right.scatter(n, [r["minimal_ratio"] for r in chosen], **shared)
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
                                     f"among {settings['pairs']} on one p per width; "
                                     "dotted: the floor $L_{lin}$ of p")
    return figure


# ============================================================================ trace
SINGLE = 3  # single networks drawn thin per group


def scaled_sides(pooled, name, traced, sign=1.0):
    """(low, high, traced) of the Hessian eigenvalue ``name`` (lambda_max or lambda_min) over the
    sides of the kinks on points and on the traced side (``traced`` (N, T)), times sign h, each
    (N, T); the bounds swap where sign < 0."""
    h = sign * pooled["step_size"][:, None]
    low, high = pooled[f"{name}_low"] * h, pooled[f"{name}_high"] * h
    return np.minimum(low, high), np.maximum(low, high), traced * h


# (title, values of (N, T) from the pooled traces, log y, and for a Hessian eigenvalue its range
# over the sides of the kinks on points as (low, high, traced) (N, T) each, else None)
PANELS = (
    ("train loss $L$", lambda t: t["loss"], True, None),
    ("test loss: population risk $R$", lambda t: t["risk"], True, None),
    (r"gradient norm $\|\nabla L\|$", lambda t: t["grad_norm"], True, None),
    (r"sharpness $\lambda_{\max}(H)\, h$ (edge of stability: 2)", lambda t: t["sharpness"], False,
     lambda t: scaled_sides(t, "lambda_max", t["hessian_top"][..., 0])),
    (r"$-\lambda_{\min}(H)\, h$ (0 where $H \succeq 0$)", lambda t: -t["hessian_min"] * t["step_size"][:, None],
     False, lambda t: scaled_sides(t, "lambda_min", t["hessian_min"], -1.0)),
    (r"$|\cos(\nabla L, v_1)|$, $v_1$ top eigenvector of $H$", lambda t: t["grad_cosine"][..., 0], False, None),
    (r"gradient covariance: largest eigenvalue", lambda t: t["covariance"][..., 0], True, None),
    (r"covariance: $(m-1)$-th / largest eigenvalue",
     lambda t: np.maximum(t["covariance"][..., -1] / t["covariance"][..., 0], 1e-17), True, None),
    (r"weight norm $\|\theta\|$", lambda t: t["weight_norm"], False, None),
    (r"$1 - \cos(\theta, \theta_0)$",
     lambda t: np.where(t["init_cosine"] < 1 - 1e-12, 1.0 - t["init_cosine"], np.nan), True, None),
    (r"distance $\|\theta - \theta_0\|$", lambda t: t["init_distance"], True, None),
)


def group_members(pooled, members):
    """[(group name, its networks' indices)] of one cell (diverged networks left out)."""
    status = pooled["status"][members]
    return [(name, members[belongs(status) & (status != "DIVERGED")]) for name, belongs in GROUPS]


def draw_group(ax, epochs, values, k, label):
    """Median and interquartile band of ``values`` (networks, T) in series colour k, and the
    first SINGLE networks thin; returns the median's line."""
    with warnings.catch_warnings():  # an epoch where every value is nan (1 - cos at epoch 0) stays nan
        warnings.simplefilter("ignore", RuntimeWarning)
        low, median, high = np.nanpercentile(values, [25, 50, 75], axis=0)
    ax.fill_between(epochs, low, high, color=color(k), alpha=0.25, linewidth=0)
    for row in values[:SINGLE]:
        ax.plot(epochs, row, color=color(k), linewidth=0.5, alpha=0.7)
    return ax.plot(epochs, median, color=color(k), linewidth=1.6, label=label)[0]


def run_text(config):
    """How the traced networks were trained, for titles."""
    return f"{config['optimizer']}, {config['step']} step, {config['epochs']:,} epochs, " \
           f"{config['per_decade']} traced epochs per decade"


def draw_kinks_on_points(ax, epochs, low, high, traced, on_point):
    """The kink-on-point states ``on_point`` (k, T) in series colour 2: the traced side's value
    (marker) and the range over the sides (a vertical line); returns the markers."""
    _, t = np.nonzero(on_point)
    style = series_style(2)
    ax.vlines(epochs[t], low[on_point], high[on_point], color=color(2), linewidth=0.6, alpha=0.6)
    return ax.scatter(epochs[t], traced[on_point], color=color(2), marker=style.marker, s=9, linewidths=0,
                      label=f"kink on a point ({on_point.sum()} states): the traced side (marker) and the range "
                            f"over the sides (line), left out of the groups' medians and bands")


def trace_figure(pooled, config, offset, width, members):
    """Every panel of PANELS for one cell against epoch + 1 (log x); the median first-crossing
    epoch of the crossed networks dotted. In the panels of Hessian eigenvalues the groups' medians,
    bands and single networks are drawn over the smooth states, the kink-on-point states apart
    with their range over the sides (``draw_kinks_on_points``), where the trace recorded them."""
    figure, axes = panels(13, 8.2, 3, 4, sharex=True)
    x = pooled["epochs"] + 1.0
    handles, kink_handles = [], []
    groups = group_members(pooled, members)
    recorded = kinks_recorded(pooled)
    for ax, (title, values_of, log_y, sides_of) in zip(axes.flat, PANELS):
        values = values_of(pooled)
        if log_y:  # a value <= 0 (a distance at epoch 0) is not drawn on a log axis
            values = np.where(values > 0, values, np.nan)
        if sides_of is not None and recorded:
            on_point = pooled["kinks_on_points"] > 0
            values = np.where(on_point, np.nan, values)
            kink_handles = [draw_kinks_on_points(ax, x, *(v[members] for v in sides_of(pooled)), on_point[members])]
        handles = [draw_group(ax, x, values[chosen], k,
                              f"{'stayed put' if name == 'stayed' else 'crossed'} ({len(chosen)} networks): "
                              f"median, interquartile band, {min(SINGLE, len(chosen))} single networks thin")
                   for k, (name, chosen) in enumerate(groups) if len(chosen)]
        crossed = groups[1][1]
        if len(crossed):
            ax.axvline(np.median(pooled["first_cross_epoch"][crossed]) + 1, color=color(1), linestyle=":",
                       linewidth=1)
        ax.set_xscale("log")
        if log_y and np.isfinite(values[members]).any():
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(True, color="0.92")
    edge = axes.flat[3].axhline(2.0, color=f"#{GUIDE_COLOR}", linestyle="--", linewidth=1.2,
                                label=r"$\lambda_{\max}(H) = 2/h$ (edge of stability)")
    axes.flat[-1].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch + 1")
    kinks = f"Hessian panels: smooth states, kinks on points (within {config['kink_tolerance']:g} max|x|) apart" \
        if recorded else "kinks on points not recorded (a trace from before 6 December 2026)"
    figure_title(figure, [f"Training traces, n = {width}, Δ = {offset:g}: {run_text(config)}",
                          f"{setting_text(config)}; dotted: median epoch at which the crossed networks crossed; "
                          f"covariance ratio at round-off (drawn at 1e-17 and above) while rank J = 4; {kinks}"])
    place_legend(figure, handles + kink_handles + [edge])
    return figure


def auc_figure(rows, pooled, config):
    """One panel per cell: the separation max(A, 1 - A) of every metric of AUC_METRICS at every
    traced epoch (networks not crossed by then: will cross vs stays put), the 0.9 level dashed."""
    keys = [(offset, width) for offset, width, _ in cells(pooled)]
    figure, axes = panels(4.2 * len(keys) + 0.4, 4.0, 1, len(keys), sharey=True)
    handles = []
    for ax, (offset, width) in zip(axes[0], keys):
        chosen = [r for r in rows if r["offset"] == offset and r["width"] == width]
        handles = []
        for k, name in enumerate(AUC_METRICS):
            series = [r for r in chosen if r["metric"] == name]
            epochs = np.array([r["epoch"] for r in series]) + 1.0
            style = series_style(k)
            handles.append(ax.plot(epochs, [r["separation"] for r in series], color=f"#{style.color}",
                                   marker=style.marker, markevery=max(len(series) // 8, 1), markersize=3.5,
                                   linewidth=1.0, label=name.replace("_", " "))[0])
        level = ax.axhline(0.9, color=f"#{GUIDE_COLOR}", linestyle="--", linewidth=1.2, label="AUC 0.9")
        counts = f"{chosen[0]['will_cross']} will cross, {chosen[0]['stays']} stay at epoch 0" if chosen else \
            f"fewer than {MIN_GROUP} networks in a group"
        ax.set_title(f"n = {width}, Δ = {offset:g}: {counts}", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(1, 1.3 * (max(r["epoch"] for r in chosen) if chosen else pooled["epochs"][-1]) + 1)
        ax.set_xlabel("epoch + 1")
        ax.set_ylim(0.45, 1.02)
        ax.grid(True, color="0.92")
    axes[0][0].set_ylabel("separation max(AUC, 1 − AUC)")
    figure_title(figure, ["How early the metrics tell apart networks that will cross from networks that stay put "
                          "(among those not crossed yet)", f"{run_text(config)}; {setting_text(config)}"])
    place_legend(figure, handles + [level])
    return figure

