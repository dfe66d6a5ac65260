"""Tables and figures from the results of ``run_nn_setups.py sweep``.

For every configuration (parameterisation, optimizer, hidden-bias mode) and data set the step size
with the smallest mean best-validation RMSE (no network diverged) is chosen among all steps tried;
reported is the mean over the P networks of the test RMSE at each network's best validation check,
+- its standard error (see kinks.sweeps.report, which owns the choosing, tables and figures).

Commands: ``table`` (printed, CSV, LaTeX/PDF), ``figures`` (PNG and PDF) and ``report`` (both).
"""
from pathlib import Path

import matplotlib

from kinks.checks import check_choice, checked_as, require
from kinks.cli import run_cli
from kinks.figures import check_compile, compile_tex
from kinks.files import save_csv, save_text
from kinks.locks import output_lock
from kinks.sweeps import report as sr
from kinks.sweeps.grid import GRIDS
from kinks.sweeps.nets import OPTIMIZERS, PARAMETERISATIONS, check_bias


def written_folder(out, input, folder):  # noqa: A002
    """The folder a command writes, and the option that names it: --out, else the sweep folder read
    (named by --input, or by --grid below the results root)."""
    if out is not None:
        return Path(out), "--out"
    return folder, "--input" if input is not None else "--results"


def table(grid="quick", input=None, results=None, out=None, compile="auto"):  # noqa: A002
    """Print the table of test RMSE at the best validation check (mean ± SE) and write table.txt,
    table.csv, table.tex and, where pdflatex exists, table.pdf.

    Args:
        grid: quick (default) or paper: the default --input.
        input: sweep folder read (default <results>/nn_setups/<grid>).
        results: results root (default $KINKS_RESULTS or ./results).
        out: folder written (default --input).
        compile: auto (default: compile where pdflatex exists), yes or no.
    """
    folder = sr.input_folder(check_choice("grid", grid, tuple(GRIDS)), input, results)
    check_compile(compile)
    target, option = written_folder(out, input, folder)
    with output_lock(target, option):
        chosen = sr.chosen_results(sr.load_results(folder))
        text = sr.text_table(chosen)
        print(text, end="")
        save_text(target / "table.txt", text)
        save_csv(target / "table.csv", sr.csv_records(chosen), sr.CSV_COLUMNS)
        save_text(target / "table.tex", sr.latex_table(chosen))
        pdf = compile_tex(target / "table.tex", compile)
    print(f"wrote {target / 'table.txt'}, table.csv, table.tex" + (", table.pdf" if pdf else ""))


def figure_options(family, bias, ex_configs, relative_to, published, usetex):
    """The options of ``figures`` checked before anything is read or written: (family, relative_to,
    published as a bool, the matplotlib rc of --usetex, ex_configs parsed or None); --bias is
    checked as a bias mode here and against the results present later."""
    check_choice("family", family, ("radial", "rbf"))
    check_choice("relative_to", relative_to, ("zero", "best"))
    published = check_choice("published", published, (True, False, "yes", "no")) in (True, "yes")
    if bias is not None:
        check_bias(bias, 1.0)
    ex_configs = None if ex_configs is None else sr.parse_configs("ex_configs", ex_configs)
    for param, optimizer, mode in ex_configs or ():
        checked_as("ex_configs", check_choice, "param", param, PARAMETERISATIONS)
        checked_as("ex_configs", check_choice, "optimizer", optimizer, OPTIMIZERS)
        checked_as("ex_configs", check_bias, mode, 1.0)
    return family, relative_to, published, sr.figure_rc(usetex), ex_configs


def present_choices(chosen, bias, ex_configs, relative_to):
    """(--bias, --ex_configs) checked against the results ``chosen``: the bias mode (default zero
    if present, else the first) and the configurations of ex_fits (default all with that bias);
    --relative_to zero needs zero-bias results."""
    present = sorted({c[2] for c, _ in chosen})
    bias = check_choice("bias", bias if bias is not None else ("zero" if "zero" in present else present[0]), present)
    require(relative_to != "zero" or "zero" in present, "--relative_to zero needs zero-bias results; "
            "sweep --biases with zero, or use --relative_to best")
    if ex_configs is None:
        ex_configs = sorted({c for c, _ in chosen if c[2] == bias}, key=sr.config_order)
    return bias, ex_configs


def figures(grid="quick", input=None, results=None, out=None, family="radial", bias=None, ex_configs=None,  # noqa: A002
            relative_to="zero", published=False, usetex="auto"):
    """Write the figures (PNG and PDF) into <out>/figures.

    The published set: nn_plot_zero (the zero-bias configurations, absolute RMSE), one
    nn_plot_<param>_<optimizer> per parameterisation and optimizer (a curve per bias mode) and
    nn_plot_bias (the best configuration per bias mode), each relative to --relative_to. Also
    rmse_vs_d (the configurations with --bias), bias_grid (all in 2 x 3 panels), ex_fits (the
    sweep's median network per --ex_configs, at its best validation check; with --published the
    published version, 11 networks retrained on one shared data set) and kink_cdf.

    Args:
        grid: quick (default) or paper: the default --input.
        input: sweep folder read (default <results>/nn_setups/<grid>).
        results: results root (default $KINKS_RESULTS or ./results).
        out: folder written (default --input).
        family: radial (default) or rbf: the data sets plotted against d.
        bias: bias mode of rmse_vs_d and of the default --ex_configs (default zero if present, else the first).
        ex_configs: comma list of param/optimizer/bias (default all with --bias).
        relative_to: zero (default, as published: each curve relative to the zero-bias curve of its
            parameterisation and optimizer) or best (relative to the best configuration on each data set).
        published: ex_fits as published (retrains 11 networks per configuration): yes or no (default).
        usetex: auto (default: LaTeX text where latex and dvipng are installed), yes or no.
    """
    family, relative_to, published, rc, ex_configs = figure_options(family, bias, ex_configs, relative_to, published,
                                                                     usetex)
    folder = sr.input_folder(check_choice("grid", grid, tuple(GRIDS)), input, results)
    target, option = written_folder(out, input, folder)
    with output_lock(target, option):
        chosen = sr.chosen_results(sr.load_results(folder))
        bias, ex_configs = present_choices(chosen, bias, ex_configs, relative_to)
        with matplotlib.rc_context(rc):
            sr.write_figures(chosen, target / "figures", family, bias, ex_configs, relative_to, published)
    print(f"wrote figures to {target / 'figures'}")


def report(grid="quick", input=None, results=None, out=None, compile="auto", family="radial", bias=None,  # noqa: A002
           ex_configs=None, relative_to="zero", published=False, usetex="auto"):
    """The table and all figures: `table`, then `figures`, with the options of both.

    Args:
        grid: quick (default) or paper, which names the default --input.
        input: the sweep folder to read (default <results>/nn_setups/<grid>).
        results: the results root (default $KINKS_RESULTS or ./results).
        out: the folder to write (default --input).
        compile: auto (default), yes or no: compile table.tex with pdflatex.
        family: radial (default) or rbf.
        bias: bias mode of rmse_vs_d and the default --ex_configs (default zero if present).
        ex_configs: comma list of param/optimizer/bias (default all with --bias).
        relative_to: zero (default) or best.
        published: ex_fits as published: yes or no (default).
        usetex: auto (default), yes or no.
    """
    figure_options(family, bias, ex_configs, relative_to, published, usetex)  # all checked before the table is written
    folder = sr.input_folder(check_choice("grid", grid, tuple(GRIDS)), input, results)
    with output_lock(*written_folder(out, input, folder)):  # one lock for both: no other writer in between
        table(grid, input, results, out, compile)
        figures(grid, input, results, out, family, bias, ex_configs, relative_to, published, usetex)


COMMANDS = {"table": table, "figures": figures, "report": report}
ALIASES = {}


def main():
    """The console script ``eval_nn_setups`` (pyproject.toml), and ``python eval_nn_setups.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
