"""The documentation: every command's --help documents every option, the generated parts of the
docs (option and command tables, reference tables, the README's figure) are what
docs/make_docs.py writes now, the README stays a five-minute read, and every relative link and
anchor in README.md, CHANGELOG.md and docs/*.md resolves."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import make_docs  # noqa: E402
import utils  # noqa: E402

# The users' interface: the commands of each script (issue 19 keeps them).
COMMANDS = {
    "mc_training.py": ("run", "status", "event", "soundness", "benchmark", "experiments"),
    "mc_plotting.py": ("report", "reference", "examples", "animate"),
    "mc_minima.py": ("risk", "diagnose", "trace", "benchmark"),
    "train_star_dataset.py": ("train", "experiments", "animate", "benchmark"),
    "eval_star_dataset.py": ("report", "reference", "document"),
    "run_nn_setups.py": ("fit", "sweep", "benchmark"),
    "eval_nn_setups.py": ("table", "figures", "report"),
}
PAGES = ("mc_training", "mc_plotting", "mc_minima", "star", "nn_setups", "reference", "performance", "gpu",
         "clusters", "deviations", "glossary", "results", "architecture", "cli")
README = ROOT / "README.md"
MARKDOWN = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


# ============================================================================ --help
def test_the_scripts_are_those_of_make_docs():
    assert tuple(COMMANDS) == make_docs.SCRIPTS


@pytest.mark.parametrize("script", COMMANDS)
def test_script_has_a_commands_dict(script):
    """Each script names its commands in a module-level COMMANDS dict, which it hands to
    utils.run_cli and from which make_docs.py reads its commands."""
    module = make_docs.script_module(script)
    assert isinstance(getattr(module, "COMMANDS", None), dict), f"{script} has no module-level COMMANDS dict"
    assert tuple(module.COMMANDS) == COMMANDS[script]


@pytest.mark.parametrize("script, command", [(s, c) for s, commands in COMMANDS.items() for c in commands])
def test_help_documents_every_option(script, command):
    """`SCRIPT COMMAND --help` has a docstring entry for every option of the command's signature,
    and no entry for an option the command does not have."""
    function = make_docs.command_function(script, command)
    options = utils.command_options(function)
    _, entries = utils.docstring_sections(function)
    assert "(not documented)" not in utils.command_help(script, command, function)
    assert not [o for o in options if o not in entries], f"options without an Args entry in {script} {command}"
    assert not [e for e in entries if e not in options], f"Args entries naming no option of {script} {command}"


# ============================================================================ generated blocks
def test_generated_docs_are_current():
    """What `docs/make_docs.py --check` checks: rerun docs/make_docs.py when this fails."""
    assert make_docs.stale() == []


def test_check_names_a_stale_block():
    page = ROOT / "docs" / "mc_training.md"
    text = page.read_text()
    start = text.index("<!-- options: mc_training.py run -->")
    stale = text[:start] + text[start:].replace("| `--preset` |", "| `--preset_old` |", 1)
    _, changed = make_docs.regenerated(stale, "mc_training.md")
    assert changed == ["options: mc_training.py run"]
    assert make_docs.regenerated(text, "mc_training.md")[1] == []


def test_a_block_without_its_end_is_refused():
    with pytest.raises(make_docs.DocsError, match="without its"):
        make_docs.regenerated("<!-- options: mc_training.py run -->\n| x |\n", "page.md")


def test_cells_escape_pipes_dollars_and_tags():
    assert make_docs.escape_cell("a | b, $X, <results>/mc, `x<y`") == r"a \| b, \$X, &lt;results>/mc, `x<y`"


# ============================================================================ README
def readme_links():
    return [target.split("#")[0] for target in links(README.read_text()) if not external(target)]


def test_readme_is_read_in_five_minutes():
    assert len(README.read_text().splitlines()) <= 200


def test_readme_links_every_docs_page_and_they_exist():
    linked = set(readme_links())
    missing = [f"docs/{page}.md" for page in PAGES if f"docs/{page}.md" not in linked]
    assert not missing, f"README.md does not link {missing}"
    assert all((ROOT / target).exists() for target in linked if target.startswith("docs/"))


def test_readme_commands_are_the_quick_start_and_ci():
    """The two commands of the quick start, exactly as users type them; .ci/run runs the second."""
    text = README.read_text()
    assert "bash install.sh && .venv/bin/python mc_training.py run && .venv/bin/python mc_plotting.py report" in text
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "bash install.sh --tex && .venv/bin/python -m pytest -q tests"
    assert f"\n{ci}\n" in text


def test_readme_times_are_those_of_the_performance_page():
    """Every time in the README's reproduce-the-paper table is quoted from docs/performance.md."""
    text = README.read_text()
    section = text[text.index("## Reproduce the paper"):]
    section = section[:section.index("\n## ", 1)]
    rows = [line.split(" | ")[-1] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    times = [t for row in rows[1:] for t in re.findall(r"\d+(?:[.,]\d+)? (?:h|min|s)(?: \d+ (?:min|s))?", row)]
    assert times, "no times found in the reproduce-the-paper table"
    performance = (ROOT / "docs" / "performance.md").read_text()
    assert not [t for t in times if t not in performance]


# ============================================================================ links
def without_code(text):
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text):
    return re.findall(r"\]\(([^)\s]+)\)", without_code(text))


def external(target):
    return re.match(r"[a-z]+:", target) is not None


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.DOTALL | re.MULTILINE)
    return {slug(match) for match in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Every relative link points to an existing file, and every #anchor into a Markdown file to
    one of its headings."""
    broken = []
    for target in links(page.read_text()):
        if external(target):
            continue
        path_text, _, anchor = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert not broken, f"broken links in {page.relative_to(ROOT)}: {broken}"
