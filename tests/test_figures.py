"""Tests of the shared figure stack (kinks.figures): the palette never repeats a colour and
marker pair, labels wrap, an ErrorBarPlot puts the same series into matplotlib and pgfplots,
its legend stays inside the saved figure, its LaTeX compiles, and every file written (data,
PNG, PDF, GIF) gets the umask's mode."""
import os
import shutil

import numpy as np
import pytest

from kinks.figures import (
    MARKERS, PALETTE, ErrorBarPlot, Guide, Series, log_ticks, series_style, tex_label, tex_text, tick_texts,
    wrap_label, write_plot)
from kinks.files import save_json
from pdf_checks import figure_text_problems, needs_pdf_tools


def small_plot(count=3, long_label=False, log_y=True):
    n = np.array([16.0, 32.0, 64.0])
    series = []
    for k in range(count):
        y = 0.5 / (k + 1) * (n / 16) ** -0.5
        long_part = ", data -3:1,-2:-1,1:1,2:5,3:0 p 0.1,0.2,0.3,0.2,0.2"
        label = f"run {k}, Delta = 0.{k}" + (long_part if long_label else "")
        series.append(Series(label, n, y, 0.8 * y, 1.2 * y))
    guide = Guide(r"$2/\sqrt{n}$", lambda x: 2 / np.sqrt(x), "2/sqrt(x)")
    return ErrorBarPlot(series, "width $n$", r"$\hat p$", ["95 % intervals, 20 runs per point"],
                        log_y=log_y, guides=[guide], dodge=1.05)


def test_palette_has_ten_distinct_colours_and_markers_and_no_repeated_pair_in_100_series():
    assert len(set(PALETTE)) == 10 and len({m[0] for m in MARKERS}) == 10
    pairs = [(series_style(k).color, series_style(k).marker) for k in range(100)]
    assert len(set(pairs)) == 100
    first_ten = [series_style(k) for k in range(10)]
    assert len({s.color for s in first_ten}) == 10 and len({s.marker for s in first_ten}) == 10


def test_long_labels_wrap_at_spaces_and_become_latex_lines():
    text = "gd, he init, theory step, Delta = 0.1, data -3:1,-2:-1,1:1,2:5,3:0 p 0.1,0.2"
    lines = wrap_label(text, 30).splitlines()
    assert len(lines) >= 3 and all(len(line) <= 30 for line in lines[:-1])
    assert " ".join(lines).replace(" ", "") == text.replace(" ", "")
    assert tex_label(text).count(r" \\ ") == wrap_label(text).count("\n")
    assert tex_text(r"width $n$ and 95 % of x_1") == r"width $n$ and 95 \% of x\_1"


def test_labels_never_break_inside_math_or_a_name_equals_value():
    for text, width in (("gd, he init, seed 0, $\\Delta$ = 0.01", 25), ("theorem's event, $r$ = 10", 18),
                        ("least-squares line per side ($L_{lin}$ = 1.033)", 30), ("width $n$ ($N = n^2$ samples)", 8)):
        lines = wrap_label(text, width).splitlines()
        assert len(lines) >= 2 and " ".join(lines) == text
        assert all(line.count("$") % 2 == 0 and not line.endswith("=") and not line.startswith("=")
                   for line in lines), lines
    assert wrap_label("data -3:1,-2:0.5,1:1,2:5,3:0", 16).splitlines() == ["data -3:1,", "-2:0.5,1:1,2:5,", "3:0"]
    assert wrap_label("risk $R_{lin}$ = 0.199, $\\Delta$ = 0, 0.1", 20).splitlines()[-1] == "$\\Delta$ = 0, 0.1"


def test_log_axes_get_plain_ticks_alike_in_matplotlib_and_pgfplots():
    assert log_ticks(0.012, 0.6) == [0.02, 0.05, 0.1, 0.2, 0.5]
    assert log_ticks(0.122, 0.625) == [0.2, 0.3, 0.4, 0.5, 0.6]  # a short axis: every multiple
    assert log_ticks(1e-15, 100) == [1e-15, 1e-12, 1e-09, 1e-06, 0.001, 1.0]  # a long one: every 3rd power
    assert tick_texts([0.001, 0.5, 16, 2048]) == ["0.001", "0.5", "16", "2048"]
    assert tick_texts([2e-6, 1e-3, 1.0, 1e5]) == [r"$2\cdot10^{-6}$", "$10^{-3}$", "$10^{0}$", "$10^{5}$"]  # one style
    plot = small_plot(3)
    ticks = log_ticks(*plot.y_limits())
    body = plot.pgfplots_body()
    assert "ytick={" + ",".join(f"{t:g}" for t in ticks) + "}" in body
    assert "yticklabels={" + ",".join(f"{{{text}}}" for text in tick_texts(ticks)) + "}" in body
    figure = plot.figure()
    figure.draw_without_rendering()
    axis = figure.axes[0].yaxis
    assert list(axis.get_majorticklocs()) == ticks
    assert [label.get_text() for label in axis.get_majorticklabels()] == tick_texts(ticks)


def test_dashed_series_share_the_style_of_the_solid_series_before_them():
    plot = small_plot(2)
    plot.series.insert(1, Series("dashed twin", [16], [0.1], dashed=True))
    styles = plot.styles()
    assert styles[0][0].color == styles[1][0].color and styles[1][1]
    assert styles[2][0].color != styles[0][0].color


def test_matplotlib_and_pgfplots_draw_the_same_series_dodged_alike():
    plot = small_plot(3)
    body = plot.pgfplots_body()
    assert body.count(r"\addplot") == 4 and body.count(r"\addlegendentry") == 4  # 3 series + guide
    for k, factor in enumerate(plot.shifts()):
        assert f"\\definecolor{{series{k}}}{{HTML}}{{{series_style(k).color}}}" in body
        assert f"({16 * factor:.6g}, " in body
    figure = plot.figure()
    ax = figure.axes[0]
    drawn = [container.lines[0] for container in ax.containers]  # the data line of each errorbar
    assert np.allclose(sorted(line.get_xdata()[0] for line in drawn), sorted(16 * f for f in plot.shifts()))
    assert [t.get_text() for t in figure.legends[0].get_texts()][-1] == r"$2/\sqrt{n}$"


def paired_plot(pairs):
    """An ErrorBarPlot of ``pairs`` solid series, each followed by a dashed twin of its label, and a guide."""
    series = []
    for k in range(pairs):
        y = 0.9 - 0.05 * k
        series += [Series(f"stage {k}", [16, 32], [y, y - 0.1], [y - 0.05, y - 0.15], [y + 0.05, y - 0.05]),
                   Series(f"stage {k}", [16, 32], [y - 0.4, y - 0.5], [y - 0.45, y - 0.55], [y - 0.35, y - 0.45],
                          dashed=True)]
    guide = Guide(r"$2/\sqrt{n}$", lambda x: 2 / np.sqrt(x), "2/sqrt(x)")
    return ErrorBarPlot(series, "width $n$", "fraction", ["95 % intervals, 20 runs per point"], guides=[guide],
                        dodge=1.05, pair_labels=("kink crossed", "loss crossed"))


def test_paired_series_get_one_legend_entry_each_and_two_black_keys():
    plot = paired_plot(3)
    labels = [t.get_text() for t in plot.figure().legends[0].get_texts()]
    assert labels == ["stage 0", "stage 1", "stage 2", "kink crossed", "loss crossed", r"$2/\sqrt{n}$"]
    body = plot.pgfplots_body()
    assert body.count(r"\addplot") == 7 and body.count("forget plot") == 3      # 6 series + guide; the twins unlisted
    assert body.count(r"\addlegendimage") == 2 and body.count(r"\addlegendentry") == 6
    entries = [line.split("{", 1)[1] for line in body.splitlines() if line.startswith(r"\addlegendentry")]
    assert [entry.rstrip("}") for entry in entries][:5] == labels[:5]
    unpaired = ErrorBarPlot(plot.series, "width $n$", "fraction", [], guides=plot.guides)
    assert unpaired.pgfplots_body().count(r"\addlegendentry") == 7 and unpaired.legend_entries() == 7


def test_legend_lies_inside_the_figure_even_with_many_long_labels():
    plot = small_plot(12, long_label=True)
    figure = plot.figure()
    figure.draw_without_rendering()  # the constrained layout, final
    legend_box = figure.legends[0].get_window_extent()
    axes_box = figure.axes[0].get_window_extent()
    assert legend_box.y0 >= 0 and legend_box.x0 >= 0
    assert legend_box.x1 <= figure.bbox.width and legend_box.y1 <= axes_box.y0  # below the axes
    assert axes_box.width > 0.6 * figure.bbox.width  # the plot is not squeezed by the legend


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_write_plot_writes_png_tex_and_compiled_pdf(tmp_path):
    paths = write_plot(small_plot(4, long_label=True), tmp_path / "figure", compile="yes")
    assert [p.name for p in paths] == ["figure.png", "figure.tex", "figure.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[2].read_bytes().startswith(b"%PDF")


def test_write_plot_without_compiling_still_writes_a_pdf(tmp_path):
    paths = write_plot(small_plot(2, log_y=False), tmp_path / "figure", compile="no")
    assert paths[2].read_bytes().startswith(b"%PDF") and paths[1].read_text().startswith(r"\documentclass")


def tall_label_plot(count):
    """An ErrorBarPlot whose x label has a superscript and a descender, with ``count`` series."""
    plot = small_plot(count)
    plot.x_label = "width $n$ ($N = n^2$ samples)"
    return plot


@pytest.mark.slow
@needs_pdf_tools
@pytest.mark.parametrize("count", [2, 9])
def test_compiled_figure_keeps_every_word_on_the_page_and_the_legend_off_the_labels(tmp_path, count):
    tex = write_plot(tall_label_plot(count), tmp_path / "figure", compile="no")[1]
    assert figure_text_problems(tex) == []


@pytest.mark.slow
@needs_pdf_tools
def test_compiled_paired_figure_keeps_every_word_on_the_page(tmp_path):
    tex = write_plot(paired_plot(10), tmp_path / "figure", compile="no")[1]
    assert figure_text_problems(tex) == []


@pytest.mark.slow
@needs_pdf_tools
def test_the_text_check_finds_a_clipped_label_and_a_legend_on_the_x_label(tmp_path):
    tex = write_plot(tall_label_plot(3), tmp_path / "figure", compile="no")[1]
    body = tex.read_text()
    tex.write_text(body.replace(r"\begin{tikzpicture}", r"\begin{tikzpicture}[trim axis left]"))
    clipped = figure_text_problems(tex)  # the y label and tick labels lie left of the page
    assert clipped and all("outside the page" in problem for problem in clipped)
    assert any("'fraction'" in problem or "'p̂'" in problem for problem in clipped)
    tex.write_text(body.replace("at={(xlabel.south)}, anchor=north, yshift=-2pt", "at={(0.5,-0.16)}, anchor=north"))
    covered = figure_text_problems(tex)  # the old placement: the legend's fill over the x label
    assert covered and all(problem.startswith("legend word") for problem in covered)
    assert any("covers 'samples)'" in problem for problem in covered)


@pytest.fixture(params=[0o022, 0o077, 0o027])
def umask(request):
    """The process's umask set for the test (each in turn), restored after."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_every_file_written_gets_the_umasks_mode(tmp_path, umask):
    """Plain data, matplotlib's PNG and PDF, pdflatex's PDF (where installed) and a GIF: 0666 less
    the umask, as open() would give, never mkstemp's 0600."""
    from matplotlib.figure import Figure

    from kinks.animation import write_animation

    save_json(tmp_path / "a.json", {"a": 1})
    written = [tmp_path / "a.json", *write_plot(small_plot(), tmp_path / "plot", "auto" if shutil.which("pdflatex")
                                                else "no")]
    figure = Figure(figsize=(1, 1))
    written += write_animation(figure, lambda k: figure.clear(), 2, tmp_path / "movie", mp4=False)
    assert {path.name: path.stat().st_mode & 0o777 for path in written} == \
        {path.name: 0o666 & ~umask for path in written}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temporary left
