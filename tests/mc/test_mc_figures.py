"""Tests of kinks.mc.figures: the crossing-probability figure of compared runs (one style in
pgfplots and matplotlib, labels, dodging, the note), compiled by pdflatex; TrueType fonts in
matplotlib's PDFs."""
import re
import shutil

import numpy as np
import pytest

import mc_plotting
from kinks.figures import new_figure, save_figure, series_style, write_plot
from kinks.mc.crossing import run_name
from kinks.mc.figures import DODGE, crossing_plot, event_plot, figure_note, theory_plot
from kinks.mc.study import make_config
from kinks.mc.theory import EVENT_CONDITIONS
from mc_checks import compared_runs, write_chunk, write_run
from pdf_checks import figure_text_problems, needs_pdf_tools


@pytest.mark.slow
def test_compared_runs_get_their_own_report_folder_and_one_figure_style(tmp_path, capsys):
    compared_runs(tmp_path)
    mc_plotting.report(results=tmp_path, compile="no")
    everything = (tmp_path / "mc" / "report" / "crossing_probability.csv").read_bytes()
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, input="gd_seed0,gd_seed1", compile="no")
    folder = tmp_path / "mc" / "report-gd_seed0+gd_seed1"
    # without pdflatex (--compile no) matplotlib writes the PDF beside the PNG and the LaTeX
    assert capsys.readouterr().out.rstrip().endswith(f"figure: {folder / 'crossing_probability.pdf'}")
    assert (folder / "crossing_probability.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "mc" / "report" / "crossing_probability.csv").read_bytes() == everything  # not replaced
    tex = (folder / "crossing_probability.tex").read_text()
    # equal labels are told apart by the settings in which the runs differ, the settings they share are
    # stated once in the title; four series and the guide line
    assert r"{seed = 0, $\Delta$ = 0.1}" in tex and r"{seed = 1, $\Delta$ = 0}" in tex
    assert "every run: gd, he init, theory step" in tex
    assert tex.count(r"\addplot") == 5 and r"{2/sqrt(x)}" in tex
    # the pgfplots series use the shared palette and marks, in order, like the matplotlib ones
    for i, style in enumerate(map(series_style, range(4))):
        assert f"\\definecolor{{series{i}}}{{HTML}}{{{style.color}}}" in tex
        assert f"color=series{i}, solid, {style.pgf_mark()}," in tex
    # four series at n = 16 dodged by 1.05^(-1.5, -0.5, 0.5, 1.5)
    for factor in DODGE ** (np.arange(4) - 1.5):
        assert f"({16 * factor:.6g}, " in tex
    # the note: interval, runs per point and epoch budget (1000 epochs per check x 5 checks)
    assert r"95 \% Clopper–Pearson intervals, 20 runs per point" in tex and "at most 5,000 epochs" in tex
    assert tex.count(str(tmp_path)) == 0  # no absolute paths


def test_figure_note_and_short_names():
    runs = [{"config": {"epochs_per_check": 1000, "max_checks": 1000}}, {"config": {"epochs_per_check": 100,
                                                                                    "max_checks": 10_000}}]
    rows = [{"runs": 20, "offset": 0.0}, {"runs": 500, "offset": 0.1}]
    assert figure_note(runs, rows) == [r"$\hat p$ with 95 % Clopper–Pearson intervals, 20–500 runs "
                                       "per point", "at most 1,000,000 epochs per network; series "
                                       "offset horizontally"]
    # one offset, which no legend entry names, and one run, named with its label
    assert figure_note(runs, rows[:1], ["gd"])[-1] == r"every run: gd, $\Delta$ = 0"
    assert figure_note([dict(runs[0], name="quick", label="gd, he init")], rows)[-1] == "run quick: gd, he init"
    assert run_name("/elsewhere/my-run", "/results/mc") == "my-run"
    assert run_name("/results/mc/a/b", "/results/mc") == "a/b"


def test_matplotlib_pdfs_embed_truetype_fonts(tmp_path):
    figure, ax = new_figure()
    ax.set_title("some text")
    pdf = save_figure(figure, tmp_path / "figure.pdf").read_bytes()
    # TrueType outlines (a CIDFontType2 under a Type0 font, or a simple TrueType font), no Type 3
    assert (b"/CIDFontType2" in pdf or b"/Subtype /TrueType" in pdf) and b"/Type3" not in pdf


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_compared_runs_compile_to_pdf_and_png(tmp_path, capsys):
    compared_runs(tmp_path)
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, input="gd_seed0,gd_seed1", out=tmp_path / "report", compile="yes")
    printed = capsys.readouterr().out
    pdf, png = tmp_path / "report" / "crossing_probability.pdf", tmp_path / "report" / "crossing_probability.png"
    assert printed.rstrip().endswith(f"figure: {pdf}")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def drawn(figure):
    """The figure drawn on an Agg canvas (no pyplot); returns its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_eight_runs_get_eight_styles_a_wide_plot_and_a_legend_inside_the_figure():
    """The report's figure of 8 runs: no two series share colour and marker, the legend (long labels
    wrapped) lies inside the figure, and the axes keep most of the figure's width."""
    rows = [dict(width=width, p_hat=0.5, ci_low=0.4, ci_high=0.6, runs=100) for width in (16, 32, 64)]
    groups = {(f"run{k}", 0.0): rows for k in range(8)}
    labels = {key: f"{key[0]}, data " + ",".join(f"{x}:{x % 3}" for x in range(-6, 7) if x) for key in groups}
    plot = crossing_plot(groups, labels, ["note"])
    assert len({(style.color, style.marker) for style, _ in plot.styles()}) == 8
    figure = plot.figure()
    renderer = drawn(figure)
    (legend,) = figure.legends
    box, page = legend.get_window_extent(renderer), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert figure.axes[0].get_position().width > 0.6


def test_event_figure_shows_every_condition_in_its_own_style():
    rows = [{"n": n, "runs": 100, **{f"{name}{suffix}": value for name in ("joint",) + EVENT_CONDITIONS
                                     for suffix, value in (("_frac", 1.0), ("_low", 0.95), ("_high", 1.0))}}
            for n in (16, 32)]
    plot = event_plot(rows, ["note"])
    assert len({(style.color, style.marker) for style, _ in plot.styles()}) == 1 + len(EVENT_CONDITIONS)
    assert len({shift for shift in plot.shifts()}) == 1 + len(EVENT_CONDITIONS)  # equal fractions side by side
    assert "$N = n^2$" in plot.x_label and plot.series[0].label.startswith("joint")


def hand_made_study(run_dir, **options):
    """A run folder made by hand: n = 16 and 32, offsets 0 and 0.1, 20 runs per cell (8 crossed)."""
    config = make_config(widths=[16, 32], runs=20, offsets=[0.0, 0.1], **options)
    write_run(run_dir, config)
    for offset in config["offsets"]:
        for width in config["widths"]:
            write_chunk(run_dir, config, offset, width, 0, {"CROSSED": 8, "LOCALLY_CONVERGED": 12})


@pytest.mark.slow
def test_a_report_of_more_than_ten_series_draws_one_figure_per_experiment(tmp_path, capsys):
    studies = {"gd": {}, "gd-seed1": dict(seed=1), "gd-seed2": dict(seed=2), "sgd": dict(optimizer="sgd"),
               "sgd-seed1": dict(optimizer="sgd", seed=1), "momentum": dict(optimizer="momentum")}
    for name, options in studies.items():
        hand_made_study(tmp_path / "mc" / name, **options)
    out = tmp_path / "mc" / "report"
    (out / "crossing_probability.png").parent.mkdir(parents=True)
    (out / "crossing_probability.png").write_bytes(b"an earlier report's figure")
    mc_plotting.report(results=tmp_path, compile="no", event_runs=20)
    printed = capsys.readouterr().out
    assert "12 series are more than one figure shows (10): 3 figures, one per experiment" in printed
    assert not (out / "crossing_probability.png").exists()  # no stale figure of all runs beside them
    entries = {}
    for experiment, count in (("gd__he_init__theory_step", 6), ("sgd__he_init__theory_step", 4),
                              ("momentum__he_init__theory_step", 2)):
        tex = (out / f"crossing_probability-{experiment}.tex").read_text()
        entries[experiment] = re.findall(r"\\addlegendentry\{(.*)\}", tex)[:-1]  # the guide line last
        assert len(entries[experiment]) == len(set(entries[experiment])) == count
    assert entries["gd__he_init__theory_step"][:2] == [r"seed = 0, $\Delta$ = 0", r"seed = 0, $\Delta$ = 0.1"]
    assert "every run: gd, he init, theory step" in \
        (out / "crossing_probability-gd__he_init__theory_step.tex").read_text()
    assert "run momentum: momentum, he init, theory step" in \
        (out / "crossing_probability-momentum__he_init__theory_step.tex").read_text()
    # theory against experiment for the gd runs only: a stuck fraction per run, the event once
    theory = (out / "theory_vs_experiment-gd__he_init__theory_step.tex").read_text()
    theory = re.findall(r"\\addlegendentry\{(.*)\}", theory)
    assert [entry.split(":")[0] for entry in theory[:3]] == ["seed = 0", "seed = 1", "seed = 2"]
    assert theory[3:] == ["theorem's event, $r$ = 1", "theorem's event, $r$ = 10"]
    assert len(list(out.glob("theory_vs_experiment*.png"))) == 1


@pytest.mark.slow
@needs_pdf_tools
def test_the_report_figures_keep_their_text_on_the_page_and_the_legend_off_the_labels(tmp_path):
    """The pgfplots figures of the 1-D study as compiled: crossing (eight runs of long labels),
    the theorem's event (nine series, two columns) and theory against experiment (two N rules)."""
    widths = (16, 32, 64)
    rows = [dict(width=n, p_hat=0.4, ci_low=0.3, ci_high=0.5, runs=500) for n in widths]
    groups = {(f"quick-runs200-seed{k}", 0.1 * k): rows for k in range(8)}
    labels = {key: f"runs = 200, seed = {k}, widths = 16,32,64, $\\Delta$ = {key[1]:g}"
              for k, key in enumerate(groups)}
    crossing = crossing_plot(groups, labels, ["$\\hat p$ with 95 % Clopper–Pearson intervals", "every run: gd"])
    events = [{"n": n, "runs": 100, **{f"{name}{suffix}": value for name in ("joint",) + EVENT_CONDITIONS
                                       for suffix, value in (("_frac", 0.5), ("_low", 0.4), ("_high", 0.6))}}
              for n in widths]
    theory = [dict(run=run, samples=rule, width=n, runs=500, stuck=0.7, stuck_low=0.6, stuck_high=0.8,
                   **{f"event_r{r}{suffix}": 0.5 for r in (1, 10) for suffix in ("", "_low", "_high")})
              for run, rule in (("a", "n"), ("b", "n^2")) for n in widths]
    plots = {"crossing": crossing, "event": event_plot(events, ["$r$ = 1; 100 runs per $n$"]),
             "theory": theory_plot(theory, ["95 % Clopper–Pearson intervals"], {"a": "$N=n$", "b": "$N=n^{2}$"})}
    for name, plot in plots.items():
        tex = write_plot(plot, tmp_path / name, compile="no")[1]
        assert figure_text_problems(tex) == [], name
