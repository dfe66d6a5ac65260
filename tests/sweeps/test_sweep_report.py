"""Tests of kinks.sweeps.report and the commands of eval_nn_setups.py as functions: the chosen step
with its standard error, the table (text, CSV, LaTeX), corrupt and mixed result files, shading, the
figures (written, and what the curves are), the published ex fits. Tiny sizes throughout."""
import csv
import json
import math
import shutil
import sys

import matplotlib
import numpy as np
import pytest
import torch

import eval_nn_setups as ev
import run_nn_setups as rn
import utils
from kinks.checks import UsageError
from kinks.figures import tex_escape
from kinks.sweeps import report as sr
from kinks.sweeps import grid as sweeps
from kinks.sweeps.data import make_datasets
from test_sweeps import SWEEP


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    rn.sweep(out=folder, **{**SWEEP, "datasets": "ex,radial_1,radial_2", "params": "he,ntk", "optimizers": "adam",
                            "biases": "zero,kink-neg-unif"})
    return folder


@pytest.mark.slow  # the small sweep takes seconds
def test_table_reports_the_chosen_step_with_its_standard_error(small_sweep, tmp_path, capsys):
    ev.table(input=small_sweep, out=tmp_path, compile="no")
    printed = capsys.readouterr().out
    assert printed.startswith("test RMSE at the best validation check, mean ± SE over 2 runs")
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert len(rows) == 3 * 2 * 2
    for row in rows:
        folder = small_sweep / row["dataset"] / f"{row['param']}_{row['optimizer']}_{row['bias']}"
        results = [sweeps.read_result(f) for f in folder.glob("*.json")]
        chosen = sweeps.choose_step(results)
        per_net = np.array(chosen["per_network"]["best_test"])
        assert float(row["best_test_rmse"]) == pytest.approx(per_net.mean(), rel=1e-6)
        assert float(row["se"]) == pytest.approx(per_net.std(ddof=1) / math.sqrt(per_net.size), rel=1e-6)
        assert int(row["step_exponent"]) == chosen["task"]["step_exponent"]
        assert row["bracketed"] == str(sweeps.bracketed(chosen, results))
        assert f"{float(row['best_test_rmse']):.4f}" in printed
    tex = (tmp_path / "table.tex").read_text()
    assert tex.count(r"\colorbox") == len(rows) and r"\end{document}" in tex
    assert "test RMSE at the best validation check, mean $\\pm$ SE over 2 runs" in tex


@pytest.mark.slow  # the small sweep takes seconds
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_table_compiles(small_sweep, tmp_path):
    ev.table(input=small_sweep, out=tmp_path, compile="yes")
    assert (tmp_path / "table.pdf").stat().st_size > 0


@pytest.mark.slow  # the small sweep takes seconds
def test_corrupt_result_files_are_named_and_skipped(small_sweep, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(small_sweep, copy)
    broken = sorted(copy.rglob("step_e*.json"))[:2]
    broken[0].write_text("{ half a file")
    broken[1].write_text(json.dumps({"task": {}}))
    ev.table(input=copy, compile="no")
    err = capsys.readouterr().err
    assert all(f"skipping corrupt result file {f}" in err for f in broken)


@pytest.mark.slow  # the small sweep takes seconds
def test_results_of_different_settings_are_not_mixed_in_one_table(small_sweep, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(small_sweep, copy)
    rn.sweep(out=tmp_path / "other", **{**SWEEP, "datasets": "radial_4", "optimizers": "adam", "runs": 3})
    shutil.copytree(tmp_path / "other" / "radial_4", copy / "radial_4")
    with pytest.raises(UsageError, match="mixes results of different settings.*runs: 2 there, 3 here"):
        ev.table(input=copy, compile="no")


def test_shading_runs_from_column_best_to_worst_in_log_rmse_on_one_hue():
    np.testing.assert_allclose(sr.shade([0.1, 1.0, math.sqrt(0.1)]), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(sr.shade([0.3, 0.3]), [0.0, 0.0])
    colours = np.array([sr.shade_colour(t) for t in np.linspace(0, 1, 11)])
    lightness = colours @ [0.2126, 0.7152, 0.0722]   # relative luminance: strictly darker with t
    assert (np.diff(lightness) < 0).all()
    hue = colours - colours[:, :1]                    # one hue: every colour on the line white -> blue
    np.testing.assert_allclose(np.cross(colours[1:] - 1, colours[-1] - 1), 0, atol=1e-12)
    assert hue.shape == (11, 3)


@pytest.mark.slow
def test_figures_are_written(small_sweep, tmp_path):
    settings, backend = dict(matplotlib.rcParams), matplotlib.get_backend()
    ev.figures(input=small_sweep, out=tmp_path, usetex="no")
    assert dict(matplotlib.rcParams) == settings and matplotlib.get_backend() == backend   # no global state
    names = ["nn_plot_zero", "nn_plot_bias", "nn_plot_he_adam", "nn_plot_ntk_adam", "rmse_vs_d", "bias_grid",
             "ex_fits", "kink_cdf"]
    for name in names:
        for suffix in (".png", ".pdf"):
            assert (tmp_path / "figures" / (name + suffix)).stat().st_size > 1000


@pytest.mark.slow  # the small sweep takes seconds
def test_relative_to_zero_divides_each_curve_by_its_zero_bias_curve(small_sweep):
    chosen = sr.chosen_results(sr.load_results(small_sweep))
    curves = sr.relative_curves(chosen, "radial", [("he", "adam", "zero"), ("he", "adam", "kink-neg-unif")], "zero")
    np.testing.assert_allclose(curves["he", "adam", "zero"][1], 1.0)
    for i, d in enumerate((1, 2)):
        ratio = (chosen[("he", "adam", "kink-neg-unif"), f"radial_{d}"].result["mean"]["best_test"]
                 / chosen[("he", "adam", "zero"), f"radial_{d}"].result["mean"]["best_test"])
        assert curves["he", "adam", "kink-neg-unif"][1][i] == pytest.approx(ratio)


@pytest.mark.slow  # the small sweep takes seconds
def test_published_ex_fits_retrain_eleven_networks_on_one_shared_data_set(small_sweep):
    chosen = sr.chosen_results(sr.load_results(small_sweep))
    result = chosen[("he", "adam", "zero"), "ex"].result
    x, f, train_x, train_y, test = sr.retrain_on_shared_data(result)
    assert len(x) == len(f) == sweeps.CURVE_POINTS and len(train_x) == result["task"]["n_train"] and test > 0
    again = sr.retrain_on_shared_data(result)
    np.testing.assert_array_equal(f, again[1])
    data = make_datasets("ex", 1, result["task"]["n_train"], 32, 32, 0, dtype=torch.float64)
    np.testing.assert_allclose(train_x, (data["X_train"] * data["x_std"] + data["x_mean"])[0, :, 0].numpy(), rtol=1e-6)


def test_unbracketed_steps_are_marked_in_the_table(tmp_path, capsys):
    """A sweep whose every step is far too small: the best is the largest step tried, at the limit."""
    rn.sweep(out=tmp_path, **{**SWEEP, "datasets": "radial_1", "optimizers": "sgd", "epoch_budget": 1})
    for f in tmp_path.rglob("step_e*.json"):  # make larger steps ever better: the best sits at the top edge
        result = json.loads(f.read_text())
        result["mean"]["best_valid"] = 10.0 - result["task"]["step_exponent"] / 100
        f.write_text(json.dumps(result))
    capsys.readouterr()                    # what the sweep printed
    ev.table(input=tmp_path, compile="no")
    printed = capsys.readouterr().out
    assert "†" in printed.splitlines()[2] and "not bracketed" in printed.splitlines()[0]
    row, = csv.DictReader((tmp_path / "table.csv").open())
    assert row["bracketed"] == "False"
    assert r"$^\dagger$" in (tmp_path / "table.tex").read_text()


@pytest.mark.slow  # the small sweep takes seconds
@pytest.mark.parametrize("argv, message", [
    (["table", "--grid", "nope"], "--grid must be one of"),
    (["table", "--input", "/nonexistent/folder"], "--input /nonexistent/folder: no folder there or in"),
    (["figures", "--input", "FOLDER", "--family", "cube"], "--family must be one of"),
    (["figures", "--input", "FOLDER", "--relative_to", "median"], "--relative_to must be one of"),
    (["figures", "--input", "FOLDER", "--ex_configs", "he/adam"], "--ex_configs must be"),
])
def test_eval_bad_input_gives_one_line_and_exit_2(monkeypatch, capsys, small_sweep, argv, message):
    argv = [str(small_sweep) if a == "FOLDER" else a for a in argv]
    monkeypatch.setattr(sys, "argv", ["eval_nn_setups.py"] + argv)
    with pytest.raises(SystemExit) as exit_info:
        utils.run_cli(ev.COMMANDS, ev.ALIASES)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_old_optimizer_name_in_ex_configs_gives_one_warning(capsys):
    configs = sr.parse_configs("ex_configs", "he/sgd-momentum/zero,ntk/adam/zero,ntk/sgd-momentum/zero")
    assert configs == [("he", "momentum", "zero"), ("ntk", "adam", "zero"), ("ntk", "momentum", "zero")]
    assert capsys.readouterr().err.splitlines() == [
        "warning: --ex_configs: the optimizer sgd-momentum is deprecated; use momentum"]


# ----------------------------------------------------------------------------- shared helpers
def test_tex_escape_escapes_every_special_character_once():
    assert tex_escape("a_b 5% R&D #1 $x {y} \\ ^ ~") == (
        r"a\_b 5\% R\&D \#1 \$x \{y\} \textbackslash{} \textasciicircum{} \textasciitilde{}")
    assert tex_escape("run Delta = 0.5") == r"run $\Delta = 0.5$"
    assert tex_escape(r"\_") == r"\textbackslash{}\_"   # the backslash is not taken as an escape


def test_bias_grid_panels_without_a_curve_say_so(small_sweep):
    chosen = sr.chosen_results(sr.load_results(small_sweep))  # adam only: four of six panels have no curve
    figure = sr.bias_grid_figure(chosen, "radial", "zero")
    for ax in figure.axes:
        notes = [text.get_text() for text in ax.texts]
        assert notes == ([] if ax.get_title().endswith("adam") else ["no data\n(not swept, or every step diverged)"])
        assert bool(ax.containers) == ax.get_title().endswith("adam")
