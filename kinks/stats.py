"""Statistics every report shares: confidence intervals of a proportion (Clopper-Pearson) and of a
mean (Student t), the two-proportion z-score, and the weighted power-law fit of proportions
p_hat ~ n^e."""
import numpy as np


def clopper_pearson(successes, trials, level=0.95):
    """Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion of k
    successes in P trials, with tail probability t = 1 - level:
    lower = Beta^{-1}(t/2; k, P-k+1), upper = Beta^{-1}(1-t/2; k+1, P-k),
    with lower = 0 at k = 0 and upper = 1 at k = P. Works elementwise on arrays."""
    from scipy.stats import beta

    k = np.asarray(successes, dtype=float)
    P = np.asarray(trials, dtype=float)
    tail = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, beta.ppf(tail / 2, k, P - k + 1), 0.0)
        upper = np.where(k < P, beta.ppf(1 - tail / 2, k + 1, P - k), 1.0)
    return lower, upper


def mean_interval(values, level=0.95):
    """Mean and two-sided Student-t interval mean +- t_{(1+level)/2, k-1} s / sqrt(k) of k values
    (the interval nan for k < 2)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    k = len(values)
    mean = float(values.mean()) if k else np.nan
    if k < 2:
        return mean, np.nan, np.nan
    half = t.ppf(0.5 + level / 2, k - 1) * values.std(ddof=1) / np.sqrt(k)
    return mean, mean - half, mean + half


def two_proportion_z(k1, runs1, k2, runs2):
    """z = (k1/P1 - k2/P2) / sqrt(pbar (1 - pbar) (1/P1 + 1/P2)), pbar = (k1 + k2) / (P1 + P2), for
    k1 of P1 = ``runs1`` and k2 of P2 = ``runs2`` runs: about N(0, 1) when both counts estimate the
    same probability; 0 when pbar is 0 or 1 (the estimates agree exactly)."""
    pbar = (k1 + k2) / (runs1 + runs2)
    se = np.sqrt(pbar * (1 - pbar) * (1 / runs1 + 1 / runs2))
    return 0.0 if se == 0 else float((k1 / runs1 - k2 / runs2) / se)


def log_variance(p_hat, runs):
    """Var(log p_hat) by the delta method for a binomial proportion of ``runs`` networks:
    Var(log p_hat) ~ Var(p_hat) / p^2 = (1 - p) / (runs p). At p_hat = 1 this would be 0 (an
    infinite weight); p_hat is then taken as 1 - 1/(2 runs), half a network short of all."""
    p = np.minimum(np.asarray(p_hat, float), 1 - 0.5 / np.asarray(runs, float))
    return (1 - p) / (np.asarray(runs, float) * p)


def fit_power_law(widths, p_hats, runs):
    """Weighted least-squares fit of log p_hat = e log n + const over the points with p_hat > 0,
    weights v_i = 1 / Var(log p_hat_i) from ``log_variance``:

        e = S_xy / S_xx,  S_xy = sum v_i (x_i - x_v)(y_i - y_v),  S_xx = sum v_i (x_i - x_v)^2,

    x = log n, y = log p_hat, x_v and y_v the weighted means. Standard error, for k >= 3 points:
    se(e) = sqrt(max(1, chi^2 / (k - 2)) / S_xx) with chi^2 = sum v_i r_i^2: the binomial
    error, inflated when the points scatter more about the line than it explains. Returns (e,
    se, widths used, widths skipped because p_hat = 0); e is NaN below 2 points, se below 3."""
    widths, p_hats, runs = (np.asarray(v, float) for v in (widths, p_hats, runs))
    used = p_hats > 0
    x, y, v = np.log(widths[used]), np.log(p_hats[used]), 1 / log_variance(p_hats[used], runs[used])
    skipped = widths[~used].astype(int).tolist()
    if len(x) < 2:
        return np.nan, np.nan, widths[used].astype(int).tolist(), skipped
    dx, dy = x - np.average(x, weights=v), y - np.average(y, weights=v)
    s_xx = np.sum(v * dx**2)
    exponent = np.sum(v * dx * dy) / s_xx
    chi2 = np.sum(v * (dy - exponent * dx) ** 2)
    se = np.sqrt(max(1.0, chi2 / (len(x) - 2)) / s_xx) if len(x) > 2 else np.nan
    return exponent, se, widths[used].astype(int).tolist(), skipped
