"""The 2-D animation (``train_star_dataset.py animate``): one network's kink lines
{x : a_i . x + b_i = 0} over the data points as it trains by gd with the Gram step, its function as a
background map, at log-spaced snapshot epochs."""
import numpy as np
import torch

from kinks.animation import snapshot_epochs, write_animation
from kinks.figures import new_figure
from kinks.star.networks import autograd_epoch, forward, gram_step_sizes, init_params, ntk_gram, on_off_pattern


def train_2d(X, y, width, epochs, frames, seed, samples):
    """One relu network of width n on 2-D data X (m, 2), y (m,): He initialisation (a_i ~ N(0, I),
    w_i ~ N(0, 2/n), b = c = 0) from torch's generator seeded ``seed``, data weights p from the
    SampleRule ``samples`` (uniform pi), gd with the Gram step h = 1/lambda_max(P^1/2 K P^1/2) by
    ``kinks.star.training``'s autograd epoch. Returns (epochs (K,), [(A1 (3, n), A2 (n + 1,)) per snapshot],
    loss (K,), p (m,))."""
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
    {x : a_i . x + b_i = 0} (solid), the data points (filled in the map's colour of y_j, area ~ p_j,
    outlined black inside white so that they stand out on any colour of the map), the axes x_1 and
    x_2, and the epoch and loss in the title. Returns the paths written."""
    from matplotlib.patheffects import withStroke

    span = 1.25 * np.max(np.abs(X))
    g = np.linspace(-span, span, 120)
    G = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    fields = [np.maximum(G @ A1[:-1] + A1[-1], 0) @ A2[:-1] + A2[-1] for A1, A2 in snaps]
    limit = 1.5 * np.abs(y).max()  # the colours of the targets; the map saturates beyond
    figure, ax = new_figure(5.6, 5.4)
    image = ax.imshow(fields[0].reshape(len(g), len(g)), origin="lower", extent=(-span, span, -span, span),
                      cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.colorbar(image, ax=ax, label="$f(x)$", shrink=0.8)
    points = ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", vmin=-limit, vmax=limit, s=30 + 300 * p,
                        edgecolors="black", linewidths=1.2, zorder=3)
    points.set_path_effects([withStroke(linewidth=4, foreground="white")])
    width = snaps[0][0].shape[1]
    kink_lines = [ax.plot([], [], color="black", linewidth=0.8)[0] for _ in range(width)]
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
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
        heading.set_text(f"{title}\nepoch {at[frame]:,}, loss L = {loss[frame]:.4g}\n"
                         "points: data, colour = target $y_j$, area ~ $p_j$; lines: kinks")

    return write_animation(figure, draw, len(at), stem, mp4)
