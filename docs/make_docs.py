"""Write the generated parts of the documentation, so that they cannot drift from the code and the
shipped results.

Run from the repository root:

    .venv/bin/python docs/make_docs.py           # rewrite every generated block and docs/img/paper.png
    .venv/bin/python docs/make_docs.py --check   # write nothing; exit 1 naming every stale block

A generated block sits between two marker lines in README.md or any docs/*.md; everything between
them is replaced, everything outside is left alone:

    <!-- options: SCRIPT.py COMMAND -->   ...  <!-- end options -->
        the command's options as a table (option, default, meaning): the defaults from the
        command's signature, the meanings from the Args section of its docstring, exactly what
        ``SCRIPT.py COMMAND --help`` prints (utils.command_options, default_text, docstring_sections)
    <!-- commands: SCRIPT.py -->          ...  <!-- end commands -->
        the script's commands with the first sentence of each docstring (as ``SCRIPT.py --help``)
    <!-- reference: NAME -->              ...  <!-- end reference -->
        reference/NAME.csv as a table: p_hat [95 % interval] per width n (rows) and offset Delta
        (columns), with its settings and the command that reproduces it
    <!-- shipped: reference -->           ...  <!-- end shipped -->
        one row per 1-D reference/*.csv: experiment, cells, runs per cell, command
    <!-- star: reference -->              ...  <!-- end star -->
        per star preset (paper_star, paper_star_gram, and any other star reference/*.csv) its table of
        crossed fractions per width and stage and its figure docs/img/star_<preset>.png, or the
        line "not yet shipped" with the commands that make it

The figure docs/img/paper.png (p_hat against n with intervals, from reference/paper.csv), and
docs/img/star_<preset>.png of each star reference, are drawn with kinks.figures.ErrorBarPlot and
saved as PNGs that record, in their metadata, a digest of the CSV and of the code drawing it;
--check compares that digest, not the pixels, which differ between matplotlib and FreeType
versions.

Each script's commands are its module-level ``COMMANDS`` dict ({name: function}), the dict it
hands to ``utils.run_cli``.
"""
import argparse
import csv
import functools
import hashlib
import importlib
import inspect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import utils  # noqa: E402  (the repository root must be on sys.path first)

SCRIPTS = ("mc_training.py", "mc_plotting.py", "mc_minima.py", "train_star_dataset.py", "eval_star_dataset.py",
           "run_nn_setups.py", "eval_nn_setups.py")
REFERENCE = ROOT / "reference"
FIGURE = ROOT / "docs" / "img" / "paper.png"
FIGURE_SOURCE = REFERENCE / "paper.csv"
DIGEST_KEY = "Source"  # the PNG text chunk holding the figure's digest
BLOCK = re.compile(r"(?P<open><!-- (?P<kind>[a-z]+): (?P<argument>[^>]*?) -->\n)(?P<body>.*?)"
                   r"(?P<close><!-- end (?P=kind) -->)", re.DOTALL)
OPENING = re.compile(r"<!-- (?P<kind>[a-z]+): (?P<argument>[^>]*?) -->")


class DocsError(Exception):
    """A marker that names no script, command or reference, or a block without its end marker."""


# ============================================================================ commands of a script
def script_module(script):
    """The module of ``script`` ('mc_training.py'), imported from the repository root."""
    if script not in SCRIPTS:
        raise DocsError(f"unknown script {script!r} (scripts: {', '.join(SCRIPTS)})")
    return importlib.import_module(Path(script).stem)


def commands_of(script):
    """The commands of ``script``: its module-level COMMANDS dict."""
    commands = getattr(script_module(script), "COMMANDS", None)
    if not isinstance(commands, dict):
        raise DocsError(f"{script} has no module-level COMMANDS dict")
    return commands


def command_function(script, name):
    commands = commands_of(script)
    if name not in commands:
        raise DocsError(f"{script} has no command {name!r} (commands: {', '.join(commands)})")
    return commands[name]


# ============================================================================ Markdown
def escape_cell(text):
    """``text`` for one cell of a Markdown table: '|' escaped; outside `code` spans '$' escaped
    (two of them would start a formula on GitHub) and '<' before a letter or '/' written as &lt;
    (else '<results>' would be taken for an HTML tag and hidden)."""
    parts = re.split(r"(`+[^`]*`+)", str(text).replace("|", r"\|"))
    return "".join(part if part.startswith("`") else
                   re.sub(r"<(?=[A-Za-z/!])", "&lt;", part.replace("$", r"\$")) for part in parts)


def table(header, rows):
    """A Markdown table: a header row, the separator, one line per row (cells escaped by the caller)."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def options_block(argument):
    """The option table of 'SCRIPT.py COMMAND': one row per option of the signature, in order."""
    script, _, name = argument.partition(" ")
    function = command_function(script, name.strip())
    _, entries = utils.docstring_sections(function)
    rows = []
    for option, parameter in utils.command_options(function).items():
        flag = " (true/false)" if utils.is_boolean(parameter) else ""
        shown = utils.default_text(parameter)
        default = "required" if parameter.default is parameter.empty else f"`{shown}`" if shown else "–"
        rows.append([f"`--{option}`{flag}", default,
                     escape_cell(entries.get(option, "(not documented)"))])
    return table(["option", "default", "meaning"], rows)


def summary(function):
    """The first sentence of a command's docstring (a full stop not after another one and before a
    capital letter ends it; ``SCRIPT.py --help`` shows the same sentence, cut at the first '. ')."""
    paragraph = " ".join(utils.docstring_sections(function)[0].split("\n\n")[0].split())
    return re.split(r"(?<![.])\.\s+(?=[A-Z])", paragraph)[0].rstrip(".") + "."


def commands_block(script):
    return table(["command", "what it does"], [[f"`{script} {name}`", escape_cell(summary(function))]
                                               for name, function in commands_of(script).items()])


# ============================================================================ shipped reference results
def reference_rows(name):
    path = REFERENCE / f"{name}.csv"
    if not path.exists():
        raise DocsError(f"no shipped reference {path.relative_to(ROOT)}")
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def reference_names(star=False):
    """The names of the 1-D reference CSVs (``star``: of the star study's, kinks.star.reference)."""
    from kinks.star.reference import is_star_reference

    return sorted(path.stem for path in REFERENCE.glob("*.csv") if is_star_reference(path) == star)


def settings_text(experiment):
    """The experiment JSON of a reference row in words: optimizer, batch, init, step, stopping,
    epoch budget, leak, data."""
    e = json.loads(experiment)
    batch = "full batch" if e["batch_size"] == "full" else f"batch size {e['batch_size']}"
    data = "the paper's six points" if e["data"] == "paper" else f"data {e['data']}"
    probs = "" if e["probs"] == "uniform" else f", π {e['probs']}"
    return (f"{e['optimizer']}, {batch}, {e['init']} init, {e['step']} step, stopping "
            f"{'+'.join(e['stopping'])}, {e['epochs_per_check']:,} epochs per check × at most "
            f"{e['max_checks']:,} checks, leak {e['leak']:g}, {data}{probs}")


def counted(values):
    """'10,000' for one distinct value, '1,000 or 2,000' for several."""
    values = sorted({int(v) for v in values})
    return " or ".join(f"{v:,}" for v in values)


def reference_block(name):
    """reference/NAME.csv: a line on its settings and command, then p_hat [interval] per n and offset."""
    rows = reference_rows(name)
    offsets = sorted({float(row["offset"]) for row in rows})
    widths = sorted({int(row["width"]) for row in rows})
    cells = {(float(row["offset"]), int(row["width"])): row for row in rows}
    commands = sorted({row["command"] for row in rows})
    lines = [f"`reference/{name}.csv`: {counted(row['runs'] for row in rows)} runs per cell, seed "
             f"{counted(row['seed'] for row in rows)}; {escape_cell(settings_text(rows[0]['experiment']))}. "
             f"Reproduced by " + " and ".join(f"`{command}`" for command in commands) + ".", ""]
    body = []
    for width in widths:
        line = [str(width)]
        for offset in offsets:
            row = cells.get((offset, width))
            line.append("–" if row is None else f"{float(row['p_hat']):.4f} [{float(row['ci_low']):.4f}, "
                                                 f"{float(row['ci_high']):.4f}]")
        body.append(line)
    lines.append(table(["n"] + [f"p̂ at Δ = {offset:g} [95 % interval]" for offset in offsets], body))
    return "\n".join(lines)


def shipped_block(argument):
    """One row per reference/*.csv: its file, settings, cells (offsets x widths), runs and command."""
    if argument != "reference":
        raise DocsError(f"shipped: {argument!r}; only 'reference' (the folder reference/) is known")
    body = []
    for name in reference_names():
        rows = reference_rows(name)
        offsets = sorted({float(row["offset"]) for row in rows})
        widths = sorted({int(row["width"]) for row in rows})
        body.append([f"[`{name}.csv`](#{name})", escape_cell(settings_text(rows[0]["experiment"])),
                     f"{len(rows)}: Δ ∈ {{{', '.join(f'{o:g}' for o in offsets)}}} × n = "
                     f"{widths[0]} … {widths[-1]}", counted(row["runs"] for row in rows),
                     " and ".join(f"`{c}`" for c in sorted({row["command"] for row in rows}))])
    return table(["file", "experiment", "cells", "runs per cell", "command"], body)


STAR_SHIPPED = ("paper_star", "paper_star_gram")  # the star references the page names even before they exist


def interval_cell(row, measure):
    return (f"{float(row[f'{measure}_fraction']):.3f} [{float(row[f'{measure}_low']):.3f}, "
            f"{float(row[f'{measure}_high']):.3f}]")


def star_reference_block(name):
    """reference/NAME.csv of the star study: settings, seeds and commands, its figure, then per
    width and stage both crossed fractions with their intervals; "not yet shipped" without it."""
    if not (REFERENCE / f"{name}.csv").exists():
        return (f"`reference/{name}.csv`: not yet shipped (`python train_star_dataset.py experiments --preset "
                f"{name}`, then `python eval_star_dataset.py reference --preset {name}`).")
    rows = reference_rows(name)
    # the settings as the options spell them (true/false); data is left out where it is none (the data set's)
    settings = {key: str(value).lower() if isinstance(value, bool) else value
                for key, value in json.loads(rows[0]["settings"]).items() if key != "dataset" and value is not None}
    last = max(int(row["epochs"]) for row in rows)
    commands = sorted({row["command"] for row in rows if int(row["epochs"]) == last})
    lines = [f"`reference/{name}.csv`: {escape_cell(', '.join(f'{k} {v}' for k, v in settings.items()))}; "
             f"{counted(row['networks'] for row in rows)} networks per row, seeds "
             f"{', '.join(sorted({row['seed'] for row in rows}))}, "
             f"engine {', '.join(sorted({row['engine'] for row in rows}))}. "
             f"Reproduced by " + " and ".join(f"`{command}`" for command in commands)
             + " (an earlier stage: its rows' command in the CSV).", "",
             f"![crossed fractions against n per stage, from reference/{name}.csv](img/star_{name}.png)", ""]
    body = [[json.loads(row["settings"])["dataset"], row["width"], f"{int(row['epochs']):,}",
             interval_cell(row, "kink"), interval_cell(row, "loss")] for row in rows]
    lines.append(table(["data set", "n", "epochs", "kink crossed [95 % interval]", "loss crossed [95 % interval]"],
                       body))
    return "\n".join(lines)


def star_block(argument):
    """Every star reference: the shipped ones of STAR_SHIPPED (or "not yet shipped") and any other."""
    if argument != "reference":
        raise DocsError(f"star: {argument!r}; only 'reference' (the folder reference/) is known")
    names = list(STAR_SHIPPED) + [name for name in reference_names(star=True) if name not in STAR_SHIPPED]
    return "\n\n".join(f"#### {name}\n\n{star_reference_block(name)}" for name in names)


GENERATORS = {"options": options_block, "commands": commands_block, "reference": reference_block,
              "shipped": shipped_block, "star": star_block}


# ============================================================================ the figure
def paper_plot():
    """The ErrorBarPlot of reference/paper.csv: p_hat with its 95 % interval against n, one series
    per offset, the paper's guide line 2 / sqrt(n)."""
    import numpy as np

    from kinks.figures import ErrorBarPlot, Guide, Series

    rows = reference_rows("paper")
    series = []
    for offset in sorted({float(row["offset"]) for row in rows}):
        chosen = sorted((row for row in rows if float(row["offset"]) == offset), key=lambda row: int(row["width"]))
        x, y, low, high = (np.array([float(row[key]) for row in chosen])
                           for key in ("width", "p_hat", "ci_low", "ci_high"))
        series.append(Series(f"$\\Delta = {offset:g}$", x, y, low, high))
    runs = counted(row["runs"] for row in rows)
    notes = ["Shipped result reference/paper.csv: gd, theory step, He init, the paper's six points",
             f"$\\hat p$ with 95 % Clopper–Pearson intervals, {runs} runs per point"]
    guide = Guide("$2/\\sqrt{n}$ (the paper's guide line)", lambda n: 2 / np.sqrt(n), "2/sqrt(x)")
    return ErrorBarPlot(series, "width $n$", r"estimated crossing probability $\hat p$", notes, log_x=True,
                        log_y=True, guides=[guide], dodge=1.05)


def star_plot(name):
    """The ErrorBarPlot of the star reference NAME: per stage kink crossed (solid) and loss crossed
    (dashed) against the width with their 95 % intervals, one legend entry per stage."""
    from kinks.figures import ErrorBarPlot, Series

    rows = reference_rows(name)
    series = []
    for epochs in sorted({int(row["epochs"]) for row in rows}):
        chosen = sorted((row for row in rows if int(row["epochs"]) == epochs), key=lambda row: int(row["width"]))
        for measure in ("kink", "loss"):
            series.append(Series(f"{epochs:,} epochs", [int(row["width"]) for row in chosen],
                                 *([float(row[f"{measure}_{key}"]) for row in chosen]
                                   for key in ("fraction", "low", "high")), dashed=measure == "loss"))
    notes = [f"Shipped result reference/{name}.csv: crossed fractions per stage",
             f"95 % Clopper–Pearson intervals, {counted(row['networks'] for row in rows)} networks per point"]
    return ErrorBarPlot(series, "width $n$", "fraction of networks", notes, y_range=(-0.02, 1.02), dodge=1.04,
                        pair_labels=("kink crossed", "loss crossed"))


def figures():
    """(PNG, its source CSV, the function drawing it) of every generated figure."""
    return [(FIGURE, FIGURE_SOURCE, paper_plot)] + [
        (ROOT / "docs" / "img" / f"star_{name}.png", REFERENCE / f"{name}.csv", functools.partial(star_plot, name))
        for name in reference_names(star=True)]


def figure_digest(source=FIGURE_SOURCE, draw=paper_plot):
    """sha256 of the CSV and of the code that draws the figure (``draw``, its arguments, and the
    shared figure stack ``kinks.figures``): the figure is stale when it differs."""
    import kinks.figures

    function, arguments = (draw.func, repr(draw.args)) if isinstance(draw, functools.partial) else (draw, "")
    code = (inspect.getsource(function) + arguments + inspect.getsource(write_figure)
            + inspect.getsource(kinks.figures))
    return hashlib.sha256(source.read_bytes() + code.encode()).hexdigest()


def write_figure(path=FIGURE, source=FIGURE_SOURCE, draw=paper_plot):
    """The figure drawn by ``draw`` from ``source`` as the PNG ``path``, with the digest in its metadata."""
    import matplotlib

    from kinks.figures import FIGURE_RC
    from kinks.files import atomic_write

    figure = draw().figure()
    metadata = {DIGEST_KEY: f"docs/make_docs.py {figure_digest(source, draw)}"}
    with matplotlib.rc_context(FIGURE_RC):
        atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=150, metadata=metadata))
    return path


def figure_is_current(path=FIGURE, source=FIGURE_SOURCE, draw=paper_plot):
    from PIL import Image

    if not path.exists():
        return False
    with Image.open(path) as image:
        return image.info.get(DIGEST_KEY) == f"docs/make_docs.py {figure_digest(source, draw)}"


# ============================================================================ the pages
def pages():
    """README.md and every docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def regenerated(text, where):
    """``text`` with every generated block rewritten; (new text, [names of the blocks that changed])."""
    changed = []
    for match in OPENING.finditer(text):
        closing = f"<!-- end {match['kind']} -->"
        if match["kind"] in GENERATORS and closing not in text[match.end():]:
            raise DocsError(f"{where}: {match[0]} without its {closing}")

    def replace(match):
        kind, argument = match["kind"], match["argument"].strip()
        if kind not in GENERATORS:
            raise DocsError(f"{where}: unknown block kind {kind!r} (known: {', '.join(GENERATORS)})")
        body = GENERATORS[kind](argument) + "\n"
        if body != match["body"]:
            changed.append(f"{kind}: {argument}")
        return match["open"] + body + match["close"]

    return BLOCK.sub(replace, text), changed


def stale():
    """What --check reports: '<page>: <block>' for every block that differs from what would be
    written now, and the figure if its digest differs. Writes nothing."""
    found = []
    for page in pages():
        _, changed = regenerated(page.read_text(), page.relative_to(ROOT))
        found += [f"{page.relative_to(ROOT)}: {block}" for block in changed]
    found += [f"{path.relative_to(ROOT)}: the figure of {source.relative_to(ROOT)}"
              for path, source, draw in figures() if not figure_is_current(path, source, draw)]
    return found


def write_all():
    """Rewrite the stale blocks and the figure; returns what was rewritten."""
    written = []
    for page in pages():
        text, changed = regenerated(page.read_text(), page.relative_to(ROOT))
        if changed:
            page.write_text(text)
            written += [f"{page.relative_to(ROOT)}: {block}" for block in changed]
    for path, source, draw in figures():
        if not figure_is_current(path, source, draw):
            write_figure(path, source, draw)
            written.append(str(path.relative_to(ROOT)))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write (or, with --check, check) the generated parts of the docs.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale block")
    check = parser.parse_args(argv).check
    try:
        if check:
            found = stale()
            for block in found:
                print(f"stale: {block}")
            print(f"{len(found)} stale; rewrite them with: .venv/bin/python docs/make_docs.py" if found
                  else "the generated docs are current")
            return 1 if found else 0
        written = write_all()
        print("\n".join(f"wrote {block}" for block in written) or "the generated docs were current")
        return 0
    except DocsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
