"""The package's layers, read from the code: every import of every module of ``kinks/`` (at the top
or inside a function) runs downward, shared <- mc <- minima, shared <- star, shared <- sweeps.
A shared module (``kinks/*.py``) imports no wing, and a wing never imports a sibling wing; the
folders of ``kinks/`` are exactly the wings named here (docs/architecture.md draws them)."""
import ast

import pytest

from conftest import ROOT

LAYERS = {"shared": set(), "mc": {"shared"}, "minima": {"shared", "mc"}, "star": {"shared"},
          "sweeps": {"shared"}}  # layer: the other layers it may import


def layer_of(module, package):
    """The layer of a dotted module name inside ``package`` (e.g. kinks.mc.data -> mc, kinks.files
    -> shared, kinks -> shared); None for a module outside the package."""
    parts = module.split(".")
    if parts[0] != package.name:
        return None
    return parts[1] if len(parts) > 1 and (package / parts[1]).is_dir() else "shared"


def module_name(path, package):
    """The dotted name of a source file of ``package`` (its __init__.py is the package itself)."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, package):
    """Every module that ``path`` imports, anywhere in it, as dotted names; ``from A import B``
    counts as A.B where B is a module or package of its own, else as A; relative imports resolved."""
    here = module_name(path, package).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # the package that holds the module
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for alias in node.names:
                candidate = package.parent.joinpath(*f"{base}.{alias.name}".split("."))
                is_module = candidate.is_dir() or candidate.with_suffix(".py").is_file()
                found.append(f"{base}.{alias.name}" if is_module else base)
    return found


def layer_violations(package):
    """(module, imported module, their layers) for every import that does not run downward."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        source = module_name(path, package)
        layer = layer_of(source, package)
        for target in imported_modules(path, package):
            other = layer_of(target, package)
            if other is not None and other != layer and other not in LAYERS.get(layer, set()):
                bad.append((source, target, f"{layer} -> {other}"))
    return bad


def test_every_import_runs_downward():
    assert layer_violations(ROOT / "kinks") == []


def test_the_package_holds_the_shared_modules_and_one_folder_per_wing():
    folders = {path.name for path in (ROOT / "kinks").iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(LAYERS) - {"shared"}
    for folder in folders:
        assert (ROOT / "kinks" / folder / "__init__.py").is_file(), folder


def write_package(root, files):
    """A package tree under ``root`` from {relative path: source}."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "kinks"


SMALL_TREE = {"kinks/__init__.py": "", "kinks/files.py": "import os\n", "kinks/mc/__init__.py": "",
              "kinks/mc/data.py": "from kinks.files import os\n", "kinks/minima/__init__.py": "",
              "kinks/minima/risk.py": "from kinks.mc import data\nfrom ..mc.data import os\n",
              "kinks/star/__init__.py": "", "kinks/star/data.py": "import numpy\nfrom . import training\n",
              "kinks/star/training.py": "from kinks.star.data import numpy\n"}


def test_a_tree_whose_imports_run_downward_passes(tmp_path):
    assert layer_violations(write_package(tmp_path, SMALL_TREE)) == []


@pytest.mark.parametrize("module, line, arrow", [
    ("kinks/star/data.py", "from kinks.mc.data import os", "star -> mc"),               # sideways
    ("kinks/star/data.py", "    from ..mc import data", "star -> mc"),                  # relative, in a function
    ("kinks/mc/data.py", "import kinks.minima.risk", "mc -> minima"),                   # upward
    ("kinks/files.py", "from kinks.star import data", "shared -> star"),               # shared into a wing
    ("kinks/mc/data.py", "from kinks import star", "mc -> star"),                       # a wing as a name
])
def test_an_import_added_by_hand_that_does_not_run_downward_is_found(tmp_path, module, line, arrow):
    tree = dict(SMALL_TREE)
    tree[module] += ("def later():\n" + line + "\n") if line.startswith("    ") else line + "\n"
    bad = layer_violations(write_package(tmp_path, tree))
    assert [found[2] for found in bad] == [arrow]
    assert bad[0][0] == module[:-3].replace("/", ".")
