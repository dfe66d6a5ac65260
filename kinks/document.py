"""The LaTeX documents of whole studies (``mc_training.py experiments``, ``eval_star_dataset.py
document``), shared by the wings: plain text and Markdown cells as LaTeX, a Markdown table read
from its section of a page (the deviations of docs/deviations.md) and drawn as a table, the
document's head, a part of a document with its figures (``Section``), a figure here in the text, a
table over several pages, and whether the document is compiled (``document_compile``)."""
import re
import shutil
from typing import NamedTuple

from kinks.checks import warn
from kinks.figures import tex_escape

# ============================================================================ text as LaTeX
TEX_CHARACTERS = {"|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}", "ᵢ": "$_i$", "₋": "$_-$",
                  "₊": "$_+$", "−": "$-$", "→": r"$\to$", "×": r"$\times$", "≥": r"$\geq$",
                  "≤": r"$\leq$", "≈": r"$\approx$", "·": r"$\cdot$", "‖": r"$\|$", "…": r"\dots{}",
                  "α": r"$\alpha$", "γ": r"$\gamma$", "Δ": r"$\Delta$", "ε": r"$\varepsilon$", "θ": r"$\theta$",
                  "λ": r"$\lambda$", "π": r"$\pi$"}
TEX_READS = "–—‘’“”"  # characters beyond Latin-1 that pdflatex reads as they are
SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᵀ"   # a run of them is one exponent: 10⁻⁸ as 10$^{-8}$, 11ᵀ as 11$^{T}$
EXPONENT_DIGITS = str.maketrans(SUPERSCRIPTS, "0123456789-T")


def latex(text):
    """Plain ``text`` (from a file or a configuration) as LaTeX: the special characters escaped
    (``figures.tex_escape``), a letter with a combining circumflex as $\\hat x$, a single letter with
    a subscript as math (x_min as $x_{min}$; mc_training stays text), a run of superscript digits as
    one exponent, the symbols of TEX_CHARACTERS as math, and any other character pdflatex cannot read
    written as [U+XXXX]."""
    text = re.sub("(\\w)\u0302", lambda match: f"$\\hat {match[1]}$", tex_escape(text))
    text = re.sub(r"(?<![\w\\])([A-Za-z])\\_([A-Za-z0-9]+)", r"$\1_{\2}$", text)
    text = re.sub(f"[{SUPERSCRIPTS}]+", lambda match: f"$^{{{match[0].translate(EXPONENT_DIGITS)}}}$", text)
    return "".join(TEX_CHARACTERS.get(c, c if ord(c) < 0x100 or c in TEX_READS else f"[U+{ord(c):04X}]")
                   for c in text)


def unlinked(cell):
    """A Markdown cell with every link [text](target) written as its text."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)


def markdown_latex(cell):
    """A Markdown table cell as LaTeX: links as their text, `code` in typewriter type, the rest
    through ``latex``."""
    parts = re.split(r"(`[^`]*`)", unlinked(cell))
    return "".join(rf"\texttt{{{latex(part[1:-1])}}}" if part.startswith("`") else latex(part) for part in parts)


# ============================================================================ tables
def deviation_rows(path, section):
    """The rows of the first Markdown table under the heading ``section`` of ``path``: one dict per
    row keyed by the header's cells, each cell as written (an escaped pipe \\| read as |). None
    where the section or its table is gone (the document then says so)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    if section not in lines:
        return None
    table = []
    for line in lines[lines.index(section) + 1:]:
        if line.startswith("|"):
            table.append(line.strip())
        elif table or line.startswith("## "):
            break
    cells = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line[1:-1])] for line in table]
    return [dict(zip(cells[0], row)) for row in cells[2:]] if len(cells) > 2 else None


# ============================================================================ the document
DOCUMENT_HEAD = r"""\documentclass[a4paper,10pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath}
\usepackage{array}
\usepackage{booktabs}
\usepackage{float}
\usepackage{graphicx}
\usepackage{longtable}
\begin{document}
"""


class Section(NamedTuple):
    """A part of the document: its LaTeX and the PDFs of its figures (files beside the document)."""
    tex: str
    figures: list


def figure_tex(pdf, caption):
    """A figure, here in the text (``float``'s H), of the PDF ``pdf`` (a file beside the document)
    with its caption, at most 0.37 of the text's height: two fit on a page beside a heading (a
    figure that does not fit where it stands starts the next page, leaving the rest empty)."""
    return "\n".join([r"\begin{figure}[H]", r"\centering",
                      rf"\includegraphics[width=0.8\linewidth,height=0.37\textheight,keepaspectratio]{{{pdf.name}}}",
                      rf"\caption{{{caption}}}", r"\end{figure}", ""])


def longtable_tex(spec, header, lines, caption):
    """A table over as many pages as it needs: column ``spec``, ``header`` cells, ``lines`` of cells
    (all LaTeX already), its caption above it and the header again on every further page."""
    head = [r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    return "\n".join([r"{\footnotesize", rf"\begin{{longtable}}{{{spec}}}", rf"\caption{{{caption}}}\\", *head,
                      r"\endfirsthead", *head, r"\endhead", *(" & ".join(cells) + r" \\" for cells in lines),
                      r"\bottomrule", r"\end{longtable}}", ""])


# the deviations table: ragged right (long words, narrow columns), the columns' shares of the text
# width summing to 1, so that it keeps within the margins
DEVIATION_COLUMNS = (r">{\raggedright}p{\dimexpr 0.17\linewidth-2\tabcolsep}"
                     r">{\raggedright}p{\dimexpr 0.22\linewidth-2\tabcolsep}"
                     r">{\raggedright}p{\dimexpr 0.24\linewidth-2\tabcolsep}"
                     r">{\raggedright\arraybackslash}p{\dimexpr 0.37\linewidth-2\tabcolsep}")


def deviations_section(deviations, section, study):
    """The rows ``deviations`` of ``section`` of docs/deviations.md as a table captioned as
    ``study``'s (e.g. "The 1-D study's"), or a line saying that the section has no table."""
    head = r"\section{Deviations from the published code}"
    if not deviations:
        return "\n".join([head, rf"(\texttt{{docs/deviations.md}} has no table under "
                                rf"``{latex(section.lstrip('# '))}''.)", ""])
    header = list(deviations[0])
    lines = [[markdown_latex(row[key]) for key in header] for row in deviations]
    return "\n".join([head, longtable_tex(DEVIATION_COLUMNS, [latex(key) for key in header], lines,
                                          rf"{latex(study)} deviations from the published code, from "
                                          r"\texttt{docs/deviations.md}.")])


def document_compile(compile, name):
    """``--compile`` as this machine allows it: 'auto' without pdflatex is 'no', said once (the
    figures' PDFs are then matplotlib's and the document <name>.tex stays LaTeX)."""
    if compile == "auto" and shutil.which("pdflatex") is None:
        warn(f"pdflatex not found: {name}.pdf skipped, its LaTeX written (install TeX Live: bash install.sh "
             "--tex); the figures' PDFs are matplotlib's")
        return "no"
    return compile
