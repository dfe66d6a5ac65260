"""Where results are written.

Every script writes below one results root: ``./results`` by default, or the folder named by the
environment variable ``KINKS_RESULTS``. A command's ``--out`` option overrides it for that command.
"""
import os
from pathlib import Path

RESULTS_ENV_VAR = "KINKS_RESULTS"


def results_root() -> Path:
    """The results root: ``$KINKS_RESULTS`` if set, else ``./results``."""
    return Path(os.environ.get(RESULTS_ENV_VAR, "results"))
