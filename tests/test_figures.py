"""Tests of the shared figure stack (kinks.figures): the palette never repeats a colour and
marker pair, labels wrap, an ErrorBarPlot puts the same series into matplotlib and pgfplots,
its legend stays inside the saved figure, and its LaTeX compiles."""
import shutil

import numpy as np
import pytest

from kinks.figures import (
    MARKERS, PALETTE, ErrorBarPlot, Guide, Series, series_style, tex_label, tex_text, wrap_label,
    write_plot)


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
