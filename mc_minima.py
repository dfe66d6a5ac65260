"""What gradient descent finds in the 1-D study of ``mc_training.py``: the risk of the trained
networks against the width n, and the loss landscape at the points where training stops.

Networks, data and problems are those of ``mc_training.py`` (same seeds, data weights p, He
initialisation, gd with the theory step h): f(x) = c + sum_i w_i sigma(a_i x + b_i) with
sigma(z) = max(z, alpha z) (relu: alpha = 0), L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2 on the
points x_j (the paper's six, or --data) with y_j + Delta, p ~ Multinomial(n^2, pi) / n^2.

risk: every network is trained to a stationary point, ||grad L|| < tol (or an epoch budget),
WITHOUT stopping at a crossing: on the exact reduced engine until a kink reaches a data point, on
the dense engine after (``kinks.minima.stationary.StationaryTraining``). Per network: crossed and when, the
empirical loss L, the population risk R(f) = 1/2 sum_j pi_j (f(x_j) - y_j)^2 under the data
distribution pi, the side-wise linear-regression floor L_lin and its risk, ||grad L|| and the
epochs used. The Bayes risk is 0 (y is a function of x); the population linear-regression risk is
R_lin = L_lin with p = pi. The paper's claim: networks that stay put end at L = L_lin, so as
n -> infinity (p -> pi, crossings rarer) the mean risk tends to R_lin, not to the Bayes risk.

diagnose: the exact Hessian of L in all 3n + 1 parameters at the found points, its full spectrum
from the block-plus-low-rank structure (``kinks.minima.hessian``), the loss along lines through them and
between a network that stayed put and one that crossed on the same data (``kinks.minima.landscape``).

trace: networks of the study trained for a fixed number of epochs (never stopping at a crossing),
the landscape metrics recorded at log-spaced epochs (``kinks.minima.trace``): losses, gradient norm,
Hessian sharpness and its ratio to 2/h, the gradient covariance, weight norm and movement.

benchmark: seconds per Hessian spectrum, structured against dense.
"""
import time

import numpy as np

from kinks.checks import as_list, check_float, check_int, check_jobs, check_leak, check_offset
from kinks.cli import run_cli
from kinks.figures import save_png_and_pdf
from kinks.files import save_csv, save_json, save_npz
from kinks.locks import output_lock
from kinks.mc.data import parse_data
from kinks.mc.runner import run_chunks
from kinks.mc.study import run_label
from kinks.minima.benchmarks import hessian_seconds
from kinks.minima.figures import (
    auc_figure, extremes_figure, interpolation_figure, lines_figure, risk_figure, setting_text, spectrum_figure,
    trace_figure)
from kinks.minima.landscape import DIAGNOSE_COLUMNS, diagnose_width, format_diagnose_table
from kinks.minima.stationary import (
    RISK_COLUMNS, RISK_DEFAULTS, RISK_KEYS, check_budget, format_risk_table, load_risk, risk_config, risk_rows,
    simulate_risk_chunk)
from kinks.minima.trace import (
    TRACE_DEFAULTS, auc_rows, cells, earliest_separation, load_traces, recorded_config, sharpness_rows,
    simulate_trace_chunk, trace_columns, trace_config, trace_rows)
from kinks.paths import output_folder, results_root
from kinks.samples import SampleRule


def run_folder(out, name, config, results=None):
    """The run folder of a command and the option that names it: --out, else
    <results>/minima/<name>, followed by the samples rule where it is not n^2 (e.g.
    risk-samples_n1.5)."""
    rule = SampleRule(config["samples"])
    folder = name if rule.text == SampleRule.DEFAULT else f"{name}-{rule.folder_part()}"
    run_dir, option = output_folder(out, results_root(results) / "minima" / folder)
    return run_dir.absolute(), option


def risk_tables(run_dir, config, jobs):
    """``risk``'s work in its locked run folder: the chunks, then the table, CSVs and figure."""
    run_chunks(run_dir, config, jobs, label=f"risk at stationary points of {run_label(config)}",
               simulate=simulate_risk_chunk)
    pooled = load_risk(run_dir, config)
    rows = risk_rows(pooled, config)
    print(setting_text(config))
    print(format_risk_table(rows))
    save_csv(run_dir / "risk.csv", rows, RISK_COLUMNS)
    networks = [dict(offset=offset, width=width, **{k: v[i] for k, v in cell.items()})
                for (offset, width), cell in sorted(pooled.items()) for i in range(len(cell["status"]))]
    save_csv(run_dir / "risk_networks.csv", networks, ["offset", "width", *RISK_KEYS])
    print(f"table: {run_dir / 'risk.csv'}; figure: {risk_figure(rows, config, run_dir / 'risk')}")


def risk(offsets=RISK_DEFAULTS["offsets"], widths=RISK_DEFAULTS["widths"], runs=RISK_DEFAULTS["runs"],
         seed=0, tol=RISK_DEFAULTS["tol"], max_epochs=RISK_DEFAULTS["max_epochs"],
         epochs_per_check=RISK_DEFAULTS["epochs_per_check"], chunk_size=RISK_DEFAULTS["chunk_size"],
         save_params=False, data=None, probs=None, leak=0.0, samples=SampleRule.DEFAULT, jobs=-1, out=None,
         results=None):
    """Train every network to a stationary point and report its population risk against n.

    Rerunning the same command resumes; the table, risk.csv, risk_networks.csv and risk.png/.pdf
    are written to the run folder.

    Args:
        offsets: comma list of offsets Delta added to y; default 0,0.1.
        widths: comma list of widths n >= 2; default 16,32,64,128,256,512,1024.
        runs: networks per (Delta, n); default 500.
        seed: master seed, an integer >= 0; default 0 (the networks of mc_training.py run --seed 0).
        tol: a network stops at ||grad L|| < tol; in (0, 1], default 1e-8.
        max_epochs: the epoch budget per network, a multiple of --epochs_per_check; default 1000000.
        epochs_per_check: epochs between checks of ||grad L|| (and of the certificate); default 1000.
        chunk_size: networks per chunk file; default 100, so that --jobs can share a cell.
        save_params: also store the final a, b, c, w of every network.
        data: your own points "x:y,x:y,..." (x != 0, distinct, two or more on each side of 0);
            default the paper's six points.
        probs: their probabilities pi "p,p,..." (positive, summing to 1), which draw the data
            weights p and weigh the risk R; default uniform.
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu). With a leak the
            certificate does not apply and no network is certified.
        samples: the samples N a run stands for, its data weights p = Multinomial(N, pi) / N:
            n^k (k > 0), an integer N >= 1, or population (p = pi, no sampling); default n^2.
        jobs: worker processes, -1 for all cores.
        out: the run folder; default <results>/minima/risk (risk-samples_n1.5 and so on for
            another --samples).
        results: the results root, below which the default run folder is made; default results
            (or $KINKS_RESULTS).
    """
    config = risk_config(offsets, widths, runs, seed, tol, epochs_per_check, max_epochs, chunk_size, save_params,
                         data, probs, leak, samples)
    jobs = check_jobs(jobs)
    run_dir, option = run_folder(out, "risk", config, results)
    start = time.perf_counter()
    with output_lock(run_dir, option):  # held through the table and figure, which run_chunks does not write
        risk_tables(run_dir, config, jobs)
    print(f"done in {time.perf_counter() - start:.1f} s: {run_dir}")
    return str(run_dir)


def diagnose_files(out, settings, dataset):
    """``diagnose``'s work in its locked folder ``out``: every width's networks, then the tables,
    settings.json and the figures."""
    spectra, lines, curves = [], [], []
    for width in settings["widths"]:
        start = time.perf_counter()
        parts = diagnose_width(width, settings, dataset)
        for store, part in zip((spectra, lines, curves), parts):
            store += part
        print(f"n = {width}: {time.perf_counter() - start:.1f} s")
    print(setting_text(settings))
    print(format_diagnose_table(spectra))
    save_csv(out / "diagnose.csv", spectra, DIAGNOSE_COLUMNS)
    save_csv(out / "lines.csv", lines, ["width", "network", "direction", "alpha", "loss_change"])
    save_csv(out / "interpolation.csv", curves, ["width", "t", "loss", "linear_loss"])
    save_json(out / "settings.json", settings)
    for name, draw, rows in (("spectrum", spectrum_figure, spectra), ("extremes", extremes_figure, spectra),
                             ("lines", lines_figure, lines), ("interpolation", interpolation_figure, curves)):
        if rows:
            save_png_and_pdf(draw(rows, settings), out / name)


def diagnose(widths=(16, 64, 256), runs=16, pairs=32, offset=0.0, seed=0, tol=1e-8, max_epochs=300_000,
             epochs_per_check=1000, top=3, rtol=1e-6, data=None, probs=None, leak=0.0, out=None, results=None):
    """The loss landscape where gd stops: Hessian spectra, lines and interpolation.

    Per width, ``runs`` networks (problems drawn as mc_training draws them) and ``pairs`` more on
    the first problem's data weights p are trained to stationarity as in risk; written to --out:
    diagnose.csv (one row per network: its spectrum's summary), lines.csv, interpolation.csv,
    settings.json and the figures spectrum, extremes, lines and interpolation (PNG and PDF).

    Args:
        widths: comma list of widths n >= 2; default 16,64,256.
        runs: sampled networks per width, whose Hessian spectra are computed; default 16.
        pairs: further networks on the first problem's data weights p, among which the first that
            stayed put and the first that crossed are interpolated; >= 0, default 32.
        offset: the offset Delta added to y; default 0.
        seed: master seed, an integer >= 0; default 0.
        tol: a network stops at ||grad L|| < tol; in (0, 1], default 1e-8.
        max_epochs: the epoch budget per network, a multiple of --epochs_per_check; default 300000.
        epochs_per_check: epochs between checks of ||grad L||; default 1000.
        top: Hessian eigenvectors (and as many random directions) per line figure; default 3.
        rtol: eigenvalues within rtol max|lambda| of 0 count as zero; in (0, 1], default 1e-6.
        data: your own points "x:y,x:y,..." as in risk; default the paper's six points.
        probs: their probabilities pi "p,p,..." as in risk; default uniform.
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu). The Hessian is
            exact for any leak (sigma'' = 0 away from kinks).
        out: the folder to write; default <results>/minima/diagnose.
        results: the results root, below which the default folder is made; default results (or
            $KINKS_RESULTS).
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, pairs = check_int("runs", runs), check_int("pairs", pairs, 0)
    offset, seed = check_offset("offset", offset), check_int("seed", seed, 0)
    tol = check_float("tol", tol, 0.0, strict=True, maximum=1.0)
    epochs_per_check, max_epochs = check_budget(epochs_per_check, max_epochs)
    top = check_int("top", top)
    rtol = check_float("rtol", rtol, 0.0, strict=True, maximum=1.0)
    dataset, leak = parse_data(data, probs), check_leak(leak)
    out, option = output_folder(out, results_root(results) / "minima" / "diagnose")
    settings = dict(widths=widths, runs=runs, pairs=pairs, offset=offset, seed=seed, tol=tol,
                    max_epochs=max_epochs, epochs_per_check=epochs_per_check, top=top, rtol=rtol, leak=leak,
                    data=np.stack([dataset.x, dataset.y], 1).tolist(), probs=dataset.probs.tolist())
    with output_lock(out, option):  # before the training: a second writer is refused before it computes
        diagnose_files(out, settings, dataset)
    print(f"written to {out}")
    return str(out)


def format_trace_summary(sharpness, separation):
    """The printed summary of a trace run: per cell, group and kind of state the edge-of-stability
    fractions (and where kinks on points were not recorded, a line saying so), then per cell the
    earliest epoch with a separating metric."""
    lines = [f"{'Delta':>6} {'n':>5} {'group':>8} {'states':>13} {'nets':>5} {'traced':>7} "
             f"{'epochs with lambda_max > 2/h':>29} {'95% t interval':>17} {'time share':>10} {'ever':>5} "
             f"{'max lambda h before crossing':>28} {'above on every/some side':>24}"]
    for r in sharpness:
        sides = f"{r['epochs_above_every_side']}/{r['epochs_above_some_side']}" if "epochs_above_every_side" in r \
            else "-"
        lines.append(f"{r['offset']:>6g} {r['width']:>5} {r['group']:>8} {r['states']:>13} {r['networks']:>5} "
                     f"{r['traced_states']:>7} {r['epochs_above']:>6} = {r['fraction_above']:>20.4f} "
                     f"[{r['ci_low']:>6.4f}, {r['ci_high']:>6.4f}] {r['time_fraction_above']:>10.4f} "
                     f"{r['networks_ever_above']:>5} {r['max_sharpness_before_crossing']:>28.4f} {sides:>24}")
    if all(r["states"] == "all" for r in sharpness):
        lines.append("kinks on points: not recorded in this run folder (a trace written before 6 December 2026)")
    for (offset, width), row in sorted(separation.items()):
        found = "none" if row is None else (
            f"epoch {row['epoch']}: {row['metric']} AUC {row['auc']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] "
            f"({row['will_cross']} will cross, {row['stays']} stay)")
        lines.append(f"Delta = {offset:g}, n = {width}: earliest AUC >= 0.9 (either way): {found}")
    return "\n".join(lines)


def trace_tables(run_dir, config, jobs):
    """``trace``'s work in its locked run folder: the chunks (a folder written before kinks on
    points were recorded is reported as it is, ``recorded_config``), then the summary, CSVs, npz,
    settings and figures."""
    config = recorded_config(run_dir, config)
    run_chunks(run_dir, config, jobs, label=f"training traces of {run_label(config)}", simulate=simulate_trace_chunk)
    pooled = load_traces(run_dir, config)
    sharpness, aucs = sharpness_rows(pooled), auc_rows(pooled)
    separation = earliest_separation(aucs)
    print(setting_text(config))
    print(format_trace_summary(sharpness, separation))
    save_npz(run_dir / "trace.npz", **pooled)
    save_csv(run_dir / "trace.csv", trace_rows(pooled), trace_columns(pooled))
    save_csv(run_dir / "sharpness.csv", sharpness, list(sharpness[0]))
    save_csv(run_dir / "auc.csv", aucs, ["offset", "width", "metric", "epoch", "auc", "ci_low", "ci_high",
                                         "separation", "will_cross", "stays"])
    save_json(run_dir / "settings.json", dict(config, traced_epochs=pooled["epochs"].tolist()))
    for offset, width, members in cells(pooled):
        save_png_and_pdf(trace_figure(pooled, config, offset, width, members),
                         run_dir / f"trace_{offset:g}_{width}")
    save_png_and_pdf(auc_figure(aucs, pooled, config), run_dir / "auc")


def trace(offsets=TRACE_DEFAULTS["offsets"], widths=TRACE_DEFAULTS["widths"], runs=TRACE_DEFAULTS["runs"], seed=0,
          optimizer="gd", step="theory", epochs=TRACE_DEFAULTS["epochs"], per_decade=TRACE_DEFAULTS["per_decade"],
          chunk_size=TRACE_DEFAULTS["chunk_size"], data=None, probs=None, leak=0.0, samples=SampleRule.DEFAULT,
          jobs=-1, out=None, results=None):
    """Trace the landscape along training: eight metrics at log-spaced epochs.

    Every network is trained for --epochs epochs on the dense engine (never stopping at a
    crossing); at epoch 0, about --per_decade epochs per decade and the last it records: train
    loss L, test loss R (the population risk under pi), ||grad L||, the 3 largest Hessian
    eigenvalues and lambda_min (the structured spectrum of diagnose), the sharpness
    lambda_max(H) h (2 is the edge of stability), |cos(grad L, v_k)| with the top 3 Hessian
    eigenvectors, the m - 1 nonzero eigenvalues of the per-sample gradient covariance under the
    data weights p (its rank is at most m - 1), ||theta||, cos(theta, theta_0) and
    ||theta - theta_0||; the units whose kink sits on a data point (within 1e-13 max|x_j|), where
    L is not twice differentiable, with the range of lambda_max(H) and lambda_min(H) over the
    sides of those kinks; and whether and when each network crossed. The sharpness summary is
    given for all, smooth and kink-on-point states. Rerunning the same command resumes; a run
    folder written before kinks on points were recorded is reported as it is. Written to the run
    folder: trace.csv (one row per network and traced epoch),
    trace.npz, settings.json, sharpness.csv, auc.csv and the figures trace_<Delta>_<n> and auc
    (PNG and PDF).

    Args:
        offsets: comma list of offsets Delta added to y; default 0.
        widths: comma list of widths n >= 2; default 16,64,256.
        runs: networks per (Delta, n); default 200.
        seed: master seed, an integer >= 0; default 0 (the networks of risk --seed 0 and
            mc_training.py run --seed 0 with the same chunk size).
        optimizer: gd | momentum | sgd | adam; default gd.
        step: the step rule, theory (h = 1/lambda_max at initialisation) or small (h = 0.01/n);
            default theory.
        epochs: epochs each network is trained, an integer >= 1; default 100000.
        per_decade: traced epochs per decade of epochs, an integer >= 1; default 50.
        chunk_size: networks per chunk file; default 100, so that --jobs can share a cell.
        data: your own points "x:y,x:y,..." as in risk; default the paper's six points.
        probs: their probabilities pi "p,p,..." as in risk; default uniform.
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu).
        samples: the samples N a run stands for, as in risk: n^k (k > 0), an integer N >= 1, or
            population; default n^2.
        jobs: worker processes, -1 for all cores.
        out: the run folder; default <results>/minima/trace (trace-samples_n1.5 and so on for
            another --samples).
        results: the results root, below which the default run folder is made; default results
            (or $KINKS_RESULTS).
    """
    config = trace_config(offsets, widths, runs, seed, optimizer, step, epochs, per_decade, chunk_size, data, probs,
                          leak, samples)
    jobs = check_jobs(jobs)
    run_dir, option = run_folder(out, "trace", config, results)
    start = time.perf_counter()
    with output_lock(run_dir, option):  # held through the tables and figures, which run_chunks does not write
        trace_tables(run_dir, config, jobs)
    print(f"written to {run_dir} in {time.perf_counter() - start:.1f} s")
    return str(run_dir)


def benchmark(widths=(256, 2048), repeats=5):
    """Measure the seconds per full Hessian spectrum, structured against dense.

    All 3n + 1 eigenvalues of one network from the block-plus-low-rank structure, and from forming H
    and dense eigh where 3n + 1 <= 1000 (best of ``repeats``), at a network drawn as mc_training
    does and trained 2,000 epochs (kinks spread by the training).

    Args:
        widths: comma list of widths n >= 2; default 256,2048.
        repeats: timed calls per measurement, the best counts; an integer >= 1, default 5.
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    repeats = check_int("repeats", repeats)
    print(f"{'n':>6} {'3n+1':>6} {'structured s':>13} {'dense eigh s':>13}")
    for width in widths:
        structured, dense = hessian_seconds(width, repeats)
        print(f"{width:>6} {3 * width + 1:>6} {structured:>13.5f} {dense:>13.5f}")


COMMANDS = {"risk": risk, "diagnose": diagnose, "trace": trace, "benchmark": benchmark}


def main():
    """The console script ``mc_minima`` (pyproject.toml), and ``python mc_minima.py``."""
    run_cli(COMMANDS)


if __name__ == "__main__":
    main()
