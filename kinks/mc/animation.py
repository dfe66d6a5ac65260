"""The 1-D animation (``mc_plotting.py animate``): a network that stayed put and one that crossed,
trained on the same data weights p, side by side: f(x) = c + sum_i w_i sigma_alpha(a_i x + b_i) on a
grid, its kinks -b_i/a_i, the data (marker area ~ p_j), the gap (x_-, x_+) and the epoch, with the
loss L = 1/2 sum_j p_j (f(x_j) - y_j)^2 of both beneath, at log-spaced snapshot epochs."""
import numpy as np

from kinks.animation import snapshot_epochs, write_animation
from kinks.checks import require
from kinks.figures import GUIDE_COLOR, new_figure, series_style
from kinks.mc.data import data_gap, network_output
from kinks.mc.engines import DenseTrainer
from kinks.mc.optimizers import MinibatchDraws, batch_of, minibatch_cuts
from kinks.mc.theory import theory_step_size
from kinks.mc.training import draw_problems


def train_snapshots(trainer, p, epochs_at, optimizer, rng):
    """Train the networks of ``trainer`` (a DenseTrainer) to the last of ``epochs_at``, keeping
    (a, b, c, w) and L at each of those epochs and the running crossing flag. With a minibatch
    optimizer (sgd: B = 16) every step uses Multinomial(B, p) / B drawn from ``rng``. Returns
    (params: list of (a, b, c, w) per snapshot, loss (K, P), crossed (P,) bool)."""
    draws = MinibatchDraws(batch_of(optimizer, None), rng)
    p_t = np.ascontiguousarray(p.T)
    cuts = minibatch_cuts(p_t)
    crossed = trainer.crossed_now()
    params, loss, done = [], [], 0
    for epoch in epochs_at:
        if epoch > done:
            trainer.advance(epoch - done, p_t, cuts, draws, crossed)
            done = epoch
        params.append(tuple(np.array(q) for q in trainer.params()))
        loss.append(0.5 * np.sum(p * (trainer.outputs() - trainer.y) ** 2, axis=1))
    return params, np.array(loss), crossed


def crossing_units(snapshot, k, gap):
    """Which units of network k have their kink outside the gap (or a flipped a_i): (n,) bool."""
    a, b = snapshot[0][k], snapshot[1][k]
    kink = -b / np.where(a == 0, np.nan, a)
    return ~((kink > -gap[0]) & (kink < gap[1]))


def stayed_and_crossed(data, width, epochs, frames, optimizer, leak, step, seed, candidates=32):
    """Two networks of width n on the same data weights p (the first problem drawn from the seed
    [seed, width], as the study draws it): among ``candidates`` initialisations trained for
    ``epochs`` epochs, the first that never crossed and the first that did. Returns a dict with x,
    y, p (m,), gap, epochs (K,), params [per network: list of (a, b, c, w)], loss (K, 2), first
    (the epoch of the crossing, or -1) and the settings; UsageError where the candidates do not
    hold both kinds."""
    rng = np.random.default_rng([seed, width])
    x, y, p, _, (a, b, c, w), h = draw_problems(rng, candidates, width, 0.0, "he", step, data, leak)
    p = np.repeat(p[:1], candidates, axis=0)
    if step == "theory":
        h = theory_step_size(a, b, w, x, p, leak)
    at = snapshot_epochs(epochs, frames)
    trainer = DenseTrainer(a, b, c, w, x, y, h, optimizer, leak=leak)
    params, loss, crossed = train_snapshots(trainer, p, at, optimizer, rng)
    require(crossed.any() and (~crossed).any(),
            f"--seed {seed}: among {candidates} networks of width {width} none "
            f"{'crossed' if not crossed.any() else 'stayed put'} in {epochs:,} epochs; try another --seed or --epochs")
    chosen = [int(np.flatnonzero(~crossed)[0]), int(np.flatnonzero(crossed)[0])]
    gap = data_gap(x)
    first = []
    for k in chosen:
        out = [int(e) for e, snap in zip(at, params) if np.any(crossing_units(snap, k, gap))]
        first.append(out[0] if out else -1)
    return dict(x=x, y=y, p=p[0], gap=gap, epochs=at, leak=leak, optimizer=optimizer, step=step, width=width,
                params=[[tuple(q[k] for q in snap) for snap in params] for k in chosen],
                loss=loss[:, chosen], first=first)


def animate_1d(run, stem, mp4=True):
    """The 1-D animation of ``stayed_and_crossed``'s ``run``: two panels of f(x), kinks (ticks at
    the bottom, black once outside the gap), data (area ~ p_j), the gap shaded; the loss of both
    beneath (log-log) up to the frame's epoch. Returns the paths written."""
    x, y, p, gap = run["x"], run["y"], run["p"], run["gap"]
    span = 1.3 * np.max(np.abs(x))
    grid = np.linspace(-span, span, 400)
    outputs = [[network_output(a[None], b[None], np.array([c]), w[None], grid, run["leak"])[0]
                for a, b, c, w in net] for net in run["params"]]
    late = [o for net in outputs for o in net[len(net) // 2:]]  # the first epochs may swing far out
    low, high = min(y.min(), min(o.min() for o in late)), max(y.max(), max(o.max() for o in late))
    pad = 0.15 * (high - low)
    figure, _ = new_figure(9, 5.6)
    figure.clear()
    grid_spec = figure.add_gridspec(2, 2, height_ratios=[2.2, 1])
    panels = [figure.add_subplot(grid_spec[0, k]) for k in range(2)]
    loss_ax = figure.add_subplot(grid_spec[1, :])
    colours = [f"#{series_style(k).color}" for k in range(2)]
    names = ["stayed put", "crossed"]
    lines, ticks = [], []
    for k, ax in enumerate(panels):
        ax.axvspan(-gap[0], gap[1], color="0.93", zorder=0, label="gap $(x_-, x_+)$")
        ax.scatter(x, y, s=600 * p, color="black", zorder=3, label="data $(x_j, y_j)$, area ~ $p_j$")
        lines += ax.plot(grid, outputs[k][0], color=colours[k], linewidth=2, label="$f(x)$")
        ticks.append(ax.scatter([], [], marker="|", s=200, color=colours[k], zorder=4,
                                label="kinks $-b_i/a_i$ (black: out of the gap)"))
        ax.set_xlim(-span, span)
        ax.set_ylim(low - pad, high + pad)
        ax.set_xlabel("$x$")
        first = run["first"][k]
        ax.set_title(f"{names[k]}" + (f" (a kink left the gap by epoch {first:,})" if first >= 0 else ""), fontsize=9)
    panels[0].legend(fontsize=7, loc="upper left")
    epochs = np.maximum(run["epochs"], 1)
    for k in range(2):
        loss_ax.plot(epochs, run["loss"][:, k], color=f"#{GUIDE_COLOR}", linewidth=0.8)
    loss_lines = [loss_ax.plot([], [], color=colours[k], linewidth=2, label=names[k])[0] for k in range(2)]
    marker = loss_ax.axvline(1, color="black", linewidth=0.8)
    loss_ax.set_xscale("log")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss $L$")
    loss_ax.legend(fontsize=7, loc="lower left")
    settings = f"n = {run['width']}, {run['optimizer']}, {run['step']} step" + \
        (f", leak α = {run['leak']:g}" if run["leak"] else "")
    title = figure.suptitle("", fontsize=10)

    def draw(frame):
        for k in range(2):
            a, b, c, w = run["params"][k][frame]
            lines[k].set_ydata(outputs[k][frame])
            kink = -b / np.where(a == 0, np.nan, a)
            shown = np.abs(kink) <= span
            ticks[k].set_offsets(np.column_stack([kink[shown], np.full(shown.sum(), low - pad / 2)]))
            outside = ~((kink > -gap[0]) & (kink < gap[1]))[shown]
            ticks[k].set_color(np.where(outside, "black", colours[k]))
            loss_lines[k].set_data(epochs[:frame + 1], run["loss"][:frame + 1, k])
        marker.set_xdata([epochs[frame]])
        title.set_text(f"epoch {run['epochs'][frame]:,}   ({settings}; the same data weights p)")

    return write_animation(figure, draw, len(run["epochs"]), stem, mp4)
