"""Report of the star-data-set trainings of ``train_star_dataset.py``: crossed fractions per data set
and width, the function of a median network, the shipped references and the study's document.

The command ``report`` reads every configuration folder below --input, pools and evaluates it with
kinks.star.report (which says what counts as crossed and how folders are pooled) and writes a printed
table, CSV, the figure of both fractions against the width (PNG; pgfplots LaTeX compiled to PDF where
pdflatex is found) and, per series, the function of the median network at its largest width; with
--against, the z-scores of its fractions against the shipped references (kinks.star.reference).
``reference`` writes reference/<preset>.csv from a preset's configuration folders; ``document`` the
whole 2-D study as one LaTeX document (kinks.star.document).
"""

from pathlib import Path

from kinks.checks import as_list, check_int, renamed_value, require
from kinks.cli import run_cli
from kinks.figures import check_compile, write_plot
from kinks.files import file_slug, save_csv
from kinks.locks import output_lock
from kinks.paths import named_folder, output_folder, results_root
from kinks.star import reference as ref
from kinks.star import report as sr
from kinks.star.config import OLD_PRESETS, OLD_STEP_RULES, preset_configs, preset_stages

FIGURE_NAME = "crossed_fractions"


def input_folders(input, root):
    """--input as folders: paths, or names below <results>/star; default <results>/star."""
    require(input is not None or root.is_dir(), f"--results {root} is not a folder; train first "
                                                "(python train_star_dataset.py train or experiments)")
    return [root / "star"] if input is None else \
        as_list("input", input, lambda option, item: named_folder(item, root / "star", f"--{option}"))


def references_at(against):
    """The rows of --against: reference (the shipped folder) or a folder or file of reference CSVs."""
    return ref.load_references(ref.REFERENCE_DIR if str(against) == "reference" else against)


def write_against(out, chosen, rows, references):
    """The z-scores of ``rows`` against ``references``, printed and saved as against_reference.csv."""
    compared, alone = ref.against_rows(rows, chosen, references)
    print(ref.format_against(compared, alone))
    save_csv(out / "against_reference.csv", compared, ref.AGAINST_COLUMNS)
    print(f"comparison: {out / 'against_reference.csv'} ({len(compared)} rows compared, {len(alone)} without a "
          "reference)")


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


def report(results=None, input=None, out=None, epochs=None, select=None, compile="auto",  # noqa: A002
           against=None):
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
        against: reference (the results shipped under reference/), or a folder or file of star reference
            CSVs: per row of the same settings, width and epoch count as a reference row, both fractions with
            their two-proportion z-scores, printed and saved as against_reference.csv; default none.
    """
    check_compile(compile)
    references = None if against is None else references_at(against)
    epochs = None if epochs is None else check_int("epochs", epochs)
    selection = None if select is None else sr.parse_select(select)
    root = results_root(results)
    inputs = input_folders(input, root)
    out, option = output_folder(out, root / "star" / "eval")
    with output_lock(out, option):
        chosen = sr.select_results(sr.load_results(inputs), selection)
        rows = sr.table_rows(chosen, epochs)
        write_report(out, chosen, rows, compile)
        if references is not None:
            write_against(out, chosen, rows, references)


def reference(preset, input=None, out=None, results=None, step=None, lr_factor=None, activation="relu",  # noqa: A002
              random_bias=False, dtype="float32", max_epochs=None):
    """Write reference/<preset>.csv from the configuration folders of a preset, to ship: per width and
    stage the crossed counts and fractions with 95 % intervals, pooled over the seeds as the report
    pools them, the seeds, settings, engines and the command that reproduces the row. Only the stages
    every configuration of a width has reached are written; the others, and the preset's
    configurations not found, are named.

    Args:
        preset: the preset the folders were trained with (train_star_dataset.py experiments --preset):
            quick, paper_star, paper_star_gram, paper_deep or paper_deep_gram (paper_star_ntk and
            paper_deep_ntk read as their _gram names).
        input: the folder, or comma-separated folders, searched for configuration folders: paths, or names below
            <results>/star; default <results>/star.
        out: the folder to write <preset>.csv to; default reference/ of this repository.
        results: the results root; default $KINKS_RESULTS or ./results.
        step: gram or published, as given to experiments; default the preset's rule.
        lr_factor: a number in (0, 100], as given to experiments; default the step rule's (1 gram, 2 published).
        activation: relu or tanh, as given to experiments; default relu.
        random_bias: true or false, as given to experiments; default false.
        dtype: float32 or float64, as given to experiments; default float32.
        max_epochs: caps the preset's stages as experiments --max_epochs does, an integer >= 1; default none.
    """
    preset = renamed_value("preset", preset, OLD_PRESETS)
    step = None if step is None else renamed_value("step", step, OLD_STEP_RULES)
    options = dict(step=step, lr_factor=lr_factor, activation=activation, random_bias=random_bias, dtype=dtype)
    preset_configs(preset, **options)       # every value checked before a folder is read
    preset_stages(preset, max_epochs)
    rows, missing, unreached = ref.reference_rows(sr.load_results(input_folders(input, results_root(results))),
                                                  preset, options, max_epochs)
    require(rows, f"--input: no configuration of --preset {preset} has reached a stage "
                  f"({len(missing)} of the preset's configurations not found, {len(unreached)} stages not reached)")
    path = Path(out) if out is not None else ref.REFERENCE_DIR
    with output_lock(path, "--out"):
        ref.write_reference(path / f"{preset}.csv", rows)
    if missing:
        print(f"not found (not in the file): {', '.join(missing)}")
    if unreached:
        print(f"not reached (not in the file): {', '.join(unreached)}")
    print(f"{len(rows)} rows (width x stage): {path / f'{preset}.csv'}")


def document(results=None, input=None, out=None, compile="auto", max_epochs=None):  # noqa: A002
    """Write the whole 2-D study as one LaTeX document, star_document.tex (compiled to
    star_document.pdf where pdflatex is installed): per published preset found (paper_star and
    paper_star_gram, the two step rules; paper_deep and paper_deep_gram) the crossed fractions against
    the width and the table of every width and reached stage, "not run" for the others, every row
    against the shipped references (z-scores) and the 2-D deviations from the published code.

    Args:
        results: the results root; default $KINKS_RESULTS or ./results.
        input: the folder, or comma-separated folders, searched for configuration folders: paths, or names below
            <results>/star; default <results>/star.
        out: the folder of the document; default <results>/star/document.
        compile: auto (pdflatex when installed; without it the document stays LaTeX, said in one line),
            yes or no; default auto.
        max_epochs: caps the presets' stages as train_star_dataset.py experiments --max_epochs does, an integer
            >= 1; default none (the presets' stages).
    """
    from kinks.star.document import DOCUMENT, write_document

    check_compile(compile)
    max_epochs = None if max_epochs is None else check_int("max_epochs", max_epochs)
    root = results_root(results)
    inputs = input_folders(input, root)
    found = any(next(Path(folder).rglob("config.json"), None) for folder in inputs)
    out, option = output_folder(out, root / "star" / "document")
    with output_lock(out, option):
        written = write_document(sr.load_results(inputs) if found else [], out, compile, max_epochs)
    if not found:
        print(f"no configuration folder below {', '.join(map(str, inputs))}: every preset is 'not run' in the document "
              "(train first: python train_star_dataset.py experiments --preset paper_star --dtype float64)")
    for what, paths in written.items():
        print(f"{what}: {', '.join(map(str, paths)) or 'none'}")
    if len(written["document"]) == 1:
        print(f"{DOCUMENT}.pdf not compiled (no pdflatex, or --compile no)")


COMMANDS = {"report": report, "reference": reference, "document": document}
ALIASES = {}


def main():
    """The console script ``eval_star_dataset`` (pyproject.toml), and ``python eval_star_dataset.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
