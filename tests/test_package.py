"""The package's public entry points and its layout rules: ``kinks.NAME`` is the function of its
module, importing a light module does not load numba, every module opens with a docstring, no
source file is over 600 lines, every file reads top-down (no function or class uses a
module-level function or class defined further down), a module of cached numba loops records the
text of every module whose names its loops use, and the code passes ruff (the rules of
pyproject.toml, which .pre-commit-config.yaml runs before each commit)."""
import ast
import hashlib
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


def kinks_modules_compiled_in(path):
    """The kinks modules (as paths relative to ROOT) whose names the numba-decorated functions of
    ``path`` use: their code or constants are compiled into those functions."""
    tree = ast.parse(path.read_text())
    imported = {alias.asname or alias.name: node.module for node in tree.body
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kinks") for alias in node.names}
    numba_functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)
                       and any("numba" in ast.unparse(decorator) for decorator in node.decorator_list)]
    return sorted({imported[sub.id].replace(".", "/") + ".py" for node in numba_functions for sub in ast.walk(node)
                   if isinstance(sub, ast.Name) and sub.id in imported})


@pytest.mark.parametrize("path", [path for path in SOURCES if "cache=True" in path.read_text()],
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_cached_numba_loops_record_the_text_of_what_they_compile_in(path):
    """numba's disk cache keys a function on the text of its own file only: a change to a module
    whose loops or constants it compiles in would load a stale loop. So such a module holds
    COMPILED_IN, the hash of each of those modules, and this test asks for the update."""
    expected = {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:16]
                for name in kinks_modules_compiled_in(path)}
    tree = ast.parse(path.read_text())
    recorded = next((ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                     and any(getattr(target, "id", None) == "COMPILED_IN" for target in node.targets)), {})
    assert recorded == expected, f"set COMPILED_IN = {expected} in {path.relative_to(ROOT)}"


def test_the_compiled_in_check_finds_the_modules_a_loop_uses(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""m."""\nimport numba\n\nfrom kinks.star.groups import ONE, JIT\n'
                    'from kinks.files import save_json\n\n\n@numba.njit(**JIT)\ndef loop():\n    return ONE\n\n\n'
                    'def plain():\n    return save_json\n')
    assert kinks_modules_compiled_in(path) == ["kinks/star/groups.py"]


def test_the_code_passes_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
