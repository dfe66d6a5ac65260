"""Speed measurements of the minima wing (never part of the tests): seconds per Hessian spectrum,
from its block-plus-low-rank structure against forming H and a dense eigh."""
import numpy as np

from kinks.mc.benchmarks import best_time
from kinks.mc.engines import DenseTrainer
from kinks.mc.training import draw_problems
from kinks.minima.hessian import HessianStructure


def hessian_seconds(width, repeats):
    """Seconds per full Hessian spectrum (all 3n + 1 eigenvalues) of one network of ``width`` from the
    structure, and of forming H and dense eigh where 3n + 1 <= 1000 (else nan); best of ``repeats``.
    The network is drawn as in a study and trained 2,000 epochs (kinks spread by the training)."""
    x, y, p, _, (a, b, c, w), h = draw_problems(np.random.default_rng([0, width]), 1, width, 0.0, "he", "theory")
    trainer = DenseTrainer(a, b, c, w, x, y, h, "gd")
    for _ in range(2000):
        trainer.step(p.T)
    structure = HessianStructure(*(q[0] for q in trainer.params()), x, y, p[0])
    structured = best_time(structure.spectrum, repeats)
    dense = best_time(lambda: np.linalg.eigvalsh(structure.matrix()), repeats) if 3 * width + 1 <= 1000 else np.nan
    return structured, dense
