"""Where results are written and found: below one results root, ``./results`` by default, the folder
named by the environment variable ``KINKS_RESULTS``, or a command's ``--results``; a command's
``--out`` names its folder itself (``output_folder``), and a folder it reads is named by a path or
by its name below its wing's folder (``named_folder``).

The documented entry point for one's own scripts in the checkout; the code is ``kinks.paths``,
which the package and the seven scripts use, so that an installed kinks needs no top-level module
of this name.
"""
from kinks.paths import RESULTS_ENV_VAR, named_folder, output_file, output_folder, results_root

__all__ = ["RESULTS_ENV_VAR", "named_folder", "output_file", "output_folder", "results_root"]
