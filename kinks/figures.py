"""The one figure stack: the shared palette (colour and marker per series, the same in matplotlib and
pgfplots), matplotlib figures without pyplot's global state, PNG and PDF writers, TeX escaping, and
standalone LaTeX documents compiled to PDF with pdflatex."""
import math
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from kinks.checks import check_choice, require, warn
from kinks.files import atomic_write
from kinks.paths import data_path



class SeriesStyle:
    """How one data series looks, the same in matplotlib and in pgfplots: a colour (hex RGB), a
    matplotlib marker and the pgfplots mark of the same shape (with its mark options)."""

    def __init__(self, color, marker, mark, mark_options=""):
        self.color, self.marker, self.mark, self.mark_options = color, marker, mark, mark_options

    def pgf_mark(self, hollow=False):
        """The pgfplots keys of the mark: 'mark=M' and its options (filled white when ``hollow``)."""
        options = ["solid"] + (["fill=white"] if hollow else []) + ([self.mark_options] if self.mark_options else [])
        return f"mark={self.mark}, mark options={{{', '.join(options)}}}"


# Ten colours: Okabe & Ito's colour-blind-safe palette (yellow left out: too light on white) and
# three of Paul Tol's muted colours; ten marker shapes, so that series also differ in greyscale.
PALETTE = ("0072B2", "D55E00", "009E73", "CC79A7", "E69F00", "56B4E9", "000000", "882255", "999933",
           "332288")
MARKERS = (("o", "*", ""), ("s", "square*", ""), ("^", "triangle*", ""), ("D", "diamond*", ""),
           ("p", "pentagon*", ""), ("v", "triangle*", "rotate=180"), ("x", "x", ""), ("d", "diamond*", "xscale=0.6"),
           ("<", "triangle*", "rotate=90"), (">", "triangle*", "rotate=270"))
LINE_WIDTH_PT = 1.2  # series lines and error bars
MARK_RADIUS_PT = 2.5  # pgfplots 'mark size' (a radius); matplotlib's markersize is the diameter
GUIDE_COLOR = "808080"  # reference lines, dashed
LABEL_WIDTH = 44  # characters per legend line; longer labels wrap
# Matplotlib settings of every figure: TrueType (Type 42) fonts in PDF and PS files, which
# publishers accept, instead of matplotlib's default Type 3 fonts.
FIGURE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42}


def series_style(index):
    """The style of series ``index``: colour index mod 10 and marker (index + index // 10) mod 10,
    so that no two of the first 100 series share both colour and marker (the first 10 share
    neither)."""
    marker, mark, options = MARKERS[(index + index // len(PALETTE)) % len(MARKERS)]
    return SeriesStyle(PALETTE[index % len(PALETTE)], marker, mark, options)


NBSP = "\u00a0"  # a space at which a legend line never breaks (see ``glued``)


def glued(text):
    """``text`` with the spaces at which a line must not break made non-breaking (NBSP): those
    inside $...$ math, those around ' = ' and those of a list of numbers after it, so that
    '$\\Delta$ = 0.1', '$r$ = 10' and '$\\Delta$ = 0, 0.1' stay whole."""
    text = re.sub(r"\$[^$]*\$", lambda match: match[0].replace(" ", NBSP), str(text))
    text = text.replace(" = ", f"{NBSP}={NBSP}")
    numbers = f"(?<={NBSP}=){NBSP}" + r"-?[\d.]+(?:, -?[\d.]+)+"
    return re.sub(numbers, lambda match: match[0].replace(" ", NBSP), text)


class LabelWrapper(textwrap.TextWrapper):
    """textwrap's wrapper that breaks at ordinary spaces only (not at NBSP) and, inside a word too
    long for a line (a list without spaces such as the data -3:1,-2:0.5,...), after its commas."""

    def _split(self, text):
        pieces = [re.split(r"(?<=,)(?=[^\s,])", chunk) if len(chunk) > self.width else [chunk]
                  for chunk in re.split(r"([ \t\n]+)", text)]
        return [piece for chunk in pieces for piece in chunk if piece]


def wrap_label(text, width=LABEL_WIDTH):
    """``text`` broken into lines of at most ``width`` characters, at spaces (after the commas of a
    longer word), never inside math or a 'name = value' (``glued``; a longer part keeps its line)."""
    wrapped = LabelWrapper(width, break_long_words=False, break_on_hyphens=False).fill(glued(text))
    return wrapped.replace(NBSP, " ")


def legend_shape(entries):
    """(columns, characters per line) of a legend of ``entries`` entries, the same in matplotlib and
    pgfplots: one column of LABEL_WIDTH for up to 6 entries, else two of 3/4 of it."""
    return (1, LABEL_WIDTH) if entries <= 6 else (2, LABEL_WIDTH * 3 // 4)


def new_figure(width=6.4, height=4.4):
    """A matplotlib Figure with one axes, without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def save_figure(figure, path, tight=False):
    """Save ``figure`` to ``path`` (format from the suffix) with FIGURE_RC, atomically; returns ``path``.
    tight: crop to the drawn content (legends placed outside the axes included)."""
    import matplotlib

    path = Path(path)
    extra = dict(bbox_inches="tight") if tight else {}
    with matplotlib.rc_context(FIGURE_RC):
        atomic_write(path, lambda file: figure.savefig(file, format=path.suffix[1:], dpi=150, **extra))
    return path


def save_png_and_pdf(figure, stem, tight=False):
    """``figure`` as stem.png and stem.pdf (see ``save_figure``); returns the two paths."""
    stem = Path(stem)
    return [save_figure(figure, stem.with_name(stem.name + suffix), tight) for suffix in (".png", ".pdf")]


TEX_SPECIAL = {"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
               "\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def tex_escape(text):
    """``text`` with every character LaTeX treats specially (_ % & # $ { } \\ ^ ~) escaped, in one
    pass so that no escape is escaped again; 'Delta = x' becomes $\\Delta = x$."""
    text = re.sub(r"[_%&#${}\\^~]", lambda match: TEX_SPECIAL[match[0]], str(text))
    return re.sub(r"Delta = (\S+)", r"$\\Delta = \1$", text)


def standalone_tex(body):
    """A complete standalone LaTeX document: ``tex_head.txt`` + ``body`` + ``tex_tail.txt``."""
    head = data_path("tex_head.txt").read_text()
    tail = data_path("tex_tail.txt").read_text()
    return head + body.rstrip("\n") + "\n" + tail


def check_compile(mode):
    """``--compile`` (auto | yes | no), checked before any work: 'yes' needs pdflatex installed."""
    check_choice("compile", mode, ("auto", "yes", "no"))
    require(mode != "yes" or shutil.which("pdflatex"), "--compile yes needs pdflatex, which is not installed "
            "(install TeX Live: bash install.sh --tex)")
    return mode


def tex_inputs(folder):
    """This process's environment with ``folder`` searched first for TeX inputs and graphics (the
    empty entry TEXINPUTS ends with stands for TeX's own search path)."""
    return {**os.environ, "TEXINPUTS": f"{folder}{os.pathsep}{os.environ.get('TEXINPUTS', '')}"}


def compile_tex(tex_path, mode="auto", passes=1):
    """Compile ``tex_path`` with pdflatex to a PDF beside it and return the PDF's path.

    mode: 'yes' (error if pdflatex is missing), 'no' (skip), 'auto' (compile when pdflatex is
    found, else say so and skip). Returns None when skipped. Compiles in a temporary folder, so
    a failed compilation leaves no partial PDF; files the document includes by a relative path
    (``\\includegraphics{figure.pdf}``) are found beside ``tex_path`` (its folder leads TEXINPUTS).
    passes: pdflatex runs, each reading what the one before wrote (2 settles the column widths of
    tables that span pages)."""
    tex_path = Path(tex_path)
    if check_compile(mode) == "no":
        return None
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        warn(f"pdflatex not found: skipped compiling {tex_path} (install TeX Live: bash install.sh --tex)")
        return None
    with tempfile.TemporaryDirectory() as build:
        command = [pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={build}",
                   str(tex_path.resolve())]
        for _ in range(passes):
            result = subprocess.run(command, capture_output=True, text=True, cwd=build,
                                    env=tex_inputs(tex_path.resolve().parent))
            if result.returncode != 0:
                break
        built = Path(build) / (tex_path.stem + ".pdf")
        if result.returncode != 0 or not built.exists():
            log_tail = "\n".join(result.stdout.splitlines()[-20:])
            raise RuntimeError(f"pdflatex failed on {tex_path}:\n{log_tail}")
        pdf = tex_path.with_suffix(".pdf")
        atomic_write(pdf, lambda f: f.write(built.read_bytes()))
    return pdf


def log_ticks(low, high, most=8):
    """The labelled values of a log axis from ``low`` to ``high`` (0 < low <= high), the same in
    matplotlib and pgfplots: 1, 2 and 5 times the powers of 10; 1, 2, ..., 9 times them where fewer
    than three of those lie in range (a short axis); every k-th power of 10 where more than
    ``most`` would (a long one)."""
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)

    def within(mantissas, stride=1):
        values = (float(f"{m}e{k}") for k in exponents if k % stride == 0 for m in mantissas)
        return [value for value in values if low <= value <= high]

    ticks = within((1, 2, 5))
    if len(ticks) < 3:
        ticks = within(range(1, 10))
    stride = 1
    while len(ticks) > most:
        ticks, stride = within((1,), stride), stride + 1
    return ticks


def tick_texts(values):
    """The labels of an axis' ticks, for matplotlib's mathtext and LaTeX alike: plain numbers
    (0, 0.05, 16, 2048) while every value is 0 or lies from 0.001 to 99,999, else powers of 10
    throughout, as a log axis over many decades wants them ($10^{-6}$, $2\\cdot10^{-6}$, $10^{0}$)."""
    if all(value == 0 or 1e-3 <= abs(value) < 1e5 for value in values):
        return [f"{value:g}" for value in values]
    exponents = [math.floor(math.log10(abs(value))) for value in values]
    mantissas = [f"{value / 10 ** exponent:g}" for value, exponent in zip(values, exponents)]
    return [f"$10^{{{exponent}}}$" if mantissa == "1" else f"${mantissa}\\cdot10^{{{exponent}}}$"
            for mantissa, exponent in zip(mantissas, exponents)]


def log_locator():
    """A matplotlib Locator that places ``log_ticks`` over the axis' current view (matplotlib is
    imported here, where a figure is drawn)."""
    from matplotlib.ticker import Locator

    class LogTicks(Locator):
        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            return log_ticks(*sorted((vmin, vmax)))

    return LogTicks()


def log_formatter():
    """A matplotlib Formatter that labels an axis' ticks by ``tick_texts``, all of them together."""
    from matplotlib.ticker import Formatter

    class LogTickTexts(Formatter):
        def __call__(self, value, pos=None):
            return tick_texts([value])[0]

        def format_ticks(self, values):
            return tick_texts(values)

    return LogTickTexts()


def plain_log_ticks(axis, ticks=None):
    """Ticks of a matplotlib log axis labelled by ``tick_texts`` (16, 0.05; no crowded minor
    labels): at ``ticks``, or at ``log_ticks`` of the axis' range."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    axis.set_major_locator(FixedLocator(ticks) if ticks is not None else log_locator())
    axis.set_major_formatter(log_formatter())
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def place_legend(figure, handles):
    """A legend of ``handles`` below the axes, inside the figure, shaped by ``legend_shape`` (labels
    wrapped to their column's width); the figure made taller by the legend's height, so that the
    legend is never cut off and never squeezes or covers the plot."""
    if not handles:
        return
    columns, characters = legend_shape(len(handles))
    labels = [wrap_label(handle.get_label(), characters) for handle in handles]
    per_column = -(-len(labels) // columns)  # matplotlib fills the columns one after the other
    lines = max(sum(label.count("\n") + 1 for label in labels[k:k + per_column])
                for k in range(0, len(labels), per_column))
    width, height = figure.get_size_inches()
    figure.set_size_inches(width, height + 0.3 + 0.19 * lines)
    figure.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False)


def tex_text(text):
    """Axis and title text for LaTeX: mathtext ($...$) kept as math, the rest escaped."""
    parts = re.split(r"(\$[^$]*\$)", str(text))
    return "".join(part if part.startswith("$") else tex_escape(part) for part in parts)


def tex_label(text, width=LABEL_WIDTH):
    """A legend entry for LaTeX: wrapped as ``wrap_label`` does, lines joined by \\\\."""
    return r" \\ ".join(tex_text(line) for line in wrap_label(text, width).splitlines())


# ----------------------------------------------------------------------------- error-bar plots
class Series:
    """One series of an ``ErrorBarPlot``: points (x, y), each with its interval [low, high] or
    none (``low = high = None``), drawn solid or dashed. Arrays of equal length (points,)."""

    def __init__(self, label, x, y, low=None, high=None, dashed=False):
        self.label, self.dashed = label, dashed
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)
        self.low = None if low is None else np.asarray(low, float)
        self.high = None if high is None else np.asarray(high, float)


class Guide:
    """A dashed grey reference curve y = g(x): ``function`` (NumPy) draws it in matplotlib,
    ``tex`` (a pgfplots expression in x, e.g. '2/sqrt(x)') in pgfplots."""

    def __init__(self, label, function, tex):
        self.label, self.function, self.tex = label, function, tex


class ErrorBarPlot:
    """A figure of series with intervals against x, rendered alike by matplotlib (``figure``) and
    pgfplots (``pgfplots_body``): series k in ``series_style(k)`` (a dashed series takes the
    colour and marker of the solid one before it, the marker hollow), optional guides, and a
    title of ``notes`` lines that say what the figure shows (interval level, runs per point,
    epochs). The legend sits below the axes, where it can grow without squeezing the plot or
    being cut off; long labels wrap.

    Args:
        series: the Series, in legend order.
        x_label, y_label: axis labels (matplotlib mathtext; the same text is used in LaTeX).
        notes: the title lines.
        log_x, log_y: logarithmic axes. x_ticks: the x values to label (default: every x).
        y_range: (low, high) of the y axis (default: matplotlib's or pgfplots' own).
        dodge: neighbouring series at one x are drawn at x / dodge, x, x * dodge, ... (log x) so
            that their intervals do not hide each other; 1 draws them on top of each other.
        pair_labels: (solid, dashed) names of what the two series of each pair show (every dashed
            series follows a solid one of the same label): the legend then holds one entry per
            pair, its colour and marker, and two black keys, solid and dashed, with these names;
            default none (one entry per series).
    Example:
        >>> plot = ErrorBarPlot([Series("a", [16, 32], [0.5, 0.4], [0.4, 0.3], [0.6, 0.5])],
        ...                     "width $n$", "fraction", ["95 % intervals, 500 runs per point"])
        >>> paths = write_plot(plot, "results/figure", compile="no")
    """

    def __init__(self, series, x_label, y_label, notes, log_x=True, log_y=False, x_ticks=None,
                 y_range=None, guides=(), dodge=1.0, pair_labels=None):
        self.series, self.guides, self.notes = list(series), list(guides), list(notes)
        self.pair_labels = pair_labels
        self.x_label, self.y_label, self.log_x, self.log_y = x_label, y_label, log_x, log_y
        all_x = np.concatenate([s.x for s in self.series]) if self.series else np.array([1.0])
        self.x_ticks = sorted(set(all_x.tolist())) if x_ticks is None else list(x_ticks)
        self.y_range, self.dodge = y_range, dodge

    def styles(self):
        """(SeriesStyle, dashed) per series: a dashed series shares the style of the series before it."""
        styles, index = [], -1
        for s in self.series:
            index += 0 if s.dashed and index >= 0 else 1
            styles.append((series_style(index), s.dashed))
        return styles

    def shifts(self):
        """The factor by which each series' x is multiplied (dodged) on a log x axis, 1 on a linear
        one: solid series spread symmetrically about 1, a dashed one at its solid partner's."""
        solid = [k for k, s in enumerate(self.series) if not s.dashed] or [0]
        centred = {k: i - (len(solid) - 1) / 2 for i, k in enumerate(solid)}
        shifts, last = [], 0.0
        for k in range(len(self.series)):
            last = centred.get(k, last)
            shifts.append(self.dodge ** last if self.log_x else 1.0)
        return shifts

    def in_legend(self):
        """Per series whether it has a legend entry of its own: all, or with ``pair_labels`` the solid ones."""
        return [self.pair_labels is None or not s.dashed for s in self.series]

    def legend_keys(self):
        """(label, dashed) of the black keys after the series' entries: the two ``pair_labels``, or none."""
        return [] if self.pair_labels is None else list(zip(self.pair_labels, (False, True)))

    def legend_entries(self):
        """The number of legend entries: the series' own, the keys and the guides."""
        return sum(self.in_legend()) + len(self.legend_keys()) + len(self.guides)

    def x_limits(self):
        """(low, high) of the x axis: the ticks, with room for the dodged series on a log axis."""
        low, high = min(self.x_ticks), max(self.x_ticks)
        if self.log_x:
            margin = max(1.25, self.dodge ** (len(self.series) / 2 + 1))
            return low / margin, high * margin
        pad = 0.05 * (high - low or 1.0)
        return low - pad, high + pad

    def y_limits(self):
        """(low, high) of the y axis: ``y_range``; on a log axis without one, every positive value
        and interval end with a margin (factor 1.25); else None (the renderer's own)."""
        if self.y_range is not None or not self.log_y:
            return self.y_range
        values = np.concatenate([np.array([])] + [part for s in self.series for part in (s.y, s.low, s.high)
                                                  if part is not None])
        values = values[values > 0]
        return (values.min() / 1.25, values.max() * 1.25) if values.size else None

    def figure(self, width=6.4, height=4.0):
        """The matplotlib Figure: ``height`` inches for title, axes and labels, and the legend below
        them (the figure grows by its height: see ``place_legend``)."""
        from matplotlib.lines import Line2D

        figure, ax = new_figure(width, height)
        handles = []
        for s, (style, dashed), shift, listed in zip(self.series, self.styles(), self.shifts(), self.in_legend()):
            x = s.x * shift
            errors = None if s.low is None else [s.y - s.low, s.high - s.y]
            handle = ax.errorbar(x, s.y, yerr=errors, color=f"#{style.color}", marker=style.marker,
                                 markersize=2 * MARK_RADIUS_PT, linewidth=LINE_WIDTH_PT, elinewidth=LINE_WIDTH_PT,
                                 capsize=3, linestyle="--" if dashed else "-",
                                 markerfacecolor="white" if dashed else f"#{style.color}", label=s.label)
            handles += [handle] if listed else []
        handles += [Line2D([], [], color="black", marker="o", markersize=2 * MARK_RADIUS_PT, linewidth=LINE_WIDTH_PT,
                           linestyle="--" if dashed else "-", markerfacecolor="white" if dashed else "black",
                           label=label) for label, dashed in self.legend_keys()]
        for guide in self.guides:
            grid = np.geomspace(*self.x_limits(), 50) if self.log_x else np.linspace(*self.x_limits(), 50)
            handles += ax.plot(grid, guide.function(grid), "--", color=f"#{GUIDE_COLOR}",
                               linewidth=LINE_WIDTH_PT, label=guide.label)
        ax.set_xscale("log" if self.log_x else "linear")
        ax.set_yscale("log" if self.log_y else "linear")
        ax.set_xlim(*self.x_limits())
        if self.y_limits() is not None:
            ax.set_ylim(*self.y_limits())
        if self.log_x:
            plain_log_ticks(ax.xaxis, self.x_ticks)
        if self.log_y:
            plain_log_ticks(ax.yaxis)
        ax.grid(True, color="0.9")
        ax.set_xlabel(self.x_label)
        ax.set_ylabel(self.y_label)
        ax.set_title("\n".join(self.notes), fontsize=9)
        place_legend(figure, handles)
        return figure

    def y_axis_options(self):
        """The pgfplots keys of the y axis: its range (``y_limits``) and, on a log axis, the ticks of
        ``log_ticks`` labelled by ``tick_texts``, as matplotlib draws them."""
        limits = self.y_limits()
        if limits is None:
            return []
        options = [f"ymin={limits[0]:.6g}", f"ymax={limits[1]:.6g}"]
        if self.log_y:
            ticks = log_ticks(*limits)
            options += ["ytick={" + ",".join(f"{t:g}" for t in ticks) + "}",
                        "yticklabels={" + ",".join(f"{{{text}}}" for text in tick_texts(ticks)) + "}"]
        return options

    def legend_options(self):
        """The pgfplots keys of the legend: anchored below the x label (a node named xlabel), so that
        neither covers the other whatever their heights, shaped by ``legend_shape``, two columns
        filled one after the other as in matplotlib."""
        entries = self.legend_entries()
        columns, _ = legend_shape(entries)
        options = ["xlabel style={name=xlabel}", "legend cell align=left",
                   r"legend style={draw=none, at={(xlabel.south)}, anchor=north, yshift=-2pt, font=\footnotesize, "
                   "cells={align=left}, /tikz/every even column/.append style={column sep=6pt}}"]
        return options + ([f"legend columns={-(-entries // columns)}", "transpose legend"] if columns > 1 else [])

    def pgfplots_body(self):
        """The tikzpicture of the same figure for a standalone LaTeX document."""
        styles = self.styles()
        _, characters = legend_shape(self.legend_entries())
        lines = [f"\\definecolor{{series{k}}}{{HTML}}{{{style.color}}}" for k, (style, _) in enumerate(styles)]
        low, high = self.x_limits()
        axis = [f"xmode={'log' if self.log_x else 'normal'}", f"ymode={'log' if self.log_y else 'normal'}",
                "width=9cm", "height=7cm", f"xmin={low:.6g}", f"xmax={high:.6g}",
                "xtick={" + ",".join(f"{t:g}" for t in self.x_ticks) + "}",
                "xticklabels={" + ",".join(f"{{{text}}}" for text in tick_texts(self.x_ticks)) + "}",
                f"xlabel={{{tex_text(self.x_label)}}}", f"ylabel={{{tex_text(self.y_label)}}}",
                "title={" + r" \\ ".join(tex_text(note) for note in self.notes) + "}",
                r"title style={font=\footnotesize, align=center, text width=11cm}",
                "grid=major", "grid style={gray!25}", *self.legend_options(), *self.y_axis_options()]
        lines += [r"\definecolor{guide}{HTML}{" + GUIDE_COLOR + "}", r"\begin{tikzpicture}",
                  r"\begin{axis}[" + ",\n  ".join(axis) + "]"]
        for k, (s, (style, dashed), shift, listed) in enumerate(zip(self.series, styles, self.shifts(),
                                                                     self.in_legend())):
            x = s.x * shift
            if s.low is None:
                points = " ".join(f"({xi:.6g}, {yi:.6g})" for xi, yi in zip(x, s.y))
                bars = ""
            else:
                points = " ".join(f"({xi:.6g}, {yi:.6g}) += (0, {hi - yi:.6g}) -= (0, {yi - lo:.6g})"
                                  for xi, yi, lo, hi in zip(x, s.y, s.low, s.high))
                bars = (f", error bars/.cd, y dir=both, y explicit, "
                        f"error bar style={{line width={LINE_WIDTH_PT}pt, solid}}")
            unlisted = "" if listed else ", forget plot"      # no legend entry of its own
            lines += [f"\\addplot[color=series{k}, {'dashed' if dashed else 'solid'}, {style.pgf_mark(hollow=dashed)}, "
                      f"mark size={MARK_RADIUS_PT}pt, line width={LINE_WIDTH_PT}pt{unlisted}{bars}]",
                      f"  coordinates {{{points}}};"]
            lines += [f"\\addlegendentry{{{tex_label(s.label, characters)}}}"] if listed else []
        for label, dashed in self.legend_keys():
            mark = "mark options={solid, fill=white}" if dashed else "mark options={solid}"
            lines += [f"\\addlegendimage{{black, {'dashed' if dashed else 'solid'}, mark=*, {mark}, "
                      f"mark size={MARK_RADIUS_PT}pt, line width={LINE_WIDTH_PT}pt}}",
                      f"\\addlegendentry{{{tex_label(label, characters)}}}"]
        for guide in self.guides:
            lines += [f"\\addplot[guide, dashed, line width={LINE_WIDTH_PT}pt, domain={low:.6g}:{high:.6g}, "
                      f"samples=50] {{{guide.tex}}};", f"\\addlegendentry{{{tex_label(guide.label, characters)}}}"]
        lines += [r"\end{axis}", r"\end{tikzpicture}"]
        return "\n".join(lines)


def write_plot(plot, stem, compile="auto"):
    """Write ``plot`` as stem.png (matplotlib) and stem.tex (standalone pgfplots), compiled to
    stem.pdf where pdflatex is found (see ``compile_tex``; without it matplotlib writes the PDF).
    Returns the paths written."""
    stem = Path(stem)
    figure = plot.figure()
    paths = [save_figure(figure, stem.with_suffix(".png"))]
    tex = stem.with_suffix(".tex")
    atomic_write(tex, lambda f: f.write(standalone_tex(plot.pgfplots_body()).encode()))
    paths.append(tex)
    pdf = compile_tex(tex, compile)
    paths.append(pdf if pdf is not None else save_figure(figure, stem.with_suffix(".pdf")))
    return paths


def remove_plots(folder, stems):
    """Remove what ``write_plot`` wrote into ``folder`` under a stem starting with one of ``stems``
    (its .png, .tex and .pdf): the figures of an earlier report that the next one may name otherwise."""
    for path in Path(folder).glob("*.*"):
        if path.suffix in (".png", ".tex", ".pdf") and path.stem.startswith(tuple(stems)):
            path.unlink()
