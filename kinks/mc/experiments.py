"""The whole 1-D study in one command (``mc_training.py experiments``): the published 1-D presets
(paper, paper_sgd, paper_adam, paper_swapped, leaky), each run or resumed in the run folder that
``mc_training.py run --preset P`` uses with the same options (``runner.carry_out``: locked, resumed,
validated), and one LaTeX document, experiments_1d.tex (compiled by pdflatex where installed), of
what they show: the sections it is handed first (the script hands it the two example networks of
``kinks.minima.examples``, which this wing may not import), per preset the p_hat-against-n figure,
theory against experiment for the paper preset, the theorem's event at initialisation, every cell
against the shipped reference (z-scores) and the 1-D deviations from the published code (read from
docs/deviations.md). Its tables are also written beside it as CSV; the LaTeX pieces are kinks.document's."""
from kinks.document import (
    DOCUMENT_HEAD, deviation_rows, deviations_section, document_compile, figure_tex, latex, longtable_tex,
    unlinked)
from kinks.figures import compile_tex, write_plot
from kinks.files import save_csv, save_text
from kinks.mc.crossing import (
    REFERENCE_DIR, ROW_COLUMNS, THEORY_COLUMNS, THEORY_FACTORS, against_rows, load_references, load_run,
    runs_folder, series, series_labels, table_rows, theory_names, theory_rows)
from kinks.mc.figures import THEORY_NAME, count_text, crossing_plot, figure_note, theory_note, theory_plot
from kinks.mc.runner import carry_out
from kinks.mc.study import complete_config, make_config, option_text, run_dir_name, run_label
from kinks.mc.theory import EVENT_COLUMNS, EVENT_CONDITIONS, event_rows
from kinks.paths import data_path

PUBLISHED = ("paper", "paper_sgd", "paper_adam", "paper_swapped", "leaky")  # the published 1-D presets
DOCUMENT = "experiments_1d"
DEVIATIONS = data_path("docs/deviations.md")
DEVIATIONS_SECTION = "## The 1-D study"
EPSILON = GAMMA = 0.1  # the theorem's event as ``mc_training.py event`` draws it by default (seed 0, N = n^2)
INTERVAL = "95 % Clopper–Pearson intervals"


# ============================================================================ the studies
def planned_studies(results, presets, runs=None, widths=None):
    """(preset, configuration, run folder) per preset, --runs and --widths overriding the preset's
    where given: the folder (below <results>/mc) that ``mc_training.py run --preset P`` uses with
    the same options, e.g. paper-widths16_32-runs40. Every configuration is checked before any
    is run (``make_config``)."""
    given = {option for option, value in (("runs", runs), ("widths", widths)) if value is not None}
    planned = []
    for preset in presets:
        config = make_config(preset, runs=runs, widths=widths)
        planned.append((preset, config, (runs_folder(results) / run_dir_name(preset, config, given)).absolute()))
    return planned


def document_folder(results, presets, runs=None, widths=None):
    """Where the document goes by default: <results>/mc/experiments, named further by the presets
    when not all five and by the overrides as in the run folders' names, e.g.
    experiments-paper+paper_sgd-widths16_32-runs40."""
    parts = ["experiments"] + (["+".join(presets)] if tuple(presets) != PUBLISHED else [])
    parts += [option + option_text(option, value)[1].replace(",", "_")
              for option, value in (("widths", widths), ("runs", runs)) if value is not None]
    return runs_folder(results) / "-".join(parts)


def run_studies(planned, jobs):
    """Run or resume every planned study (``runner.carry_out``), one after the other:
    {preset: (chunks computed, chunks reused)}."""
    return {preset: carry_out(run_dir, config, jobs, label=f"preset {preset}: {run_label(config)}, "
                                                          f"engine {config['engine']}")
            for preset, config, run_dir in planned}


# ============================================================================ text as LaTeX


# ============================================================================ tables
def preset_rows(preset, run):
    """The table rows of one preset's run (``crossing.table_rows``), each with its preset."""
    return [dict(row, preset=preset) for row in table_rows([run])]


AGAINST_KEYS = ("preset", "offset", "width", "runs", "crossed", "p_hat")
AGAINST_COLUMNS = [*AGAINST_KEYS, "ref_runs", "ref_crossed", "ref_p_hat", "z"]


def against_table(rows, run, references):
    """Per row of a preset's table (``preset_rows``): preset, offset, width, runs, crossed, p_hat,
    and, where the shipped reference of the preset holds the cell, ref_runs, ref_crossed, ref_p_hat
    and the two-proportion z (``crossing.against_rows``); these are None where it does not."""
    own = [ref for ref in references if ref["preset"] == rows[0]["preset"]]
    compared = {(row["offset"], row["width"]): row for row in against_rows(rows, [run], own)}
    table = []
    for row in rows:
        match = compared.get((row["offset"], row["width"]), {})
        reference = dict(ref_runs=match.get("ref_runs"), ref_p_hat=match.get("ref_p_hat"), z=match.get("z"),
                         ref_crossed=round(match["ref_p_hat"] * match["ref_runs"]) if match else None)
        table.append(dict({key: row[key] for key in AGAINST_KEYS}, **reference))
    return table


def event_table(widths, event_runs):
    """The theorem's event at initialisation (``theory.event_rows``: epsilon = gamma = 0.1, N = n^2,
    seed 0) for r = 1 and r = 10, each row with its factor r."""
    return [dict(factor=r, **row) for r in THEORY_FACTORS
            for row in event_rows(widths, event_runs, EPSILON, GAMMA, r, 0)]


# ============================================================================ the document
def settings_text(config):
    """How a run's networks were trained, in words: optimizer, batch, init, step, leak, stopping
    criteria and the epoch budget (epochs per check x checks)."""
    config = complete_config(config)
    batch = "full batch" if config["batch_size"] == "full" else f"batch {config['batch_size']}"
    return (f"{config['optimizer']}, {batch}, {config['init']} init, {config['step']} step, leak {config['leak']:g}, "
            f"stopping {' + '.join(config['stopping'])}, {config['epochs_per_check']:,} epochs per check × "
            f"{config['max_checks']:,} checks")


def crossing_section(studies, figures):
    """Per preset its p_hat-against-n figure, captioned with its settings, runs and interval."""
    parts = [r"\section{Crossing probability per preset}"]
    for (preset, run, rows), pdf in zip(studies, figures):
        offsets = ", ".join(f"{offset:g}" for offset in dict.fromkeys(row["offset"] for row in rows))
        parts.append(figure_tex(pdf, rf"Estimated crossing probability $\hat p$ against the width $n$, preset "
                                     rf"\texttt{{{latex(preset)}}} (run folder \texttt{{{latex(run['name'])}}}): "
                                     f"{latex(settings_text(run['config']))}; offsets $\\Delta$ = {offsets}; "
                                     f"{latex(count_text([row['runs'] for row in rows], 'runs'))} per point, "
                                     rf"{latex(INTERVAL)}; dashed: the guide line $2/\sqrt{{n}}$."))
    return "\n".join(parts)


def theory_section(run, theory, pdf, event_runs):
    """The theory-against-experiment figure of the paper preset, captioned."""
    caption = (rf"The stuck fraction $1 - \hat p$ of preset \texttt{{paper}} at $\Delta$ = 0 (run folder "
               rf"\texttt{{{latex(run['name'])}}}: {latex(settings_text(run['config']))}) beside the probability "
               rf"of the theorem's event at initialisation for $r$ = 1 and $r$ = 10 ($\varepsilon$ = $\gamma$ = "
               rf"{EPSILON:g}, $N = n^2$, {event_runs:,} draws per $n$); "
               f"{latex(count_text([row['runs'] for row in theory], 'runs'))} per point, {latex(INTERVAL)}.")
    return "\n".join([r"\section{Theory against experiment}", figure_tex(pdf, caption)])


def event_section(events):
    """The table of the theorem's event: per r and n the fraction meeting each condition and all."""
    names = EVENT_CONDITIONS + ("joint",)
    lines = [[f"{row['factor']:g}", str(row["n"]), *(f"{row[f'{name}_frac']:.3f}" for name in names),
              f"[{row['joint_low']:.4f}, {row['joint_high']:.4f}]"] for row in events]
    caption = (rf"The theorem's event at He initialisation: per factor $r$ and width $n$ the fraction of "
               rf"{events[0]['runs']:,} draws meeting each condition and all of them (joint), $\varepsilon$ = "
               rf"$\gamma$ = {EPSILON:g}, $N = n^2$; the joint fraction's 95 \% Clopper--Pearson interval.")
    return "\n".join([r"\section{The theorem's event}", longtable_tex("r" * (len(names) + 3),
                      ["$r$", "$n$", *names, "joint 95 \\% interval"], lines, caption)])


def against_section(table):
    """The table of every cell against the shipped reference, with z; cells without one named missing."""
    lines = [[rf"\texttt{{{latex(row['preset'])}}}", f"{row['offset']:g}", str(row["width"]), f"{row['runs']:,}",
              f"{row['p_hat']:.4f}", *(["missing", "--"] if row["z"] is None else
                                       [f"{row['ref_p_hat']:.4f} ({row['ref_runs']:,})", f"${row['z']:.2f}$"])]
             for row in table]
    missing = sum(row["z"] is None for row in table)
    caption = (r"Every cell beside the shipped reference (\texttt{reference/<preset>.csv}, runs in brackets) "
               r"with the two-proportion $z$-score; $|z| > 3$ would be a real difference. The runs here use "
               r"the presets' seed 0, as the references do, so a cell's networks are the reference's first "
               r"ones: at equal runs $z = 0$ means the shipped numbers were reproduced exactly, and an "
               r"independent check needs another seed (\texttt{run --seed 1}). "
               + (f"{missing} of {len(table)} cells have no reference (missing)." if missing else
                  "Every cell has a reference."))
    return "\n".join([r"\section{Against the shipped references}", longtable_tex(
        "lrrrrrr", ["preset", r"$\Delta$", "$n$", "runs", r"$\hat p$ here", r"$\hat p$ reference", "$z$"],
        lines, caption)])


def document_tex(studies, sections):
    """The whole document: a title, the run folders of ``studies``, then ``sections``."""
    folders = [rf"\item \texttt{{{latex(preset)}}}: \texttt{{{latex(run['name'])}}}, {latex(run_label(run['config']))}"
               for preset, run, _ in studies]
    intro = [r"\section*{The one-dimensional study: every published experiment}",
             r"Written by \texttt{mc\_training.py experiments} from these run folders (below the results root's "
             r"\texttt{mc/}), on the paper's six data points with $N = n^2$ samples per run:",
             r"\begin{itemize}", *folders, r"\end{itemize}", ""]
    return DOCUMENT_HEAD + "\n".join(intro + sections) + "\n\\end{document}\n"


def load_studies(planned):
    """(preset, run, its table rows) per planned study: each run folder loaded (``crossing.load_run``,
    named by its folder) and tabled (``preset_rows``)."""
    studies = []
    for preset, _, run_dir in planned:
        run = load_run(run_dir, run_dir.name)
        studies.append((preset, run, preset_rows(preset, run)))
    return studies


def crossing_figures(studies, out, compile):
    """Per study its p_hat-against-n figure as ``mc_plotting.py report`` draws it, written as
    crossing_<preset>.png, .tex and .pdf (``write_plot``); the PDFs' paths."""
    return [write_plot(crossing_plot(series(rows), series_labels([run], rows), figure_note([run], rows)),
                       out / f"crossing_{preset}", compile)[-1] for preset, run, rows in studies]


def theory_figure(run, rows, out, compile, event_runs, events):
    """Theory against experiment for the paper preset's run (``crossing.theory_rows``, reusing the
    event table's draws ``events``; ``kinks.mc.figures.theory_plot``), written as theory_vs_experiment.png,
    .tex and .pdf: (its rows, the PDF's path)."""
    theory = theory_rows([run], rows, event_runs, EPSILON, GAMMA, drawn=events)
    plot = theory_plot(theory, theory_note(theory, event_runs, EPSILON, GAMMA), theory_names([run], theory))
    return theory, write_plot(plot, out / THEORY_NAME, compile)[-1]


def write_document(planned, out, compile, event_runs, lead=()):
    """Write the document of the planned studies into ``out``: the ``lead`` sections, the studies'
    figures (PNG, pgfplots LaTeX and PDF each), the CSV tables, experiments_1d.tex and, with
    pdflatex, experiments_1d.pdf.

    Args:
        planned: (preset, configuration, run folder) per preset (``planned_studies``), all run.
        out: the folder to write.
        compile: auto | yes | no (``figures.check_compile``; auto without pdflatex writes no PDF
            of the document).
        event_runs: draws per width of the theorem's event (the event table and the theory figure,
            at every width of the studies); 0 leaves both out.
        lead: the Sections that open the document, their figures already in ``out``
            (``mc_training.py experiments`` passes the example pair of ``kinks.minima.examples``).
    Returns:
        {what: [paths]} for 'figures', 'tables' and 'document' (the .tex, then the .pdf if compiled).
    """
    compile = document_compile(compile, DOCUMENT)
    studies = load_studies(planned)
    figures = crossing_figures(studies, out, compile)
    sections = [*(section.tex for section in lead), crossing_section(studies, figures)]
    figures = [pdf for section in lead for pdf in section.figures] + figures
    tables = {"crossing_probability": ([row for _, _, rows in studies for row in rows], ["preset", *ROW_COLUMNS])}
    events = event_table(sorted({n for _, config, _ in planned for n in config["widths"]}), event_runs) \
        if event_runs else []
    for run, rows in [(run, rows) for preset, run, rows in studies if preset == "paper" and event_runs]:
        theory, pdf = theory_figure(run, rows, out, compile, event_runs, events)
        figures.append(pdf)
        sections.append(theory_section(run, theory, pdf, event_runs))
        tables[THEORY_NAME] = (theory, THEORY_COLUMNS)
    if event_runs:
        sections.append(event_section(events))
        tables["event"] = (events, ["factor", *EVENT_COLUMNS])
    references = load_references(REFERENCE_DIR)
    against = [row for _, run, rows in studies for row in against_table(rows, run, references)]
    tables["against_reference"] = (against, AGAINST_COLUMNS)
    deviations = deviation_rows(DEVIATIONS, DEVIATIONS_SECTION)
    sections += [against_section(against), deviations_section(deviations, DEVIATIONS_SECTION, "The 1-D study's")]
    if deviations:
        tables["deviations"] = ([{key: unlinked(value) for key, value in row.items()} for row in deviations],
                                list(deviations[0]))
    for name, (rows, columns) in tables.items():
        save_csv(out / f"{name}.csv", rows, columns)
    tex = out / f"{DOCUMENT}.tex"
    save_text(tex, document_tex(studies, sections))
    pdf = compile_tex(tex, compile, passes=2)
    return {"figures": figures, "tables": [out / f"{name}.csv" for name in tables],
            "document": [tex] + ([pdf] if pdf is not None else [])}
