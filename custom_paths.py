"""Where results are written and found.

Every script writes below one results root: ``./results`` by default, the folder named by the
environment variable ``KINKS_RESULTS``, or a command's ``--results``; a command's default folder
lies below it, and its ``--out`` names the folder itself instead (``output_folder``). A folder a
command reads (``--input``, and ``status``) is named by a path or by its name below the results
root's folder of its wing (``named_folder``), e.g. ``quick`` for ``results/mc/quick``.
"""
import os
from pathlib import Path

from kinks.checks import UsageError

RESULTS_ENV_VAR = "KINKS_RESULTS"


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
