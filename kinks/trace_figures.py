"""The figures of the trace study: per cell, every metric against the epoch (log x), networks that
stayed put and networks that crossed in series colours 0 and 1 (medians with interquartile bands,
a few single networks thin), the sharpness panel with lambda_max(H) h against 2; and the AUC of
every metric as a classifier of 'will cross' against the epoch."""
import warnings

import numpy as np

from kinks.figures import GUIDE_COLOR, place_legend, series_style
from kinks.mc_figures import color, figure_title, panels, setting_text
from kinks.trace import AUC_METRICS, GROUPS, MIN_GROUP, cells

SINGLE = 3  # single networks drawn thin per group
# (title, values of (N, T) from the pooled traces, log y)
PANELS = (
    ("train loss $L$", lambda t: t["loss"], True),
    ("test loss: population risk $R$", lambda t: t["risk"], True),
    (r"gradient norm $\|\nabla L\|$", lambda t: t["grad_norm"], True),
    (r"sharpness $\lambda_{\max}(H)\, h$ (edge of stability: 2)", lambda t: t["sharpness"], False),
    (r"$-\lambda_{\min}(H)\, h$ (0 where $H \succeq 0$)", lambda t: -t["hessian_min"] * t["step_size"][:, None],
     False),
    (r"$|\cos(\nabla L, v_1)|$, $v_1$ top eigenvector of $H$", lambda t: t["grad_cosine"][..., 0], False),
    (r"gradient covariance: largest eigenvalue", lambda t: t["covariance"][..., 0], True),
    (r"covariance: $(m-1)$-th / largest eigenvalue",
     lambda t: np.maximum(t["covariance"][..., -1] / t["covariance"][..., 0], 1e-17), True),
    (r"weight norm $\|\theta\|$", lambda t: t["weight_norm"], False),
    (r"$1 - \cos(\theta, \theta_0)$",
     lambda t: np.where(t["init_cosine"] < 1 - 1e-12, 1.0 - t["init_cosine"], np.nan), True),
    (r"distance $\|\theta - \theta_0\|$", lambda t: t["init_distance"], True),
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


def trace_figure(pooled, config, offset, width, members):
    """Every panel of PANELS for one cell against epoch + 1 (log x); the median first-crossing
    epoch of the crossed networks dotted."""
    figure, axes = panels(13, 8.2, 3, 4, sharex=True)
    x = pooled["epochs"] + 1.0
    handles = []
    groups = group_members(pooled, members)
    for ax, (title, values_of, log_y) in zip(axes.flat, PANELS):
        values = values_of(pooled)
        if log_y:  # a value <= 0 (a distance at epoch 0) is not drawn on a log axis
            values = np.where(values > 0, values, np.nan)
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
    figure_title(figure, [f"Training traces, n = {width}, Δ = {offset:g}: {run_text(config)}",
                          f"{setting_text(config)}; dotted: median epoch at which the crossed networks crossed; "
                          f"covariance ratio at round-off (drawn at 1e-17 and above) while rank J = 4"])
    place_legend(figure, handles + [edge])
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

