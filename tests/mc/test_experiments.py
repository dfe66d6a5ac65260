"""Tests of ``mc_training.py experiments`` (kinks.mc.experiments): a small version of the whole 1-D
study end to end (the run folders that ``run`` would use, finished chunks, the CSV tables, each z
against an independent computation, a caption per figure), then run again without computing
anything and without pdflatex; the PDF where pdflatex is installed; bad values in one line; and the
pieces: text as LaTeX, the deviations table read from Markdown, the default folders."""
import csv
import math
import re
import shutil

import pytest

import mc_training
from conftest import call_script
from kinks import document
from kinks.document import deviation_rows, document_compile, latex, markdown_latex
from kinks.mc.crossing import REFERENCE_DIR
from kinks.mc.experiments import DEVIATIONS, DEVIATIONS_SECTION, PUBLISHED, document_folder, planned_studies
from kinks.mc.runner import summarize
from kinks.mc.study import make_config, run_dir_name
from kinks.mc.theory import event_rows
from kinks.minima.examples import EXAMPLE_FIGURES
from pdf_checks import needs_pdf_tools, outside, page_words

SMALL = ["--runs", "40", "--widths", "16,32", "--event_runs", "200", "--jobs", "1"]


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def pooled_z(k1, n1, k2, n2):
    """The two-proportion z-score, written out here independently of kinks.stats."""
    pooled = (k1 + k2) / (n1 + n2)
    return (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def chunk_times(results):
    return {path: path.stat().st_mtime_ns for path in (results / "mc").rglob("chunk_*")}


@pytest.mark.slow
def test_a_small_study_end_to_end_then_resumed_without_pdflatex(tmp_path, monkeypatch, capsys):
    results, out = tmp_path / "results", tmp_path / "document"
    argv = ["experiments", "--presets", "paper,paper_sgd", *SMALL, "--results", results, "--out", out]
    code, stdout, stderr = call_script(monkeypatch, capsys, mc_training, "mc_training.py", *argv, "--compile", "no")
    assert code == 0, stderr
    for preset in ("paper", "paper_sgd"):
        name = run_dir_name(preset, make_config(preset, runs=40, widths=[16, 32]), {"runs", "widths"})
        assert name == f"{preset}-widths16_32-runs40"  # the folder of run --preset P --runs 40 --widths 16,32
        cells = summarize(results / "mc" / name)
        assert len(cells) == 6 and all(c["chunks"] == c["total"] and c["runs"] == 40 for c in cells.values())
        assert f"{preset}: 6 chunks computed, 0 reused: {results / 'mc' / name}" in stdout
    assert "left out (not in --presets): paper_adam, paper_swapped, leaky" in stdout
    assert re.search(r"done in \d+\.\d s\n$", stdout)
    # the tables: one row per preset x offset x width
    keys = {(preset, offset, width) for preset in ("paper", "paper_sgd") for offset in ("0.0", "0.01", "0.1")
            for width in ("16", "32")}
    crossing = read_csv(out / "crossing_probability.csv")
    assert {(row["preset"], row["offset"], row["width"]) for row in crossing} == keys and len(crossing) == 12
    against = read_csv(out / "against_reference.csv")
    assert {(row["preset"], row["offset"], row["width"]) for row in against} == keys and len(against) == 12
    for row in against:  # every cell has a shipped reference; z as computed here from the counts
        ref = next(r for r in read_csv(REFERENCE_DIR / f"{row['preset']}.csv")
                   if (r["offset"], r["width"]) == (row["offset"], row["width"]))
        assert float(row["z"]) == pytest.approx(pooled_z(int(row["crossed"]), 40, int(ref["crossed"]),
                                                         int(ref["runs"])), rel=1e-12)
    events = read_csv(out / "event.csv")
    assert [(row["factor"], row["n"], row["runs"]) for row in events] == \
        [(r, n, "200") for r in ("1.0", "10.0") for n in ("16", "32")]
    theory = read_csv(out / "theory_vs_experiment.csv")
    assert [row["width"] for row in theory] == ["16", "32"]
    for row in theory:  # the theory figure reuses the event table's draws: the numbers of drawing them afresh
        for r in (1.0, 10.0):
            fresh = event_rows([int(row["width"])], 200, 0.1, 0.1, r, 0)[0]
            assert float(row[f"event_r{r:g}"]) == fresh["joint_frac"]
            assert float(row[f"event_r{r:g}_high"]) == pytest.approx(fresh["joint_high"], rel=1e-12)
    assert len(read_csv(out / "deviations.csv")) == len(deviation_rows(DEVIATIONS, DEVIATIONS_SECTION)) >= 3
    # the document: a caption per figure, each stating the runs per point and the interval level
    tex = (out / "experiments_1d.tex").read_text()
    figures = re.findall(r"\\begin\{figure\}.*?\\end\{figure\}", tex, re.DOTALL)
    examples, figures = figures[:3], figures[3:]  # the example pair first, then the studies' figures
    assert all(r"\caption{" in f and "20,000 epochs" in f for f in examples)
    assert [name for f in examples for name in EXAMPLE_FIGURES if f"{{{name}.pdf}}" in f] == list(EXAMPLE_FIGURES)
    assert len(figures) == 3
    assert all(r"\caption{" in f and "40 runs per point" in f and "Clopper" in f for f in figures)
    assert r"\includegraphics" in figures[0] and "crossing_paper.pdf" in figures[0]
    assert "1,000 epochs per check $\\times$ 1,000 checks" in figures[0] and "stopping crossing + early" in figures[1]
    assert str(tmp_path) not in tex
    # again, with --compile auto and no pdflatex: every chunk reused, the PDF skipped in one line
    before = chunk_times(results)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, stdout, stderr = call_script(monkeypatch, capsys, mc_training, "mc_training.py", *argv)
    assert code == 0 and chunk_times(results) == before
    assert "paper: 0 chunks computed, 6 reused" in stdout and "paper_sgd: 0 chunks computed, 6 reused" in stdout
    assert len(stderr) == 1 and "experiments_1d.pdf skipped" in stderr[0], stderr
    assert not (out / "experiments_1d.pdf").exists() and (out / "crossing_paper_sgd.png").exists()


@pytest.mark.slow
@needs_pdf_tools
def test_the_document_compiles_to_a_pdf_with_its_text_within_the_margins(tmp_path, monkeypatch, capsys):
    out = tmp_path / "document"
    argv = ["experiments", "--presets", "paper", "--runs", "20", "--widths", "16", "--event_runs", "50", "--jobs", "1",
            "--results", tmp_path / "results", "--out", out, "--compile", "yes"]
    code, stdout, stderr = call_script(monkeypatch, capsys, mc_training, "mc_training.py", *argv)
    assert code == 0, stderr
    pdf = out / "experiments_1d.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and f"document: {out / 'experiments_1d.tex'}, {pdf}" in stdout
    assert (out / "crossing_paper.pdf").exists() and (out / "theory_vs_experiment.pdf").exists()
    margin = 2 / 2.54 * 72  # geometry's 2 cm, in pt
    for page, (width, height, words) in enumerate(page_words(pdf), 1):  # the tables too
        assert outside(words, (margin, 0, width - margin, height), "the text width") == [], page
    assert "$x_{min}$" in (out / "experiments_1d.tex").read_text()  # the deviations' x_min as math, not "x min"


@pytest.mark.parametrize("args, option", [(["--presets", "paper,papr"], "--presets"), (["--runs", "0"], "--runs"),
                                          (["--compile", "maybe"], "--compile"), (["--widths", "16,1"], "--widths")])
def test_bad_values_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, option):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path / "results"))
    code, _, stderr = call_script(monkeypatch, capsys, mc_training, "mc_training.py", "experiments", *args)
    assert code == 2 and len(stderr) == 1 and stderr[0].startswith(f"error: {option} ")
    assert not any(tmp_path.iterdir())
    if option == "--presets":
        assert ", ".join(PUBLISHED) in stderr[0]


def test_text_from_files_is_escaped_for_latex():
    assert latex("x_min(|aᵢ| − Eᵢ) > 1 → p̂ 50 %") == \
        r"$x_{min}$(\textbar{}a$_i$\textbar{} $-$ E$_i$) \textgreater{} 1 $\to$ $\hat p$ 50 \%"
    assert latex("a ☃ b") == "a [U+2603] b"
    assert latex("10⁶ epochs, 10⁻⁸ relative, n², 11ᵀ") == "10$^{6}$ epochs, 10$^{-8}$ relative, n$^{2}$, 11$^{T}$"
    assert markdown_latex("preset `leaky_1` ([mc](mc.md#x-α))") == r"preset \texttt{leaky\_1} (mc)"
    assert latex("min|x_j| (mc_training)") == r"min\textbar{}$x_{j}$\textbar{} (mc\_training)"


def test_the_deviations_table_is_read_from_its_section(tmp_path):
    page = tmp_path / "deviations.md"
    page.write_text("# D\n\n## The 1-D study\n\nText.\n\n| area | here |\n| --- | --- |\n| a \\| b | [c](c.md) |\n"
                    "| d | e |\n\nMore text.\n\n| x | y |\n| --- | --- |\n| 1 | 2 |\n\n## Other\n")
    assert deviation_rows(page, DEVIATIONS_SECTION) == [{"area": "a | b", "here": "[c](c.md)"},
                                                        {"area": "d", "here": "e"}]
    assert deviation_rows(page, "## Gone") is None
    assert deviation_rows(tmp_path / "none.md", DEVIATIONS_SECTION) is None
    assert deviation_rows(DEVIATIONS, DEVIATIONS_SECTION)[0]["area"].startswith("preset `leaky`")  # the shipped page


def test_default_folders_are_those_of_run_and_name_the_overrides(tmp_path):
    planned = planned_studies(tmp_path, ["paper", "leaky"], runs=2000, widths=[16, 32])
    assert [run_dir.relative_to(tmp_path.absolute()).as_posix() for _, _, run_dir in planned] == \
        ["mc/paper-widths16_32-runs2000", "mc/leaky-widths16_32"]  # leaky's own runs are 2000
    assert document_folder(tmp_path, PUBLISHED) == tmp_path / "mc" / "experiments"
    assert document_folder(tmp_path, ["paper", "leaky"], 40, [16, 32]) == \
        tmp_path / "mc" / "experiments-paper+leaky-widths16_32-runs40"


def test_auto_without_pdflatex_writes_no_pdf_and_says_so_once(monkeypatch, capsys):
    monkeypatch.setattr(document.shutil, "which", lambda name: None)
    assert document_compile("auto", "experiments_1d") == "no" and document_compile("no", "experiments_1d") == "no"
    assert capsys.readouterr().err.count("experiments_1d.pdf skipped") == 1
