"""Statistics every report shares: confidence intervals."""
import numpy as np

def clopper_pearson(successes, trials, level=0.95):
    """Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion:
    lower = Beta^{-1}(alpha/2; k, n-k+1), upper = Beta^{-1}(1-alpha/2; k+1, n-k),
    with lower = 0 at k = 0 and upper = 1 at k = n. Works elementwise on arrays."""
    from scipy.stats import beta

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return lower, upper
