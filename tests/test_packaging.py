"""The package as others install, cite and build on it: pyproject.toml names the seven commands
and carries the data files the code reads (``kinks.paths.DATA_FILES``), its dependency ranges hold
the pins of requirements.txt, the package imports no module of the repository root, utils.py and
custom_paths.py re-export the package, CITATION.cff is valid CFF 1.2.0 of this version, and
``pip install .`` into a fresh virtual environment gives ``import kinks`` and the commands from
any folder, with the data files found (slow: it builds and installs the wheel)."""
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import custom_paths
import kinks
import kinks.cli
import kinks.paths
import utils
from conftest import ROOT
from test_docs import COMMANDS
from test_layers import imported_modules

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WHEEL = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
COMMAND_NAMES = [script.removesuffix(".py") for script in COMMANDS]
ROOT_MODULES = {path.stem for path in ROOT.glob("*.py")}


def pins():
    """{package name: pinned version} of requirements.txt."""
    lines = (line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines())
    return dict(line.lower().split("==") for line in lines if line)


def test_the_seven_commands_are_console_scripts_of_their_modules_main():
    assert PYPROJECT["project"]["scripts"] == {name: f"{name}:main" for name in COMMAND_NAMES}
    assert sorted(WHEEL["only-include"]) == sorted(["kinks", *COMMANDS])


def test_the_wheel_carries_every_data_file_below_kinks_data():
    assert WHEEL["force-include"] == {name: f"kinks/_data/{name}" for name in kinks.paths.DATA_FILES}
    assert all((ROOT / name).exists() for name in kinks.paths.DATA_FILES)


def test_data_files_are_found_in_the_checkout_or_in_the_installed_copy(tmp_path, monkeypatch):
    assert kinks.paths.data_path("reference") == ROOT / "reference"
    assert kinks.paths.data_path("docs/deviations.md").is_file()
    monkeypatch.setattr(kinks.paths, "INSTALLED_DATA", tmp_path)
    assert kinks.paths.data_path("tex_head.txt") == tmp_path / "tex_head.txt"
    with pytest.raises(ValueError, match="not a data file"):
        kinks.paths.data_path("README.md")


def test_the_package_imports_no_module_of_the_repository_root():
    package = ROOT / "kinks"
    found = [(path.relative_to(ROOT), name) for path in sorted(package.rglob("*.py"))
             for name in imported_modules(path, package) if name.split(".")[0] in ROOT_MODULES]
    assert found == []


def test_utils_and_custom_paths_re_export_the_package():
    assert all(getattr(utils, name) is getattr(kinks.cli, name) for name in utils.__all__)
    assert custom_paths.results_root is kinks.paths.results_root
    assert custom_paths.RESULTS_ENV_VAR == kinks.paths.RESULTS_ENV_VAR


def test_the_pinned_requirements_lie_in_the_ranges_of_pyproject():
    """Every dependency pyproject.toml states (the test extra included) is pinned in
    requirements.txt, the tested set, to a version its range allows."""
    pinned = pins()
    stated = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]
              + PYPROJECT["project"]["optional-dependencies"]["test"]]
    outside = [str(r) for r in stated if r.name.lower() not in pinned or pinned[r.name.lower()] not in r.specifier]
    assert outside == []


def citation():
    """CITATION.cff read by cffconvert."""
    from cffconvert import Citation

    return Citation((ROOT / "CITATION.cff").read_text())


def test_pre_commit_runs_the_pinned_ruff():
    hooked = re.findall(r"ruff==([\w.]+)", (ROOT / ".pre-commit-config.yaml").read_text())
    assert hooked == [pins()["ruff"]]


def test_the_version_is_the_citations():
    metadata = citation().cffobj
    assert str(metadata["version"]) == kinks.__version__
    year, month, day = map(int, kinks.__version__.split("."))
    assert str(metadata["date-released"]) == f"{year:04d}-{month:02d}-{day:02d}"


def test_citation_is_valid_cff_and_prefers_the_paper():
    cff = citation()
    cff.validate()  # the CFF 1.2.0 JSON schema that cffconvert ships; raises when invalid
    paper = cff.cffobj["preferred-citation"]
    assert paper["title"] == "Training Two-Layer ReLU Networks with Gradient Descent is Inconsistent"
    assert [author["family-names"] for author in paper["authors"]] == ["Holzmüller", "Steinwart"]
    assert (paper["journal"], paper["volume"], paper["year"]) == ("Journal of Machine Learning Research", 23, 2022)
    assert cff.cffobj["license"] == "Apache-2.0"


def fresh_environment(folder):
    """A virtual environment in ``folder`` without kinks, whose Python sees the dependencies already
    installed for this one (a .pth file naming this Python's site-packages), so that installing
    kinks downloads nothing. Returns (its bin folder, its site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([folder / "bin" / "python", "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "tested_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    return folder / "bin", Path(site)


@pytest.mark.slow
def test_pip_install_gives_the_package_commands_and_data_files_in_any_folder(tmp_path):
    """``pip install .`` (no index, no build isolation: hatchling comes from requirements.txt) into
    a fresh environment; then, from a folder outside the checkout, ``import kinks`` finds the
    installed package, ``mc_training run`` trains a tiny study and ``mc_plotting report --against
    reference`` reads the shipped references from the wheel's copy."""
    bin_folder, site = fresh_environment(tmp_path / "venv")
    install = subprocess.run([bin_folder / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                              "--no-build-isolation", str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["KINKS_RESULTS"] = str(away / "results")

    def command(*argv):
        done = subprocess.run([str(argv[0]), *map(str, argv[1:])], capture_output=True, text=True, cwd=away, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = command(bin_folder / "python", "-c", "import kinks, kinks.paths; print(kinks.__file__, kinks.DataSet, "
                    "kinks.paths.data_path('reference'), sep='\\n')").splitlines()
    assert where == [str(site / "kinks" / "__init__.py"), "<class 'kinks.mc.data.DataSet'>",
                     str(site / "kinks" / "_data" / "reference")]
    assert "run" in command(bin_folder / "mc_training", "--help")
    command(bin_folder / "mc_training", "run", "--preset", "paper", "--runs", 16, "--widths", 16, "--offsets", 0,
            "--jobs", 1, "--out", away / "run")
    report = command(bin_folder / "mc_plotting", "report", "--input", away / "run", "--against", "reference",
                     "--compile", "no", "--out", away / "report")
    assert "your estimates beside the shipped reference" in report and "paper" in report
