"""The package's public entry points and its layout rules: ``kinks.NAME`` is the function of its
module, importing a light module does not load numba, every module opens with a docstring, no
source file is over 600 lines, every file reads top-down (no function or class uses a
module-level function or class defined further down), and the code passes ruff (the rules of
pyproject.toml, which .pre-commit-config.yaml runs before each commit)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(ROOT.glob("*.py")) + sorted((ROOT / "kinks").rglob("*.py"))


def test_public_entry_points_are_their_modules_functions():
    import kinks.mc.crossing
    import kinks.mc.data
    import kinks.mc.runner
    import kinks.mc.study
    import kinks.mc.training

    modules = {"DataSet": kinks.mc.data, "make_config": kinks.mc.study, "run_chunks": kinks.mc.runner,
               "train": kinks.mc.training, "load_run": kinks.mc.crossing, "crossing_estimate": kinks.mc.crossing}
    assert sorted(modules) == kinks.__all__
    for name, module in modules.items():
        assert getattr(kinks, name) is getattr(module, name)
        doc = getattr(module, name).__doc__
        assert "Args:" in doc and ("Returns:" in doc or "Attributes:" in doc) and "Example" in doc, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        kinks.nothing  # noqa: B018


def test_light_modules_do_not_load_numba():
    code = ("import sys, kinks.checks, kinks.cli, kinks.paths, kinks.figures, kinks.nets, kinks.samples, "
            "kinks.star.training, kinks.sweeps.grid; print('numba' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def later_uses(path):
    """(user, name) pairs where a module-level def or class uses a module-level def, class or
    assignment that stands further down in ``path``."""
    tree = ast.parse(path.read_text())
    defined = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.setdefault(node.name, node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defined.setdefault(target.id, node.lineno)
    return [(node.name, sub.id) for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
            for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)
            and sub.id != node.name and defined.get(sub.id, 0) > node.lineno]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_source_file_opens_with_a_docstring_is_short_and_reads_top_down(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
    assert len(path.read_text().splitlines()) <= 600
    assert later_uses(path) == []


def test_the_top_down_check_finds_a_forward_use(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""m."""\n\n\ndef caller():\n    return helper()\n\n\ndef helper():\n    return 1\n')
    assert later_uses(path) == [("caller", "helper")]


def test_the_code_passes_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
