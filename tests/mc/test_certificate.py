"""Tests of the certificate against the real gap (x_-, x_+) (``kinks.mc.theory.units_in_gap``): the
per-unit condition against a brute-force search over the box the parameters may move in, the same
booleans as the paper's x_min condition on symmetric gaps, equal statuses on the paper's six points
in a whole training run, and soundness on asymmetric data sets (certified networks trained 10^5
more epochs by the dense engine never cross)."""
import numpy as np
import pytest

import kinks.mc.theory
import kinks.mc.training
from kinks.mc.data import DataSet, data_gap
from kinks.mc.engines import DenseTrainer, ReducedTrainer
from kinks.mc.theory import certify, compiled_certify, data_powers, jacobi_eigen, units_in_gap
from kinks.mc.training import draw_problems, soundness_row, train
from mc_checks import ASYMMETRIC

PAPER_Y, UNEVEN = [-1.0, 2.0, -1.0, 1.0, -2.0, 1.0], [0.2, 0.1, 0.2, 0.15, 0.2, 0.15]
ASYMMETRIC_SETS = [
    ASYMMETRIC,
    DataSet([-3.0, -2.0, -1.0, 0.5, 1.5, 2.0, 3.5], [1.0, -1.0, 1.0, 0.5, -1.0, 1.0, -0.5],
            [0.1, 0.1, 0.2, 0.2, 0.2, 0.1, 0.1]),  # the README's 7 points
    DataSet([-3.0, -2.0, -0.6, 1.4, 2.0, 3.0], PAPER_Y, UNEVEN),  # the paper's targets, points moved
    DataSet([-2.5, -1.5, -0.8, 0.4, 1.8, 3.2], PAPER_Y, UNEVEN),
    DataSet([-4.0, -3.0, -2.0, 0.3, 1.0, 2.0], PAPER_Y, UNEVEN),
]


def paper_condition(a, b, err, x_min):
    """The certificate's per-unit test before the gap: x_min (|a_i| - E_i) > |b_i| + E_i."""
    return np.all(x_min * (np.abs(a) - err) > np.abs(b) + err, axis=1)


def numpy_certify(a, b, c, w, x, y, p, h, sigma, M_half, M_inv_half, x_left, x_right):
    """``compiled_certify``'s signature on the NumPy ``certify`` (which calls ``units_in_gap``, so
    that a test can swap the per-unit condition)."""
    return kinks.mc.theory.certify(a, b, c, w, x, y, p, h, sigma, (M_half, M_inv_half))


def test_gap_condition_equals_brute_force_over_the_box():
    """Where the condition holds, every (a, b) in [a - E, a + E] x [b - E, b + E] (a grid with its
    corners) has its kink strictly in the gap with a of the same sign; where it fails, some corner
    does not."""
    rng = np.random.default_rng(0)
    x_left, x_right = 1.0, 0.5
    a = rng.choice([-1, 1], 4000) * rng.uniform(0.05, 2, 4000)
    b = rng.uniform(-1.5, 1.5, 4000)
    err = rng.uniform(0, 0.3, 4000)
    held = units_in_gap(a[:, None], b[:, None], err[:, None], (x_left, x_right))
    grid = np.linspace(-1, 1, 21)
    da, db = np.meshgrid(grid, grid)
    at, bt = a[:, None] + err[:, None] * da.ravel(), b[:, None] + err[:, None] * db.ravel()
    kink = -bt / at
    inside = (np.sign(at) == np.sign(a)[:, None]) & (kink > -x_left) & (kink < x_right)
    np.testing.assert_array_equal(held, inside.all(1))
    assert 0.1 < held.mean() < 0.9  # both outcomes are tested


def test_symmetric_gap_gives_the_paper_condition_bit_for_bit():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8)) * 0.3
    a[0, 0], b[1, 0], a[2, 0], b[2, 0] = 0.0, 0.0, 0.0, 0.0  # edge values
    err = rng.uniform(0, 0.2, size=(500, 8))
    err[3, 0] = 0.0
    for x_min in (1.0, 0.5, 2.7):
        np.testing.assert_array_equal(units_in_gap(a, b, err, (x_min, x_min)), paper_condition(a, b, err, x_min))


@pytest.mark.slow
def test_equal_statuses_on_the_papers_six_points(monkeypatch):
    """A whole chunk trained with the gap certificate and with the paper's x_min condition."""
    statuses = []
    monkeypatch.setattr(kinks.mc.training, "compiled_certify", numpy_certify)
    for condition in (units_in_gap, lambda a, b, err, gap: paper_condition(a, b, err, min(gap))):
        monkeypatch.setattr(kinks.mc.theory, "units_in_gap", condition)
        rng = np.random.default_rng([7, 16])
        x, y, p, q, (a, b, c, w), h = draw_problems(rng, 1000, 16, 0.0, "he", "theory")
        out = train(ReducedTrainer(a, b, c, w, x, y, h, "gd"), x, y, p, q, h, "gd", ["crossing", "sufficient"],
                    1000, 50, rng)
        statuses.append(out)
    for key in ("status", "stop_epoch", "first_cross_epoch"):
        np.testing.assert_array_equal(statuses[0][key], statuses[1][key])
    assert (statuses[0]["status"] == "LOCALLY_CONVERGED").sum() > 100


def test_gap_certificate_certifies_more_on_asymmetric_data(monkeypatch):
    """On the README's 7 points the x_min condition leaves networks uncertified that the gap certifies."""
    rng = np.random.default_rng([3, 16])
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, 400, 16, 0.0, "he", "theory", ASYMMETRIC_SETS[1])
    certified = {}
    monkeypatch.setattr(kinks.mc.training, "compiled_certify", numpy_certify)

    def x_min(a, b, err, gap):
        return paper_condition(a, b, err, min(gap))

    for name, condition in (("gap", units_in_gap), ("x_min", x_min)):
        monkeypatch.setattr(kinks.mc.theory, "units_in_gap", condition)
        out = train(ReducedTrainer(a, b, c, w, x, y, h, "gd"), x, y, p, q, h, "gd", ["crossing", "sufficient"],
                    1000, 30, np.random.default_rng(0))
        certified[name] = out["status"] == "LOCALLY_CONVERGED"
    assert certified["gap"].sum() > certified["x_min"].sum() and np.all(certified["gap"] >= certified["x_min"])


@pytest.mark.slow
@pytest.mark.parametrize("data", ASYMMETRIC_SETS, ids=["nine", "seven", "moved", "stretched", "shifted"])
def test_certified_networks_never_cross_in_1e5_more_epochs(data):
    certified, crossed, reach = soundness_row(16, 120, 100_000, data=data, seed=5)
    assert certified >= 10 and crossed == 0 and reach < 1.0


def test_jacobi_eigen_agrees_with_lapack():
    """On 2,000 symmetric 4 x 4 matrices, some of condition number about 1e8: S U = U diag(lambda)
    and U^T U = I to round-off, and the sorted eigenvalues are LAPACK's within 1e-12 ||S||; a
    diagonal matrix needs no rotation."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(2000, 4, 4))
    S = X @ np.swapaxes(X, 1, 2)
    S[1000:, 0] *= 1e-4
    S[1000:, :, 0] *= 1e-4
    lam, U = np.empty((2000, 4)), np.empty((2000, 4, 4))
    for k in range(2000):
        jacobi_eigen(S[k].copy(), lam[k], U[k])
    scale = np.abs(S).max((1, 2))
    assert np.abs(S @ U - U * lam[:, None, :]).max((1, 2)).max() / scale.min() < 1e-10
    assert np.abs(np.swapaxes(U, 1, 2) @ U - np.eye(4)).max() < 1e-14
    assert np.all(np.abs(np.sort(lam, axis=1) - np.linalg.eigvalsh(S)) <= 1e-12 * scale[:, None])
    diagonal, lam1, U1 = np.diag([3.0, 1.0, 2.0, 5.0]), np.empty(4), np.empty((4, 4))
    jacobi_eigen(diagonal.copy(), lam1, U1)
    np.testing.assert_array_equal(lam1, [3.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(U1, np.eye(4))


@pytest.mark.parametrize("data", [DataSet(), ASYMMETRIC], ids=["paper", "nine"])
@pytest.mark.parametrize("engine", [ReducedTrainer, pytest.param(DenseTrainer, marks=pytest.mark.slow)])
def test_compiled_certificate_equals_numpy_certificate(data, engine):
    """The compiled certificate gives the NumPy certificate's booleans at every check of 600
    networks trained 30 checks of 500 epochs (the reduced trainer's stand-in units, or every unit
    of the dense trainer), certified and uncertified ones among them, and a network with a nan."""
    rng = np.random.default_rng(5)
    x, y, p, q, (a, b, c, w), h = draw_problems(rng, 600, 16, 0.0, "he", "theory", data)
    trainer = engine(a, b, c, w, x, y, h, "gd")
    M_half, M_inv_half = data_powers(x, p)
    p_t, crossed = np.ascontiguousarray(p.T), trainer.crossed_now()
    verdicts = []
    for _ in range(30):
        trainer.advance(500, p_t, None, None, crossed)
        sigma, (A, B, W) = trainer.moments(), trainer.check_units()
        A = A.copy()
        A[0, 0] = np.nan
        expected = certify(A, B, trainer.c, W, x, y, p, h, sigma, (M_half, M_inv_half))
        got = compiled_certify(A, B, trainer.c, W, x, y, p, h, sigma, M_half, M_inv_half, *data_gap(x))
        np.testing.assert_array_equal(got, expected)
        verdicts.append(got)
    assert 0 < np.sum(verdicts) < np.size(verdicts) and not np.any(np.array(verdicts)[:, 0])
