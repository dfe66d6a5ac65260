"""Where the toolkit writes and what it reads at run time.

Every command writes below one results root: ``./results`` by default, the folder named by the
environment variable ``KINKS_RESULTS``, or a command's ``--results``; a command's default folder
lies below it, and its ``--out`` names the folder itself instead (``output_folder``). A folder a
command reads (``--input``, and ``status``) is named by a path or by its name below the results
root's folder of its wing (``named_folder``), e.g. ``quick`` for ``results/mc/quick``.

The files read at run time (``DATA_FILES``: the shipped references, the LaTeX head and tail of
every document, the deviations page) are found by ``data_path``: in a checkout where they lie, in
an installed package in the copies its wheel carries below ``kinks/_data`` (pyproject.toml).
"""
import os
from pathlib import Path

from kinks.checks import UsageError

RESULTS_ENV_VAR = "KINKS_RESULTS"
DATA_FILES = ("reference", "tex_head.txt", "tex_tail.txt", "docs/deviations.md")  # relative to the repository root
PACKAGE = Path(__file__).resolve().parent
INSTALLED_DATA = PACKAGE / "_data"  # the wheel's copies of DATA_FILES, at the same relative paths


def results_root(results=None) -> Path:
    """The results root: ``results`` (a command's --results) where given, else ``$KINKS_RESULTS``
    if set, else ``./results``."""
    return Path(results if results is not None else os.environ.get(RESULTS_ENV_VAR, "results"))


def output_folder(out, default):
    """The folder a command writes and the option that names it (for its messages): (--out,
    '--out') where given, else (``default``, its default folder below the results root, '--results')."""
    return (Path(out), "--out") if out is not None else (Path(default), "--results")


def output_file(out, default):
    """``output_folder`` for a command that writes one file (--out names the file): a folder there
    is a UsageError."""
    path, option = output_folder(out, default)
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder, not a file")
    return path, option


def named_folder(name, below, option="--input", holding=None):
    """The folder a command reads, named by ``name``: a path, else a folder name below ``below``
    (e.g. quick below <results>/mc). ``holding``: (file, what it makes the folder) that the folder
    must hold, e.g. ("run.json", "run folder"). A UsageError naming both places otherwise."""
    file, what = holding or (None, "folder")
    for candidate in (Path(str(name)), Path(below) / str(name)):
        if candidate.is_dir() and (file is None or (candidate / file).is_file()):
            return candidate
    held = f" (a folder with {file})" if file else ""
    raise UsageError(f"{option} {name}: no {what}{held} there or in {below}")


def data_path(name) -> Path:
    """The path of the data file or folder ``name`` (one of ``DATA_FILES``, e.g. 'reference'): below
    ``kinks/_data`` where the package was installed from its wheel, else in the repository root
    that holds this package.

    Example:
        >>> data_path("reference").name, (data_path("reference") / "paper.csv").is_file()
        ('reference', True)
    """
    if name not in DATA_FILES:
        raise ValueError(f"{name!r} is not a data file of kinks ({', '.join(DATA_FILES)})")
    return (INSTALLED_DATA if INSTALLED_DATA.is_dir() else PACKAGE.parent) / name
