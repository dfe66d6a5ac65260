"""Where results are written: below ``./results``, or the folder named by the environment variable
``KINKS_RESULTS``; a command's ``--out`` option overrides it for that command.

The documented entry point for one's own scripts in the checkout; the code is ``kinks.paths``,
which the package and the seven scripts use, so that an installed kinks needs no top-level module
of this name.
"""
from kinks.paths import RESULTS_ENV_VAR, results_root

__all__ = ["RESULTS_ENV_VAR", "results_root"]
