"""Where the toolkit writes and what it reads at run time.

Every command writes below one results root: ``./results`` by default, or the folder named by the
environment variable ``KINKS_RESULTS``; a command's ``--out`` option overrides it for that command.
The files read at run time (``DATA_FILES``: the shipped references, the LaTeX head and tail of
every document, the deviations page) are found by ``data_path``: in a checkout where they lie, in
an installed package in the copies its wheel carries below ``kinks/_data`` (pyproject.toml).
"""
import os
from pathlib import Path

RESULTS_ENV_VAR = "KINKS_RESULTS"
DATA_FILES = ("reference", "tex_head.txt", "tex_tail.txt", "docs/deviations.md")  # relative to the repository root
PACKAGE = Path(__file__).resolve().parent
INSTALLED_DATA = PACKAGE / "_data"  # the wheel's copies of DATA_FILES, at the same relative paths


def results_root() -> Path:
    """The results root: ``$KINKS_RESULTS`` if set, else ``./results``."""
    return Path(os.environ.get(RESULTS_ENV_VAR, "results"))


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
