"""Tests of kinks.stats: the weighted power-law fit against an independent generalised
least-squares computation."""
import numpy as np
import pytest
import scipy.stats

from kinks.stats import fit_power_law


def weighted_fit_by_lstsq(widths, p, runs):
    """The weighted fit computed independently: generalised least squares with the delta-method
    covariance diag((1 - p)/(runs p)) of log p, by numpy's lstsq on the whitened system."""
    X = np.column_stack([np.log(widths), np.ones(len(widths))])
    sigma = np.sqrt((1 - p) / (runs * p))
    coef, *_ = np.linalg.lstsq(X / sigma[:, None], np.log(p) / sigma, rcond=None)
    cov = np.linalg.inv((X / sigma[:, None]).T @ (X / sigma[:, None]))
    chi2 = np.sum(((np.log(p) - X @ coef) / sigma) ** 2)
    return coef[0], np.sqrt(cov[0, 0] * max(1.0, chi2 / (len(p) - 2)))


def test_weighted_power_law_fit_matches_an_independent_computation():
    widths = np.array([16, 32, 64, 128, 256])
    runs = np.array([500, 500, 400, 2000, 10_000])
    p = np.array([0.3, 0.25, 0.0, 0.12, 0.1])
    alpha, se, used, skipped = fit_power_law(widths, p, runs)
    keep = p > 0
    reference_alpha, reference_se = weighted_fit_by_lstsq(widths[keep], p[keep], runs[keep])
    assert alpha == pytest.approx(reference_alpha, rel=1e-12) and se == pytest.approx(reference_se, rel=1e-9)
    weights = runs[keep] * p[keep] / (1 - p[keep])  # numpy's polyfit weighs residuals: w = 1/sigma
    assert alpha == pytest.approx(np.polyfit(np.log(widths[keep]), np.log(p[keep]), 1, w=np.sqrt(weights))[0],
                                  rel=1e-12)
    assert alpha != pytest.approx(scipy.stats.linregress(np.log(widths[keep]), np.log(p[keep])).slope, rel=1e-3)
    assert (used, skipped) == ([16, 32, 128, 256], [64])
    # an exact power law: the slope, and the binomial standard error alone (no scatter)
    exact = fit_power_law(widths, 2 / np.sqrt(widths), runs)
    assert exact[0] == pytest.approx(-0.5, abs=1e-12)
    assert exact[1] == pytest.approx(weighted_fit_by_lstsq(widths, 2 / np.sqrt(widths), runs)[1], rel=1e-9)
    # two points: a slope, no standard error; p_hat = 1 has a finite weight
    two = fit_power_law([16, 32], [1.0, 0.5], [100, 100])
    assert np.isfinite(two[0]) and np.isnan(two[1])
