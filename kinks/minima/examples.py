"""The two example networks: on one problem's data weights p, the first of 16 He initialisations
of width 16 whose gd run never moves a kink onto a data point and the first whose run does
(``example_pair``, trained as in ``train_to_stationarity``), each then trained alone for 20,000
epochs (``train_example``) and drawn as three figures (the function and its kinks, every kink
against the epoch, loss and gradient norm), written by ``mc_plotting.py examples`` and opening the
document of ``mc_training.py experiments`` (``example_section``)."""
from pathlib import Path

import numpy as np

from kinks.checks import require
from kinks.document import Section, figure_tex
from kinks.figures import GUIDE_COLOR, place_legend, plain_log_ticks, save_png_and_pdf, series_style
from kinks.mc.data import ActivityPatterns, loss_gradient, network_output
from kinks.mc.theory import theory_step_size
from kinks.minima.figures import color, kind_color, panels
from kinks.minima.stationary import diagnose_problems, side_fits, train_to_stationarity
from kinks.samples import X_DATA, Y_DATA


# ============================================================================ the pair and its training
EXAMPLE_WIDTH, EXAMPLE_EPOCHS, EXAMPLE_SNAPSHOTS, EXAMPLE_CANDIDATES = 16, 20_000, (0, 20_000), 16


def example_pair(seed=0, width=EXAMPLE_WIDTH, epochs=EXAMPLE_EPOCHS, candidates=EXAMPLE_CANDIDATES):
    """One problem's data weights p and two initialisations of width n for it: the first of
    ``candidates`` He initialisations (seed) whose gd run for ``epochs`` epochs never moves a kink
    onto a data point, and the first whose run does (see ``train_to_stationarity``).
    Returns (p (m,), [(a, b, c, w) of each, a, b, w (n,)], [status, first crossing epoch]) or
    raises UsageError when the candidates do not hold both kinds."""
    x, y, p, a, b, c, w, h = diagnose_problems(seed, width, 1, candidates, 0.0)
    p, a, b, c, w, h = (q[1:] for q in (p, a, b, c, w, h))
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 1e-12, 1000, epochs)
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
    x, y = X_DATA, Y_DATA
    a, b, c, w = (np.array(q, dtype=float)[None] for q in init)
    p = p[None]
    h = theory_step_size(a, b, w, x, p)
    patterns = ActivityPatterns(x)
    width = a.shape[1]
    kinks, loss, grad_norm, params = np.empty((epochs + 1, width)), np.empty(epochs + 1), np.empty(epochs + 1), {}
    for epoch in range(epochs + 1):
        ga, gb, gc, gw, current = loss_gradient(a, b, c, w, x, y, p, patterns)
        loss[epoch] = current[0]
        grad_norm[epoch] = np.sqrt(np.sum(ga**2) + np.sum(gb**2) + np.sum(gw**2) + gc[0] ** 2)
        kinks[epoch] = -b[0] / a[0]
        if epoch in snapshots:
            params[epoch] = (a[0], b[0], c[0], w[0])
        a, b, c, w = a - h[:, None] * ga, b - h[:, None] * gb, c - h * gc, w - h[:, None] * gw
    return dict(kinks=kinks, loss=loss, grad_norm=grad_norm, sign_a=np.sign(init[0]), params=params)


# ============================================================================ the figures
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


def output_range(values, margin=0.08):
    """(low, high) of a y axis that shows every one of ``values`` with a margin (a share of the span)."""
    low, high = float(np.min(values)), float(np.max(values))
    pad = margin * (high - low or 1.0)
    return low - pad, high + pad


def example_networks_figure(p, examples, outcomes):
    """Side by side, the network that stayed put and the one that crossed, on the same data
    (marker area proportional to p_j): the function at initialisation (clipped to the y range of
    the data and the trained functions, which it could otherwise stretch tenfold) and at the last
    epoch, its kinks -b_i / a_i in [-4, 4] (ticks at the top) and the side-wise least-squares lines
    of p."""
    figure, (axes,) = panels(11, 4.2, sharey=True)
    grid = np.linspace(-4, 4, 801)
    slopes, intercepts, floor = side_fits(X_DATA, Y_DATA, p[None])
    trained = [Y_DATA]
    for ax, example, (status, first_cross) in zip(axes, examples, outcomes):
        last = max(example["params"])
        outputs = {epoch: network_output(a[None], b[None], np.array([c]), w[None], grid)[0]
                   for epoch, (a, b, c, w) in example["params"].items()}
        kind = "crossed" if status == "CROSSED" else "stayed put"
        ax.plot(grid, outputs[0], color=f"#{GUIDE_COLOR}", linewidth=1,
                label="initialisation (clipped to the range shown)")
        ax.plot(grid, outputs[last], color=kind_color(status), linewidth=2, label=f"after {last:,} epochs ({kind})")
        trained.append(outputs[last])
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
    axes[0].set_ylim(*output_range(np.concatenate(trained)))
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
        plain_log_ticks(ax.xaxis)
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
        plain_log_ticks(ax.yaxis)
        ax.set_xlabel(f"epoch $t$ (all {len(examples[0]['loss']) - 1:,})")
        ax.grid(True, color="0.9")
        ax.legend(fontsize=8, frameon=False)
    example_title(figure, examples, "loss and gradient norm at every epoch")
    return figure


EXAMPLE_FIGURES = ("example_networks", "example_kinks", "example_loss")


def write_examples(out, seed=0):
    """The example pair: two networks of width 16 on the same data weights p (the problem of
    ``seed``), one that stays put and one whose kink crosses a data point, trained by gd for
    EXAMPLE_EPOCHS epochs (``example_pair``, ``train_example``), drawn as the figures
    EXAMPLE_FIGURES (``example_networks_figure``, ``example_kink_figure``, ``example_loss_figure``),
    each written as <out>/<name>.png and .pdf. Returns {name: [png, pdf]}."""
    p, inits, outcomes = example_pair(seed, epochs=EXAMPLE_EPOCHS)
    examples = [train_example(p, init, EXAMPLE_EPOCHS, (0, EXAMPLE_EPOCHS)) for init in inits]
    figures = (example_networks_figure(p, examples, outcomes), example_kink_figure(examples, outcomes),
               example_loss_figure(p, examples, outcomes))
    return {name: save_png_and_pdf(figure, Path(out) / name) for name, figure in zip(EXAMPLE_FIGURES, figures)}


# ============================================================================ the document's section
EXAMPLE_CAPTIONS = {  # what each figure of ``write_examples`` shows
    "example_networks": r"the function at initialisation and at the last epoch, its kinks $-b_i/a_i$ (ticks at the "
                        r"top) and the side-wise least-squares lines of $p$ (marker area proportional to $p_j$)",
    "example_kinks": r"every unit's kink $-b_i/a_i$ against epochs, coloured by the sign of $a_i(0)$; dotted: the "
                     r"data points",
    "example_loss": r"the loss $L$ with the floor $L_{lin}$ of $p$ (left) and the gradient norm (right) at every epoch",
}


def example_section(out, seed=0):
    """The example pair written into ``out`` (``write_examples``) as the document's first section:
    a Section with one captioned figure each and their PDFs."""
    written = write_examples(out, seed)
    parts = [r"\section{Two example networks}"]
    for name, (_, pdf) in written.items():
        parts.append(figure_tex(pdf, rf"Two networks of width {EXAMPLE_WIDTH} on the same data weights $p$ (the "
                                     rf"first problem of seed {seed}), one that stays put and one whose kink crosses "
                                     rf"a data point, gd with the theory step for {EXAMPLE_EPOCHS:,} epochs: "
                                     rf"{EXAMPLE_CAPTIONS[name]}."))
    return Section("\n".join(parts), [pdf for _, pdf in written.values()])
