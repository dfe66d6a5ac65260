"""Training you can watch (the glossary's ``animate``): log-spaced snapshots of training and their
frames written as a GIF (matplotlib's Pillow writer) and, where ffmpeg is installed, an MP4.

1-D (``mc_plotting.py animate``): a network that stayed put and one that crossed, trained on the same
data weights p, side by side: f(x) = c + sum_i w_i sigma_alpha(a_i x + b_i) on a grid, its kinks
-b_i/a_i, the data (marker area ~ p_j), the gap (x_-, x_+) and the epoch, with the loss
L = 1/2 sum_j p_j (f(x_j) - y_j)^2 of both beneath. 2-D (``train_star_dataset.py animate``): one
network's kink lines {x : a_i . x + b_i = 0} over the data points as it trains, its function as a
background map. Snapshot epochs are log-spaced: 0, then geometric up to the last epoch."""
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from kinks.checks import require, warn
from kinks.data import data_gap, network_output
from kinks.engines import DenseTrainer
from kinks.figures import FIGURE_RC, GUIDE_COLOR, new_figure, series_style
from kinks.optimizers import MinibatchDraws, batch_of, minibatch_cuts
from kinks.theory import theory_step_size
from kinks.training import draw_problems

FPS = 8
DPI = 80


def snapshot_epochs(epochs, frames):
    """0 and about ``frames`` - 1 log-spaced epochs in [1, epochs], distinct and increasing, (K,) int."""
    return np.unique(np.concatenate([[0], np.geomspace(1, epochs, max(frames - 1, 1)).round().astype(int)]))


def write_animation(figure, draw, count, stem, mp4=True):
    """Draw frames 0 ... count - 1 (``draw(k)`` updates the figure) into stem.gif by matplotlib's
    Pillow writer and, with ``mp4`` and where ffmpeg is installed, stem.mp4 (a line on stderr says
    when it is not). Each file is written beside its path and renamed onto it (atomic). Returns
    the paths written."""
    import matplotlib
    from matplotlib.animation import FFMpegWriter, PillowWriter

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    writers = [(PillowWriter(fps=FPS), ".gif")]
    if mp4 and shutil.which("ffmpeg") and FFMpegWriter.isAvailable():
        writers.append((FFMpegWriter(fps=FPS, codec="h264", extra_args=["-pix_fmt", "yuv420p"]), ".mp4"))
    elif mp4:
        warn("ffmpeg is not installed: no MP4 written (the GIF is)")
    paths = []
    for writer, suffix in writers:
        path = stem.with_suffix(suffix)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
        try:
            with matplotlib.rc_context(FIGURE_RC), writer.saving(figure, tmp, DPI):
                for k in range(count):
                    draw(k)
                    writer.grab_frame()
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        paths.append(path)
    return paths


# ============================================================================ 1-D: stayed and crossed
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


# ============================================================================ 2-D: kink lines
def train_2d(X, y, width, epochs, frames, seed, samples):
    """One relu network of width n on 2-D data X (m, 2), y (m,): He initialisation (a_i ~ N(0, I),
    w_i ~ N(0, 2/n), b = c = 0) from torch's generator seeded ``seed``, data weights p from the
    SampleRule ``samples`` (uniform pi), gd with the Gram step h = 1/lambda_max(P^1/2 K P^1/2) by
    ``kinks.star``'s autograd epoch. Returns (epochs (K,), [(A1 (3, n), A2 (n + 1,)) per snapshot],
    loss (K,), p (m,))."""
    import torch

    from kinks.star import autograd_epoch, forward, gram_step_sizes, init_params, ntk_gram, on_off_pattern

    generator = torch.Generator().manual_seed(seed)
    params = init_params(1, X.shape[1], width, 1, False, generator)
    p = samples.draw(np.random.default_rng(seed), 1, width, np.full(len(y), 1.0 / len(y)))
    data = dict(X=torch.as_tensor(X), y=torch.as_tensor(y), p=torch.as_tensor(p), activation="relu")
    data["h"] = gram_step_sizes(ntk_gram(params, data["X"], "relu"), data["p"], 1.0)
    data["initial_pattern"] = on_off_pattern(forward(params, data["X"], "relu")[1])
    at = snapshot_epochs(epochs, frames)
    snaps, loss = [], []
    for epoch in range(epochs + 1):
        new, current, _ = autograd_epoch(params, data)
        if epoch in set(at.tolist()):
            snaps.append((params[0][0].numpy().copy(), params[1][0, :, 0].numpy().copy()))
            loss.append(float(current[0]))
        params = new
    return at, snaps, np.array(loss), p[0]


def animate_2d(X, y, at, snaps, loss, p, title, stem, mp4=True):
    """The 2-D animation: the network's function as a background map, every unit's kink line
    {x : a_i . x + b_i = 0} (solid), the data points (colour ~ y_j) and the epoch and loss in the
    title. Returns the paths written."""
    span = 1.25 * np.max(np.abs(X))
    g = np.linspace(-span, span, 120)
    G = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    fields = [np.maximum(G @ A1[:-1] + A1[-1], 0) @ A2[:-1] + A2[-1] for A1, A2 in snaps]
    limit = 1.5 * np.abs(y).max()  # the colours of the targets; the map saturates beyond
    figure, ax = new_figure(5.6, 5.4)
    image = ax.imshow(fields[0].reshape(len(g), len(g)), origin="lower", extent=(-span, span, -span, span),
                      cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.colorbar(image, ax=ax, label="$f(x)$", shrink=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", vmin=-limit, vmax=limit, s=30 + 300 * p, edgecolors="black",
               zorder=3)
    width = snaps[0][0].shape[1]
    kink_lines = [ax.plot([], [], color="black", linewidth=0.8)[0] for _ in range(width)]
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    heading = ax.set_title("", fontsize=9)

    def draw(frame):
        A1, _ = snaps[frame]
        image.set_data(fields[frame].reshape(len(g), len(g)))
        for i, line in enumerate(kink_lines):
            a, b = A1[:-1, i], A1[-1, i]
            if abs(a[1]) >= abs(a[0]):  # a_0 x_0 + a_1 x_1 + b = 0 solved for x_1
                line.set_data(g, -(a[0] * g + b) / a[1])
            else:
                line.set_data(-(a[1] * g + b) / a[0], g)
        heading.set_text(f"{title}\nepoch {at[frame]:,}, loss L = {loss[frame]:.4g}")

    return write_animation(figure, draw, len(at), stem, mp4)
