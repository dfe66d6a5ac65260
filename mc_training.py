"""The Monte Carlo study of gradient descent on two-layer ReLU networks with one input and one output
(Holzmueller & Steinwart 2022): does a kink cross a data point, and how often, as the width n grows?

Network (width n):  f(x) = c + sum_i w_i sigma_alpha(a_i x + b_i),  kink of unit i at -b_i / a_i,
sigma_alpha(z) = max(z, alpha z) (leak alpha in [0, 1); alpha = 0 is relu, the paper's case).
Data: the paper's x = (-3, -2, -1, 1, 2, 3), y = (-1, 2, -1, 1, -2, 1) + Delta with probabilities
pi_j = 1/6, or any points x_j != 0 with at least two on each side of 0 (``--data``, ``--probs``).
Each run stands for N iid samples from pi, held as data weights p = Multinomial(N, pi) / N: the
paper's N = n^2 by default, or N = n^k, a fixed N, or the population p = pi (--samples).
A network is CROSSED once any kink reaches a data point; the paper's certificate shows for others
that gradient descent never moves a kink across one (LOCALLY_CONVERGED). The study estimates
p_hat = 1 - (LOCALLY_CONVERGED + EARLY_STOPPED) / total as a function of n (``mc_plotting.py``).

Commands: run (carry out a study, resumable), status (what a run folder holds), event (the
probability of the theorem's event at initialisation), soundness (the certificate checked by long
training), benchmark (speed), experiments (every published 1-D preset run or resumed, and one
document of them all). The machinery lives in kinks/: study (configuration), runner (chunks and run
folders), training, engines, compiled, theory, data, experiments_1d (the document).
"""
import time

from kinks.checks import as_list, check_choice, check_float, check_int, check_jobs, check_offset, require
from kinks.cli import run_cli
from kinks.figures import check_compile, write_plot
from kinks.files import save_csv, save_json
from kinks.locks import output_lock
from kinks.mc.benchmarks import (
    certificate_seconds, chunk_cost, dense_networks, engine_rate, straightforward_adam_rate, study_wall_time)
from kinks.mc.crossing import named_run_dir, runs_folder
from kinks.mc.data import parse_data
from kinks.mc.engines import DenseTrainer, ReducedTrainer, ReferenceDenseTrainer, ReferenceReducedTrainer
from kinks.mc.experiments import PUBLISHED, document_folder, planned_studies, run_studies, write_document
from kinks.mc.figures import event_plot
from kinks.mc.optimizers import SGD_BATCH
from kinks.mc.runner import read_manifest, run_chunks, summarize
from kinks.mc.study import make_config, run_dir_name, run_label
from kinks.mc.theory import C_A, C_W, EVENT_COLUMNS, EVENT_CONDITIONS, event_rows
from kinks.mc.training import STATUSES, soundness_row
from kinks.minima.examples import example_section
from kinks.paths import output_folder, results_root
from kinks.samples import SampleRule
from kinks.stats import clopper_pearson


def run(preset="quick", optimizer=None, step=None, init=None, stopping=None, offsets=None,
        widths=None, runs=None, seed=None, epochs_per_check=None, max_checks=None, engine=None,
        chunk_size=None, save_params=False, batch_size=None, leak=None, data=None, probs=None,
        samples=None, jobs=-1, out=None, backend="loky", scheduler=None, results_on_client=False, results=None):
    """Run, resume or extend a Monte Carlo study of the crossing probability.

    For every offset Delta and width n, --runs networks are trained (in chunks) until a stopping
    criterion holds, and every finished chunk is written. An option left out takes its preset's
    value. Rerunning the same command skips finished chunks; the same options with more --runs,
    --widths or --offsets extend the study in place (the missing chunks, and a partial last chunk,
    are computed; the result equals a run made at the larger size from the start).

    Args:
        preset: quick (n = 16, 32, 64; 500 runs; offsets 0, 0.1), paper (n = 16, 32, ..., 2048;
            10,000 runs; offsets 0, 0.01, 0.1), paper_sgd, paper_adam,
            paper_swapped (the published sgd, minibatch adam and swapped-initialisation runs) or
            leaky (leak 0.1, n = 16 ... 256, 2,000 runs, offset 0).
        optimizer: gd (full batch) | momentum (heavy ball, beta = 0.9) | sgd (gd with
            --batch_size 16) | adam (0.9, 0.999, 1e-8); default gd.
        step: theory (h = 1/lambda_max(M^1/2 A_ref M^1/2) at initialisation, per network) | small
            (h = 0.01/n); default theory.
        init: he (a_i ~ N(0, 2), w_i ~ N(0, 2/n)) | swapped (a_i ~ N(0, 2/n), w_i ~ N(0, 2));
            default he.
        stopping: comma list of crossing (always on), sufficient (the paper's certificate;
            full-batch gd on relu networks only), early (validation, patience 10 checks); default
            crossing,sufficient where the certificate applies, crossing,early otherwise.
        offsets: comma list of offsets Delta added to y; default the preset's (quick: 0,0.1;
            paper: 0,0.01,0.1).
        widths: comma list of widths n >= 2; default the preset's (quick: 16,32,64; paper:
            16,32,64,128,256,512,1024,2048).
        runs: networks per (Delta, n); default the preset's (quick: 500; paper: 10000).
        seed: master seed, an integer >= 0; default 0.
        epochs_per_check: epochs between checks of the stopping criteria; default 1000 (100 with
            --init swapped).
        max_checks: checks before a network is UNFINISHED; default 1000 (10000 with --init swapped).
        engine: auto (reduced, dense for adam) | dense (any optimizer, O(n) per network-epoch) |
            reduced (exact O(1) per network-epoch; gd, momentum, sgd at any batch size and leak);
            default auto.
        chunk_size: networks per chunk file; default 4096 (reduced engine), 2^16/n within
            16 ... 4096 (dense engine).
        save_params: also store the final a, b, c, w of every network.
        batch_size: full | B (at most 65536): every step uses the weights Multinomial(B, p) / B; default full
            (sgd: 16).
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu).
        data: your own points "x:y,x:y,..." (x != 0, distinct, two or more on each side of 0);
            default the paper's six points.
        probs: their probabilities "p,p,..." (positive, summing to 1); default uniform.
        samples: the samples N a run stands for, its data weights p, q = Multinomial(N, pi) / N:
            n^k (k > 0, N = round(n^k)), an integer N >= 1, or population (p = q = pi, no
            sampling); default n^2 (the paper's).
        jobs: worker processes, -1 for all cores.
        out: the run folder; default <results>/mc/<preset>, followed by the options that differ
            from the preset (e.g. results/mc/quick-runs100, results/mc/quick-sgd,
            results/mc/quick-samples_n1.5).
        backend: loky (worker processes here) | dask (a dask.distributed cluster).
        scheduler: with --backend dask, the address tcp://HOST:PORT of the scheduler; default a
            LocalCluster of --jobs processes here.
        results_on_client: with --backend dask, the workers send each chunk back to be written
            here (no shared file system needed).
        results: the results root, below which the default run folder is made; default results
            (or $KINKS_RESULTS).
    """
    options = dict(optimizer=optimizer, step=step, init=init, stopping=stopping, offsets=offsets,
                   widths=widths, runs=runs, seed=seed, epochs_per_check=epochs_per_check,
                   max_checks=max_checks, engine=engine, chunk_size=chunk_size, save_params=save_params,
                   batch_size=batch_size, leak=leak, data=data, probs=probs, samples=samples)
    require(isinstance(save_params, bool), f"--save_params must be true or false; got {save_params!r}")
    config = make_config(preset, **options)
    jobs = check_jobs(jobs)
    require(isinstance(results_on_client, bool), f"--results_on_client is a flag; got {results_on_client!r}")
    given = {key for key, value in options.items() if value is not None and value is not False}
    run_dir, option = output_folder(out, runs_folder(results) / run_dir_name(preset, config, given))
    run_dir, start = run_dir.absolute(), time.perf_counter()
    with output_lock(run_dir, option):
        run_chunks(run_dir, config, jobs, backend, scheduler, results_on_client,
                   f"{run_label(config)}, engine {config['engine']}")
    print(f"done in {time.perf_counter() - start:.1f} s: {run_dir}")
    return str(run_dir)


def status(input, results=None):
    """Print what a run folder holds: finished chunks and status counts per (offset, width).

    Args:
        input: the run folder (a folder holding run.json): a path, or its name below
            <results>/mc, e.g. quick or results/mc/quick.
        results: the results root, below which --input names are looked up; default results
            (or $KINKS_RESULTS).
    """
    run_dir = named_run_dir(runs_folder(results), input)
    read_manifest(run_dir / "run.json")
    table = summarize(run_dir)
    names = [s for s in STATUSES if any(s in row for row in table.values())]
    print(f"{'offset':>8} {'n':>6} {'chunks':>9} {'runs':>7} " + " ".join(f"{s:>17}" for s in names))
    for (offset, width), row in table.items():
        print(f"{offset:>8g} {width:>6} {row['chunks']:>4}/{row['total']:<4} {row['runs']:>7} "
              + " ".join(f"{row.get(s, 0):>17}" for s in names))


def format_event_table(rows, runs, epsilon, gamma, factor, rule):
    """The printed table of ``event``: per width the fraction of draws meeting each condition, and
    the joint fraction's interval."""
    names = EVENT_CONDITIONS + ("joint",)
    lines = [f"fraction of {runs} runs meeting each condition (eps = {epsilon:g}, gamma = {gamma:g}, "
             f"r = {factor:g}, N = {rule.text}; 95% Clopper-Pearson interval of the joint fraction)",
             f"{'n':>6} " + " ".join(f"{c:>6}" for c in names) + "   joint 95% interval"]
    lines += [f"{row['n']:>6} " + " ".join(f"{row[f'{c}_frac']:>6.3f}" for c in names)
              + f"   [{row['joint_low']:.4f}, {row['joint_high']:.4f}]" for row in rows]
    return "\n".join(lines)


def event(widths=tuple(2**k for k in range(4, 12)), runs=10_000, epsilon=0.1, gamma=0.1, factor=1.0,
          seed=0, samples=SampleRule.DEFAULT, out=None, compile="auto", results=None):
    """Estimate the probability of the theorem's event at initialisation.

    He initialisation, the paper's data, N samples (default n^2): per width the fraction of draws meeting
    each of W2 ... W7, D1, D2 and all of them (W1 and D3 always hold), with 95 % Clopper-Pearson
    intervals; writes event.csv,
    event.json (settings) and the figure event.png, event.tex and event.pdf.

    Args:
        widths: comma list of widths n >= 2; default 16,32,...,2048.
        runs: draws per width; default 10000.
        epsilon: the theorem's eps, in (0, 1]; default 0.1.
        gamma: the theorem's gamma, in (0, 1]; default 0.1.
        factor: the right-hand-side factor r, in (0, 1e6]; default 1.
        seed: master seed, an integer >= 0; default 0.
        samples: the samples N of the data weights p = Multinomial(N, pi) / N: n^k (k > 0), an
            integer N >= 1, or population (p = pi, N = infinity); default n^2.
        out: the folder to write; default <results>/event/eps<epsilon>_gamma<gamma>_r<factor>
            (with _samples_n1.5 and so on appended for another --samples).
        compile: the figure's LaTeX to PDF: auto (pdflatex when installed; else matplotlib's PDF) |
            yes (an error without pdflatex) | no (matplotlib's PDF).
        results: the results root, below which the default folder is made; default results (or
            $KINKS_RESULTS).
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, seed = check_int("runs", runs), check_int("seed", seed, 0)
    epsilon = check_float("epsilon", epsilon, 0.0, strict=True, maximum=1.0)
    gamma = check_float("gamma", gamma, 0.0, strict=True, maximum=1.0)
    factor = check_float("factor", factor, 0.0, strict=True, maximum=1e6)
    compile = check_compile(compile)
    rule = SampleRule(samples)
    rule.count(max(widths))  # N must be drawable at every width
    name = f"eps{epsilon:g}_gamma{gamma:g}_r{factor:g}" + (
        "" if rule.text == rule.DEFAULT else f"_{rule.folder_part()}")
    out, option = output_folder(out, results_root(results) / "event" / name)
    start = time.perf_counter()
    with output_lock(out, option):  # before the draws: a second writer is refused before it computes
        rows = event_rows(widths, runs, epsilon, gamma, factor, seed, rule)
        print(format_event_table(rows, runs, epsilon, gamma, factor, rule))
        settings = dict(widths=widths, runs=runs, epsilon=epsilon, gamma=gamma, factor=factor, seed=seed,
                        samples=rule.text, c_a=C_A, c_w=C_W, wall_time_s=round(time.perf_counter() - start, 2))
        save_csv(out / "event.csv", rows, EVENT_COLUMNS)
        save_json(out / "event.json", settings)
        notes = [rf"$\varepsilon$ = {epsilon:g}, $\gamma$ = {gamma:g}, $r$ = {factor:g}; {runs:,} runs per $n$",
                 "95 % Clopper–Pearson intervals; series offset horizontally"]
        figures = write_plot(event_plot(rows, notes, rule), out / "event", compile)
    print(f"done in {settings['wall_time_s']} s: {out}: wrote event.csv, event.json, "
          + ", ".join(path.name for path in figures))


def soundness(widths=(16, 32), runs=2000, epochs=200_000, offset=0.0, seed=0, data=None, probs=None):
    """Check the certificate empirically, by training certified networks much longer.

    Train gd networks (theory step, He initialisation) until certified or crossed, then train
    every certified network ``epochs`` more epochs with the dense trainer, testing for a crossing
    after every epoch. Prints, per width, how many were certified, how many of those crossed later
    (the theory says none), and the largest reach of their kinks into the gap (x_-, x_+) (kink /
    x_+ or kink / x_-, checked every 100 epochs; 1 would be a data point).

    Args:
        widths: comma list of widths n >= 2.
        runs: networks per width.
        epochs: epochs of further training of the certified networks.
        offset: offset Delta added to y, |Delta| <= 1e6.
        seed: seed, an integer >= 0.
        data: your own points "x:y,x:y,..." as in run; default the paper's six points.
        probs: their probabilities "p,p,..." as in run; default uniform.
    """
    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    runs, epochs = check_int("runs", runs), check_int("epochs", epochs)
    offset, seed = check_offset("offset", offset), check_int("seed", seed, 0)
    dataset = parse_data(data, probs)
    print(f"gd, theory step, He initialisation; {epochs:,} epochs more after the certificate; offset {offset:g}, "
          f"seed {seed}; data {dataset.label()}")
    print(f"{'n':>6} {'runs':>6} {'certified':>10} {'crossed later':>14} {'95 % interval':>16} "
          f"{'max reach into gap':>19}")
    for width in widths:
        certified, crossed, kink = soundness_row(width, runs, epochs, offset, seed, dataset)
        interval = "[{:.4f}, {:.4f}]".format(*clopper_pearson(crossed, certified)) if certified else "none certified"
        print(f"{width:>6} {runs:>6} {certified:>10} {crossed:>14} {interval:>16} {kink:>19.4f}")
    print("crossed later: share of the certified networks, 95 % Clopper-Pearson interval")


def benchmark(widths=(16, 256, 2048), seconds=2.0, threads=1, study_width=512, study_runs=2000, sgd_width=64,
              adam_width=512):
    """Measure the speed of the compiled engines against their NumPy references.

    Side by side in one process on ``threads`` BLAS threads: network-epochs per second of
    full-batch gd (step + crossing test) of the reduced trainer (4096 networks) and the dense
    trainer (2^16 / n networks, at least 8), and their ratio compiled / NumPy. Then the cost per
    network-epoch of sgd against gd (one chunk of 4,096 networks of ``sgd_width``, small step,
    crossing + early stopping, each); minibatch Adam (B = 16) of the compiled dense trainer against
    a straightforward dense NumPy step at ``adam_width`` (2^16 / n networks); the wall time of the
    study ``run --widths study_width --runs study_runs --offsets 0`` (paper settings, one process)
    with each engine (study_runs 0 skips it); and one certificate check of 4,096 networks at n = 16
    (NumPy and compiled).

    Args:
        widths: comma list of widths n >= 2.
        seconds: time per measurement, > 0 and <= 3600.
        threads: BLAS threads, >= 1.
        study_width: width n >= 2 of the timed study.
        study_runs: networks of the timed study, >= 0 (0 skips it).
        sgd_width: width n >= 2 of the sgd-against-gd chunks, 0 skips them.
        adam_width: width n >= 2 of the Adam measurement, 0 skips it.
    """
    from threadpoolctl import threadpool_limits

    widths = as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    seconds = check_float("seconds", seconds, 0.0, strict=True, maximum=3600)
    threads = check_int("threads", threads, 1)
    study_width = check_int("study_width", study_width, 2)
    study_runs = check_int("study_runs", study_runs, 0)
    sgd_width, adam_width = check_int("sgd_width", sgd_width, 0), check_int("adam_width", adam_width, 0)
    for name, value in (("sgd_width", sgd_width), ("adam_width", adam_width)):
        require(value != 1, f"--{name} must be 0 (skip) or a width n >= 2; got 1")
    with threadpool_limits(threads):
        print(f"{'n':>6} {'engine':>8} {'networks':>9} {'NumPy':>12} {'compiled':>12} {'ratio':>7}"
              f"   (network-epochs/s, {threads} thread(s))")
        for n in widths:
            for name, classes, P, epochs in (
                    ("reduced", (ReferenceReducedTrainer, ReducedTrainer), 4096, 100),
                    ("dense", (ReferenceDenseTrainer, DenseTrainer), dense_networks(n), 10)):
                numpy_rate, compiled_rate = (engine_rate(cls, n, P, epochs, seconds) for cls in classes)
                print(f"{n:>6} {name:>8} {P:>9} {numpy_rate:>12.4g} {compiled_rate:>12.4g}"
                      f" {compiled_rate / numpy_rate:>7.1f}", flush=True)
        if sgd_width:
            gd, sgd = (chunk_cost(optimizer, sgd_width, 4096) for optimizer in ("gd", "sgd"))
            print(f"sgd against gd, 4096 networks at n = {sgd_width}, small step, crossing + early: gd "
                  f"{1e9 * gd:.1f} ns, sgd {1e9 * sgd:.1f} ns per network-epoch, ratio {sgd / gd:.1f}", flush=True)
        if adam_width:
            P = dense_networks(adam_width)
            compiled = engine_rate(DenseTrainer, adam_width, P, 100, seconds, "adam", SGD_BATCH)
            numpy_step = straightforward_adam_rate(adam_width, P, seconds)
            print(f"minibatch adam, {P} networks at n = {adam_width}: compiled {compiled:.4g}, straightforward NumPy "
                  f"step {numpy_step:.4g} network-epochs/s, ratio {compiled / numpy_step:.1f}", flush=True)
        if study_runs:
            times = [study_wall_time(study_width, study_runs, reference) for reference in (True, False)]
            print(f"study --widths {study_width} --runs {study_runs} --offsets 0, one process: NumPy "
                  f"{times[0]:.1f} s, compiled {times[1]:.1f} s, ratio {times[0] / times[1]:.1f}")
        numpy_check, compiled_check = certificate_seconds(seconds)
        print(f"certificate check, 4096 networks at n = 16: NumPy {1e3 * numpy_check:.2f} ms, "
              f"compiled {1e3 * compiled_check:.2f} ms")


def experiments(presets=PUBLISHED, runs=None, widths=None, jobs=-1, results=None, out=None, compile="auto",
                event_runs=10_000):
    """Run or resume the published 1-D presets, then write one document of them all.

    Each preset is run, resumed or extended in the run folder that run --preset P uses with the same
    --runs and --widths (below <results>/mc), then experiments_1d.tex (compiled to
    experiments_1d.pdf where pdflatex is installed) is written with, per preset, the p_hat-against-n
    figure; theory against experiment (paper preset); the theorem's event at initialisation
    (eps = gamma = 0.1, r = 1 and 10); every cell against the shipped reference with its z-score;
    and the 1-D deviations from the published code. Its tables are written beside it as CSV.

    Args:
        presets: comma list of paper, paper_sgd, paper_adam, paper_swapped, leaky; default all five.
        runs: networks per (Delta, n) for every preset; default each preset's (10000; leaky 2000).
        widths: comma list of widths n >= 2 for every preset; default each preset's.
        jobs: worker processes, -1 for all cores.
        results: the results root; the run folders are <results>/mc/<preset>...; default results
            (or $KINKS_RESULTS).
        out: the folder of the document; default <results>/mc/experiments, followed by the presets
            when not all five and by --runs and --widths where given (e.g.
            experiments-paper+paper_sgd-widths16_32-runs40).
        compile: auto (pdflatex when installed; else the LaTeX only) | yes (an error without
            pdflatex) | no.
        event_runs: draws per width of the theorem's event (its table and the theory figure), an
            integer >= 0; 0 leaves both out; default 10000.
    """
    start = time.perf_counter()
    presets = as_list("presets", presets, lambda option, value: check_choice(option, value, PUBLISHED))
    presets = [preset for preset in PUBLISHED if preset in presets]
    runs = None if runs is None else check_int("runs", runs)
    widths = None if widths is None else as_list("widths", widths, lambda o, v: check_int(o, v, 2))
    jobs, compile, event_runs = check_jobs(jobs), check_compile(compile), check_int("event_runs", event_runs, 0)
    planned = planned_studies(results, presets, runs, widths)
    out, option = output_folder(out, document_folder(results, presets, runs, widths))
    out = out.absolute()
    with output_lock(out, option):
        done = run_studies(planned, jobs)
        written = write_document(planned, out, compile, event_runs, [example_section(out)])
    for preset, _, run_dir in planned:
        print(f"{preset}: {done[preset][0]} chunks computed, {done[preset][1]} reused: {run_dir}")
    left_out = [preset for preset in PUBLISHED if preset not in presets]
    if left_out:
        print(f"left out (not in --presets): {', '.join(left_out)}")
    if not event_runs:
        print("left out (--event_runs 0): the theorem's event and theory against experiment")
    for what, paths in written.items():
        print(f"{what}: " + ", ".join(map(str, paths)))
    if compile == "no":
        print("skipped (--compile no): the document's PDF")
    print(f"done in {time.perf_counter() - start:.1f} s")


COMMANDS = {"run": run, "status": status, "event": event, "soundness": soundness, "benchmark": benchmark,
            "experiments": experiments}
ALIASES = {"out": "input"}  # status --out, the old spelling of --input


def main():
    """The console script ``mc_training`` (pyproject.toml), and ``python mc_training.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
