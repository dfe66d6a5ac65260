"""Report of the Monte Carlo study of ``mc_training.py``: tables, CSV and the paper's figure, and
illustrations of training one network.

report: every run folder (a folder holding run.json) below a results folder, or the ones named, is
read chunk by chunk; a corrupt, truncated or foreign file is named in a warning and skipped. Per
run, offset Delta and width n it counts the statuses and estimates the crossing probability

    p_hat = 1 - (LOCALLY_CONVERGED + EARLY_STOPPED) / total,

(every network not shown to stay put counts as possibly crossed) with a 95 % Clopper-Pearson
interval, and per (run, Delta) fits p_hat ~ n^e (log p_hat on log n) by weighted least squares
(weights from the binomial variances). The figure (log-log, p_hat with its interval against n,
series dodged horizontally, the paper's guide line 2 / sqrt(n), a note stating the interval, the
runs per point and the epoch budget) is written as PNG and as standalone pgfplots LaTeX, compiled
with pdflatex where available (``kinks.figures.write_plot``).

report also draws theory against experiment for the runs in the theorem's setting (gd, theory
step, He initialisation, relu, the paper's data, Delta = 0): the stuck fraction 1 - p_hat beside the
probability of the theorem's event (r = 1 and r = 10, computed with the run's own N rule, epsilon
and gamma) against n, with intervals.

report --against reference: per (run, Delta, n) the run's estimate beside the one shipped under
reference/ (or another folder of such CSVs) for the same experiment, with the two-proportion
z-score. reference: writes such a reference CSV (counts, seed, command) from a finished run.

animate: the same pair as a GIF (and MP4 where ffmpeg is installed) on log-spaced epochs, for any
--data, --leak and --optimizer: f(x), kinks, data and epoch side by side, the loss beneath.

examples: two networks of width 16 trained by gd for 20,000 epochs on the same data weights, one
that stays put and one whose kink crosses a data point: each function with its kinks and the
side-wise least-squares lines, the kinks against epochs, and the loss and gradient norm at every
epoch.
"""
from pathlib import Path

from kinks.checks import check_choice, check_float, check_int, require
from kinks.cli import run_cli
from kinks.figures import check_compile, remove_plots, write_plot
from kinks.files import save_csv
from kinks.locks import output_lock
from kinks.mc.crossing import (
    AGAINST_COLUMNS, FIT_COLUMNS, MOST_SERIES, REFERENCE_COLUMNS, REFERENCE_DIR, ROW_COLUMNS, THEORY_COLUMNS,
    against_rows, figure_groups, figure_suffix, fit_rows, format_against, format_fits, format_table,
    load_references, load_run, load_runs, named_run_dir, reference_rows, report_folder, run_name, runs_folder,
    series, series_labels, shared_parts, table_rows, theory_names, theory_rows)
from kinks.mc.figures import FIGURE_NAME, THEORY_NAME, crossing_plot, figure_note, theory_note, theory_plot
from kinks.mc.study import PRESETS, complete_config, make_config
from kinks.minima.examples import write_examples
from kinks.paths import output_folder, results_root


def theory_figures(groups, out, compile, event_runs, epsilon, gamma):
    """Theory against experiment for the runs in the theorem's setting, one figure per group of
    ``groups`` [(name, runs, their rows)] that has such runs, and their table theory_vs_experiment.csv;
    returns the table's rows."""
    theory = []
    for name, runs, rows in groups:
        drawn = theory_rows(runs, rows, event_runs, epsilon, gamma) if event_runs else []
        if drawn:
            plot = theory_plot(drawn, theory_note(drawn, event_runs, epsilon, gamma),
                               theory_names(runs, drawn))
            paths = write_plot(plot, out / (THEORY_NAME + figure_suffix(name)), compile)
            print(f"theory against experiment{f' ({name})' if name else ''}: {paths[0]}, {paths[-1]}")
        theory += drawn
    if theory:
        save_csv(out / f"{THEORY_NAME}.csv", theory, THEORY_COLUMNS)
        print(f"theory against experiment, table: {out / THEORY_NAME}.csv")
    return theory


def crossing_figures(groups, out, compile):
    """The p_hat-against-n figure of each group of ``groups`` [(name, runs, their rows)]."""
    for name, runs, rows in groups:
        plot = crossing_plot(series(rows), series_labels(runs, rows), figure_note(runs, rows, shared_parts(runs)))
        png, tex, pdf = write_plot(plot, out / (FIGURE_NAME + figure_suffix(name)), compile)
        print(f"PNG and LaTeX: {png}, {tex}")
        print(f"figure{f' ({name})' if name else ''}: {pdf}")


def comparison_rows(rows, loaded, references):
    """The cells of ``rows`` beside their reference (``against_rows``); a UsageError where none has one."""
    compared = against_rows(rows, loaded, references)
    require(compared, "--against: no cell of these runs has a reference of the same experiment "
                      "(optimizer, batch size, init, step, stopping, epochs, leak, data)")
    return compared


def remove_stale_tables(out, theory, compared):
    """Remove the tables an earlier report in ``out`` wrote and this one does not (the theory table,
    the comparison), so that the folder holds one report; the names of the files removed. (Its
    figures went before this report drew its own: ``remove_plots``.)"""
    stale = ([] if theory else [out / f"{THEORY_NAME}.csv"]) + ([] if compared else [out / "against_reference.csv"])
    removed = [path.name for path in stale if path.exists()]
    for name in removed:
        (out / name).unlink()
    return removed


def write_report(out, loaded, rows, compared, compile, event_runs, epsilon, gamma):
    """``report``'s work in its locked folder ``out``: the tables and CSVs of ``rows``, the figures
    (one per experiment where the runs make more than MOST_SERIES series), the theory figures, and
    the comparison ``compared`` (None: no --against)."""
    if (out / f"{FIGURE_NAME}.csv").exists():
        print(f"replacing the report in {out} (--out names another folder)")
    fits = fit_rows(rows)
    print(format_table(rows))
    print(format_fits(fits))
    save_csv(out / f"{FIGURE_NAME}.csv", rows, ROW_COLUMNS)
    save_csv(out / f"{FIGURE_NAME}_fits.csv", fits, FIT_COLUMNS)
    print(f"tables: {out / FIGURE_NAME}.csv, {out / FIGURE_NAME}_fits.csv")
    groups = figure_groups(loaded, rows)
    if len(groups) > 1:
        print(f"{len(series(rows))} series are more than one figure shows ({MOST_SERIES}): {len(groups)} figures, one "
              "per experiment (and offset, where one has more); name the runs to compare in one with --input")
    remove_plots(out, (FIGURE_NAME, THEORY_NAME))  # an earlier report's, perhaps grouped otherwise
    theory = theory_figures(groups, out, compile, event_runs, epsilon, gamma)  # first: the last lines name the figures
    crossing_figures(groups, out, compile)
    if compared is not None:
        print(format_against(compared))
        missing = sorted({row["run"] for row in rows} - {row["run"] for row in compared})
        if missing:
            print(f"no reference of the same experiment for: {', '.join(missing)} (left out of the comparison)")
        save_csv(out / "against_reference.csv", compared, AGAINST_COLUMNS)
        print(f"comparison: {out / 'against_reference.csv'}")
    removed = remove_stale_tables(out, theory, compared)
    if removed:
        print(f"removed the earlier report's {', '.join(removed)}")


def report(results=None, input=None, out=None, compile="auto", against=None, event_runs=4000, epsilon=0.1,
           gamma=0.1):
    """Write the tables, CSV and figures (p_hat, theory vs experiment) of Monte Carlo runs.

    Args:
        results: the results root; run folders are searched below <results>/mc; default
            results (or $KINKS_RESULTS).
        input: comma list of run folders to report or compare (paths, or names below
            <results>/mc, e.g. quick,quick-sgd); default every run folder below <results>/mc.
        out: the folder to write; default <results>/mc/report for every run, and
            <results>/mc/report-<run>+<run>... for the runs named in --input.
        compile: auto (pdflatex when installed) | yes (an error without pdflatex) | no.
        against: reference (the results shipped under reference/) or a folder of such CSVs: print
            each cell's estimate beside the reference's for the same experiment, with the
            two-proportion z-score, and write against_reference.csv.
        event_runs: draws per width of the theorem's event in the theory-against-experiment figure
            (runs in the theorem's setting: gd, theory step, He init, relu, the paper's data,
            Delta = 0); an integer >= 0, 0 leaves the figure out; default 4000.
        epsilon: the theorem's eps of that event, in (0, 1]; default 0.1.
        gamma: the theorem's gamma of that event, in (0, 1]; default 0.1.
    """
    compile = check_compile(compile)
    event_runs = check_int("event_runs", event_runs, 0)
    epsilon = check_float("epsilon", epsilon, 0.0, strict=True, maximum=1.0)
    gamma = check_float("gamma", gamma, 0.0, strict=True, maximum=1.0)
    references = None
    if against is not None:
        references = load_references(REFERENCE_DIR if str(against) == "reference" else against)
    folder = runs_folder(results)
    loaded = load_runs(folder, input)
    rows = table_rows(loaded)
    compared = None if references is None else comparison_rows(rows, loaded, references)
    out, option = output_folder(out, report_folder(folder, input, loaded))
    with output_lock(out, option):  # before anything is drawn: a second writer is refused before it computes
        write_report(out, loaded, rows, compared, compile, event_runs, epsilon, gamma)


def reference(input, preset, out=None, results=None):
    """Write the reference CSV of a finished run folder, to ship under reference/.

    Its counts per (offset, width), the seed, the experiment and the command that reproduces them.
    The run must be the preset's (at most with other widths, runs, offsets and seed), so that the
    command reproduces the counts.

    Args:
        input: the run folder (a path, or a name below <results>/mc).
        preset: the preset the run was made with (quick, paper, paper_sgd, ...).
        out: the folder to write <preset>.csv to; default reference/ of this repository.
        results: the results root, below which --input names are looked up; default results (or
            $KINKS_RESULTS).
    """
    check_choice("preset", preset, tuple(PRESETS))
    run_dir = named_run_dir(runs_folder(results), input)
    run = load_run(run_dir, run_name(run_dir, runs_folder(results)))
    require(run is not None and run["counts"], f"--input {input}: no finished chunk to ship")
    config = {**complete_config(run["config"]), "save_params": False}
    expected = make_config(preset, widths=config["widths"], runs=config["runs"], offsets=config["offsets"],
                              seed=config["seed"])
    differing = sorted(key for key in set(config) | set(expected) if config.get(key) != expected.get(key))
    require(not differing, f"--input {input} is not a run of --preset {preset}: it differs in "
                           f"{', '.join(differing)}")
    rows = reference_rows(run, preset)
    require(rows, f"--input {input}: no (offset, width) cell is complete")
    path = Path(out) if out is not None else REFERENCE_DIR
    with output_lock(path, "--out"):
        save_csv(path / f"{preset}.csv", rows, REFERENCE_COLUMNS)
    print(f"{len(rows)} cells: {path / f'{preset}.csv'}")


def examples(out=None, seed=0, results=None):
    """Draw two example networks: one that stays put and one whose kink crosses a data point.

    Side by side on the same data, a network of width 16 that stays put and one that crosses, both
    trained by gd for 20,000 epochs (PNG and PDF each): example_networks, example_kinks,
    example_loss.

    Args:
        out: the folder to write; default <results>/examples.
        seed: the problem's seed, an integer >= 0.
        results: the results root, below which the default folder is made; default results (or
            $KINKS_RESULTS).
    """
    seed = check_int("seed", seed, 0)
    out, option = output_folder(out, results_root(results) / "examples")
    with output_lock(out, option):
        written = write_examples(out, seed)
    for paths in written.values():
        for saved in paths:
            print(saved)


def animate(width=16, epochs=20_000, frames=60, optimizer="gd", step=None, leak=0.0, data=None, probs=None,
            seed=0, mp4=True, out=None, results=None):
    """Watch a network that stays put and one that crosses train, side by side (a GIF).

    Two networks of width n on the same data weights p (the first problem of --seed; among 32
    initialisations the first that never moved a kink out of the gap (x_-, x_+) in --epochs epochs
    and the first that did): f(x), its kinks (black once out of the gap), the data and the epoch on
    log-spaced epochs, with the loss of both beneath. Written as animate.gif, and animate.mp4 where
    ffmpeg is installed.

    Args:
        width: width n >= 2; default 16.
        epochs: epochs of training, >= 1; default 20000.
        frames: frames of the animation (log-spaced epochs), 2 ... 300; default 60.
        optimizer: gd | momentum | sgd | adam, as in mc_training.py run; default gd.
        step: theory | small, as in mc_training.py run; default theory for gd, small otherwise.
        leak: alpha in [0, 1) of sigma(z) = max(z, alpha z); default 0 (relu).
        data: your own points "x:y,x:y,..." as in mc_training.py run; default the paper's six.
        probs: their probabilities "p,p,..."; default uniform.
        seed: the problem's seed, an integer >= 0; default 0.
        mp4: also write an MP4 where ffmpeg is installed; default true.
        out: the folder to write; default <results>/animations.
        results: the results root, below which the default folder is made; default results (or
            $KINKS_RESULTS).
    """
    from kinks.checks import check_leak
    from kinks.mc.animation import animate_1d, stayed_and_crossed
    from kinks.mc.data import parse_data
    from kinks.mc.optimizers import OPTIMIZERS
    from kinks.mc.study import STEPS

    width, epochs = check_int("width", width, 2), check_int("epochs", epochs)
    frames, seed = check_int("frames", frames, 2), check_int("seed", seed, 0)
    require(frames <= 300, f"--frames must be at most 300 (a few MB); got {frames}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    step = check_choice("step", ("theory" if optimizer == "gd" else "small") if step is None else step, STEPS)
    leak, dataset = check_leak(leak), parse_data(data, probs)
    out, option = output_folder(out, results_root(results) / "animations")
    with output_lock(out, option):  # before the training: a second writer is refused before it computes
        run = stayed_and_crossed(dataset, width, epochs, frames, optimizer, leak, step, seed)
        written = animate_1d(run, out / "animate", mp4)
    for path in written:
        print(path)


COMMANDS = {"report": report, "reference": reference, "examples": examples, "animate": animate}
ALIASES = {"runs": "input"}  # report --runs, the old spelling of --input


def main():
    """The console script ``mc_plotting`` (pyproject.toml), and ``python mc_plotting.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
