"""The whole 2-D study as one LaTeX document (``eval_star_dataset.py document``), from the
configuration folders found below its input: per published preset (paper_star and
paper_star_gram: the two step rules; paper_deep and paper_deep_gram) and dtype whose configurations
are there, the crossed fractions against the width at the last stage every configuration found has
reached (``kinks.star.report.fractions_plot``) and the table of every width and reached stage
(``kinks.star.reference.reference_rows``); a preset with none is named "not run". Then every row
against the shipped references (z-scores, ``reference.against_rows``) and the star rows of
docs/deviations.md. Written as star_document.tex, compiled where pdflatex is installed, with the
figures and the tables as CSV beside it. The LaTeX pieces are kinks.document's."""
import json

from kinks.document import (
    DOCUMENT_HEAD, deviation_rows, deviations_section, document_compile, figure_tex, latex, longtable_tex)
from kinks.figures import compile_tex, write_plot
from kinks.files import save_csv, save_text
from kinks.paths import data_path
from kinks.star import reference as ref
from kinks.star import report as sr
from kinks.star.config import DTYPES

DOCUMENTED = ("paper_star", "paper_star_gram", "paper_deep", "paper_deep_gram")
DOCUMENT = "star_document"
DEVIATIONS = data_path("docs/deviations.md")
DEVIATIONS_SECTION = "## Two-dimensional data ([star](star.md))"


# ============================================================================ the studies found
def studies(results, max_epochs=None, presets=DOCUMENTED):
    """(preset, dtype, reference rows) per preset and dtype with configurations among ``results``
    (StarResults, the preset's options otherwise at the experiments defaults) that reached a stage
    (capped at ``max_epochs``), and the presets with none."""
    found, absent = [], []
    for preset in presets:
        runs = [(preset, dtype, ref.reference_rows(results, preset, dict(dtype=dtype), max_epochs)[0])
                for dtype in DTYPES]
        runs = [run for run in runs if run[2]]
        found += runs
        absent += [] if runs else [preset]
    return found, absent


def last_stage_rows(rows):
    """The rows of the last stage that every width of ``rows`` has reached."""
    last = min(max(row["epochs"] for row in rows if row["width"] == width) for width in {row["width"] for row in rows})
    return [row for row in rows if row["epochs"] == last]


def report_rows(rows):
    """Reference rows as the report's rows (settings back as columns, counts as numbers), for its
    figure and the comparison."""
    return [dict(row, **json.loads(row["settings"]), **{key: float(row[key]) for key in ref.COUNTS
                                                         if not key.endswith("crossed")}) for row in rows]


# ============================================================================ sections
def name_of(preset, dtype):
    return preset if dtype == "float32" else f"{preset} ({dtype})"


def study_section(preset, dtype, rows, pdf):
    """A preset's figure at its last stage and its table of every width and stage."""
    lines = [[str(row["width"]), f"{row['epochs']:,}", f"{row['networks']:,}",
              *(f"{float(row[f'{m}_fraction']):.3f} [{float(row[f'{m}_low']):.3f}, {float(row[f'{m}_high']):.3f}]"
                for m, _ in sr.MEASURES)] for row in rows]
    caption = (rf"Preset \texttt{{{latex(name_of(preset, dtype))}}}: the crossed fractions per width $n$ and "
               rf"stage (epochs), pooled over the seeds, with 95 \% Clopper--Pearson intervals.")
    figure = (rf"Preset \texttt{{{latex(name_of(preset, dtype))}}}: kink crossed (solid) and loss crossed (dashed) "
              rf"against the width after {rows[-1]['epochs']:,} epochs, 95 \% Clopper--Pearson intervals.")
    return "\n".join([rf"\section{{Preset \texttt{{{latex(name_of(preset, dtype))}}}}}", figure_tex(pdf, figure),
                      longtable_tex("rrrll", ["$n$", "epochs", "networks", "kink crossed", "loss crossed"], lines,
                                    caption)])


def absent_section(absent):
    """One line naming the presets with no configuration found."""
    names = ", ".join(rf"\texttt{{{latex(preset)}}}" for preset in absent)
    return "\n".join([r"\section{Not run}", f"No configuration found that reached a stage of: {names} (not run).",
                      ""])


def against_section(compared, alone):
    """Every row beside its shipped reference, both fractions with z; the rows without one counted."""
    lines = [[latex(row["series"]), str(row["width"]), f"{row['epochs']:,}", rf"\texttt{{{latex(row['reference'])}}}",
              *(f"{row[f'{m}_fraction']:.3f} / {row[f'{m}_ref_fraction']:.3f} (${row[f'{m}_z']:.2f}$)"
                for m, _ in sr.MEASURES)] for row in compared]
    caption = (r"Every row beside the shipped reference of the same settings, width and epochs "
               r"(\texttt{reference/<preset>.csv}): here / reference and the two-proportion $z$-score; "
               rf"$|z| > 3$ would be a real difference. {len(alone)} rows have no shipped reference.")
    if not compared:
        return "\n".join([r"\section{Against the shipped references}",
                          f"No row has a shipped reference ({len(alone)} rows; none shipped yet, or other "
                          "settings).", ""])
    return "\n".join([r"\section{Against the shipped references}", longtable_tex(
        "lrrlll", ["series", "$n$", "epochs", "reference", "kink crossed", "loss crossed"], lines, caption)])


def document_tex(sections):
    intro = [r"\section*{The two-dimensional study: the published presets}",
             r"Written by \texttt{eval\_star\_dataset.py document} from the configuration folders found; "
             r"every fraction counts a network as crossed at the first epoch before the stage's count.", ""]
    return DOCUMENT_HEAD + "\n".join(intro + sections) + "\n\\end{document}\n"


# ============================================================================ the document
def shipped_rows(source):
    """The rows of the star references at ``source``, none where there are none (said in the document)."""
    paths = sorted(source.glob("*.csv")) if source.is_dir() else []
    return [row for path in paths if ref.is_star_reference(path) for row in ref.read_reference(path)]


def write_document(results, out, compile, max_epochs=None, references=ref.REFERENCE_DIR):
    """Write the document of ``results`` (StarResults; the stages capped at ``max_epochs``) into
    ``out``: per preset found its figure
    (PNG, pgfplots LaTeX and PDF), the tables as CSV, star_document.tex and, with pdflatex,
    star_document.pdf. {what: [paths]} for 'figures', 'tables' and 'document'."""
    compile = document_compile(compile, DOCUMENT)
    found, absent = studies(results, max_epochs)
    sections, figures, rows = [], [], []
    for preset, dtype, preset_rows in found:
        drawn = report_rows(last_stage_rows(preset_rows))
        figures.append(write_plot(sr.fractions_plot(drawn), out / f"fractions_{preset}_{dtype}", compile)[-1])
        sections.append(study_section(preset, dtype, preset_rows, figures[-1]))
        rows += preset_rows
    sections += [absent_section(absent)] if absent else []
    compared, alone = ref.against_rows(report_rows(rows), results, shipped_rows(references))
    deviations = deviation_rows(DEVIATIONS, DEVIATIONS_SECTION)
    sections += [against_section(compared, alone), deviations_section(deviations, DEVIATIONS_SECTION,
                                                                      "The 2-D study's")]
    tables = {"star_fractions": (rows, ref.REFERENCE_COLUMNS), "star_against_reference": (compared,
                                                                                         ref.AGAINST_COLUMNS)}
    for name, (table, columns) in tables.items():
        save_csv(out / f"{name}.csv", table, columns)
    tex = out / f"{DOCUMENT}.tex"
    save_text(tex, document_tex(sections))
    pdf = compile_tex(tex, compile, passes=2)
    return {"figures": figures, "tables": [out / f"{name}.csv" for name in tables],
            "document": [tex] + ([pdf] if pdf is not None else [])}
