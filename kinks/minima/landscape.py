"""The diagnose study: per width a sample of networks trained to stationarity, the summary of each
one's Hessian spectrum (with its kinks on points and the extreme eigenvalues' range over their
sides), the loss along its top eigenvectors and random directions, and the loss on the segment
between a network that stayed put and one that crossed on the same data."""
import time

import numpy as np

from kinks.checks import warn
from kinks.minima.hessian import (
    SIDE_RANGES, HessianStructure, flat_params, interpolation_losses, kinks_on_points_summary, line_losses,
    network_loss, spectrum_summary, unitwise_normalised)
from kinks.minima.stationary import diagnose_problems, train_to_stationarity

DIAGNOSE_COLUMNS = ["width", "network", "crossed", "status", "converged", "grad_norm", "loss", "linear_loss",
                    "dimension", "lambda_min", "lambda_max", "n_positive", "n_negative", "n_zero", "minimal_ratio",
                    "spectrum_s", "kinks_on_points", "kink_margin", *SIDE_RANGES]


def network_structure(out, k, x, y, p, leak):
    """The HessianStructure of trained network k (its data weights p (m,))."""
    return HessianStructure(out["a"][k], out["b"][k], out["c"][k], out["w"][k], x, y, p, leak)


def network_spectrum_rows(width, out, x, y, p, rtol, leak):
    """One row per network: its training outcome, the summary of its Hessian spectrum (each unit
    active where a_i x_j + b_i > 0 in floating point) and its kinks on points with the range of
    lambda_max and lambda_min over their sides (``kinks_on_points_summary``)."""
    rows = []
    for k in range(len(p)):
        start = time.perf_counter()
        values = network_structure(out, k, x, y, p[k], leak).spectrum()
        seconds = time.perf_counter() - start
        kinks = kinks_on_points_summary(out["a"][k], out["b"][k], out["c"][k], out["w"][k], x, y, p[k], leak,
                                        values[0], values[-1])
        rows.append(dict(width=width, network=k, crossed=bool(out["status"][k] == "CROSSED"),
                         status=str(out["status"][k]), converged=bool(out["converged"][k]),
                         grad_norm=out["grad_norm"][k], loss=out["loss"][k], linear_loss=out["linear_loss"][k],
                         dimension=len(values), **spectrum_summary(values, rtol), spectrum_s=seconds,
                         **kinks, values=values))
    return rows


def network_theta(out, k):
    """theta = (a, b, w, c) of trained network k, (3n + 1,)."""
    return flat_params(out["a"][k], out["b"][k], out["c"][k], out["w"][k])


def line_rows(width, out, x, y, p, k, kind, top, rng, alphas, leak):
    """L(theta + alpha d) - L(theta) of network k along its top Hessian eigenvectors and as many
    random Gaussian directions, each normalised unit by unit."""
    theta = network_theta(out, k)
    _, vectors = network_structure(out, k, x, y, p[k], leak).spectrum(top)
    directions = np.concatenate([vectors, rng.normal(size=(len(theta), top))], axis=1)
    directions = np.stack([unitwise_normalised(d, theta) for d in directions.T], axis=1)
    change = line_losses(theta, directions, alphas, x, y, p[k], leak) \
        - network_loss(theta[None], x, y, p[k], leak)[0]
    names = [f"eigenvector {i + 1}" for i in range(top)] + [f"random {i + 1}" for i in range(top)]
    return [dict(width=width, network=kind, direction=name, alpha=alpha, loss_change=value)
            for name, row in zip(names, change) for alpha, value in zip(alphas, row)]


def diagnose_width(width, settings, data):
    """Train the sample and the pair candidates of one width (``settings`` of ``diagnose``, the
    DataSet ``data``); spectra, lines and interpolation."""
    runs, pairs, leak = settings["runs"], settings["pairs"], settings["leak"]
    x, y, p, a, b, c, w, h = diagnose_problems(settings["seed"], width, runs, pairs, settings["offset"], data, leak)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, settings["tol"], settings["epochs_per_check"],
                                settings["max_epochs"], True, data.probs, leak)
    spectra = network_spectrum_rows(width, {k: v[:runs] for k, v in out.items()}, x, y, p[:runs], settings["rtol"],
                                    leak)
    rng = np.random.default_rng([settings["seed"], width, 2])
    alphas = np.linspace(-1.0, 1.0, 41)
    crossed = out["status"] == "CROSSED"
    lines, curve = [], []
    for kind, members in (("stayed", np.flatnonzero(~crossed[:runs])), ("crossed", np.flatnonzero(crossed[:runs]))):
        if len(members):
            lines += line_rows(width, out, x, y, p, members[0], kind, settings["top"], rng, alphas, leak)
    stayed_pair, crossed_pair = (runs + np.flatnonzero(~crossed[runs:]), runs + np.flatnonzero(crossed[runs:]))
    if len(stayed_pair) and len(crossed_pair):
        ts = np.linspace(0.0, 1.0, 51)
        losses = interpolation_losses(network_theta(out, stayed_pair[0]), network_theta(out, crossed_pair[0]),
                                      ts, x, y, p[runs], leak)
        curve = [dict(width=width, t=t, loss=value, linear_loss=out["linear_loss"][runs])
                 for t, value in zip(ts, losses)]
    else:
        warn(f"n = {width}: no pair of a network that stayed put and one that crossed among {pairs} "
             f"on the same data; no interpolation")
    return spectra, lines, curve


def sides_text(rows):
    """'lambda_min [low, high], lambda_max [low, high]': the range over the sides of the kinks on
    points of all ``rows`` (networks left out where their sides were not enumerated)."""
    low = {k: np.nanmin([r[f"{k}_low"] for r in rows]) for k in ("lambda_min", "lambda_max")}
    high = {k: np.nanmax([r[f"{k}_high"] for r in rows]) for k in ("lambda_min", "lambda_max")}
    return ", ".join(f"{k} [{low[k]:.3e}, {high[k]:.3e}]" for k in ("lambda_min", "lambda_max"))


def format_diagnose_table(spectra):
    """Per width, kind (stayed, crossed) and kind of point (smooth; on point: some kink on a data
    point, the spectrum that of the side round-off chose): networks, converged, median lambda_min,
    lambda_max, minimal ratio and counts, and at points with a kink on a point the range of
    lambda_min and lambda_max over the sides of all of them."""
    lines = [f"{'n':>5} {'kind':>8} {'point':>8} {'nets':>4} {'conv':>4} {'lambda_min (median)':>20} "
             f"{'lambda_max':>10} {'min. ratio':>10} {'#pos':>5} {'#zero':>6} {'#neg':>5} {'dim':>5} "
             f"{'s/spectrum':>10}  range over the sides"]
    for width in sorted({r["width"] for r in spectra}):
        for crossed, kind in ((False, "stayed"), (True, "crossed")):
            for on_point, point in ((False, "smooth"), (True, "on point")):
                chosen = [r for r in spectra if r["width"] == width and r["crossed"] == crossed
                          and (r["kinks_on_points"] > 0) == on_point]
                if not chosen:
                    continue
                med = {k: float(np.median([r[k] for r in chosen])) for k in
                       ("lambda_min", "lambda_max", "minimal_ratio", "n_positive", "n_zero", "n_negative",
                        "spectrum_s")}
                sides = f"  {sides_text(chosen)}" if on_point else ""
                lines.append(f"{width:>5} {kind:>8} {point:>8} {len(chosen):>4} "
                             f"{sum(r['converged'] for r in chosen):>4} {med['lambda_min']:>20.3e} "
                             f"{med['lambda_max']:>10.3e} {med['minimal_ratio']:>10.4f} {med['n_positive']:>5.0f} "
                             f"{med['n_zero']:>6.0f} {med['n_negative']:>5.0f} {3 * width + 1:>5} "
                             f"{med['spectrum_s']:>10.4f}{sides}")
    return "\n".join(lines)
