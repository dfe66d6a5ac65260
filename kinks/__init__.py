"""kinks: Monte Carlo studies of training two-layer ReLU networks (Holzmueller & Steinwart 2022).

The seven scripts in the repository root (installed as the commands of the same names) are thin
command lines over this package: its shared modules (cli, paths, checks, files, parallel, stats,
figures, locks, nets, samples, animation) and one subpackage per wing, ``mc`` (the 1-D study),
``minima`` (what gradient descent finds, on top of ``mc``), ``star`` (the 2-D study) and
``sweeps``, whose imports run only downward; docs/architecture.md says what each module owns and
how a study flows through them. The public entry points for one's own scripts and notebooks, each
documented with Args, Returns and an Example:

- ``DataSet``: the 1-D data points, targets and probabilities (``kinks.mc.data``);
- ``make_config``: a study's validated configuration from the options of ``mc_training.py run``
  (``kinks.mc.study``);
- ``run_chunks``: carry out (or resume, or extend) a study in a run folder (``kinks.mc.runner``);
- ``train``: train a batch of networks to their stopping criteria (``kinks.mc.training``);
- ``load_run``, ``crossing_estimate``: read a run folder and estimate p_hat with its interval
  (``kinks.mc.crossing``).

They are imported when first used, so that ``import kinks.checks`` (say, from the torch scripts)
does not load numba and the compiled loops.
"""
import importlib

__version__ = "2026.12.6"  # the release, by its date: pyproject.toml reads it, CITATION.cff states it (tested)
PUBLIC = {"DataSet": "kinks.mc.data", "make_config": "kinks.mc.study", "run_chunks": "kinks.mc.runner",
          "train": "kinks.mc.training", "load_run": "kinks.mc.crossing", "crossing_estimate": "kinks.mc.crossing"}
__all__ = sorted(PUBLIC)


def __getattr__(name):
    """``kinks.NAME`` for the public entry points, from their modules (PEP 562)."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'kinks' has no attribute {name!r}")
    return getattr(importlib.import_module(PUBLIC[name]), name)
