"""Checks of compiled figures by the words on their pages, as ``pdftotext -bbox`` (poppler) reads
them: every word lies inside the page, and the words of a pgfplots legend, with the legend's
padding around them, overlap no other word (an axis label, a tick label, the title).

pdftotext leaves out words beyond the page, so a standalone figure is checked as a twin compiled
with a wide border (WIDE): its page is the figure's page with WIDE - border more on every side,
and a word outside the inner part would have been cut off. The legend's words are told apart by
compiling that twin once more with every legend entry replaced by a ``\\phantom`` of itself: the
same layout, without the legend's words."""
import re
import shutil
import subprocess
from collections import Counter
from typing import NamedTuple

import pytest

from kinks.figures import compile_tex

needs_pdf_tools = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
    reason="needs pdflatex and pdftotext (TeX Live and poppler-utils: bash install.sh --tex)")
LEGEND_PAD = 3.0  # pt: the legend's fill reaches this far beyond its words (pgfplots' inner sep)
WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">([^<]*)</word>')


class Word(NamedTuple):
    """One word of a page and its box in pt, y downward from the page's top edge."""
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other, pad=0.0):
        """Whether this box, grown by ``pad`` on every side, overlaps ``other``'s."""
        return (self.x0 - pad < other.x1 and other.x0 < self.x1 + pad
                and self.y0 - pad < other.y1 and other.y0 < self.y1 + pad)


def page_words(pdf):
    """(width, height, words) of every page of ``pdf``."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = re.split(r"<page ", out)[1:]
    return [(*map(float, re.match(r'width="([\d.]+)" height="([\d.]+)"', page).groups()),
             [Word(text, *map(float, box)) for *box, text in WORD.findall(page)]) for page in pages]


def outside(words, box, what="the page"):
    """The ``words`` that reach beyond ``box`` = (x0, y0, x1, y1), as text."""
    x0, y0, x1, y1 = box
    return [f"{word.text!r} at x {word.x0:.1f}..{word.x1:.1f}, y {word.y0:.1f}..{word.y1:.1f} is outside {what}, "
            f"x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f}" for word in words
            if word.x0 < x0 - 0.01 or word.y0 < y0 - 0.01 or word.x1 > x1 + 0.01 or word.y1 > y1 + 0.01]


def phantom_legend(tex):
    """The LaTeX of a pgfplots figure with every legend entry's lines replaced by their \\phantom."""
    def phantom(match):
        return r"\addlegendentry{" + r" \\ ".join(rf"\phantom{{{line}}}" for line in match[1].split(r" \\ ")) + "}"

    return re.sub(r"^\\addlegendentry\{(.*)\}$", phantom, tex, flags=re.MULTILINE)


def legend_overlaps(words, words_without_legend):
    """Each pair of a legend word (one of ``words`` missing from ``words_without_legend``, the same
    figure with a phantom legend) and another word that the legend, padded by LEGEND_PAD, covers."""
    others = Counter((word.text, round(word.x0), round(word.y0)) for word in words_without_legend)
    legend, rest = [], []
    for word in words:
        key = (word.text, round(word.x0), round(word.y0))
        (rest if others[key] else legend).append(word)
        others[key] -= 1
    return [f"legend word {word.text!r} covers {other.text!r} (y {other.y0:.1f}..{other.y1:.1f})"
            for word in legend for other in rest if word.overlaps(other, LEGEND_PAD)]


WIDE = 200.0  # pt: the border of the twin whose page holds whatever the figure's page cuts off


def compiled_twin(tex_path, suffix, text):
    """``text`` written beside ``tex_path`` as <stem>_<suffix>.tex and compiled: the PDF's path."""
    twin = tex_path.with_name(f"{tex_path.stem}_{suffix}.tex")
    twin.write_text(text)
    return compile_tex(twin, "yes")


def figure_text_problems(tex_path):
    """Every word of the standalone pgfplots figure ``tex_path`` that lies outside its page, and
    every legend word that covers another word, as text; [] when there is none. Compiles the
    figure, its wide twin and the twin with a phantom legend beside it."""
    tex = tex_path.read_text()
    border = float(re.search(r"border=([\d.]+)pt", tex)[1])
    compile_tex(tex_path, "yes")
    wide = tex.replace(f"border={border:g}pt", f"border={WIDE:g}pt")
    ((width, height, words),) = page_words(compiled_twin(tex_path, "wide", wide))
    inset = WIDE - border  # the figure's own page inside the wide one
    ((_, _, without_legend),) = page_words(compiled_twin(tex_path, "wide_phantom_legend", phantom_legend(wide)))
    return outside(words, (inset, inset, width - inset, height - inset)) + legend_overlaps(words, without_legend)
