"""Report of the star-data-set trainings of ``train_star_dataset.py``: crossed fractions per data set
and width, and the function of a median network.

The command ``report`` reads every configuration folder below --input, pools and evaluates it with
kinks.star.report (which says what counts as crossed and how folders are pooled) and writes a printed
table, CSV, the figure of both fractions against the width (PNG; pgfplots LaTeX compiled to PDF where
pdflatex is found) and, per series, the function of the median network at its largest width.
"""

from kinks.checks import as_list, check_int, require
from kinks.cli import run_cli
from kinks.figures import check_compile, write_plot
from kinks.files import file_slug, save_csv
from kinks.locks import output_lock
from kinks.paths import named_folder, output_folder, results_root
from kinks.star import report as sr

FIGURE_NAME = "crossed_fractions"


def write_report(out, chosen, rows, compile):
    """``report``'s work in its locked folder ``out``: the table of ``rows`` (printed and as CSV),
    the fractions figure and the median networks of the configurations ``chosen``."""
    print(sr.format_table(rows))
    save_csv(out / f"{FIGURE_NAME}.csv", rows, sr.COLUMNS)
    paths = write_plot(sr.fractions_plot(rows), out / FIGURE_NAME, compile)
    print(f"table: {out / FIGURE_NAME}.csv; figure: {', '.join(map(str, paths))}")
    largest = {key: (width, group) for (key, width), group in sr.cells(chosen).items()}
    for key, (width, group) in largest.items():
        reason = sr.median_unavailable(group)
        if reason is None:
            paths = sr.median_figure(group, out / f"median_{file_slug(sr.series_label(key))}_n{width}")
            print(f"median network: {', '.join(map(str, paths))}")
        else:
            print(f"median network of {sr.series_label(key)}, n = {width}: not drawn ({reason})")


def report(results=None, input=None, out=None, epochs=None, select=None, compile="auto"):  # noqa: A002
    """Crossed fractions of the star-data-set trainings: printed, saved as CSV, drawn as PNG and
    pgfplots LaTeX, plus the median network's function for each series at its largest width (PNG and
    PDF). Configurations of one series (equal settings apart from width, P and seed) and width are
    pooled over seeds; different P in one such cell, or different epoch counts without --epochs, are
    refused.

    Args:
        results: the results root; default $KINKS_RESULTS or ./results.
        input: the folder, or comma-separated folders, searched for configuration folders: paths, or names below
            <results>/star (e.g. star_11); default <results>/star.
        out: the folder the report is written to; default <results>/star/eval.
        epochs: count crossings before epoch E, an integer >= 1 that every selected configuration has reached;
            default the epoch count all selected configurations share (refused when they differ).
        select: keep only configurations with these settings, key=value pairs separated by commas (a key given
            twice matches either value), keys dataset, width, layers, runs, activation, random_bias, step,
            lr_factor, seed, dtype, samples, data; e.g. step=published,width=64 (step=ntk reads as step=gram);
            default all.
        compile: compile the pgfplots figure with pdflatex: auto (when installed), yes or no; default auto.
    """
    check_compile(compile)
    epochs = None if epochs is None else check_int("epochs", epochs)
    selection = None if select is None else sr.parse_select(select)
    root = results_root(results)
    require(input is not None or root.is_dir(), f"--results {root} is not a folder")
    inputs = [root / "star"] if input is None else \
        as_list("input", input, lambda option, item: named_folder(item, root / "star", f"--{option}"))
    out, option = output_folder(out, root / "star" / "eval")
    with output_lock(out, option):
        chosen = sr.select_results(sr.load_results(inputs), selection)
        write_report(out, chosen, sr.table_rows(chosen, epochs), compile)


COMMANDS = {"report": report}
ALIASES = {}


def main():
    """The console script ``eval_star_dataset`` (pyproject.toml), and ``python eval_star_dataset.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
